// Modes and the connection: what the server says, what the socket does, and the polling
// rate that follows from each.
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { setup, connect, advance, flush, settle, enableClock, resetClock, pastOpening } from "./fake.js";

beforeEach(enableClock);
afterEach(resetClock);

const at = (t) => t.polls.map((p) => p.at);

test("connecting: mode poll, polls at fast; onMode only on changes", async () => {
  const t = setup();
  assert.equal(t.pp.mode, "poll");
  assert.deepEqual(t.modes, []);
  await advance(4999);
  assert.equal(t.polls.length, 0, "no poll at start: the page already has its data");
  await advance(10001);
  assert.deepEqual(at(t), [5000, 10000, 15000]);
});

test("server mode poll: polls at fast while connected", async () => {
  const t = setup();
  await connect(t, "poll");
  assert.equal(t.pp.mode, "poll");
  await advance(15000);
  assert.deepEqual(at(t), [5000, 10000, 15000]);
  assert.deepEqual(t.modes, []);
});

test("socket.io gets jittered reconnect options and the transports asked for", async () => {
  const t = setup({ transports: ["polling"] });
  assert.equal(t.ioCalls.length, 1);
  const { url, opts } = t.ioCalls[0];
  assert.equal(url, "http://notifier.test");
  assert.equal(opts.reconnectionDelayMax, 30000);
  assert.equal(opts.randomizationFactor, 0.5);
  assert.deepEqual(opts.transports, ["polling"]);
});

test("subscribe carries the token and the versions held; push after the ack", async () => {
  const t = setup();
  t.socket.serverConnect();
  await flush();
  t.socket.fire("mode", { mode: "push", fast: 5000, slow: 60000 });
  assert.equal(t.pp.mode, "poll", "not trusted before the ack");
  const req = t.socket.ack();
  assert.deepEqual(req, { token: "tok1", topics: { "project:42": 1057 } });
  assert.equal(t.pp.mode, "push");
  assert.deepEqual(t.modes, ["push"]);
});

test("shadow: polls at fast, hints are not polled for, reports are sent", async () => {
  const t = setup({ topics: { "project:42": 1057, "user:7": 3 } });
  await connect(t, "shadow");
  assert.equal(t.pp.mode, "shadow");
  await advance(1000);
  t.socket.fire("stale", { "project:42": 1058 });
  t.answer = () => ({ "project:42": 1058, "user:7": 4 });
  await advance(3999);
  assert.equal(t.polls.length, 0, "a hint in shadow mode does not poll");
  await advance(1);
  assert.deepEqual(at(t), [5000]);
  assert.deepEqual(t.socket.sent("report"), [
    [{ topic: "project:42", hintV: 1058, leadMs: 4000, found: true }],
    [{ topic: "user:7", missed: true }],
  ]);
  // A hint that the next poll does not confirm is reported as not found.
  t.socket.fire("stale", { "project:42": 1070 });
  await advance(5000);
  assert.deepEqual(at(t), [5000, 10000]);
  assert.deepEqual(t.socket.sent("report")[2], [{ topic: "project:42", hintV: 1070, leadMs: 5000, found: false }]);
  assert.equal(t.socket.sent("report").length, 3);
});

test("shadow reports are bounded per poll", async () => {
  const topics = {};
  for (let i = 0; i < 30; i++) topics["t:" + i] = 1;
  const t = setup({ topics });
  await connect(t, "shadow");
  for (let i = 0; i < 30; i++) t.socket.fire("stale", { ["t:" + i]: 2 });
  await advance(5000);
  assert.equal(t.polls.length, 1);
  assert.equal(t.socket.sent("report").length, 10);
});

test("disconnect: fast polls at once (spread), slow again after reconnect", async () => {
  let r = 0.999;
  const t = setup({ random: () => r });
  await connect(t);
  await advance(10000);
  assert.equal(t.polls.length, 0);
  r = 0;
  t.socket.serverDisconnect("transport close");
  assert.equal(t.pp.mode, "poll");
  await advance(10001);
  // Overdue at the disconnect: polled at once (random() = 0 here; a 0 ms timer runs on
  // the next millisecond), then every fast.
  assert.deepEqual(at(t), [10001, 15001, 20001]);
  r = 0.6;
  await connect(t);
  assert.equal(t.pp.mode, "push");
  await advance(26999);
  assert.equal(t.polls.length, 3);
  await advance(1);
  assert.deepEqual(at(t).slice(3), [47001], "entering push: drawn over slow (0.6 * 0.75 * slow)");
  assert.deepEqual(t.modes, ["push", "poll", "push"]);
});

