// Push mode: slow safety-net polls, hinted polls with jitter and coalescing, and the
// guarantee that polls never overlap.
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { setup, connect, advance, flush, settle, enableClock, resetClock, pastOpening } from "./fake.js";

beforeEach(enableClock);
afterEach(resetClock);

test("healthy push: the first safety-net poll spread over slow, the next within [slow/2, slow]", async () => {
  const draws = [0.5, 0.2];
  const t = setup({ random: () => draws.shift() });
  await connect(t);
  assert.equal(t.pp.mode, "push");
  await advance(22499);
  assert.equal(t.polls.length, 0);
  await advance(1);
  assert.equal(t.polls.length, 1, "entering push: uniform over [0, slow/2] for random() <= 2/3");
  assert.equal(t.polls[0].at, 22500);
  assert.deepEqual(t.polls[0].versions, { "project:42": 1057 });
  await advance(36000);
  assert.deepEqual(
    t.polls.map((p) => p.at),
    [22500, 58500],
    "then slow * (0.5 + random() / 2)",
  );
});

test("entering push: the first safety-net delay follows the steady rate, never beyond slow", async () => {
  const t = setup({ random: () => 0.9 });
  await connect(t);
  await advance(60000);
  // 60000 - 30000 * sqrt(3 * 0.1): past slow/2, the chance falls to 0 at slow.
  assert.deepEqual(
    t.polls.map((p) => p.at),
    [43569],
  );
});

test("one hint: exactly one poll within jitter, and it restarts the slow timer", async () => {
  const t = setup({ random: () => 0.999 });
  await connect(t);
  await pastOpening();
  await advance(100);
  t.socket.fire("stale", { "project:42": 1058 });
  await advance(998);
  assert.equal(t.polls.length, 0);
  await advance(1);
  assert.equal(t.polls.length, 1);
  assert.equal(t.polls[0].at, 6099); // 5100 + 0.999 * 1000
  await advance(59970 - 1);
  assert.equal(t.polls.length, 1, "the slow timer counts from the hinted poll");
  await advance(1);
  assert.equal(t.polls.length, 2);
  assert.equal(t.polls[1].at, 66069); // 6099 + 60000 * (0.5 + 0.999 / 2)
});

test("burst of 20 hints while the poll is scheduled: one poll", async () => {
  const t = setup();
  await connect(t);
  await pastOpening();
  for (let i = 1; i <= 20; i++) {
    t.socket.fire("stale", { "project:42": 1057 + i });
    await advance(10);
  }
  // The first hint came at 5000 and fixed the poll at 5500; the others joined it.
  await advance(1000);
  assert.equal(t.polls.length, 1);
  assert.equal(t.polls[0].at, 5500);
  await advance(44000); // the safety net is next, at 5500 + 45000
  assert.equal(t.polls.length, 1);
});

test("a hint the next periodic poll takes is not pushed back when push is trusted at last", async () => {
  const t = setup({ random: () => 0.5 });
  t.socket.serverConnect();
  await flush(); // subscribed, not yet granted: polling at fast, the first poll due at 5000
  await advance(4700);
  t.socket.fire("mode", { mode: "push", fast: 5000, slow: 60000 });
  t.socket.fire("stale", { "project:42": 1058 }); // due at 5200: the poll at 5000 takes it
  await advance(100);
  t.socket.ack(); // push: the safety net is drawn over slow, but the hint still waits
  await advance(1000);
  // The shim before moved the poll to the safety net's 27300 and left the hint waiting.
  assert.deepEqual(t.polls.map((p) => p.at), [5000]);
});

test("hints during a poll in flight: exactly one follow-up", async () => {
  const t = setup({ deferred: true });
  await connect(t);
  await pastOpening();
  t.socket.fire("stale", { "project:42": 1058 });
  await advance(500);
  assert.equal(t.polls.length, 1);
  for (let i = 0; i < 20; i++) {
    t.socket.fire("stale", { "project:42": 1059 + i });
    await advance(5);
  }
  await advance(5000);
  assert.equal(t.polls.length, 1, "nothing starts while a poll is in flight");
  await settle(t, 0, { "project:42": 1058 });
  await advance(499);
  assert.equal(t.polls.length, 1);
  await advance(1);
  assert.equal(t.polls.length, 2, "one follow-up, after jitter");
  await settle(t, 1, { "project:42": 1078 });
  await advance(44999);
  assert.equal(t.polls.length, 2);
  assert.equal(t.maxInFlight, 1);
});

