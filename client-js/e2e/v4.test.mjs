// Socket.IO v4 on the wire: the maintained client, socket.io-client 4.8 (EIO=4), run by
// node against the real notifier and a real redis-server, over websocket, over
// long-polling, and over long-polling then upgraded to websocket. The 2.5 client's
// compatibility suite (compat.test.mjs) runs against the same server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client-v4";
import { Notifier, buildNotifier, mintToken, publish, startRedis, waitFor } from "./harness.mjs";

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

// A client that records every server event from its creation on.
function client(opts = {}) {
  const socket = io(notifier.url, { forceNew: true, reconnection: false, ...opts });
  sockets.add(socket);
  const events = [];
  const waiters = new Set();
  for (const ev of ["mode", "stale", "connect", "connect_error", "disconnect"]) {
    socket.on(ev, (msg) => {
      const e = { ev, msg };
      events.push(e);
      for (const w of waiters) w(e);
    });
  }
  return {
    socket,
    next(ev, pred = () => true, timeout = 5000) {
      const found = events.find((e) => e.ev === ev && pred(e.msg));
      if (found) return Promise.resolve(found.msg);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no ${ev} within ${timeout} ms; got ${JSON.stringify(events)}`));
        }, timeout);
        const w = (e) => {
          if (e.ev === ev && pred(e.msg)) {
            clearTimeout(timer);
            waiters.delete(w);
            resolve(e.msg);
          }
        };
        waiters.add(w);
      });
    },
    close() {
      socket.close();
      sockets.delete(socket);
    },
  };
}

const hasTopic = (t, v) => (msg) => msg && msg[t] === v;

const transports = [
  ["websocket", { transports: ["websocket"] }, "websocket"],
  ["polling", { transports: ["polling"] }, "polling"],
  ["polling then upgrade", { transports: ["polling", "websocket"] }, "websocket"],
];

for (const [label, opts, final] of transports) {
  describe(`socket.io-client 4.8 over ${label}`, () => {
    const T = (name) => `v4:${label.replaceAll(" ", "-")}:${name}`;

    test("connects on EIO=4, gets the mode, subscribes and receives a publish", async () => {
      const c = client(opts);
      await c.next("connect");
      assert.equal(String(c.socket.io.engine.transport.query.EIO), "4");
      const mode = await c.next("mode");
      assert.equal(mode.fast, FAST);
      assert.equal(mode.slow, SLOW);
      await waitFor(() => c.socket.io.engine.transport.name === final, { what: `transport ${final}` });
      const t = T("sub");
      const ack = await c.socket.timeout(5000).emitWithAck("subscribe", { token: mintToken({ topics: [t] }), topics: { [t]: 1 } });
      assert.deepEqual(ack, { granted: [t], denied: {} });
      await publish(notifier.url, { topic: t, v: 2 });
      assert.deepEqual(await c.next("stale", hasTopic(t, 2)), { [t]: 2 });
      c.close();
    });

    test("a token in the CONNECT auth payload grants its topics", async () => {
      const t = T("auth");
      const c = client({ ...opts, auth: { token: mintToken({ topics: [t] }), topics: { [t]: 1 } } });
      await c.next("connect");
      await publish(notifier.url, { topic: t, v: 2 });
      assert.deepEqual(await c.next("stale", hasTopic(t, 2)), { [t]: 2 });
      c.close();
    });

    test("a refused auth payload comes back as connect_error with the ack's reason", async () => {
      const t = T("refused");
      const c = client({ ...opts, auth: { token: mintToken({ topics: [T("other")] }), topics: { [t]: 1 } } });
      const err = await c.next("connect_error");
      assert.equal(err.message, "not in token");
      assert.equal(c.socket.connected, false);
      const forged = client({ ...opts, auth: { token: mintToken({ topics: [t], secret: "not-the-secret-0123456789abcdef01234" }), topics: { [t]: 1 } } });
      assert.equal((await forged.next("connect_error")).message, "bad signature");
      c.close();
      forged.close();
    });
  });
}