test("reconnect: subscribe again with the versions held and a fresh token", async () => {
  const t = setup();
  t.answer = () => ({ "project:42": 1060 });
  await connect(t);
  await pastOpening();
  t.socket.fire("stale", { "project:42": 1060 });
  await advance(1000);
  assert.equal(t.polls.length, 1);
  t.socket.serverDisconnect("ping timeout");
  t.socket.serverConnect();
  await flush();
  const subs = t.socket.sent("subscribe");
  assert.equal(subs.length, 2);
  assert.deepEqual(subs[1][0], { token: "tok2", topics: { "project:42": 1060 } });
  assert.equal(t.tokens, 2);
});

test("an ack for an earlier connection is ignored", async () => {
  const t = setup();
  t.socket.serverConnect();
  await flush();
  const [, staleAck] = t.socket.sent("subscribe")[0];
  t.socket.serverDisconnect();
  t.socket.serverConnect();
  await flush();
  t.socket.fire("mode", { mode: "push" });
  staleAck({ granted: ["project:42"], denied: {} });
  assert.equal(t.pp.mode, "poll");
  t.socket.ack();
  assert.equal(t.pp.mode, "push");
});

test("drain: disconnect, poll at fast, reconnect within `within`", async () => {
  const t = setup({ random: () => 0.5 });
  await connect(t);
  await advance(1000);
  t.socket.fire("drain", { within: 10000 });
  assert.equal(t.socket.disconnectCalls, 1);
  assert.equal(t.pp.mode, "poll");
  await advance(4999);
  assert.equal(t.socket.connectCalls, 0);
  await advance(1);
  assert.equal(t.socket.connectCalls, 1, "reconnects after random() * within");
  // The last poll was the start (0), so the first fast poll is due at 5000.
  assert.deepEqual(at(t), [5000]);
  await connect(t);
  assert.equal(t.pp.mode, "push");
  assert.equal(t.socket.sent("subscribe").length, 2);
});

test("drain with an absurd window: reconnects within 5 minutes", async () => {
  const t = setup({ random: () => 0.999 });
  await connect(t);
  t.socket.fire("drain", { within: 1e15 });
  await advance(299700, 100);
  assert.equal(t.socket.connectCalls, 1);
});

test("expired: a fresh token and a new subscribe for those topics; poll until granted", async () => {
  const t = setup({ topics: { "project:42": 1057, "user:7": 3 } });
  await connect(t);
  assert.equal(t.tokens, 1);
  t.socket.fire("expired", { topics: ["user:7"] });
  assert.equal(t.pp.mode, "poll");
  await flush();
  assert.equal(t.tokens, 2);
  const subs = t.socket.sent("subscribe");
  assert.equal(subs.length, 2);
  assert.deepEqual(subs[1][0], { token: "tok2", topics: { "user:7": 3 } });
  t.socket.ack();
  assert.equal(t.pp.mode, "push");
});

test("a token function that fails: onError, retried at fast, polling meanwhile", async () => {
  let fail = true;
  const t = setup({
    token: async () => {
      if (fail) throw new Error("token endpoint down");
      return "good";
    },
  });
  t.socket.serverConnect();
  await flush();
  assert.equal(t.socket.sent("subscribe").length, 0);
  assert.equal(t.errors.length, 1);
  fail = false;
  await advance(5000);
  assert.equal(t.socket.sent("subscribe").length, 1);
  assert.equal(t.socket.sent("subscribe")[0][0].token, "good");
  assert.deepEqual(at(t), [5000]);
});

test("denied topics: poll mode at fast, and onError says which", async () => {
  const t = setup({ topics: { "project:42": 1057, "project:9": 1 } });
  t.socket.serverConnect();
  await flush();
  t.socket.fire("mode", { mode: "push", fast: 5000, slow: 60000 });
  t.socket.ack({ granted: ["project:42"], denied: { "project:9": "not in token" } });
  assert.equal(t.pp.mode, "poll");
  assert.match(String(t.errors[0]), /project:9 \(not in token\)/);
  await advance(10000);
  assert.deepEqual(at(t), [5000, 10000]);
});

test("enabled:false: never connects, mode off, polls at fast", async () => {
  const t = setup({ enabled: false, url: undefined });
  assert.equal(t.ioCalls.length, 0);
  assert.equal(t.pp.mode, "off");
  await advance(15000);
  assert.deepEqual(at(t), [5000, 10000, 15000]);
  assert.equal(t.ioCalls.length, 0);
});

