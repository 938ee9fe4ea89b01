// The benchmark's measures must be able to say "worse than polling": each test below
// holds a case the first round's measures got wrong or could not see.
import test from "node:test";
import assert from "node:assert/strict";
import {
  Bins,
  Samples,
  TabWindow,
  sliding,
  aligned,
  rates,
  over,
  timeoutPolls,
  intervalPolls,
  baselineStaleness,
} from "./measures.mjs";

function binsOf(times, durationMs = 5000) {
  const b = new Bins(durationMs);
  for (const t of times) b.add(t);
  return b;
}

test("a herd split by a whole second is one window sliding, two aligned", () => {
  // 100 polls in [0.6 s, 1.4 s): aligned seconds see 50 + 50, a sliding window all 100.
  const times = Array.from({ length: 100 }, (_, i) => 600 + i * 8);
  const b = binsOf(times);
  assert.deepEqual(Array.from(aligned(b)).slice(0, 2), [50, 50]);
  const r = rates(b, 5000);
  assert.equal(r.peak, 100);
  assert.equal(r.peak_aligned, 50);
  assert.equal(r.mean, 20);
});

test("sliding windows step by 10 ms and stay inside the run", () => {
  const b = binsOf([0, 995, 1000, 1005], 2000);
  const s = sliding(b);
  assert.equal(s.length, 101); // starts 0, 10, …, 1000 ms
  assert.equal(s[0], 2); // [0, 1000): 0 and 995
  assert.equal(s[1], 3); // [10, 1010): 995, 1000, 1005
  assert.equal(s[100], 2); // [1000, 2000)
});

test("push over plain is counted per second of window starts, with the surplus", () => {
  const base = binsOf(Array.from({ length: 50 }, (_, i) => i * 100)); // 10 per second
  const push = binsOf([...Array.from({ length: 50 }, (_, i) => i * 100), 2500, 2501, 2502]);
  const o = over(push, base);
  // Windows starting in (1.5 s, 2.5 s] hold the three extra polls: seconds 1 and 2.
  assert.equal(o.seconds, 2);
  assert.equal(o.worst, 3);
  assert.equal(o.excess, 6);
  assert.deepEqual(o.at_s, [1, 2]);
  assert.equal(over(base, push).seconds, 0);
});

test("a tab's worst second and minute use half-open windows", () => {
  const w = new TabWindow();
  for (let t = 0; t < 120000; t += 5000) w.add(t);
  assert.equal(w.per60, 12);
  assert.equal(w.per1, 1);
  w.add(120000);
  assert.equal(w.per1, 1);
  w.add(120999); // 999 ms after the poll at 120 s
  assert.equal(w.per1, 2);
  const v = new TabWindow();
  v.add(0);
  v.add(1000);
  assert.equal(v.per1, 1);
});

test("a bump no poll fetched before the tab closed is stale until the close", () => {
  const life = { open: 0, close: 20000, hidden0: false, flips: [], phase: 0 };
  const got = [];
  baselineStaleness(life, [5000, 10000], [1000, 9000, 12000, 30000], () => 20, 20, (x, pending) => got.push([x, pending]));
  assert.deepEqual(got, [
    [4060, false], // fetched by the poll at 5 s: answer at 5 s + 20 + 20 + 20
    [1060, false],
    [8000, true], // still pending when the tab closed at 20 s
  ]);
  const s = new Samples();
  s.add(10);
  s.add(8000, true);
  assert.deepEqual(s.summary(), { n: 2, p50: 10, p99: 8000, max: 8000, pending: 1 });
});

test("setInterval in a tab hidden over five minutes polls once a minute, on its browser's minute", () => {
  const life = { open: 0, close: 900000, hidden0: true, flips: [], phase: 12345 };
  const polls = intervalPolls(life, 5000);
  const early = polls.filter((t) => t < 300000);
  const late = polls.filter((t) => t >= 310000);
  // Hidden but not yet five minutes: every 5 s, aligned to whole seconds of the phase.
  assert.equal(early.length, 59);
  assert.ok(early.every((t) => (t - 345) % 1000 === 0));
  // Then once a minute, at the page's minute phase.
  assert.ok(late.every((t) => (t - 12345) % 60000 === 0));
  for (let i = 1; i < late.length; i++) assert.equal(late[i] - late[i - 1], 60000);
  assert.ok(late.length >= 9);
});

test("setInterval runs at once when its hidden tab comes back into view", () => {
  const life = { open: 0, close: 700000, hidden0: true, flips: [650500], phase: 0 };
  const polls = intervalPolls(life, 5000);
  assert.ok(polls.includes(650500), "the throttled beat runs at the flip");
  // Back in view: every 5 s on the interval's own grid again.
  assert.ok(polls.includes(655000) && polls.includes(660000));
});

test("setTimeout chained from answers waits for whole seconds when hidden but is never throttled to minutes", () => {
  const life = { open: 0, close: 900000, hidden0: true, flips: [], phase: 250 };
  const polls = timeoutPolls(life, 5000, () => 100);
  const gaps = polls.slice(1).map((t, i) => t - polls[i]);
  assert.ok(gaps.every((g) => g === 6000), "5 s + 100 ms round trip, rounded up to the next wake-up");
  assert.ok(polls.every((t) => t % 1000 === 250));
  const shown = timeoutPolls({ ...life, hidden0: false }, 5000, () => 100);
  assert.equal(shown[1] - shown[0], 5100);
});
