// Never worse than polling: whatever the hints, the server or the clock do, a page polls no
// more often than plain polling at its own `fast`, and never stops polling.
import { test, beforeEach, afterEach, mock } from "node:test";
import assert from "node:assert/strict";
import { setup, connect, advance, flush, settle, enableClock, resetClock, FakeDocument, pastOpening } from "./fake.js";

beforeEach(enableClock);
afterEach(resetClock);

const at = (t) => t.polls.map((p) => p.at);
const MAX_DELAY = 2147483647;

// Records every delay the shim hands to setTimeout (the mock one underneath).
function spyDelays() {
  const delays = [];
  const inner = globalThis.setTimeout;
  globalThis.setTimeout = (fn, ms, ...args) => {
    delays.push(ms);
    return inner(fn, ms, ...args);
  };
  return { delays, restore: () => (globalThis.setTimeout = inner) };
}

// Plain polling at `fast` sends at most floor(window / fast) + 1 polls in any window.
function maxInWindow(times, windowMs) {
  let best = 0;
  for (let i = 0; i < times.length; i++) {
    let n = 0;
    for (let j = i; j < times.length && times[j] < times[i] + windowMs; j++) n++;
    best = Math.max(best, n);
  }
  return best;
}

test("a topic bumped 5 times a second: no more polls than fast allows, ending on the last version", async () => {
  let v = 1057;
  const held = [];
  const t = setup({ fast: 2000, jitter: 300, onPoll: (e) => held.push(e.versions["project:42"]) });
  t.answer = () => ({ "project:42": v });
  await connect(t, "push", { fast: 2000, slow: 60000 });
  await pastOpening(2000);
  for (let i = 0; i < 60; i++) {
    v++;
    t.socket.fire("stale", { "project:42": v });
    await advance(200);
  }
  await advance(2000);
  // 14 s: plain polling at 2 s would poll 7 times.
  assert.ok(t.polls.length <= 7, `${t.polls.length} polls: ${at(t)}`);
  assert.equal(maxInWindow(at(t), 1000), 1, `two polls within a second: ${at(t)}`);
  assert.equal(at(t)[0], 2150, "the first hint after a quiet spell polls within jitter");
  assert.equal(held[held.length - 1], v, "the trailing poll fetched the last version");
  assert.equal(t.pp.mode, "push");
});

test("throttle: a page-set token period replaces fast; hints wait for the next token", async () => {
  const t = setup({ throttle: 10000, random: () => 0.5 });
  await connect(t);
  await pastOpening(5000);
  t.socket.fire("stale", { "project:42": 1058 });
  await advance(5000);
  // The page's load counts as a whole throttle, not a fast: the first token comes at 10 s.
  assert.deepEqual(at(t), [10000]);
  t.socket.fire("stale", { "project:42": 1059 });
  await advance(3000);
  t.socket.fire("stale", { "project:42": 1060 });
  await advance(7000);
  assert.deepEqual(at(t), [10000, 20000], "one trailing poll when the next token is there");
});

test("safety-net polls are de-phased: pages that entered push together drift apart", async () => {
  const pages = [0.05, 0.35, 0.65, 0.95].map((r) => {
    let n = 0;
    // Each page draws its own sequence of random numbers.
    return setup({ random: () => (r + 0.37 * n++) % 1 });
  });
  for (const t of pages) await connect(t);
  await advance(300000, 10); // polls then start on 10 ms boundaries
  const firsts = pages.map((t) => at(t)[0]);
  assert.equal(new Set(firsts).size, 4, `first safety-net polls in step: ${firsts}`);
  for (const t of pages) {
    const times = at(t);
    for (let i = 1; i < times.length; i++) {
      const gap = times[i] - times[i - 1];
      assert.ok(gap >= 30000 && gap <= 60010, `safety-net gap ${gap} outside [slow/2, slow]`);
    }
  }
  const gaps = pages.map((t) => at(t)[1] - at(t)[0]);
  assert.ok(new Set(gaps).size > 1, `every page waits the same: ${gaps}`);
});

test("a mode change spreads the next poll over the whole new interval", async () => {
  const pages = [0.1, 0.5, 0.9].map((r) => setup({ random: () => r }));
  for (const t of pages) await connect(t, "poll");
  await advance(20000); // all polled at 5000, 10000, 15000, 20000: in step
  for (const t of pages) t.socket.fire("mode", { mode: "push", fast: 5000, slow: 60000 });
  await advance(60000);
  // Not before fast after the last poll; then drawn over the whole slow interval.
  assert.deepEqual(
    pages.map((t) => at(t)[4]),
    [25000, 42500, 63569],
  );
});

