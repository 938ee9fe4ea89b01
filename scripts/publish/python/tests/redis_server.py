"""A real redis-server on a free loopback port, for the package's tests."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import redis


class RedisServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pushpoll-py-redis")
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}"
        # The server answers within a fraction of a second; the deadline only
        # bounds one that never starts, on a loaded machine.
        deadline = time.monotonic() + 30
        client = self.client()
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    raise RuntimeError("redis-server exited")
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not answer within 30s")
                time.sleep(0.02)  # polling a condition: the port opens when the server is ready
            finally:
                client.close()

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Subscriber:
    """Sees what a bump publishes, on a connection of its own."""

    def __init__(self, server, pattern):
        self.server = server
        self.pubsub = server.client().pubsub()
        self.pubsub.psubscribe(pattern)
        # Wait for the confirmation: after it, nothing published can be missed.
        if self.next(kind="psubscribe") is None:
            raise RuntimeError("no psubscribe confirmation")

    def next(self, kind="pmessage"):
        # Ten seconds only bounds a message that never comes.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = self.pubsub.get_message(timeout=deadline - time.monotonic())
            if m is not None and m["type"] == kind:
                return m
        return None

    def quiet(self, channel):
        """Nothing else was published: a marker published now comes next."""
        marker = f"marker-{os.getpid()}-{time.monotonic_ns()}"
        c = self.server.client()
        c.publish(channel, marker)
        c.close()
        m = self.next()
        return m is not None and m["data"] == marker

    def close(self):
        self.pubsub.close()
