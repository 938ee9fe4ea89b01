"""A python-socketio 5 client (Debian's python3-socketio) for pyclient_test.go.

usage: pysocketio.py URL TRANSPORT TOKEN TOPIC

It connects with the token and topic in the CONNECT auth payload, subscribes to the
same topic again by the `subscribe` event (printing its ack), prints READY, and prints
each `stale` hint as a JSON line until the test closes its stdin. A refused connect
prints CONNECT_ERROR and the server's message.
"""
import json
import sys
import threading

import socketio

url, transport, token, topic = sys.argv[1:5]
sio = socketio.Client(reconnection=False)


_out_lock = threading.Lock()


def out(*words):
    # Handlers run on the client's own threads: print writes its words one
    # at a time, so two lines could interleave (a MODE line swallowing an
    # ACK); each line goes out whole.
    line = " ".join(str(w) for w in words) + "\n"
    with _out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


@sio.on("stale")
def stale(hints, *rest):
    out("STALE", json.dumps(hints, sort_keys=True))


@sio.event
def connect_error(data):
    out("CONNECT_ERROR", data.get("message") if isinstance(data, dict) else data)


@sio.on("mode")
def mode(m):
    out("MODE", m["mode"])


try:
    sio.connect(url, transports=[transport], auth={"token": token, "topics": {topic: 1}}, wait_timeout=5)
except socketio.exceptions.ConnectionError:
    sys.exit(0)  # connect_error said why

ack = sio.call("subscribe", {"token": token, "topics": {topic: 1}}, timeout=10)
out("ACK", json.dumps(ack, sort_keys=True))
out("TRANSPORT", sio.transport())
out("READY")
sys.stdin.read()
sio.disconnect()
