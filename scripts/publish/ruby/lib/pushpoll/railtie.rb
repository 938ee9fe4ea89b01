# frozen_string_literal: true

require "rails/railtie"

module PushPoll
  # Railtie configures PushPoll when the app boots, from the first of these
  # that sets a value:
  #
  #   config.pushpoll.redis_url = ...           (config/application.rb or an environment file)
  #   ENV["PUSHPOLL_REDIS_URL"]                 (the notifier's variable names)
  #   Rails.application.credentials.pushpoll    ({ redis_url:, token_secret:, ... })
  #
  # for redis_url (PUSHPOLL_REDIS_URL), token_secret (PUSHPOLL_TOKEN_SECRET),
  # channel_prefix (PUSHPOLL_CHANNEL_PREFIX), token_audience
  # (PUSHPOLL_TOKEN_AUDIENCE), public_url (PUSHPOLL_PUBLIC_URL: the
  # notifier's origin as browsers reach it, for the view helper) and
  # version_ttl (PUSHPOLL_VERSION_TTL, a Go duration such as 168h, as the
  # notifier's --version-ttl; give both the same value).
  # config.pushpoll.configure = false leaves PushPoll.configure to the app.
  #
  # It also makes PushPoll::ViewHelper available in every view, logs to
  # Rails.logger, and teaches the app's autoloaders that a file or directory
  # named pushpoll holds PushPoll (app/lib/pushpoll/feed.rb defines
  # PushPoll::Feed, not Pushpoll::Feed).
  class Railtie < Rails::Railtie
    SETTINGS = {
      redis_url: "PUSHPOLL_REDIS_URL",
      token_secret: "PUSHPOLL_TOKEN_SECRET",
      channel_prefix: "PUSHPOLL_CHANNEL_PREFIX",
      token_audience: "PUSHPOLL_TOKEN_AUDIENCE",
      public_url: "PUSHPOLL_PUBLIC_URL",
      version_ttl: "PUSHPOLL_VERSION_TTL",
    }.freeze

    # A Go duration, as the notifier's --version-ttl takes it: "168h", "1h30m", "0".
    GO_DURATION = /\A(?:0|(?:[0-9]+(?:\.[0-9]+)?(?:h|m|s|ms|us|µs|ns))+)\z/.freeze
    GO_UNITS = { "h" => 3600r, "m" => 60r, "s" => 1r, "ms" => 1/1000r, "us" => 1/1_000_000r, "µs" => 1/1_000_000r,
                 "ns" => 1/1_000_000_000r }.freeze

    config.pushpoll = ActiveSupport::OrderedOptions.new

    # Railtie initializers run before the application's own, which set up
    # the autoloaders and read the inflections.
    initializer "pushpoll.inflection" do
      Rails.autoloaders.each { |loader| loader.inflector.inflect("pushpoll" => "PushPoll") }
    end

    initializer "pushpoll.configure" do |app|
      PushPoll.logger ||= Rails.logger
      Railtie.configure(app) unless app.config.pushpoll.configure == false
    end

    initializer "pushpoll.view_helper" do
      ActiveSupport.on_load(:action_view) { include PushPoll::ViewHelper }
    end

    class << self
      def configure(app, env: ENV)
        settings = settings(app.config.pushpoll, env, credentials(app))
        PushPoll.configure(
          url: settings[:redis_url],
          secret: settings[:token_secret],
          prefix: settings[:channel_prefix] || "pushpoll:",
          audience: settings[:token_audience] || "pushpoll",
          notifier_url: settings[:public_url],
          version_ttl: settings[:version_ttl] && duration_seconds(settings[:version_ttl]),
        )
      end

      # duration_seconds reads a Go duration into whole seconds.
      def duration_seconds(text)
        raise ArgumentError, "pushpoll: version_ttl #{text.inspect} is not a duration like 168h" unless GO_DURATION.match?(text)

        total = text.scan(/([0-9.]+)([a-zµ]+)/).sum(0r) { |number, unit| number.to_r * GO_UNITS.fetch(unit) }
        raise ArgumentError, "pushpoll: version_ttl #{text.inspect} is not whole seconds" unless total.denominator == 1

        total.to_i
      end

      # settings merges the three sources, the first non-empty value winning.
      def settings(options, env, credentials)
        SETTINGS.to_h do |name, variable|
          value = [options[name], env[variable], credentials[name]].map { |v| v.to_s.empty? ? nil : v.to_s }.compact.first
          [name, value]
        end
      end

      # credentials is the app's pushpoll: section, or {} when there is none
      # (or no master key to read the file with).
      def credentials(app)
        section = app.credentials.pushpoll
        section.respond_to?(:to_h) ? section.to_h.transform_keys(&:to_sym) : {}
      rescue ActiveSupport::EncryptedFile::MissingKeyError
        {}
      end
    end
  end
end
