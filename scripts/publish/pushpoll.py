"""pushpoll: tell pushpoll notifiers that a topic changed, and mint the tokens
that let a browser listen for those hints.

Needs redis-py (Debian: python3-redis) and PyJWT (Debian: python3-jwt)::

    import redis, pushpoll
    pushpoll.configure(
        url=os.environ["PUSHPOLL_REDIS_URL"],  # any --redis-url form; or redis=<client> (cluster=True for a RedisCluster)
        prefix="pushpoll:",                         # the notifier's --channel-prefix
        secret=os.environ["PUSHPOLL_TOKEN_SECRET"],  # the notifier's --token-secret
        audience="pushpoll",                        # the notifier's --token-audience
    )
    pushpoll.bump("project:42", 1058)    # True if raised, False if not newer
    pushpoll.token(sub=user.id, topics=["project:42", "user:7:*"], ttl=300)  # "eyJ..."

Invalid topics, versions, subjects and ttls raise ValueError before anything
is sent; Redis failures raise redis-py's errors.

Run as a program, it is the command-line publisher the project's tests drive::

    python3 pushpoll.py bump <redis-url> <topic> <version>        prints true or false
    python3 pushpoll.py token <secret> <sub> <topic,topic> <ttl>  prints the token
    python3 pushpoll.py lua                                       prints the embedded script

PUSHPOLL_CHANNEL_PREFIX and PUSHPOLL_TOKEN_AUDIENCE override the defaults, as
for the notifier. Exit status 2 means bad arguments, 1 any other failure.
"""

import datetime
import json
import os
import re
import sys
import time

import jwt

__all__ = ["SCRIPT", "configure", "bump", "token"]

# SCRIPT is notifier/publish.lua, byte for byte, embedded so that this file
# works on its own inside an app. The project's tests fail if the two drift.
SCRIPT = r'''-- pushpoll publish: raise a topic's version and announce it, in one round trip.
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
'''

# The notifier refuses this topic on every path; it once named the feature flag.
_RESERVED_TOPIC = "mode"
# A topic as the notifier accepts it.
_TOPIC = re.compile(r"[A-Za-z0-9_.:/@-]{1,200}")
# A token may also grant every topic under a prefix, written with a trailing *.
_TOPIC_PREFIX = re.compile(r"[A-Za-z0-9_.:/@-]{0,199}\*")
# Versions are int64 on the wire; the decimal form is what the script compares.
_VERSION_DIGITS = re.compile(r"[1-9][0-9]*")
_MAX_VERSION = 2**63 - 1


class _Config:
    __slots__ = ("script", "cluster", "prefix", "secret", "audience")

    def __init__(self, script, cluster, prefix, secret, audience):
        self.script = script
        self.cluster = cluster
        self.prefix = prefix
        self.secret = secret
        self.audience = audience


_config = None


# The notifier's --redis-url forms: one server, a master behind sentinels, a
# cluster; rediss for TLS.
_REDIS_URL = re.compile(r"(rediss?)(-sentinel|-cluster)?://(?:([^@/]*)@)?([^@/?#]+)(?:/([^?#]*))?")


def connect(url):
    """Open a client for any of the notifier's --redis-url forms.

    Returns (client, is_cluster)::

        redis[s]://[[user]:password@]host:port[/db]
        redis[s]-sentinel://[[user]:password@]host:port[,host:port...]/<master-name>[/<db>]
        redis[s]-cluster://[[user]:password@]host:port[,host:port...]

    The credentials are the data nodes'; sentinels are asked without them.
    """
    import urllib.parse

    import redis as redislib
    import redis.cluster
    import redis.sentinel

    m = _REDIS_URL.fullmatch(str(url))
    if not m:
        raise ValueError("pushpoll: the Redis URL must be redis[s]://, redis[s]-sentinel:// or redis[s]-cluster:// (see connect)")
    scheme, kind, userinfo, hosts, path = m.groups()
    opts = {"ssl": scheme == "rediss"}
    if userinfo is not None:
        user, colon, password = userinfo.partition(":")
        if not colon:
            user, password = "", user  # a lone word is the password, as for redis-cli
        if user:
            opts["username"] = urllib.parse.unquote(user)
        if password:
            opts["password"] = urllib.parse.unquote(password)
    nodes = []
    for hp in hosts.split(","):
        host, _, port = hp.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"pushpoll: {hp!r} in the Redis URL is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    segments = path.split("/") if path else []
    if kind is None:
        if len(nodes) > 1:
            raise ValueError("pushpoll: several hosts need redis-sentinel:// or redis-cluster://")
        db = int(segments[0]) if segments and segments[0] else 0
        return redislib.Redis(host=nodes[0][0], port=nodes[0][1], db=db, **opts), False
    if kind == "-sentinel":
        if not segments or not segments[0]:
            raise ValueError("pushpoll: the master name is missing from the redis-sentinel:// URL")
        db = int(segments[1]) if len(segments) > 1 and segments[1] else 0
        sentinel = redis.sentinel.Sentinel(nodes, sentinel_kwargs={"ssl": opts["ssl"]}, db=db, **opts)
        return sentinel.master_for(segments[0]), False
    if segments:
        raise ValueError("pushpoll: a cluster URL takes no database")
    startup = [redis.cluster.ClusterNode(h, p) for h, p in nodes]
    return redis.cluster.RedisCluster(startup_nodes=startup, **opts), True