test("hints during flight that the poll already answered: no follow-up", async () => {
  const t = setup({ deferred: true });
  await connect(t);
  await pastOpening();
  t.socket.fire("stale", { "project:42": 1058 });
  await advance(500);
  t.socket.fire("stale", { "project:42": 1059 });
  await settle(t, 0, { "project:42": 1059 });
  await advance(44999);
  assert.equal(t.polls.length, 1);
});

test("never two polls in flight, even with a slow poll", async () => {
  const t = setup({ deferred: true, pollTimeout: 60000 });
  await connect(t, "poll");
  await advance(5000);
  assert.equal(t.polls.length, 1);
  for (let i = 0; i < 30; i++) {
    t.socket.fire("stale", { "project:42": 0 });
    await advance(1000);
  }
  assert.equal(t.polls.length, 1, "30 s of hints and fast ticks start nothing");
  await settle(t, 0, {});
  await advance(500);
  assert.equal(t.polls.length, 2, "the hints during flight give one follow-up");
  assert.equal(t.maxInFlight, 1);
  await settle(t, 1, {});
  await advance(4999);
  assert.equal(t.polls.length, 2);
  await advance(1);
  assert.equal(t.polls.length, 3);
  assert.equal(t.maxInFlight, 1);
});

test("hint at a version already held costs nothing", async () => {
  const t = setup();
  await connect(t);
  t.socket.fire("stale", { "project:42": 1057 });
  t.socket.fire("stale", { "project:42": 1000 });
  t.socket.fire("stale", { "unknown:1": 5 });
  await advance(22499);
  assert.equal(t.polls.length, 0);
});

test("hint v 0: one poll to be sure", async () => {
  const t = setup();
  await connect(t);
  await pastOpening();
  t.socket.fire("stale", { "project:42": 0 });
  t.socket.fire("stale", { "project:42": 0 });
  await advance(1000);
  assert.equal(t.polls.length, 1);
  assert.equal(t.polls[0].at, 5500);
});

test("setVersion and poll results only raise the versions held", async () => {
  const t = setup({ topics: { "project:42": 1057, "user:7": 3 } });
  t.answer = () => ({ "project:42": 1000, "user:7": 9, "other:1": 4 });
  await connect(t);
  t.pp.setVersion("project:42", 1000);
  t.pp.setVersion("project:42", 1061);
  t.pp.setVersion("nope", 5);
  t.socket.fire("stale", { "project:42": 1061 }); // already held now
  await advance(60000);
  assert.equal(t.polls.length, 1);
  assert.deepEqual(t.polls[0].versions, { "project:42": 1061, "user:7": 3 });
  await advance(60000);
  assert.deepEqual(t.polls[1].versions, { "project:42": 1061, "user:7": 9 });
});

test("setVersion that covers a pending hint cancels the hinted poll", async () => {
  const t = setup();
  await connect(t);
  t.socket.fire("stale", { "project:42": 1060 });
  t.pp.setVersion("project:42", 1060);
  await advance(22499);
  assert.equal(t.polls.length, 0);
});

test("the server's mode event overrides fast (down to fastMin) and slow", async () => {
  const t = setup({ fastMin: 1000 });
  await connect(t, "push", { fast: 2000, slow: 10000 });
  await advance(5000);
  assert.equal(t.polls.length, 1);
  assert.equal(t.polls[0].at, 3750, "entering push: drawn over the new slow");
  t.socket.fire("mode", { mode: "poll", fast: 2000, slow: 10000 });
  await advance(6000);
  assert.deepEqual(
    t.polls.map((p) => p.at),
    [3750, 5750, 7750, 9750],
  );
  // New intervals without a mode change move the next poll too.
  t.socket.fire("mode", { mode: "poll", fast: 3000, slow: 10000 });
  await advance(3000);
  assert.deepEqual(
    t.polls.map((p) => p.at),
    [3750, 5750, 7750, 9750, 12750],
  );
});
