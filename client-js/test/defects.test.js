// The shim defects of issue #18 item 3, each pinned by a scenario that failed before the fix
// (the timed-out poll's is in bounds.test.js: "a poll that never settles").
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { setup, connect, advance, enableClock, resetClock, FakeDocument } from "./fake.js";

beforeEach(enableClock);
afterEach(resetClock);

const at = (t) => t.polls.map((p) => p.at);

test("back in view with a silent link: poll mode at once, first poll within jitter + 1 s", async () => {
  const doc = new FakeDocument();
  const t = setup({ document: doc, heartbeatTimeout: 30000 });
  await connect(t);
  doc.setHidden(true);
  await advance(40000, 100); // the notifier froze: no ping, no event
  assert.equal(t.pp.mode, "push", "silence is not held against a hidden tab");
  doc.setHidden(false);
  assert.equal(t.pp.mode, "poll", "the server was last heard 40 s ago");
  await advance(2000);
  assert.deepEqual(at(t), [40500]);
  t.socket.serverPing();
  assert.equal(t.pp.mode, "push");
});

test("back in view with a link heard recently: the watchdog counts from when it was heard", async () => {
  const doc = new FakeDocument();
  const t = setup({ document: doc, heartbeatTimeout: 30000 });
  await connect(t);
  doc.setHidden(true);
  await advance(20000, 100);
  doc.setHidden(false);
  assert.equal(t.pp.mode, "push");
  await advance(9999);
  assert.equal(t.pp.mode, "push");
  await advance(1);
  assert.equal(t.pp.mode, "poll", "30 s after the server was last heard, not 30 s after the tab came back");
});

test("long hidden in poll mode: no more often than Chrome lets the app's own setInterval run", async () => {
  const doc = new FakeDocument();
  const t = setup({ enabled: false, document: doc });
  doc.setHidden(true);
  await advance(600000, 100);
  const late = at(t).filter((x) => x > 360000);
  // After 5 minutes hidden an app's setInterval runs once a minute: 4 polls in 6..10 min.
  assert.ok(late.length <= 4, `${late.length} polls after 6 min hidden: ${late}`);
  assert.ok(at(t).filter((x) => x <= 300000).length >= 14, "the first 5 minutes still poll at fast x hiddenFactor");
});

test("adaptive: hinted polls do not double the safety net; empty safety-net polls do", async () => {
  let v = 1057;
  const t = setup({ adaptive: true, random: () => 1 });
  t.answer = () => ({ "project:42": v });
  await connect(t);
  await advance(30000, 1000);
  v = 1058;
  t.socket.fire("stale", { "project:42": 1058 });
  await advance(1000, 1000);
  assert.deepEqual(at(t), [31000]);
  await advance(60000, 1000);
  assert.deepEqual(at(t), [31000, 91000], "the hinted poll left the safety net at slow");
  await advance(120000, 1000);
  assert.deepEqual(at(t), [31000, 91000, 211000], "an empty safety-net poll doubled it");
});

test("io server disconnect: pages reconnect spread over seconds, not within 0.5–1 s", async () => {
  const when = [];
  for (let i = 0; i < 20; i++) {
    const t = setup({ random: () => (i + 0.5) / 20 });
    await connect(t);
    const t0 = Date.now();
    t.socket.serverDisconnect("io server disconnect");
    while (t.socket.connectCalls === 0) await advance(100, 100);
    when.push(Date.now() - t0);
    t.pp.stop();
  }
  assert.ok(Math.max(...when) - Math.min(...when) >= 8000, `reconnects at ${when}`);
});

test("visibility reaches the node: tabs {tabs, visible} on hide and show", async () => {
  const doc = new FakeDocument();
  const t = setup({ document: doc });
  await connect(t);
  assert.deepEqual(t.socket.sent("tabs"), [], "visible is what the node assumes");
  doc.setHidden(true);
  doc.setHidden(false);
  assert.deepEqual(t.socket.sent("tabs"), [[{ tabs: 1, visible: 0 }], [{ tabs: 1, visible: 1 }]]);
});

test("unknown option keys are reported through onError", async () => {
  const t = setup({ slowmax: 600000, enabled: false });
  assert.match(String(t.errors[0]), /unknown option slowmax/);
  t.pp.stop();
});