test("a poll that rejects: next at fast even in push mode, and the loop goes on", async () => {
  const t = setup({ deferred: true });
  await connect(t);
  await pastOpening();
  t.socket.fire("stale", { "project:42": 1058 });
  await advance(500);
  assert.equal(t.polls.length, 1);
  await settle(t, 0, new Error("HTTP 502"), true);
  assert.equal(t.errors.length, 1);
  await advance(4999);
  assert.equal(t.polls.length, 1);
  await advance(1);
  assert.deepEqual(at(t), [5500, 10500]);
  await settle(t, 1, { "project:42": 1058 });
  await advance(44999);
  assert.equal(t.polls.length, 2, "back to slow after a success");
  await advance(1);
  assert.deepEqual(at(t), [5500, 10500, 55500]);
});

test("a poll that throws synchronously or returns junk does not break the loop", async () => {
  let n = 0;
  const polls = [];
  const t = setup({
    poll: () => {
      polls.push(Date.now());
      n++;
      if (n === 1) throw new Error("boom");
      return "junk";
    },
  });
  await advance(15000);
  assert.deepEqual(polls, [5000, 10000, 15000]);
  assert.equal(t.errors.length, 1);
});

test("heartbeat silence: poll mode until the server is heard again", async () => {
  const t = setup({ heartbeatTimeout: 30000 });
  await connect(t);
  for (let i = 0; i < 3; i++) {
    await advance(20000);
    t.socket.serverPing();
  }
  assert.equal(t.pp.mode, "push", "pings every 20 s keep push");
  assert.equal(t.polls.length, 1); // the slow poll at 60000
  await advance(29999);
  assert.equal(t.pp.mode, "push");
  await advance(1);
  assert.equal(t.pp.mode, "poll", "30 s of silence");
  const n = t.polls.length;
  await advance(10000);
  assert.equal(t.polls.length, n + 2, "fast polls while silent");
  t.socket.serverPing();
  assert.equal(t.pp.mode, "push");
  assert.deepEqual(t.modes, ["push", "poll", "push"]);
});

test("heartbeat default follows the server's ping interval", async () => {
  const t = setup({ heartbeatTimeout: undefined });
  t.socket.io.engine._pingInterval = 5000; // what the handshake said
  await connect(t);
  await advance(14999);
  assert.equal(t.pp.mode, "push");
  await advance(1);
  assert.equal(t.pp.mode, "poll");
});

test("server-side disconnect: reconnect after a random, growing delay", async () => {
  const t = setup({ random: () => 0.5 });
  await connect(t);
  t.socket.serverDisconnect("io server disconnect");
  await advance(5749);
  assert.equal(t.socket.connectCalls, 0);
  await advance(1);
  assert.equal(t.socket.connectCalls, 1, "1000 * (0.5 + random() / 2) + 10000 * random()");
  t.socket.serverConnect();
  await flush();
  t.socket.serverDisconnect("io server disconnect"); // no successful ack in between
  await advance(6499);
  assert.equal(t.socket.connectCalls, 1);
  await advance(1);
  assert.equal(t.socket.connectCalls, 2);
  assert.equal(t.errors.length, 1, "reported once per streak");
});

test("connect errors: reported once per outage", async () => {
  const t = setup();
  t.socket.fire("connect_error", new Error("xhr poll error"));
  t.socket.fire("connect_error", new Error("xhr poll error"));
  assert.equal(t.errors.length, 1);
  await connect(t);
  t.socket.serverDisconnect();
  t.socket.fire("connect_error", new Error("xhr poll error"));
  assert.equal(t.errors.length, 2);
});

test("a CONNECT the server refuses (socket.io 4 stops trying): reconnect after a growing delay", async () => {
  const t = setup({ random: () => 0.5 });
  const refuse = () => {
    t.socket.active = false; // socket.io-client 4 destroys a refused socket
    t.socket.fire("connect_error", new Error("not now"));
  };
  refuse();
  await advance(5749);
  assert.equal(t.socket.connectCalls, 0);
  await advance(1);
  assert.equal(t.socket.connectCalls, 1, "1000 * (0.5 + random() / 2) + 10000 * random()");
  refuse();
  await advance(6499);
  assert.equal(t.socket.connectCalls, 1, "the delay grows while refusals go on");
  await advance(1);
  assert.equal(t.socket.connectCalls, 2);
  assert.match(String(t.errors[0]), /refused the connection \(not now\); reconnecting with backoff/);
  // A failed attempt socket.io retries on its own is no refusal.
  t.socket.active = true;
  t.socket.fire("connect_error", new Error("websocket error"));
  await advance(60000, 100);
  assert.equal(t.socket.connectCalls, 2);
  assert.equal(t.pp.mode, "poll");
});
