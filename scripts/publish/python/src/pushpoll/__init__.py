"""pushpoll: tell pushpoll notifiers that a topic changed, and mint the tokens
that let a browser listen for those hints.

Needs redis-py and PyJWT::

    import os, pushpoll
    pushpoll.configure(
        url=os.environ["PUSHPOLL_REDIS_URL"],  # any --redis-url form; or redis=<client> (cluster=True for a RedisCluster)
        prefix="pushpoll:",                         # the notifier's --channel-prefix
        secret=os.environ["PUSHPOLL_TOKEN_SECRET"],  # the notifier's --token-secret
        audience="pushpoll",                        # the notifier's --token-audience
    )
    pushpoll.bump("project:42", 1058)    # True if raised, False if not newer
    pushpoll.token(sub=user.id, topics=["project:42", "user:7:*"], ttl=300)  # "eyJ..."

Invalid topics, versions, subjects and ttls raise ValueError before anything
is sent; Redis failures raise redis-py's errors. ``python3 -m pushpoll`` (or
the ``pushpoll`` command) does the same from a shell.
"""

import datetime
import json
import pathlib
import re
import time

import jwt

# The notifier's release this package ships with; internal/version and the
# gem hold the same number, and the project's tests fail if they differ.
__version__ = "0.3.0"

__all__ = ["SCRIPT", "configure", "connect", "parse_url", "bump", "token"]

# SCRIPT is notifier/publish.lua, shipped in the package next to this file;
# the project's tests fail if the copy drifts from the notifier's.
SCRIPT = (pathlib.Path(__file__).parent / "publish.lua").read_text(encoding="utf-8")

# The notifier refuses this topic on every path; it once named the feature flag.
_RESERVED_TOPIC = "mode"
# A topic as the notifier accepts it.
_TOPIC = re.compile(r"[A-Za-z0-9_.:/@-]{1,200}")
# A token may also grant every topic under a prefix, written with a trailing *.
_TOPIC_PREFIX = re.compile(r"[A-Za-z0-9_.:/@-]{0,199}\*")
# Versions are int64 on the wire; the decimal form is what the script compares.
_VERSION_DIGITS = re.compile(r"[1-9][0-9]*")
_MAX_VERSION = 2**63 - 1
# publish.lua takes the key's lifetime as up to 10 decimal digits of seconds.
_MAX_VERSION_TTL = 9_999_999_999


class _Config:
    __slots__ = ("script", "cluster", "prefix", "secret", "audience", "version_ttl")

    def __init__(self, script, cluster, prefix, secret, audience, version_ttl):
        self.script = script
        self.cluster = cluster
        self.prefix = prefix
        self.secret = secret
        self.audience = audience
        self.version_ttl = version_ttl


_config = None


# The notifier's --redis-url schemes: one server, a master behind sentinels,
# a cluster; rediss for TLS.
_SCHEMES = {
    "redis": ("single", False),
    "rediss": ("single", True),
    "redis-sentinel": ("sentinel", False),
    "rediss-sentinel": ("sentinel", True),
    "redis-cluster": ("cluster", False),
    "rediss-cluster": ("cluster", True),
}
_PORT = re.compile(r"[0-9]{1,5}")
_DB = re.compile(r"[0-9]{1,5}")


class RedisURL:
    """A parsed --redis-url: what connect needs, nothing opened."""

    __slots__ = ("kind", "tls", "nodes", "db", "master", "username", "password")

    def __init__(self, kind, tls, nodes, db, master, username, password):
        self.kind = kind
        self.tls = tls
        self.nodes = nodes
        self.db = db
        self.master = master
        self.username = username
        self.password = password


