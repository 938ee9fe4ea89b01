// The per-page budget (DESIGN §9): burst 2, one token per `fast`, at least 1 s between
// polls, never more than 60 s / `fast` polls in any rolling minute; and the node's spread.
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Budget } from "../src/budget.js";
import { setup, connect, advance, enableClock, resetClock, pastOpening } from "./fake.js";

beforeEach(enableClock);
afterEach(resetClock);

const at = (t) => t.polls.map((p) => p.at);

// The most polls in any window of ms (both ends inclusive, the strictest count).
function peak(times, ms) {
  let best = 0;
  for (let i = 0; i < times.length; i++) {
    let n = 0;
    for (let j = i; j < times.length && times[j] - times[i] < ms; j++) n++;
    best = Math.max(best, n);
  }
  return best;
}

// A small seeded generator, so a randomized scenario replays the same way every run.
function seeded(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test("Budget: burst 2 with the load counted as a period, 1 s apart, one token per period", () => {
  const b = new Budget(0);
  assert.equal(b.earliest(0, 0, 5000, true), 5000, "the load counts as a whole period");
  assert.equal(b.earliest(3000, 3500, 5000, true), 5000, "as plain polling's first poll");
  b.take(5000, 5000);
  assert.equal(b.earliest(5100, 5100, 5000, true), 10000, "then one per period");
  const full = new Budget(0);
  assert.equal(full.earliest(20000, 20000, 5000, true), 20000);
  full.take(20000, 5000);
  assert.equal(full.earliest(20000, 20000, 5000, true), 21000, "the burst's second poll, 1 s later");
  full.take(21000, 5000);
  assert.equal(full.earliest(21000, 21000, 5000, true), 25000, "then the bucket refills: 0.2 + 0.8");
});

test("Budget: timer polls never drive the bucket below zero", () => {
  const b = new Budget(0);
  for (const t of [0, 1000, 2000, 3000]) b.take(t, 5000); // timer polls, no token needed
  assert.equal(b.tokens, 0);
  // With a debt of three tokens this hint would wait until 18000.
  assert.equal(b.earliest(3000, 3000, 5000, true), 8000);
});

test("Budget: never more than 60 s / period polls in any rolling minute", () => {
  const b = new Budget(0);
  const starts = [];
  let t = 0;
  while (t < 180000) {
    t = b.earliest(t, t, 5000, false); // as often as anything lets it
    b.take(t, 5000);
    starts.push(t);
    t += 1;
  }
  assert.equal(peak(starts, 60000), 12, starts.join(","));
  assert.equal(peak(starts, 1000), 1);
});

test("the opening: a hint in the page's first fast polls at load + fast, as plain polling would", async () => {
  const t = setup({ random: () => 0.5 });
  await connect(t);
  await advance(1000);
  t.socket.fire("stale", { "project:42": 1058 });
  await advance(3999);
  // The shim before counted the load as one poll and polled at 1500, before plain
  // polling's first poll: pages loading together then polled above plain in their first fast.
  assert.deepEqual(at(t), [], "plain polling has not polled yet either");
  await advance(1);
  assert.deepEqual(at(t), [5000], "the load's fast is over");
  await advance(5000);
  t.socket.fire("stale", { "project:42": 1059 });
  await advance(1000);
  assert.deepEqual(at(t), [5000, 10500], "past the opening, a hint polls within jitter");
});

test("a busy page spends its burst too: a second hint soon after the first waits only 1 s", async () => {
  const t = setup({ random: () => 0.5 });
  await connect(t);
  await pastOpening();
  let v = 1057;
  for (let i = 0; i < 7; i++) {
    t.socket.fire("stale", { "project:42": ++v });
    await advance(5000, 10);
  }
  await advance(6000, 10); // quiet long enough to refill both tokens, 7 polls in the minute
  t.socket.fire("stale", { "project:42": ++v });
  await advance(600, 10);
  t.socket.fire("stale", { "project:42": v + 1 });
  await advance(2000, 10);
  // The shim before held a busy page (over half its minute spent) to one hinted poll a
  // period: the second poll came at 51500.
  assert.deepEqual(at(t).slice(7), [46500, 47500]);
  assert.equal(at(t).length, 9);
});

test("a hint just after a safety-net poll no longer waits for fast", async () => {
  const t = setup({ random: () => 0.5 });
  await connect(t);
  await advance(22500, 100); // the first safety-net poll
  assert.deepEqual(at(t), [22500]);
  t.socket.fire("stale", { "project:42": 1058 });
  await advance(5000);
  // The old throttle counted from the last poll of any kind: 27500.
  assert.deepEqual(at(t), [22500, 23500], "1 s after the last poll, a token in the bucket");
});

test("per page, whatever the hints: ≤ 1 poll in any 1 s, ≤ 60 / fast in any 60 s", async () => {
  const random = seeded(7);
  const t = setup({ random, slow: 10000, jitter: 300 });
  let v = 1057;
  t.answer = () => ({ "project:42": v });
  await connect(t, "push", { fast: 5000, slow: 10000 });
  for (let i = 0; i < 400; i++) {
    v++;
    const spread = random() < 0.5 ? { spread: Math.floor(random() * 8000) } : undefined;
    t.socket.fire("stale", { "project:42": v }, spread);
    if (i % 50 === 0) t.socket.serverDisconnect("transport close");
    if (i % 50 === 10) await connect(t, "push", { fast: 5000, slow: 10000 });
    await advance(Math.floor(random() * 1500), 10);
  }
  const times = at(t);
  assert.ok(times.length > 40, `${times.length} polls`);
  assert.equal(peak(times, 1000), 1, times.join(","));
  assert.ok(peak(times, 60000) <= 12, `${peak(times, 60000)} polls in a minute`);
});

test("spread: a hint polls within max(jitter, spread), never later than fast", async () => {
  const cases = [
    [undefined, 500], // an old node: within jitter
    [{ spread: 400 }, 500], // less than jitter: jitter
    [{ spread: 4000 }, 2000],
    [{ spread: 600000 }, 2500], // capped at fast
    [{ spread: "junk" }, 500],
  ];
  for (const [extra, want] of cases) {
    const t = setup({ random: () => 0.5 });
    await connect(t);
    await pastOpening();
    const t0 = Date.now();
    t.socket.fire("stale", { "project:42": 1058 }, extra);
    await advance(5000);
    assert.equal(at(t)[0] - t0, want, JSON.stringify(extra));
    t.pp.stop();
  }
});