def configure(redis=None, url=None, cluster=False, prefix="pushpoll:", secret=None, audience="pushpoll"):
    """Set the connection and settings for every later call.

    redis may be None in a process that only mints tokens, secret in one that
    only bumps. url, instead of redis, connects with any of the notifier's
    --redis-url forms (see connect). cluster=True says that redis is a
    RedisCluster: bumps then announce with SPUBLISH on the topic's shard.
    """
    global _config
    if redis is not None and url is not None:
        raise ValueError("pushpoll: give redis or url, not both")
    if url is not None:
        redis, cluster = connect(url)
    if not isinstance(prefix, str):
        raise ValueError("pushpoll: prefix must be a str")
    if not isinstance(audience, str) or not audience:
        raise ValueError("pushpoll: audience must be a non-empty str")
    # register_script runs EVALSHA and, when the script cache was emptied by a
    # Redis restart or failover, loads the script and retries.
    script = redis.register_script(SCRIPT) if redis is not None else None
    # One object swapped in whole, so a thread calling bump while another
    # reconfigures sees either the old settings or the new ones.
    _config = _Config(script, bool(cluster), prefix, secret, audience)


def _current():
    if _config is None:
        raise RuntimeError("pushpoll: call pushpoll.configure first")
    return _config


def bump(topic, version):
    """Raise topic's version to version and hint the notifiers, in one round trip.

    Returns False, and announces nothing, when the stored version is already
    as new: retries and racing app servers are harmless. version is a positive
    int (or its decimal str) up to 2**63-1.
    """
    _check_topic(topic)
    version = _check_version(version)
    cfg = _current()
    if cfg.script is None:
        raise RuntimeError("pushpoll: configure(redis=...) before bump")
    payload = json.dumps({"v": version, "ts": time.time_ns() // 1_000_000}, separators=(",", ":"))
    args = [str(version), payload] + (["SPUBLISH"] if cfg.cluster else [])
    return cfg.script(keys=[cfg.prefix + topic], args=args) == 1


def token(*, sub, topics, ttl=300):
    """Mint the HS256 JWT a browser presents to the notifier.

    sub is stringified because JWT requires a string subject and the notifier
    rejects any other type; topics are exact topics or prefixes ending in *.
    ttl is seconds (an int or a datetime.timedelta).
    """
    cfg = _current()
    if not cfg.secret:
        raise RuntimeError("pushpoll: configure(secret=...) before token")
    sub = str(sub)
    if not sub:
        raise ValueError("pushpoll: sub must not be empty")
    topics = _check_grants(topics)
    if isinstance(ttl, datetime.timedelta):
        ttl = int(ttl.total_seconds())
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise ValueError(f"pushpoll: ttl must be a positive int of seconds (got {ttl!r})")
    now = int(time.time())
    claims = {"sub": sub, "topics": topics, "aud": cfg.audience, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, cfg.secret, algorithm="HS256")


def _check_topic(topic):
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        raise ValueError(f"pushpoll: topic must be 1-200 characters of A-Z a-z 0-9 _ . : / @ - (got {topic!r})")
    if topic == _RESERVED_TOPIC:
        raise ValueError('pushpoll: the topic "mode" is reserved')


def _check_version(version):
    v = version
    if isinstance(v, str) and _VERSION_DIGITS.fullmatch(v):
        v = int(v)
    # bool is an int subclass; True is not a version.
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= _MAX_VERSION:
        raise ValueError(f"pushpoll: version must be a positive int64 (got {version!r})")
    return v


def _check_grants(topics):
    # A bare str is iterable too; taking "project:42" as 10 one-letter topics
    # would be a silent, confusing mistake.
    if isinstance(topics, str) or not isinstance(topics, (list, tuple)):
        raise ValueError(f"pushpoll: topics must be a list (got {topics!r})")
    if not topics:
        raise ValueError("pushpoll: topics must not be empty")
    for t in topics:
        if not isinstance(t, str) or not (_TOPIC.fullmatch(t) or _TOPIC_PREFIX.fullmatch(t)):
            raise ValueError(f"pushpoll: {t!r} is neither a topic nor a prefix ending in *")
    return list(topics)


_USAGE = """usage: python3 pushpoll.py bump <redis-url> <topic> <version>
       python3 pushpoll.py token <secret> <sub> <topic,topic...> <ttl-seconds>
       python3 pushpoll.py lua"""


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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
