# frozen_string_literal: true

# The gem's tests run against a real redis-server on a free loopback port,
# started here and stopped when the tests end. `go test ./scripts/publish/`
# runs them; by hand: ruby -Ilib -Itest -e 'Dir["test/*_test.rb"].each { |f| require_relative f }'

require "minitest/autorun"
require "socket"
require "tmpdir"
require "redis"

module RedisServer
  module_function

  def url
    @url ||= start
  end

  def start
    port = free_port
    dir = Dir.mktmpdir("pushpoll-gem-redis")
    pid = Process.spawn("redis-server", "--port", port.to_s, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                        "--dir", dir, out: File::NULL, err: File::NULL)
    # after_run, not at_exit: a server started while test files load would
    # otherwise be stopped before the tests run.
    Minitest.after_run do
      Process.kill("TERM", pid)
      Process.wait(pid)
      FileUtils.remove_entry(dir)
    end
    url = "redis://127.0.0.1:#{port}"
    wait_until_up(url, pid)
    url
  end

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  # The server answers PING within a fraction of a second; the deadline only
  # bounds a server that never starts, on a loaded machine.
  def wait_until_up(url, pid)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 30
    redis = Redis.new(url: url)
    begin
      redis.ping
    rescue Redis::CannotConnectError
      raise "redis-server exited" if Process.waitpid(pid, Process::WNOHANG)
      raise "redis-server did not answer within 30s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.02 # polling a condition: the port opens when the server is ready
      retry
    ensure
      redis.close
    end
  end

  def client
    Redis.new(url: url)
  end
end

# Subscriber sees what a bump publishes, on a connection of its own; a
# pattern with * subscribes to every matching channel.
class Subscriber
  def initialize(channel)
    @queue = Queue.new
    ready = Queue.new
    @redis = RedisServer.client
    @thread = Thread.new do
      kind = channel.include?("*") ? :psubscribe_with_timeout : :subscribe_with_timeout
      @redis.public_send(kind, 30, channel) do |on|
        on.subscribe { ready << true }
        on.psubscribe { ready << true }
        on.message { |_, data| @queue << data }
        on.pmessage { |_, _, data| @queue << data }
      end
    rescue Redis::TimeoutError, Redis::BaseConnectionError
      nil
    end
    ready.pop
  end

  # next waits for the next message; ten seconds only bounds one that never comes.
  def next_message
    Timeout.timeout(10) { @queue.pop }
  end

  # quiet proves nothing else was published: a marker published now must
  # be the next message, since Redis delivers in publish order.
  def quiet?(channel)
    marker = "marker-#{rand(1 << 30)}"
    RedisServer.client.tap { |r| r.publish(channel, marker) }.close
    next_message == marker
  end

  def close
    @thread.kill
    @thread.join
    @redis.close
  end
end
