# frozen_string_literal: true

require "test_helper"
require "pushpoll"

# Every --redis-url form the notifier takes (internal/redisx/url.go), read
# into the arguments redis-rb 4 and redis-rb 5 expect.
class ConnectorTest < Minitest::Test
  def args(url, major)
    PushPoll::Connector.arguments(PushPoll::Connector.parse(url), major)
  end

  def test_single_server
    assert_equal [:redis, { host: "h", port: 6379, db: 0, ssl: false }], args("redis://h:6379", 4)
    assert_equal [:redis, { host: "h", port: 6380, db: 3, ssl: true, username: "app", password: "p@ss w:rd" }],
                 args("rediss://app:p%40ss%20w:rd@h:6380/3", 5)
    # A lone word is the default user's password, as for redis-cli; an
    # unescaped @ in the password ends at the last @.
    assert_equal [:redis, { host: "h", port: 1, db: 0, ssl: false, password: "se@cret" }], args("redis://se@cret@h:1", 4)
    assert_equal [:redis, { host: "::1", port: 6379, db: 0, ssl: false }], args("redis://[::1]:6379/", 4)
  end

  def test_sentinel_v4_and_v5
    url = "redis-sentinel://app:pw@s1:26379,s2:26380/mymaster/2"
    sentinels = [{ host: "s1", port: 26_379 }, { host: "s2", port: 26_380 }]
    # redis-rb 4 reads the master name from host:, and its sentinel clients
    # take no TLS option.
    assert_equal [:redis, { host: "mymaster", sentinels: sentinels, role: :master, db: 2, ssl: false, username: "app", password: "pw" }],
                 args(url, 4)
    # redis-rb 5 (redis-client) reads it from name:; the sentinels get only
    # host, port and TLS, never the data nodes' credentials.
    assert_equal [:redis, { name: "mymaster", sentinels: sentinels.map { |s| s.merge(ssl: false) }, role: :master, db: 2,
                            ssl: false, username: "app", password: "pw" }],
                 args(url, 5)
    _, tls = args("rediss-sentinel://s1:26379/m", 5)
    assert_equal [true], tls[:sentinels].map { |s| s[:ssl] }
    assert tls[:ssl]
  end

  def test_cluster_v4_and_v5
    url = "rediss-cluster://app:pw@n1:7000,[::1]:7001"
    nodes = ["rediss://n1:7000", "rediss://[::1]:7001"]
    assert_equal [:redis, { cluster: nodes, ssl: true, username: "app", password: "pw" }], args(url, 4)
    assert_equal [:cluster_v5, { nodes: nodes, ssl: true, username: "app", password: "pw" }], args(url, 5)
    assert PushPoll::Connector.parse(url).cluster?
  end

  # redis-rb 5 raises "Redis Cluster support was moved to the
  # `redis-clustering` gem" for Redis.new(cluster:); the gem asks for
  # redis-clustering itself, by name, when it is missing.
  def test_v5_cluster_without_redis_clustering_names_the_gem
    skip "redis-clustering is installed here" unless Gem::Specification.find_all_by_name("redis-clustering").empty?

    spec = PushPoll::Connector.parse("redis-cluster://n1:7000")
    err = assert_raises(LoadError) { PushPoll::Connector.open(spec, redis_major: 5) }
    assert_match(/redis-clustering/, err.message)
  end

  def test_bad_urls
    [
      "", "http://h:1", "redis:/h:1", "redis://h", "redis://h:0", "redis://h:65536", "redis://h:x", "redis://:1",
      "redis://h:1,h:2", "redis://h:1/x", "redis://h:1/1/2", "redis://h:1?db=1", "redis://h:1#f", "redis://::1:6379",
      "redis-sentinel://s:1", "redis-sentinel://s:1/", "redis-sentinel://s:1/m/x", "redis-sentinel://s:1/m/1/2",
      "redis-cluster://n:1/0", "redis-cluster://n:1,", "redis-cluster://n:1/x"
    ].each do |url|
      err = assert_raises(ArgumentError, url) { PushPoll::Connector.parse(url) }
      refute_includes err.message, "secret", "errors must not repeat the URL"
    end
    err = assert_raises(ArgumentError) { PushPoll::Connector.parse("redis://u:secret@h:1/x") }
    refute_includes err.message, "secret"
  end
end
