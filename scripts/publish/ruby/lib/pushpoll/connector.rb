# frozen_string_literal: true

require "uri"

module PushPoll
  # Connector reads the notifier's --redis-url forms and opens a redis-rb
  # client for them, on redis-rb 4 or 5:
  #
  #   redis[s]://[[user]:password@]host:port[/db]
  #   redis[s]-sentinel://[[user]:password@]host:port[,host:port...]/<master-name>[/<db>]
  #   redis[s]-cluster://[[user]:password@]host:port[,host:port...]
  #
  # The credentials are the data nodes'; sentinels are asked without them, as
  # the notifier does.
  module Connector
    SCHEMES = {
      "redis" => [:single, false], "rediss" => [:single, true],
      "redis-sentinel" => [:sentinel, false], "rediss-sentinel" => [:sentinel, true],
      "redis-cluster" => [:cluster, false], "rediss-cluster" => [:cluster, true],
    }.freeze

    # Spec is a parsed URL: everything needed to open a client, nothing opened.
    Spec = Struct.new(:kind, :tls, :nodes, :db, :master, :username, :password, keyword_init: true) do
      def cluster?
        kind == :cluster
      end
    end

    module_function

    # parse checks url now, so that a typo fails at boot rather than at the
    # first bump. Errors never repeat the URL, which may carry a password.
    def parse(url)
      scheme, sep, rest = url.to_s.partition("://")
      kind, tls = SCHEMES[scheme]
      raise ArgumentError, "pushpoll: the Redis URL must be redis[s]://, redis[s]-sentinel:// or redis[s]-cluster://" if sep.empty? || kind.nil?
      raise ArgumentError, "pushpoll: the Redis URL takes no query string or fragment" if rest.match?(/[?#]/)

      authority, _, path = rest.partition("/")
      # The last @ ends the credentials: a password may hold an unescaped @.
      userinfo, at, hosts = authority.rpartition("@")
      username, password = credentials(at.empty? ? nil : userinfo)
      nodes = hosts.split(",", -1).map { |hp| node(hp) }
      segments = path.empty? ? [] : path.split("/", -1)
      spec = Spec.new(kind: kind, tls: tls, nodes: nodes, username: username, password: password, db: 0)
      case kind
      when :single
        raise ArgumentError, "pushpoll: several hosts need redis-sentinel:// or redis-cluster://" if nodes.size > 1
        raise ArgumentError, "pushpoll: a redis:// URL takes one database number at most" if segments.size > 1

        spec.db = db(segments[0])
      when :sentinel
        raise ArgumentError, "pushpoll: the master name is missing from the redis-sentinel:// URL" if segments.empty? || segments[0].empty?
        raise ArgumentError, "pushpoll: a redis-sentinel:// URL ends at /<master-name>/<db>" if segments.size > 2

        spec.master = segments[0]
        spec.db = db(segments[1])
      else
        raise ArgumentError, "pushpoll: a cluster URL takes no database" unless segments.empty?
      end
      spec.freeze
    end

    # open builds the client for spec. redis-rb 4's cluster client reads the
    # slots here; every other client connects on its first command.
    def open(spec, redis_major: redis_major())
      kind, kwargs = arguments(spec, redis_major)
      case kind
      when :redis then Redis.new(**kwargs)
      when :cluster_v5 then cluster_class.new(**kwargs)
      end
    end

    # arguments is what open passes to redis-rb of the given major version:
    # [:redis, kwargs] for Redis.new or [:cluster_v5, kwargs] for
    # Redis::Cluster.new (the redis-clustering gem).
    def arguments(spec, major)
      auth = { ssl: spec.tls }
      auth[:username] = spec.username if spec.username
      auth[:password] = spec.password if spec.password
      case spec.kind
      when :single
        [:redis, { host: spec.nodes[0][:host], port: spec.nodes[0][:port], db: spec.db, **auth }]
      when :sentinel
        # redis-rb 4 takes the master name as host:, 5 as name:. Only 5
        # (redis-client) can speak TLS to the sentinels themselves.
        sentinels = major >= 5 ? spec.nodes.map { |n| n.merge(ssl: spec.tls) } : spec.nodes.map(&:dup)
        master = major >= 5 ? { name: spec.master } : { host: spec.master }
        [:redis, { **master, sentinels: sentinels, role: :master, db: spec.db, **auth }]
      else
        urls = spec.nodes.map { |n| "#{spec.tls ? 'rediss' : 'redis'}://#{host_for_url(n[:host])}:#{n[:port]}" }
        major >= 5 ? [:cluster_v5, { nodes: urls, **auth }] : [:redis, { cluster: urls, **auth }]
      end
    end

    def redis_major
      Integer(Redis::VERSION.split(".").first, 10)
    end

    def cluster_class
      require "redis-clustering"
      Redis::Cluster
    rescue LoadError
      raise LoadError, "pushpoll: redis-rb #{Redis::VERSION} needs the redis-clustering gem for redis-cluster:// URLs; add it to your Gemfile"
    end

    def credentials(userinfo)
      return [nil, nil] if userinfo.nil?

      user, colon, pass = userinfo.partition(":")
      user, pass = "", user if colon.empty? # a lone word is the password, as for redis-cli
      [user, pass].map { |s| s.empty? ? nil : URI::DEFAULT_PARSER.unescape(s) }
    end

    def node(host_port)
      host, _, port = host_port.rpartition(":")
      # An IPv6 address needs its brackets, or its last group reads as the port.
      host = host.delete_prefix("[").delete_suffix("]") if host.start_with?("[") && host.end_with?("]")
      valid_host = !host.empty? && !host.match?(/[\[\]]/) && (!host.include?(":") || host_port.start_with?("["))
      unless valid_host && port.match?(/\A[0-9]{1,5}\z/) && Integer(port, 10).between?(1, 65_535)
        raise ArgumentError, "pushpoll: a host in the Redis URL is not host:port"
      end

      { host: host, port: Integer(port, 10) }
    end

    def db(segment)
      return 0 if segment.nil? || segment.empty?
      raise ArgumentError, "pushpoll: the database in the Redis URL must be a number" unless segment.match?(/\A[0-9]{1,5}\z/)

      Integer(segment, 10)
    end

    def host_for_url(host)
      host.include?(":") ? "[#{host}]" : host
    end
  end
end
