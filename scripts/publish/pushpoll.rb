# frozen_string_literal: true

# PushPoll: tell pushpoll notifiers that a topic changed, and mint the tokens
# that let a browser listen for those hints. Needs the redis and jwt gems.
#
# Drop this file into a Rails app (see README.md next to it) or require it from
# any Ruby program:
#
#   PushPoll.configure(
#     url: ENV.fetch("PUSHPOLL_REDIS_URL"), # any --redis-url form; or redis: Redis.new(...) or a ConnectionPool (cluster: true for a cluster client)
#     prefix: "pushpoll:",                # the notifier's --channel-prefix
#     secret: ENV["PUSHPOLL_TOKEN_SECRET"], # the notifier's --token-secret
#     audience: "pushpoll",               # the notifier's --token-audience
#   )
#   PushPoll.bump("project:42", 1058)                  # => true if raised, false if not newer
#   PushPoll.token(sub: user.id, topics: ["project:42", "user:7:*"], ttl: 300) # => "eyJ..."
#
# Invalid topics, versions, subjects and ttls raise ArgumentError before
# anything is sent; Redis failures raise the redis gem's errors.
#
# Run as a program, it is the command-line publisher the project's tests drive:
#
#   ruby pushpoll.rb bump <redis-url> <topic> <version>        prints true or false
#   ruby pushpoll.rb token <secret> <sub> <topic,topic> <ttl>  prints the token
#   ruby pushpoll.rb lua                                       prints the embedded script
#
# PUSHPOLL_CHANNEL_PREFIX and PUSHPOLL_TOKEN_AUDIENCE override the defaults, as
# for the notifier. Exit status 2 means bad arguments, 1 any other failure.

require "digest/sha1"
require "json"
require "jwt"
require "redis"
require "uri"

