// Socket.IO v4 on the wire: the maintained client, socket.io-client 4.8 (EIO=4), run by
// node against the real notifier and a real redis-server, over websocket, over
// long-polling, and over long-polling then upgraded to websocket. The 2.5 client's
// compatibility suite (compat.test.mjs) runs against the same server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { startHAProxy, startNginx } from "./balancers.mjs";
import { Notifier, buildNotifier, mintToken, publish, recordEvents, startRedis, waitFor } from "./harness.mjs";

const FAST = 1000;
const SLOW = 30000;

let redis, notifier;
// Three nodes on the same redis-server, as deploy/'s balancer configurations expect.
const nodes = [];
const sockets = new Set();

before(async () => {
  const bin = await buildNotifier();
  redis = await startRedis();
  for (let i = 0; i < 3; i++) {
    nodes.push(await Notifier.start({ bin, redisUrl: redis.url, fast: `${FAST}ms`, slow: `${SLOW}ms` }));
  }
  notifier = nodes[0];
});

after(async () => {
  for (const s of sockets) s.close();
  for (const n of nodes) await n.stop();
  if (redis) await redis.stop();
});

// A client that records every server event from its creation on.
function client(opts = {}, url = notifier.url) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  sockets.add(socket);
  const rec = recordEvents(socket, ["mode", "stale", "connect", "connect_error", "disconnect"]);
  return {
    socket,
    next: (ev, pred, timeout = 5000) => rec.next(ev, pred, timeout),
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

// Behind nginx and HAProxy with deploy/'s configurations (no session affinity): long-polling
// requests land on any node and are forwarded to the session's owner.
for (const [name, start] of [
  ["nginx", startNginx],
  ["haproxy", startHAProxy],
]) {
  describe(`socket.io-client 4.8 behind ${name}, no affinity`, () => {
    let lb;
    before(async () => {
      lb = await start(nodes);
    });
    after(async () => {
      if (lb) await lb.stop();
    });

    test("long-polling subscribes, receives a publish, and its requests are forwarded", async () => {
      const forwarded = async () => {
        let sum = 0;
        for (const n of nodes) sum += (await n.metric('pushpoll_forwarded_requests_total{result="ok"}')) || 0;
        return sum;
      };
      const before = await forwarded();
      const t = `v4:${name}:lb`;
      const c = client({ transports: ["polling"], auth: { token: mintToken({ topics: [t] }), topics: { [t]: 1 } } }, lb.url);
      await c.next("connect");
      await c.next("mode");
      await publish(notifier.url, { topic: t, v: 2 });
      assert.deepEqual(await c.next("stale", hasTopic(t, 2)), { [t]: 2 });
      assert.ok((await forwarded()) > before, "no request was forwarded: the balancer kept affinity after all");
      c.close();
    });

    test("polling then upgrade connects and receives a publish", async () => {
      const t = `v4:${name}:upgrade`;
      const c = client({ transports: ["polling", "websocket"], auth: { token: mintToken({ topics: [t] }), topics: { [t]: 1 } } }, lb.url);
      await c.next("connect");
      await publish(notifier.url, { topic: t, v: 2 });
      assert.deepEqual(await c.next("stale", hasTopic(t, 2)), { [t]: 2 });
      c.close();
    });
  });
}
