# frozen_string_literal: true

module PushPoll
  # TokenEndpoint answers the shim's token requests from a controller:
  #
  #   # config/routes.rb:  get "/pushpoll/token", to: "pushpoll_tokens#show"
  #   class PushpollTokensController < ApplicationController
  #     include PushPoll::TokenEndpoint
  #
  #     def show
  #       project = current_user.projects.find(params[:project_id])
  #       render_pushpoll_token sub: current_user.id, topics: ["project:#{project.id}"]
  #     end
  #   end
  #
  # The answer is the bare token as text/plain, which is what the view
  # helper's fetch reads, marked no-store: a token is per user and short-lived,
  # and a shared cache must not hand it to someone else.
  module TokenEndpoint
    def render_pushpoll_token(sub:, topics:, ttl: 300)
      token = PushPoll.token(sub: sub, topics: topics, ttl: ttl)
      response.headers["Cache-Control"] = "no-store"
      render plain: token
    end
  end
end