module PushPoll
  # SCRIPT is notifier/publish.lua, byte for byte, embedded so that this file
  # works on its own inside an app. The project's tests fail if the two drift.
  SCRIPT = <<~'LUA'
    -- pushpoll publish: raise a topic's version and announce it, in one round trip.
    --
    -- KEYS[1]  the topic's key, which is also its channel: <prefix><topic>
    -- ARGV[1]  the new version, a positive decimal integer (int64)
    -- ARGV[2]  the payload to PUBLISH, e.g. {"v":1057,"ts":1700000000000}
    -- ARGV[3]  optional: SPUBLISH to announce on the sharded channel (Redis
    --          Cluster, where key and channel share a slot); PUBLISH otherwise
    --
    -- The key only ever rises: an older or equal version (a retry, a race between
    -- two app servers) changes nothing and announces nothing, so browsers are
    -- never hinted backwards. Returns 1 when the version was raised and
    -- published, 0 when it was not newer.
    --
    -- Versions are compared as decimal strings (length first, then digits)
    -- because Lua numbers are doubles and lose exactness above 2^53.
    local new = ARGV[1]
    if not string.match(new, "^[1-9][0-9]*$") or #new > 19 or (#new == 19 and new > "9223372036854775807") then
      return redis.error_reply("pushpoll: version must be a positive int64")
    end
    local cur = redis.call("GET", KEYS[1])
    if cur and string.match(cur, "^[1-9][0-9]*$") then
      if #new < #cur or (#new == #cur and new <= cur) then
        return 0
      end
    end
    redis.call("SET", KEYS[1], new)
    if ARGV[3] == "SPUBLISH" then
      redis.call("SPUBLISH", KEYS[1], ARGV[2])
    else
      redis.call("PUBLISH", KEYS[1], ARGV[2])
    end
    return 1
  LUA
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

  Config = Struct.new(:redis, :cluster, :prefix, :secret, :audience, keyword_init: true)

  # The notifier's --redis-url forms: one server, a master behind sentinels,
  # a cluster; rediss for TLS.
  REDIS_URL = %r{\A(rediss?)(-sentinel|-cluster)?://(?:([^@/]*)@)?([^@/?#]+)(?:/([^?#]*))?\z}.freeze

  class << self
    # configure sets the connection and settings for every later call. redis
    # may be nil in a process that only mints tokens, secret in one that only
    # bumps.
    # url, instead of redis, connects with any of the notifier's --redis-url
    # forms (see connect). cluster: true says that redis is a Redis Cluster
    # client: bumps then announce with SPUBLISH on the topic's shard.
    def configure(redis: nil, url: nil, cluster: false, prefix: "pushpoll:", secret: nil, audience: "pushpoll")
      raise ArgumentError, "pushpoll: give redis or url, not both" if redis && url

      redis, cluster = connect(url) if url
      raise ArgumentError, "pushpoll: prefix must be a String" unless prefix.is_a?(String)
      raise ArgumentError, "pushpoll: audience must be a non-empty String" unless audience.is_a?(String) && !audience.empty?

      # One frozen object swapped in whole, so a thread calling bump while
      # another reconfigures sees either the old settings or the new ones.
      @config = Config.new(redis: redis, cluster: cluster ? true : false, prefix: prefix.dup.freeze, secret: secret,
                           audience: audience.dup.freeze).freeze
    end

    # connect opens a client for any of the notifier's --redis-url forms and
    # returns it with whether it is a cluster:
    #   redis[s]://[[user]:password@]host:port[/db]
    #   redis[s]-sentinel://[[user]:password@]host:port[,host:port...]/<master-name>[/<db>]
    #   redis[s]-cluster://[[user]:password@]host:port[,host:port...]
    # The credentials are the data nodes'; sentinels are asked without them.
    def connect(url)
      m = REDIS_URL.match(url.to_s)
      raise ArgumentError, "pushpoll: the Redis URL must be redis[s]://, redis[s]-sentinel:// or redis[s]-cluster:// (see connect)" unless m

      scheme, kind, userinfo, hosts, path = m.captures
      opts = { ssl: scheme == "rediss" }
      if userinfo
        user, colon, pass = userinfo.partition(":")
        user, pass = "", user if colon.empty? # a lone word is the password, as for redis-cli
        opts[:username] = URI::DEFAULT_PARSER.unescape(user) unless user.empty?
        opts[:password] = URI::DEFAULT_PARSER.unescape(pass) unless pass.empty?
      end
      nodes = hosts.split(",", -1).map do |hp|
        host, _, port = hp.rpartition(":")
        raise ArgumentError, "pushpoll: #{hp.inspect} in the Redis URL is not host:port" if host.empty? || !port.match?(/\A[0-9]+\z/)

        { host: host.delete_prefix("[").delete_suffix("]"), port: Integer(port, 10) }
      end
      segments = (path || "").split("/")
      db = ->(s) { s.nil? || s.empty? ? 0 : Integer(s, 10) }
      case kind
      when nil
        raise ArgumentError, "pushpoll: several hosts need redis-sentinel:// or redis-cluster://" if nodes.size > 1

        [Redis.new(**nodes[0], db: db.(segments[0]), **opts), false]
      when "-sentinel"
        raise ArgumentError, "pushpoll: the master name is missing from the redis-sentinel:// URL" if segments.empty? || segments[0].empty?

        [Redis.new(host: segments[0], sentinels: nodes, role: :master, db: db.(segments[1]), **opts), false]
      else
        raise ArgumentError, "pushpoll: a cluster URL takes no database" unless segments.empty?

        [Redis.new(cluster: nodes.map { |n| "#{scheme}://#{n[:host]}:#{n[:port]}" }, **opts), true]
      end
    end

    def config
      @config || raise(Error, "pushpoll: call PushPoll.configure first")
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
      # A ConnectionPool hands out a connection for the block; a plain Redis
      # yields itself.
      argv = [version.to_s, payload]
      argv << "SPUBLISH" if cfg.cluster
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

    private

    def run_script(conn, key, argv)
      conn.evalsha(SCRIPT_SHA, keys: [key], argv: argv)
    rescue Redis::CommandError => e
      # The script cache is empty after a Redis restart or failover; EVAL
      # loads it again, and later calls go back to the cheap EVALSHA.
      raise unless e.message.start_with?("NOSCRIPT")

      conn.eval(SCRIPT, keys: [key], argv: argv)
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

if __FILE__ == $PROGRAM_NAME
  usage = <<~USAGE
    usage: ruby pushpoll.rb bump <redis-url> <topic> <version>
           ruby pushpoll.rb token <secret> <sub> <topic,topic...> <ttl-seconds>
           ruby pushpoll.rb lua
  USAGE
  prefix = ENV.fetch("PUSHPOLL_CHANNEL_PREFIX", "pushpoll:")
  audience = ENV.fetch("PUSHPOLL_TOKEN_AUDIENCE", "pushpoll")
  command, *args = ARGV
  begin
    case [command, args.size]
    when ["bump", 3]
      url, topic, version = args
      PushPoll.configure(url: url, prefix: prefix)
      begin
        puts PushPoll.bump(topic, version)
      ensure
        PushPoll.config.redis.close
      end
    when ["token", 4]
      secret, sub, topics, ttl = args
      raise ArgumentError, "pushpoll: ttl must be a positive integer of seconds (got #{ttl.inspect})" unless PushPoll::VERSION_DIGITS.match?(ttl)

      PushPoll.configure(secret: secret, audience: audience)
      # -1 keeps empty items, so "a,,b" is refused rather than quietly fixed.
      puts PushPoll.token(sub: sub, topics: topics.split(",", -1), ttl: Integer(ttl, 10))
    when ["lua", 0]
      $stdout.write(PushPoll::SCRIPT)
    else
      warn usage
      exit 2
    end
  rescue ArgumentError => e
    warn e.message
    exit 2
  rescue StandardError => e
    warn "pushpoll: #{e.class}: #{e.message}"
    exit 1
  end
end
