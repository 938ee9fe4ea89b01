// Page visibility and stop(): a hidden tab polls less, and a stopped shim leaves nothing.
import { test, beforeEach, afterEach, mock } from "node:test";
import assert from "node:assert/strict";
import { setup, connect, advance, flush, settle, enableClock, resetClock, FakeDocument, pastOpening } from "./fake.js";

beforeEach(enableClock);
afterEach(resetClock);

const at = (t) => t.polls.map((p) => p.at);

test("hidden: intervals stretch by hiddenFactor; visible: back to normal", async () => {
  const doc = new FakeDocument();
  const t = setup({ enabled: false, document: doc });
  doc.setHidden(true);
  await advance(40000);
  assert.deepEqual(at(t), [20000, 40000]);
  await advance(10000);
  doc.setHidden(false); // at 50000; the next poll (45000) is overdue, so after jitter
  await advance(5500);
  assert.deepEqual(at(t), [20000, 40000, 50500, 55500]);
});

test("hidden: hints are remembered, not polled; visible: one poll after jitter", async () => {
  const doc = new FakeDocument();
  const t = setup({ document: doc });
  await connect(t);
  doc.setHidden(true);
  for (let i = 0; i < 5; i++) {
    t.socket.fire("stale", { "project:42": 1058 + i });
    await advance(2000);
  }
  assert.equal(t.polls.length, 0);
  doc.setHidden(false); // at 10000
  await advance(499);
  assert.equal(t.polls.length, 0);
  await advance(1);
  assert.deepEqual(at(t), [10500]);
  await advance(44999); // the safety net: 10500 + 60000 * (0.5 + 0.5 / 2)
  assert.equal(t.polls.length, 1);
});

test("hidden: a hinted poll already scheduled waits for the page to be seen", async () => {
  const doc = new FakeDocument();
  const t = setup({ document: doc });
  await connect(t);
  t.socket.fire("stale", { "project:42": 1058 });
  doc.setHidden(true);
  await advance(60000);
  assert.equal(t.polls.length, 0);
  doc.setHidden(false);
  await advance(500);
  assert.deepEqual(at(t), [60500]);
});

test("hidden: the stretched periodic poll answers remembered hints", async () => {
  const doc = new FakeDocument();
  const t = setup({ document: doc });
  t.answer = () => ({ "project:42": 1058 });
  await connect(t, "poll");
  doc.setHidden(true);
  t.socket.fire("stale", { "project:42": 1058 });
  await advance(20000);
  assert.deepEqual(at(t), [20000]);
  doc.setHidden(false);
  await advance(4999);
  assert.equal(t.polls.length, 1, "nothing left to poll for on return");
  await advance(1);
  assert.deepEqual(at(t), [20000, 25000]);
});

test("hidden: silence is not held against a throttled tab", async () => {
  const doc = new FakeDocument();
  const t = setup({ document: doc, heartbeatTimeout: 30000 });
  await connect(t);
  doc.setHidden(true);
  await advance(90000);
  assert.equal(t.pp.mode, "push");
  doc.setHidden(false);
  await advance(30000);
  assert.equal(t.pp.mode, "poll");
});

test("stop(): no timer, listener or socket left; nothing happens for hours", async () => {
  const doc = new FakeDocument();
  const t = setup({ document: doc, deferred: true, heartbeatTimeout: 30000 });
  await connect(t);
  await pastOpening();
  t.socket.fire("stale", { "project:42": 1058 });
  await advance(500);
  assert.equal(t.polls.length, 1); // in flight
  t.socket.fire("stale", { "project:42": 1059 }); // a follow-up would be due
  t.pp.stop();
  assert.equal(t.socket.closed, true);
  assert.equal(t.socket.listenerCount(), 0);
  assert.equal(doc.listeners.length, 0);
  assert.equal(t.pp.mode, "off");
  await settle(t, 0, { "project:42": 1058 }); // the poll in flight ends after stop
  mock.timers.tick(6 * 3600 * 1000);
  await flush();
  mock.timers.tick(6 * 3600 * 1000);
  await flush();
  assert.equal(t.polls.length, 1);
  t.socket.fire("stale", { "project:42": 2000 });
  doc.setHidden(false);
  t.pp.setVersion("project:42", 3000);
  mock.timers.tick(3600 * 1000);
  await flush();
  assert.equal(t.polls.length, 1);
  assert.equal(t.socket.connectCalls, 0);
  t.pp.stop(); // twice is fine
  assert.deepEqual(t.modes, ["push"], "no onMode after stop");
});

test("stop() during a drain: the pending reconnect never happens", async () => {
  const t = setup();
  await connect(t);
  t.socket.fire("drain", { within: 10000 });
  t.pp.stop();
  mock.timers.tick(3600 * 1000);
  await flush();
  assert.equal(t.socket.connectCalls, 0);
  assert.equal(t.polls.length, 0);
});

test("stop() with enabled:false: no timers left", async () => {
  const t = setup({ enabled: false });
  t.pp.stop();
  mock.timers.tick(3600 * 1000);
  await flush();
  assert.equal(t.polls.length, 0);
});
