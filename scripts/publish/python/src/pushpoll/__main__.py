"""The command-line publisher the project's tests drive, with the same
arguments in every language::

    python3 -m pushpoll bump <redis-url> <topic> <version>        prints true or false
    python3 -m pushpoll token <secret> <sub> <topic,topic> <ttl>  prints the token
    python3 -m pushpoll lua                                       prints the publish script

PUSHPOLL_CHANNEL_PREFIX and PUSHPOLL_TOKEN_AUDIENCE override the defaults, as
for the notifier. Exit status 2 means bad arguments, 1 any other failure.
"""

import os
import sys

from pushpoll import _VERSION_DIGITS, SCRIPT, bump, configure, connect, token

_USAGE = """usage: pushpoll bump <redis-url> <topic> <version>
       pushpoll token <secret> <sub> <topic,topic...> <ttl-seconds>
       pushpoll lua"""


def main(argv):
    prefix = os.environ.get("PUSHPOLL_CHANNEL_PREFIX", "pushpoll:")
    audience = os.environ.get("PUSHPOLL_TOKEN_AUDIENCE", "pushpoll")
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "bump" and len(args) == 3:
            url, topic, version = args
            client, cluster = connect(url)
            try:
                configure(redis=client, cluster=cluster, prefix=prefix)
                print("true" if bump(topic, version) else "false")
            finally:
                client.close()
        elif command == "token" and len(args) == 4:
            secret, sub, topics, ttl = args
            if not _VERSION_DIGITS.fullmatch(ttl):
                raise ValueError(f"pushpoll: ttl must be a positive integer of seconds (got {ttl!r})")
            configure(secret=secret, audience=audience)
            # An empty string means no topics, which token refuses; "a,,b"
            # keeps its empty item and is refused rather than quietly fixed.
            print(token(sub=sub, topics=topics.split(",") if topics else [], ttl=int(ttl)))
        elif command == "lua" and not args:
            sys.stdout.write(SCRIPT)
        else:
            print(_USAGE, file=sys.stderr)
            return 2
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    except Exception as e:  # the CLI reports any failure as a status, not a traceback
        print(f"pushpoll: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


def run():
    """The pushpoll console script."""
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    run()
