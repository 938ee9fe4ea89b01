# frozen_string_literal: true

# PushPoll tells pushpoll notifiers that a topic changed, and mints the tokens
# that let a browser listen for those hints.
#
#   PushPoll.configure(
#     url: ENV.fetch("PUSHPOLL_REDIS_URL"),   # any --redis-url form; or redis: a Redis, a Redis::Cluster or a ConnectionPool
#     prefix: "pushpoll:",                    # the notifier's --channel-prefix
#     secret: ENV["PUSHPOLL_TOKEN_SECRET"],   # the notifier's --token-secret
#     audience: "pushpoll",                   # the notifier's --token-audience
#   )
#   PushPoll.bump("project:42", 1058)                  # => true if raised, false if not newer
#   PushPoll.token(sub: user.id, topics: ["project:42", "user:7:*"], ttl: 300) # => "eyJ..."
#
# Invalid topics, versions, subjects and ttls raise ArgumentError before
# anything is sent; Redis failures raise the redis gem's errors. In Rails the
# Railtie configures all of this from the environment or the credentials, and
# PushPoll::Model, PushPoll::ViewHelper and PushPoll::TokenEndpoint do the rest.

require "digest/sha1"
require "json"
require "jwt"
require "redis"

require "pushpoll/version"
require "pushpoll/connector"