def parse_url(url):
    """Read any of the notifier's --redis-url forms, as the notifier does::

        redis[s]://[[user]:password@]host:port[/db]
        redis[s]-sentinel://[[user]:password@]host:port[,host:port...]/<master-name>[/<db>]
        redis[s]-cluster://[[user]:password@]host:port[,host:port...]

    Errors never repeat the URL, which may carry a password.
    """
    import urllib.parse

    scheme, sep, rest = str(url).partition("://")
    if not sep or scheme not in _SCHEMES:
        raise ValueError("pushpoll: the Redis URL must be redis[s]://, redis[s]-sentinel:// or redis[s]-cluster://")
    kind, tls = _SCHEMES[scheme]
    if "?" in rest or "#" in rest:
        raise ValueError("pushpoll: the Redis URL takes no query string or fragment")
    authority, _, path = rest.partition("/")
    # The last @ ends the credentials: a password may hold an unescaped @.
    userinfo, at, hosts = authority.rpartition("@")
    username = password = None
    if at:
        user, colon, pw = userinfo.partition(":")
        if not colon:
            user, pw = "", user  # a lone word is the password, as for redis-cli
        username = urllib.parse.unquote(user) if user else None
        password = urllib.parse.unquote(pw) if pw else None
    nodes = [_node(hp) for hp in hosts.split(",")]
    segments = path.split("/") if path else []
    master = None
    if kind == "single":
        if len(nodes) > 1:
            raise ValueError("pushpoll: several hosts need redis-sentinel:// or redis-cluster://")
    elif kind == "sentinel":
        if not segments or not segments[0]:
            raise ValueError("pushpoll: the master name is missing from the redis-sentinel:// URL")
        master, segments = segments[0], segments[1:]
    elif segments:
        raise ValueError("pushpoll: a cluster URL takes no database")
    if len(segments) > 1:
        raise ValueError("pushpoll: the Redis URL has too many path segments")
    db = 0
    if segments and segments[0]:
        if not _DB.fullmatch(segments[0]):
            raise ValueError("pushpoll: the database in the Redis URL must be a number")
        db = int(segments[0])
    return RedisURL(kind, tls, nodes, db, master, username, password)


def _node(host_port):
    host, _, port = host_port.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    # An IPv6 address needs its brackets, or its last group reads as the port.
    valid_host = host and "[" not in host and "]" not in host and (bracketed or ":" not in host)
    if not valid_host or not _PORT.fullmatch(port) or not 0 < int(port) < 65536:
        raise ValueError("pushpoll: a host in the Redis URL is not host:port")
    return host, int(port)


def connect(url):
    """Open a client for any of the notifier's --redis-url forms (see parse_url).

    Returns (client, is_cluster). The credentials are the data nodes';
    sentinels are asked without them.
    """
    import redis as redislib
    import redis.cluster
    import redis.sentinel

    u = parse_url(url)
    opts = {"ssl": u.tls}
    if u.username is not None:
        opts["username"] = u.username
    if u.password is not None:
        opts["password"] = u.password
    if u.kind == "single":
        host, port = u.nodes[0]
        return redislib.Redis(host=host, port=port, db=u.db, **opts), False
    if u.kind == "sentinel":
        # sentinel_kwargs, given, keeps the data nodes' credentials away from
        # the sentinels.
        sentinel = redis.sentinel.Sentinel(u.nodes, sentinel_kwargs={"ssl": u.tls}, db=u.db, **opts)
        return sentinel.master_for(u.master), False
    startup = [redis.cluster.ClusterNode(h, p) for h, p in u.nodes]
    return redis.cluster.RedisCluster(startup_nodes=startup, **opts), True


def configure(redis=None, url=None, cluster=False, prefix="pushpoll:", secret=None, audience="pushpoll", version_ttl=None):
    """Set the connection and settings for every later call.

    redis may be None in a process that only mints tokens, secret in one that
    only bumps. url, instead of redis, connects with any of the notifier's
    --redis-url forms (see connect). cluster=True says that redis is a
    RedisCluster: bumps then announce with SPUBLISH on the topic's shard.
    version_ttl (seconds, or a timedelta) expires each version key that long
    after its last bump, as the notifier's --version-ttl does for its own:
    give both the same value. None or 0 keeps keys for ever.
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
    _config = _Config(script, bool(cluster), prefix, secret, audience, _check_version_ttl(version_ttl))


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
    args = [str(version), payload]
    if cfg.cluster or cfg.version_ttl:
        args.append("SPUBLISH" if cfg.cluster else "PUBLISH")
    if cfg.version_ttl:
        args.append(str(cfg.version_ttl))
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


def _check_version_ttl(ttl):
    if isinstance(ttl, datetime.timedelta):
        seconds = ttl // datetime.timedelta(seconds=1)
        if ttl != datetime.timedelta(seconds=seconds):
            raise ValueError(f"pushpoll: version_ttl must be whole seconds (got {ttl!r})")
        ttl = seconds
    if ttl is None or (type(ttl) is int and ttl == 0):
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= _MAX_VERSION_TTL:
        raise ValueError(f"pushpoll: version_ttl must be whole seconds, 1 to {_MAX_VERSION_TTL}, or None (got {ttl!r})")
    return ttl


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
