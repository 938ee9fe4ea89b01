# frozen_string_literal: true

require "json"
require "erb"

module PushPoll
  # ViewHelper emits the shim's script tag and its PushPoll.start call; the
  # Railtie makes it available in every view:
  #
  #   <%= pushpoll_tag topics: { "project:#{@project.id}" => @project.pushpoll_version },
  #                    poll: "App.pollProject" %>
  #
  # The script is the app's own copy of the shim (client-js/dist/pushpoll.js
  # or the npm package's), served as the asset pushpoll.js, so the page does
  # not load code from the notifier's origin. Both tags carry the request's
  # Content-Security-Policy nonce when the app configured one.
  #
  # poll names the page's poll function, a global such as "App.pollProject":
  # it takes the versions the page holds and resolves to the versions it holds
  # after polling. The token comes from token_url (see TokenEndpoint). Other
  # options go to PushPoll.start as they are: fast:, slow:, fast_min:, ...
  module ViewHelper
    # A dotted JavaScript name: the helper writes it into a script as code,
    # so it must not be able to carry anything else.
    JS_NAME = /\A[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*\z/.freeze
    # The options of PushPoll.start that JSON can carry (client-js/pushpoll.d.ts);
    # the helper takes them in Ruby's snake_case too (fast_min: for fastMin).
    START_OPTIONS = %w[fast fastMin slow slowMax jitter throttle pollTimeout adaptive enabled transports share
                       heartbeatTimeout hiddenFactor socketOptions].freeze

    def pushpoll_tag(topics:, poll:, token_url: "/pushpoll/token", url: PushPoll.config.notifier_url,
                     src: asset_path("pushpoll.js"), as: "pushpoll", **options)
      raise ArgumentError, "pushpoll_tag: url: the notifier's origin (or PUSHPOLL_PUBLIC_URL) is missing" if url.to_s.empty?
      raise ArgumentError, "pushpoll_tag: poll: must name a JavaScript function, like App.pollProject" unless JS_NAME.match?(poll.to_s)
      raise ArgumentError, "pushpoll_tag: as: must be a JavaScript name" unless JS_NAME.match?(as.to_s) && !as.to_s.include?(".")

      options = options.to_h { |key, value| [key.to_s.gsub(/_([a-z])/) { Regexp.last_match(1).upcase }, value] }
      unknown = options.keys - START_OPTIONS
      raise ArgumentError, "pushpoll_tag: unknown options #{unknown.inspect}; PushPoll.start takes #{START_OPTIONS.inspect}" if unknown.any?

      start = { "url" => url.to_s, "topics" => pushpoll_topic_versions(topics) }.merge(options)
      # JSON can carry neither functions nor a name to call, so those two are
      # spliced in: poll checked against JS_NAME above, token_url as JSON.
      js = "window.#{as} = PushPoll.start(Object.assign(#{pushpoll_json(start)}, {\n" \
           "  token: function () { return fetch(#{pushpoll_json(token_url.to_s)}, { credentials: \"same-origin\" })" \
           ".then(function (r) { if (!r.ok) throw new Error(\"pushpoll token: HTTP \" + r.status); return r.text(); }); },\n" \
           "  poll: function (versions) { return #{poll}(versions); }\n}));"
      safe_join([javascript_include_tag(src, nonce: true), javascript_tag(js, nonce: true)], "\n")
    end

    private

    def pushpoll_topic_versions(topics)
      raise ArgumentError, "pushpoll_tag: topics: must be a Hash of topic => version" unless topics.is_a?(Hash) && !topics.empty?

      topics.to_h do |topic, version|
        PushPoll.check_topic(topic)
        # 0 is how a page says it does not know the version yet.
        version = version.nil? || version == 0 ? 0 : PushPoll.check_version(version)
        [topic, version]
      end
    end

    # JSON inside a script element: json_escape turns <, > and & into \u
    # escapes, so no value can close the script.
    def pushpoll_json(value)
      ERB::Util.json_escape(JSON.generate(value))
    end
  end
end