test("an absurd server slow is clamped to slowMax and reported; no storm", async () => {
  const spy = spyDelays();
  try {
    const t = setup();
    await connect(t, "push", { fast: 5000, slow: 900 * 3600 * 1000 });
    assert.match(String(t.errors[0]), /server slow 3240000000 is outside 5000\.\.600000; using 600000/);
    await advance(4000);
    assert.equal(t.polls.length, 0, "no storm");
    assert.ok(Math.max(...spy.delays) <= MAX_DELAY, `setTimeout got ${Math.max(...spy.delays)}`);
    await advance(296000, 1000);
    assert.deepEqual(at(t), [225000], "the safety net still runs, within slowMax");
  } finally {
    spy.restore();
  }
});

test("server fast below the page's: refused by default; within fastMin when the page allows it", async () => {
  const t = setup();
  await connect(t, "poll", { fast: 1000, slow: 60000 });
  await advance(10000);
  assert.equal(t.polls.length, 2, "the page's own fast 5000, as without pushpoll");
  assert.match(String(t.errors[0]), /server fast 1000 is outside 5000\.\.5000; using 5000/);

  const u = setup({ fastMin: 2000 });
  await connect(u, "poll", { fast: 1000, slow: 60000 });
  const n = u.polls.length;
  await advance(10000);
  assert.equal(u.polls.length - n, 5, "fastMin 2000");
  assert.match(String(u.errors[0]), /server fast 1000 is outside 2000\.\.5000; using 2000/);
});

test("server fast 1 ms: clamped to 1000; server fast an hour: never slower than the page's fast", async () => {
  const t = setup({ fastMin: 1000 });
  await connect(t, "poll", { fast: 1, slow: 60000 });
  await advance(10000);
  assert.ok(t.polls.length <= 10, `${t.polls.length} polls in 10 s`);
  assert.match(String(t.errors[0]), /server fast 1 is outside 1000\.\.5000/);
  t.socket.fire("mode", { mode: "poll", fast: 3600000, slow: 60000 });
  const n = t.polls.length;
  await advance(20000);
  assert.equal(t.polls.length - n, 4, "fallback polling stays at the page's own fast");
  assert.match(String(t.errors[1]), /server fast 3600000 is outside 1000\.\.5000; using 5000/);
});

test("page options outside their bounds are clamped and reported", async () => {
  const spy = spyDelays();
  try {
    const t = setup({ slow: 1e12, fast: 10, hiddenFactor: 1e6, heartbeatTimeout: 1e12, enabled: false });
    assert.equal(t.errors.length, 4, t.errors.join("\n"));
    assert.match(String(t.errors[0]), /option fast 10 is outside 1000\.\.86400000; using 1000/);
    await advance(5000);
    assert.equal(t.polls.length, 5);
    assert.ok(Math.max(...spy.delays) <= MAX_DELAY);
  } finally {
    spy.restore();
  }
});

test("hidden tab: slow x hiddenFactor past setTimeout's limit does not fire at once", async () => {
  const spy = spyDelays();
  try {
    const doc = new FakeDocument();
    doc.hidden = true;
    const t = setup({ document: doc, slow: 86400000, slowMax: 86400000, hiddenFactor: 100 });
    await connect(t, "push", {});
    await advance(10000);
    assert.equal(t.polls.length, 0);
    assert.ok(Math.max(...spy.delays) <= MAX_DELAY, `setTimeout got ${Math.max(...spy.delays)}`);
  } finally {
    spy.restore();
  }
});

test("a poll that never settles: timed out, reported, and polling goes on", async () => {
  const t = setup({ deferred: true, pollTimeout: 10000 });
  await connect(t);
  await pastOpening();
  t.socket.fire("stale", { "project:42": 1058 });
  await advance(500);
  assert.equal(t.polls.length, 1);
  await advance(10000);
  assert.match(String(t.errors[0]), /poll did not settle within 10000 ms/);
  assert.equal(t.pp.mode, "push");
  await advance(60000);
  assert.deepEqual(at(t), [5500], "no second poll while the app's first one still runs");
  assert.equal(t.maxInFlight, 1);
  // The hung poll answers late: its answer is ignored, and the retry due since 20500 for
  // the hint it did not answer starts now.
  await settle(t, 0, { "project:42": 1058 });
  await advance(1);
  assert.deepEqual(at(t), [5500, 75501]);
  await settle(t, 1, { "project:42": 1058 });
  assert.equal(t.errors.length, 1);
  assert.equal(t.pp.mode, "push");
});

