# frozen_string_literal: true

module PushPoll
  # Command is the gem's executable, the command-line publisher the project's
  # tests drive with the same arguments in every language:
  #
  #   pushpoll bump <redis-url> <topic> <version>        prints true or false
  #   pushpoll token <secret> <sub> <topic,topic> <ttl>  prints the token
  #   pushpoll lua                                       prints the publish script
  #
  # PUSHPOLL_CHANNEL_PREFIX and PUSHPOLL_TOKEN_AUDIENCE override the defaults,
  # as for the notifier. Exit status 2 means bad arguments, 1 any other failure.
  module Command
    USAGE = <<~USAGE
      usage: pushpoll bump <redis-url> <topic> <version>
             pushpoll token <secret> <sub> <topic,topic...> <ttl-seconds>
             pushpoll lua
    USAGE

    module_function

    def run(argv, env: ENV, out: $stdout, err: $stderr)
      command, *args = argv
      case [command, args.size]
      when ["bump", 3] then bump(*args, env: env, out: out)
      when ["token", 4] then token(*args, env: env, out: out)
      when ["lua", 0] then out.write(SCRIPT)
      else
        err.write(USAGE)
        return 2
      end
      0
    rescue ArgumentError => e
      err.puts e.message
      2
    rescue StandardError => e
      err.puts "pushpoll: #{e.class}: #{e.message}"
      1
    end

    def bump(url, topic, version, env:, out:)
      PushPoll.configure(url: url, prefix: env.fetch("PUSHPOLL_CHANNEL_PREFIX", "pushpoll:"))
      begin
        out.puts PushPoll.bump(topic, version)
      ensure
        PushPoll.config.redis.close
      end
    end

    def token(secret, sub, topics, ttl, env:, out:)
      raise ArgumentError, "pushpoll: ttl must be a positive integer of seconds (got #{ttl.inspect})" unless VERSION_DIGITS.match?(ttl)

      PushPoll.configure(secret: secret, audience: env.fetch("PUSHPOLL_TOKEN_AUDIENCE", "pushpoll"))
      # -1 keeps empty items, so "a,,b" is refused rather than quietly fixed.
      out.puts PushPoll.token(sub: sub, topics: topics.split(",", -1), ttl: Integer(ttl, 10))
    end
  end
end
