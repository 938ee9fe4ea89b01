// Wire compatibility: the real socket.io-client 2.5.0 (what shims before 0.4 bundle), run by
// node, against the real notifier and a real redis-server. Each protocol rule of the
// design's browser <-> notifier section is checked over websocket and over long-polling.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import io from "socket.io-client-v2";
import { Notifier, buildNotifier, mintToken, publish, recordEvents, sleep, startRedis } from "./harness.mjs";

const FAST = 1000;
const SLOW = 30000;

let redis, notifier;
const sockets = new Set();

before(async () => {
  const bin = await buildNotifier();
  redis = await startRedis();
  notifier = await Notifier.start({ bin, redisUrl: redis.url, fast: `${FAST}ms`, slow: `${SLOW}ms` });
});

after(async () => {
  for (const s of sockets) s.close();
  if (notifier) await notifier.stop();
  if (redis) await redis.stop();
});

const report = (...args) => console.log("  e2e:", ...args);

// A client that records every server event from the moment it is created, so none is
// missed between connecting and a test starting to wait.
function client(opts = {}, url = notifier.url) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  sockets.add(socket);
  const rec = recordEvents(socket, ["mode", "stale", "drain", "expired", "disconnect", "connect_error"]);
  return {
    socket,
    ...rec,
    connected() {
      if (socket.connected) return Promise.resolve();
      return new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      });
    },
    ack(ev, data, timeout = 3000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ack to ${ev} within ${timeout} ms`)), timeout);
        socket.emit(ev, data, (answer) => {
          clearTimeout(timer);
          resolve(answer);
        });
      });
    },
    subscribe(topics, token) {
      return this.ack("subscribe", { token, topics });
    },
    close() {
      socket.close();
      sockets.delete(socket);
    },
  };
}

const hasTopic = (t, v) => (msg) => msg && typeof msg === "object" && (v === undefined ? t in msg : msg[t] === v);

const transports = [
  ["websocket", ["websocket"]],
  ["polling", ["polling"]],
];

for (const [label, tr] of transports) {
  describe(`socket.io-client 2.5.0 over ${label}`, () => {
    const T = (name) => `compat:${label}:${name}`;

    test("connects and is told the mode with the intervals", async () => {
      const c = client({ transports: tr });
      await c.connected();
      const first = await c.next("mode");
      assert.deepEqual(Object.keys(first).sort(), ["fast", "mode", "slow"]);
      assert.ok(["push", "poll", "shadow"].includes(first.mode), first.mode);
      assert.equal(first.fast, FAST);
      assert.equal(first.slow, SLOW);
      await c.next("mode", (m) => m.mode === "push", 5000);
      assert.equal(c.socket.io.engine.transport.name, tr[0]);
      c.close();
    });

    test("subscribe acks with granted and denied, each denial with its reason", async () => {
      const c = client({ transports: tr });
      await c.connected();
      const token = mintToken({ topics: [T("a"), T("user:7:*")] });
      const ack = await c.subscribe({ [T("a")]: 0, [T("user:7:x")]: 3, [T("b")]: 0, "bad topic!": 0 }, token);
      assert.deepEqual(Object.keys(ack).sort(), ["denied", "granted"]);
      assert.deepEqual([...ack.granted].sort(), [T("a"), T("user:7:x")].sort());
      assert.deepEqual(ack.denied, { [T("b")]: "not in token", "bad topic!": "invalid topic" });
      c.close();
    });

    test("a publish reaches a subscriber as stale", async () => {
      const c = client({ transports: tr });
      await c.connected();
      const t = T("pub");
      const ack = await c.subscribe({ [t]: 1 }, mintToken({ topics: [t] }));
      assert.deepEqual(ack.granted, [t]);
      const t0 = Date.now();
      await publish(notifier.url, { topic: t, v: 2 });
      const msg = await c.next("stale", hasTopic(t, 2));
      report(`[${label}] publish→stale ${Date.now() - t0} ms`);
      assert.deepEqual(msg, { [t]: 2 });
      c.close();
    });

    test("subscribing with an older version brings an immediate catch-up stale", async () => {
      const t = T("catchup");
      const same = T("uptodate");
      // Published while nobody listened: only the version table has them.
      await publish(notifier.url, [
        { topic: t, v: 5 },
        { topic: same, v: 9 },
      ]);
      const c = client({ transports: tr });
      await c.connected();
      const t0 = Date.now();
      const ack = await c.subscribe({ [t]: 3, [same]: 9 }, mintToken({ topics: [t, same] }));
      assert.deepEqual([...ack.granted].sort(), [t, same].sort());
      const msg = await c.next("stale", hasTopic(t), 2000);
      report(`[${label}] subscribe with v 3 of 5: catch-up stale after ${Date.now() - t0} ms`);
      assert.equal(msg[t], 5);
      await sleep(500);
      assert.ok(!c.of("stale").some(hasTopic(same)), `a hint for an up-to-date topic: ${JSON.stringify(c.of("stale"))}`);
      c.close();
    });

    test("after unsubscribe no more hints for that topic, others still flow", async () => {
      const c = client({ transports: tr });
      await c.connected();
      const gone = T("unsub");
      const kept = T("kept");
      const token = mintToken({ topics: [gone, kept] });
      await c.subscribe({ [gone]: 1, [kept]: 1 }, token);
      c.socket.emit("unsubscribe", [gone]);
      // Events of one socket are handled in order: this ack comes after the unsubscribe.
      await c.subscribe({}, token);
      await publish(notifier.url, [
        { topic: gone, v: 2 },
        { topic: kept, v: 2 },
      ]);
      await c.next("stale", hasTopic(kept, 2));
      await sleep(500);
      assert.ok(!c.of("stale").some(hasTopic(gone)), `hint after unsubscribe: ${JSON.stringify(c.of("stale"))}`);
      c.close();
    });

    test("an unknown event is ignored and the socket keeps working", async () => {
      const c = client({ transports: tr });
      await c.connected();
      c.socket.emit("no-such-event", { x: 1 });
      c.socket.emit("another-one", "text", 42);
      c.socket.emit("no-such-event-with-ack", {}, () => {});
      const t = T("unknown");
      const ack = await c.subscribe({ [t]: 1 }, mintToken({ topics: [t] }));
      assert.deepEqual(ack.granted, [t]);
      await publish(notifier.url, { topic: t, v: 2 });
      await c.next("stale", hasTopic(t, 2));
      assert.ok(c.socket.connected);
      assert.deepEqual(c.of("disconnect"), []);
      c.close();
    });

    test("forged, expired and foreign tokens are denied with a reason", async () => {
      const c = client({ transports: tr });
      await c.connected();
      const t = T("forged");
      const cases = [
        ["wrong secret", mintToken({ topics: [t], secret: "not-the-secret-0123456789abcdef0123" }), "bad signature"],
        ["alg none", mintToken({ topics: [t], alg: "none" }), null],
        ["expired", mintToken({ topics: [t], exp: Math.floor(Date.now() / 1000) - 60 }), "expired"],
        ["other audience", mintToken({ topics: [t], aud: "someone-else" }), "wrong audience"],
        ["garbage", "not.a.jwt", null],
        ["no token", "", null],
      ];
      for (const [name, token, reason] of cases) {
        const ack = await c.subscribe({ [t]: 0 }, token);
        assert.deepEqual(ack.granted, [], name);
        assert.equal(typeof ack.denied[t], "string", name);
        assert.ok(ack.denied[t].length > 0, name);
        if (reason) assert.equal(ack.denied[t], reason, name);
      }
      // None of them got the topic.
      await publish(notifier.url, { topic: t, v: 3 });
      await sleep(300);
      assert.deepEqual(c.of("stale"), []);
      c.close();
    });

    test("a grant ends with expired when the token runs out", async () => {
      const c = client({ transports: tr });
      await c.connected();
      const t = T("expiring");
      // The notifier grants until exp plus a 5 s clock leeway: a token that expired 3 s ago
      // is still accepted and lapses in about 2 s.
      const ack = await c.subscribe({ [t]: 1 }, mintToken({ topics: [t], exp: Math.floor(Date.now() / 1000) - 3 }));
      assert.deepEqual(ack.granted, [t]);
      const msg = await c.next("expired", () => true, 4000);
      assert.deepEqual(msg, { topics: [t] });
      await publish(notifier.url, { topic: t, v: 2 });
      await sleep(300);
      assert.ok(!c.of("stale").some(hasTopic(t)), "hint after expiry");
      c.close();
    });
  });
}

test("the default transports upgrade from polling to websocket, and hints flow after", async () => {
  const t0 = Date.now();
  const c = client();
  // The manager opens its engine synchronously inside io(), so the listener is in time.
  const upgraded = new Promise((resolve) => c.socket.io.engine.once("upgrade", resolve));
  await c.connected();
  await Promise.race([upgraded, sleep(5000).then(() => Promise.reject(new Error("no upgrade within 5 s")))]);
  report(`default transports: upgraded to websocket ${Date.now() - t0} ms after io()`);
  assert.equal(c.socket.io.engine.transport.name, "websocket");
  const t = "compat:upgrade";
  await c.subscribe({ [t]: 1 }, mintToken({ topics: [t] }));
  await publish(notifier.url, { topic: t, v: 2 });
  await c.next("stale", hasTopic(t, 2));
  c.close();
});

test("SIGTERM sends drain with the window, then the node exits cleanly", async () => {
  const bin = await buildNotifier();
  // Its own node, on the in-process broker, so the shared one stays up.
  const n = await Notifier.start({ bin, fast: `${FAST}ms`, slow: `${SLOW}ms`, args: ["--drain-timeout", "1500ms"] });
  try {
    const c = client({ transports: ["websocket"] }, n.url);
    await c.connected();
    await c.next("mode");
    const exited = n.terminate();
    const msg = await c.next("drain", () => true, 3000);
    assert.deepEqual(Object.keys(msg), ["within"]);
    assert.ok(msg.within > 0 && msg.within <= 1500, `within ${msg.within}`);
    c.close();
    const res = await exited;
    assert.equal(res.code, 0, n.logs());
  } finally {
    await n.stop();
  }
});