test("token fetches that keep failing back off to minutes, reported once per streak", async () => {
  let fail = true;
  const t = setup({
    token: async () => {
      t.tokens++;
      if (fail) throw new Error("token endpoint down");
      return "good";
    },
  });
  t.socket.serverConnect();
  await flush();
  await advance(3600 * 1000, 100);
  assert.ok(t.tokens <= 30, `${t.tokens} token requests in an hour`);
  assert.equal(t.errors.length, 1, "one report for the streak");
  fail = false;
  await advance(300000, 100);
  assert.equal(t.socket.sent("subscribe").length, 1);
  fail = true;
  t.socket.fire("expired", { topics: ["project:42"] });
  await flush();
  assert.equal(t.errors.length, 2, "a new streak is reported again");
});

test("a token promise that never settles times out and is retried", async () => {
  let hang = true;
  const t = setup({ token: () => (hang ? new Promise(() => {}) : "late-but-good") });
  t.socket.serverConnect();
  await flush();
  await advance(9999);
  assert.equal(t.errors.length, 0);
  await advance(1);
  assert.match(String(t.errors[0]), /token function did not answer within 10000 ms/);
  hang = false;
  await advance(1000);
  assert.equal(t.socket.sent("subscribe").length, 1);
  assert.equal(t.socket.sent("subscribe")[0][0].token, "late-but-good");
});

test("a server that accepts and then kicks: reconnects back off across granted subscribes", async () => {
  const t = setup();
  const gaps = [];
  let last = Date.now();
  for (let i = 0; i < 10; i++) {
    await connect(t);
    t.socket.serverDisconnect("io server disconnect");
    const calls = t.socket.connectCalls;
    while (t.socket.connectCalls === calls) await advance(100, 100);
    gaps.push(Date.now() - last);
    last = Date.now();
  }
  assert.ok(gaps[9] >= 100000, `gaps ${gaps}`);
  assert.ok(gaps.every((g, i) => i === 0 || g >= gaps[i - 1]), `gaps ${gaps}`);
  assert.equal(t.errors.length, 1, "reported once per streak");
});

test("scheduling uses the monotonic clock: a wall clock stepped back an hour changes nothing", async () => {
  resetClock();
  mock.timers.enable({ apis: ["setTimeout"] });
  let elapsed = 0;
  let wall = 1.7e12;
  mock.method(Date, "now", () => elapsed + wall);
  mock.method(performance, "now", () => elapsed);
  const step = async (ms) => {
    for (let i = 0; i < ms; i++) {
      elapsed++;
      mock.timers.tick(1);
      await flush();
    }
  };
  try {
    const t = setup({ now: undefined }); // the shim's own clock
    await connect(t);
    await step(10000);
    wall -= 3600 * 1000;
    t.socket.serverDisconnect("transport close");
    await step(20000);
    assert.ok(t.polls.length >= 3, `fallback polling stopped: ${t.polls.length} polls in 20 s`);
    t.pp.stop();
  } finally {
    mock.restoreAll();
  }
});

test("adaptive safety net: off by default", async () => {
  const t = setup({ random: () => 1 });
  await connect(t);
  await advance(600000, 1000);
  assert.equal(t.polls.length, 10, "every 60 s");
});

test("adaptive safety net: grows toward slowMax while push misses nothing, snaps back on a miss", async () => {
  let v = 1057;
  const info = [];
  const t = setup({ adaptive: true, slowMax: 480000, random: () => 1, onPoll: (e) => info.push(e) });
  t.answer = () => ({ "project:42": v });
  await connect(t);
  await advance(60000 + 120000 + 240000 + 480000 + 480000, 1000);
  assert.deepEqual(at(t), [60000, 180000, 420000, 900000, 1380000]);
  v = 1060; // a change no hint announced
  await advance(480000, 1000);
  assert.deepEqual(info[info.length - 1].missed, ["project:42"]);
  await advance(60000, 1000);
  assert.deepEqual(at(t).slice(5), [1860000, 1920000], "back to slow after the miss");
});

test("onPoll.missed: changes no hint announced, in push mode; nothing in poll mode", async () => {
  const info = [];
  const t = setup({ deferred: true, topics: { a: 1, b: 1, c: 1 }, onPoll: (e) => info.push(e) });
  await connect(t);
  await pastOpening();
  t.socket.fire("stale", { a: 2 });
  await advance(500);
  t.socket.fire("stale", { b: 2 }); // in flight, for the version the poll brings back
  t.socket.fire("stale", { c: 9 }); // in flight, for a version the poll does not reach
  await settle(t, 0, { a: 2, b: 2, c: 3 });
  assert.deepEqual(info[0].missed, ["c"]);
  t.socket.fire("mode", { mode: "poll" });
  await advance(5000);
  await settle(t, 1, { a: 5, b: 5, c: 9 });
  assert.deepEqual(info[1].missed, [], "poll mode promises no hints");
});
