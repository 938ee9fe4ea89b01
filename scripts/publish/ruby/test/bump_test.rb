# frozen_string_literal: true

require "test_helper"
require "pushpoll"

# The library API against a real redis-server; the command line is driven by
# the project's publish_test.go, Sentinel and Cluster by its ha_test.go.
class BumpTest < Minitest::Test
  def setup
    @redis = RedisServer.client
    @redis.flushdb
  end

  def teardown
    @redis.close
  end

  def test_url_connects_on_the_first_bump_not_at_configure
    port = RedisServer.free_port
    PushPoll.configure(url: "redis://127.0.0.1:#{port}")
    assert_raises(Redis::CannotConnectError) { PushPoll.bump("project:1", 1) }

    PushPoll.configure(url: RedisServer.url, prefix: "app1:")
    sub = Subscriber.new("app1:project:1")
    assert PushPoll.bump("project:1", 5)
    assert_equal "5", @redis.get("app1:project:1")
    assert_equal 5, JSON.parse(sub.next_message)["v"]
    refute PushPoll.bump("project:1", 5)
    refute PushPoll.bump("project:1", "4")
    assert sub.quiet?("app1:project:1")
    sub.close
  end

  def test_a_client_of_the_apps_own
    PushPoll.configure(redis: RedisServer.client)
    assert PushPoll.bump("project:2", (2**63) - 1)
    assert_equal "9223372036854775807", @redis.get("pushpoll:project:2")
  end

  # After a Redis restart or failover the script cache is empty: EVALSHA
  # answers NOSCRIPT, and bump loads the script again.
  def test_script_cache_flushed
    PushPoll.configure(url: RedisServer.url)
    assert PushPoll.bump("project:3", 1)
    @redis.script(:flush)
    assert PushPoll.bump("project:3", 2)
    assert_equal "2", @redis.get("pushpoll:project:3")
  end

  # version_ttl expires the key after its last bump, as --version-ttl does
  # for the notifier's own (publish.lua's ARGV[4]); without it keys stay.
  def test_version_ttl
    PushPoll.configure(url: RedisServer.url, version_ttl: 3600)
    assert PushPoll.bump("project:6", 1)
    assert_includes 3590..3600, @redis.ttl("pushpoll:project:6")
    PushPoll.configure(url: RedisServer.url, version_ttl: 0)
    assert PushPoll.bump("project:7", 1)
    assert_equal(-1, @redis.ttl("pushpoll:project:7"))
    [-1, 1.5, "60", 10_000_000_000].each do |ttl|
      assert_raises(ArgumentError, ttl.inspect) { PushPoll.configure(url: RedisServer.url, version_ttl: ttl) }
    end
  end

  def test_bad_arguments_send_nothing
    PushPoll.configure(url: RedisServer.url)
    [["mode", 1], ["bad topic", 1], ["", 1], ["a" * 201, 1], ["project:4", 0], ["project:4", -1], ["project:4", 1.5],
     ["project:4", "08"], ["project:4", 2**63], [:project, 1], ["project:4", nil]].each do |topic, version|
      assert_raises(ArgumentError, [topic, version].inspect) { PushPoll.bump(topic, version) }
    end
    assert_equal 0, @redis.dbsize
  end

  def test_unconfigured
    PushPoll.configure(secret: "s")
    assert_raises(PushPoll::Error) { PushPoll.bump("project:5", 1) }
    PushPoll.configure(url: RedisServer.url)
    assert_raises(PushPoll::Error) { PushPoll.token(sub: 1, topics: ["project:5"]) }
  end
end
