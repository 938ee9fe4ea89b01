"""The package against a real redis-server. The command line is driven by
the project's publish_test.go, Sentinel and Cluster by its ha_test.go.

    PYTHONPATH=src /usr/bin/python3 -m unittest discover -s tests
"""

import json
import time
import unittest

import jwt

import pushpoll
from redis_server import RedisServer, Subscriber, free_port

SECRET = "python-test-secret-0123456789abcdef"


def setUpModule():
    global server
    server = RedisServer()


def tearDownModule():
    server.stop()


class ParseURLTest(unittest.TestCase):
    def test_forms(self):
        u = pushpoll.parse_url("rediss://app:p%40ss%20w:rd@h:6380/3")
        self.assertEqual((u.kind, u.tls, u.nodes, u.db, u.username, u.password), ("single", True, [("h", 6380)], 3, "app", "p@ss w:rd"))
        u = pushpoll.parse_url("redis://se@cret@h:1")  # a lone word is the password; the last @ ends it
        self.assertEqual((u.username, u.password, u.nodes), (None, "se@cret", [("h", 1)]))
        u = pushpoll.parse_url("redis://[::1]:6379/")
        self.assertEqual((u.nodes, u.db), ([("::1", 6379)], 0))
        u = pushpoll.parse_url("redis-sentinel://app:pw@s1:26379,s2:26380/mymaster/2")
        self.assertEqual((u.kind, u.nodes, u.master, u.db), ("sentinel", [("s1", 26379), ("s2", 26380)], "mymaster", 2))
        u = pushpoll.parse_url("rediss-cluster://n1:7000,[::1]:7001")
        self.assertEqual((u.kind, u.tls, u.nodes), ("cluster", True, [("n1", 7000), ("::1", 7001)]))

    def test_bad_urls(self):
        for url in [
            "", "http://h:1", "redis:/h:1", "redis://h", "redis://h:0", "redis://h:65536", "redis://h:x", "redis://:1",
            "redis://h:1,h:2", "redis://h:1/x", "redis://h:1/1/2", "redis://h:1?db=1", "redis://h:1#f", "redis://::1:6379",
            "redis-sentinel://s:1", "redis-sentinel://s:1/", "redis-sentinel://s:1/m/x", "redis-sentinel://s:1/m/1/2",
            "redis-cluster://n:1/0", "redis-cluster://n:1,", "redis-cluster://n:1/x", "redis://u:secret@h:1/x",
        ]:
            with self.subTest(url=url), self.assertRaises(ValueError) as cm:
                pushpoll.parse_url(url)
            self.assertNotIn("secret", str(cm.exception))


class BumpTest(unittest.TestCase):
    def setUp(self):
        self.redis = server.client()
        self.redis.flushdb()

    def tearDown(self):
        self.redis.close()

    def test_bump_raises_only_upwards_and_publishes(self):
        pushpoll.configure(url=server.url, prefix="app1:")
        sub = Subscriber(server, "app1:*")
        before = time.time_ns() // 1_000_000
        self.assertTrue(pushpoll.bump("project:1", 5))
        m = sub.next()
        self.assertEqual(m["channel"], "app1:project:1")
        payload = json.loads(m["data"])
        self.assertEqual(payload["v"], 5)
        self.assertLessEqual(before - 1000, payload["ts"])
        self.assertEqual(self.redis.get("app1:project:1"), "5")
        self.assertFalse(pushpoll.bump("project:1", 5))
        self.assertFalse(pushpoll.bump("project:1", "4"))
        self.assertTrue(sub.quiet("app1:marker"))
        self.assertTrue(pushpoll.bump("project:1", 2**63 - 1))
        self.assertEqual(self.redis.get("app1:project:1"), "9223372036854775807")
        sub.close()

    def test_script_cache_flushed(self):
        # After a Redis restart or failover EVALSHA answers NOSCRIPT; the
        # registered script loads itself again.
        pushpoll.configure(url=server.url)
        self.assertTrue(pushpoll.bump("project:3", 1))
        self.redis.script_flush()
        self.assertTrue(pushpoll.bump("project:3", 2))
        self.assertEqual(self.redis.get("pushpoll:project:3"), "2")

    def test_version_ttl(self):
        # Expires the key after its last bump, as --version-ttl does for the
        # notifier's own (publish.lua's ARGV[4]); without it keys stay.
        import datetime

        pushpoll.configure(url=server.url, version_ttl=datetime.timedelta(hours=1))
        self.assertTrue(pushpoll.bump("project:6", 1))
        self.assertIn(self.redis.ttl("pushpoll:project:6"), range(3590, 3601))
        pushpoll.configure(url=server.url, version_ttl=0)
        self.assertTrue(pushpoll.bump("project:7", 1))
        self.assertEqual(self.redis.ttl("pushpoll:project:7"), -1)
        for ttl in [-1, 1.5, "60", True, 10_000_000_000, datetime.timedelta(milliseconds=1500)]:
            with self.subTest(ttl=ttl), self.assertRaises(ValueError):
                pushpoll.configure(url=server.url, version_ttl=ttl)

    def test_unreachable_redis_raises(self):
        import redis

        pushpoll.configure(url=f"redis://127.0.0.1:{free_port()}")
        with self.assertRaises(redis.ConnectionError):
            pushpoll.bump("project:1", 1)

    def test_bad_arguments_send_nothing(self):
        pushpoll.configure(url=server.url)
        for topic, version in [("mode", 1), ("bad topic", 1), ("", 1), ("a" * 201, 1), ("project:4", 0), ("project:4", -1),
                               ("project:4", 1.5), ("project:4", "08"), ("project:4", 2**63), (b"project", 1),
                               ("project:4", None), ("project:4", True)]:
            with self.subTest(topic=topic, version=version), self.assertRaises(ValueError):
                pushpoll.bump(topic, version)
        self.assertEqual(self.redis.dbsize(), 0)

    def test_unconfigured(self):
        pushpoll.configure(secret=SECRET)
        with self.assertRaises(RuntimeError):
            pushpoll.bump("project:5", 1)
        pushpoll.configure(url=server.url)
        with self.assertRaises(RuntimeError):
            pushpoll.token(sub=1, topics=["project:5"])


class TokenTest(unittest.TestCase):
    def test_claims(self):
        import datetime

        pushpoll.configure(secret=SECRET, audience="app")
        t = pushpoll.token(sub=42, topics=("project:42", "user:7:*"), ttl=datetime.timedelta(minutes=2))
        claims = jwt.decode(t, SECRET, algorithms=["HS256"], audience="app")
        self.assertEqual(claims["sub"], "42")
        self.assertEqual(claims["topics"], ["project:42", "user:7:*"])
        self.assertEqual(claims["exp"] - claims["iat"], 120)

    def test_bad_arguments(self):
        pushpoll.configure(secret=SECRET)
        for kwargs in [dict(sub="", topics=["a"]), dict(sub=1, topics="project:1"), dict(sub=1, topics=[]),
                       dict(sub=1, topics=["a b"]), dict(sub=1, topics=["a*b"]), dict(sub=1, topics=["a"], ttl=0),
                       dict(sub=1, topics=["a"], ttl=True), dict(sub=1, topics=["a"], ttl="5")]:
            with self.subTest(**kwargs), self.assertRaises(ValueError):
                pushpoll.token(**kwargs)


if __name__ == "__main__":
    unittest.main()