module PushPoll
  autoload :Command, "pushpoll/command"
  autoload :Model, "pushpoll/model"
  autoload :TokenEndpoint, "pushpoll/token_endpoint"
  autoload :ViewHelper, "pushpoll/view_helper"

  # SCRIPT is notifier/publish.lua, shipped in the gem next to this file; the
  # project's tests fail if the copy drifts from the notifier's.
  SCRIPT = File.read(File.join(__dir__, "pushpoll", "publish.lua")).freeze
  SCRIPT_SHA = Digest::SHA1.hexdigest(SCRIPT).freeze

  # The notifier refuses this topic on every path; it once named the feature flag.
  RESERVED_TOPIC = "mode"
  # A topic as the notifier accepts it.
  TOPIC = %r{\A[A-Za-z0-9_.:/@-]{1,200}\z}.freeze
  # A token may also grant every topic under a prefix, written with a trailing *.
  TOPIC_PREFIX = %r{\A[A-Za-z0-9_.:/@-]{0,199}\*\z}.freeze
  # Versions are int64 on the wire; the decimal form is what the script compares.
  VERSION_DIGITS = /\A[1-9][0-9]*\z/.freeze
  MAX_VERSION = (2**63) - 1

  # Error is raised when bump or token is called before configure gave it what
  # it needs: a programming mistake, not bad input.
  class Error < StandardError; end

  Config = Struct.new(:redis, :cluster, :prefix, :secret, :audience, :notifier_url, :version_ttl, keyword_init: true)

  # publish.lua takes the key's lifetime as up to 10 decimal digits of seconds.
  MAX_VERSION_TTL = 9_999_999_999

  # LazyClient opens the connection a URL names on the first bump, not at
  # configure: a Rails app boots (and precompiles assets) without Redis, and
  # redis-rb 4's cluster client would otherwise read the slots at boot.
  class LazyClient
    attr_reader :spec

    def initialize(spec)
      @spec = spec
      @mutex = Mutex.new
      @client = nil
    end

    def with
      yield(@mutex.synchronize { @client ||= Connector.open(@spec) })
    end

    def close
      @mutex.synchronize { @client&.close }
    end
  end

  class << self
    # logger receives the warnings of PushPoll::Model (a failed bump is
    # logged, never raised: browsers still poll). The Railtie sets Rails.logger.
    attr_accessor :logger

    # configure sets the connection and settings for every later call. redis
    # may be nil in a process that only mints tokens, secret in one that only
    # bumps. url, instead of redis, is any of the notifier's --redis-url forms;
    # it is checked now and connected on the first bump. cluster: true says
    # that redis is a cluster client (a Redis::Cluster of redis-clustering is
    # recognised without it): bumps then announce with SPUBLISH on the topic's
    # shard. notifier_url is the notifier's origin, for the view helper.
    # version_ttl (seconds, or a Duration) expires each version key that long
    # after its last bump, as the notifier's --version-ttl does for its own:
    # give both the same value. nil or 0 keeps keys for ever.
    def configure(redis: nil, url: nil, cluster: false, prefix: "pushpoll:", secret: nil, audience: "pushpoll", notifier_url: nil,
                  version_ttl: nil)
      raise ArgumentError, "pushpoll: give redis or url, not both" if redis && url

      if url
        spec = Connector.parse(url)
        redis = LazyClient.new(spec)
        cluster = spec.cluster?
      end
      cluster ||= defined?(Redis::Cluster) && redis.is_a?(Redis::Cluster)
      raise ArgumentError, "pushpoll: prefix must be a String" unless prefix.is_a?(String)
      raise ArgumentError, "pushpoll: audience must be a non-empty String" unless audience.is_a?(String) && !audience.empty?

      version_ttl = check_version_ttl(version_ttl)

      # One frozen object swapped in whole, so a thread calling bump while
      # another reconfigures sees either the old settings or the new ones.
      @config = Config.new(redis: redis, cluster: cluster ? true : false, prefix: prefix.dup.freeze, secret: secret,
                           audience: audience.dup.freeze, notifier_url: notifier_url&.to_s&.dup&.freeze,
                           version_ttl: version_ttl).freeze
    end

    # connect opens a client for any of the notifier's --redis-url forms and
    # returns it with whether it is a cluster (see PushPoll::Connector).
    def connect(url)
      spec = Connector.parse(url)
      [Connector.open(spec), spec.cluster?]
    end

    def config
      @config || raise(Error, "pushpoll: call PushPoll.configure first")
    end

    def configured?
      !@config.nil?
    end

    # bumps_on? is false, with one warning per process, when PushPoll was
    # configured without Redis: PushPoll::Model then bumps nothing.
    def bumps_on?
      return true if configured? && !config.redis.nil?

      @bumps_off_warned ||= begin
        warn("pushpoll: no Redis configured (PUSHPOLL_REDIS_URL); PushPoll::Model bumps nothing")
        true
      end
      false
    end

    def warn(message)
      logger ? logger.warn(message) : Kernel.warn(message)
    end

    # bump raises topic's version to version and hints the notifiers, in one
    # round trip. It returns false, and announces nothing, when the stored
    # version is already as new: retries and racing app servers are harmless.
    # version is a positive Integer (or its decimal String) up to 2**63-1.
    def bump(topic, version)
      check_topic(topic)
      version = check_version(version)
      cfg = config
      raise Error, "pushpoll: configure(redis: ...) before bump" if cfg.redis.nil?

      key = cfg.prefix + topic
      payload = JSON.generate({ "v" => version, "ts" => Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond) })
      argv = [version.to_s, payload]
      argv << (cfg.cluster ? "SPUBLISH" : "PUBLISH") if cfg.cluster || cfg.version_ttl
      argv << cfg.version_ttl.to_s if cfg.version_ttl
      # A ConnectionPool hands out a connection for the block; a Redis yields
      # itself.
      cfg.redis.with { |conn| run_script(conn, key, argv) } == 1
    end

    # token mints the HS256 JWT a browser presents to the notifier.
    # sub is stringified because JWT requires a string subject and the notifier
    # rejects any other type; topics are exact topics or prefixes ending in *.
    # ttl is seconds (an Integer or an ActiveSupport::Duration).
    def token(sub:, topics:, ttl: 300)
      cfg = config
      raise Error, "pushpoll: configure(secret: ...) before token" if cfg.secret.nil? || cfg.secret.to_s.empty?

      sub = sub.to_s
      raise ArgumentError, "pushpoll: sub must not be empty" if sub.empty?

      topics = check_grants(topics)
      ttl = ttl.to_i if defined?(ActiveSupport::Duration) && ttl.is_a?(ActiveSupport::Duration)
      raise ArgumentError, "pushpoll: ttl must be a positive Integer of seconds (got #{ttl.inspect})" unless ttl.is_a?(Integer) && ttl.positive?

      now = Time.now.to_i
      claims = { "sub" => sub, "topics" => topics, "aud" => cfg.audience, "iat" => now, "exp" => now + ttl }
      JWT.encode(claims, cfg.secret, "HS256")
    end

    def check_topic(topic)
      unless topic.is_a?(String) && TOPIC.match?(topic)
        raise ArgumentError, "pushpoll: topic must be 1-200 characters of A-Z a-z 0-9 _ . : / @ - (got #{topic.inspect})"
      end
      raise ArgumentError, %(pushpoll: the topic "mode" is reserved) if topic == RESERVED_TOPIC
    end

    def check_version(version)
      version = Integer(version, 10) if version.is_a?(String) && VERSION_DIGITS.match?(version)
      return version if version.is_a?(Integer) && version.positive? && version <= MAX_VERSION

      raise ArgumentError, "pushpoll: version must be a positive int64 (got #{version.inspect})"
    end

    private

    # check_version_ttl is the key lifetime in whole seconds, or nil for none.
    def check_version_ttl(ttl)
      return nil if ttl.nil? || ttl == 0
      return check_version_ttl(ttl.to_i) if defined?(ActiveSupport::Duration) && ttl.is_a?(ActiveSupport::Duration) && ttl.to_i == ttl.to_f
      return ttl if ttl.is_a?(Integer) && ttl.positive? && ttl <= MAX_VERSION_TTL

      raise ArgumentError, "pushpoll: version_ttl must be whole seconds, 1 to #{MAX_VERSION_TTL}, or nil (got #{ttl.inspect})"
    end

    def run_script(conn, key, argv)
      conn.evalsha(SCRIPT_SHA, keys: [key], argv: argv)
    rescue Redis::CommandError => e
      # The script cache is empty after a Redis restart or failover; EVAL
      # loads it again, and later calls go back to the cheap EVALSHA.
      raise unless e.message.start_with?("NOSCRIPT")

      conn.eval(SCRIPT, keys: [key], argv: argv)
    end

    def check_grants(topics)
      raise ArgumentError, "pushpoll: topics must be an Array (got #{topics.inspect})" unless topics.is_a?(Array)
      raise ArgumentError, "pushpoll: topics must not be empty" if topics.empty?

      topics.map do |t|
        unless t.is_a?(String) && (TOPIC.match?(t) || TOPIC_PREFIX.match?(t))
          raise ArgumentError, "pushpoll: #{t.inspect} is neither a topic nor a prefix ending in *"
        end

        t
      end
    end
  end
end

require "pushpoll/railtie" if defined?(Rails::Railtie)
