// One topic every page holds (issue #18's `global` workload, in small): N pages in push
// mode on the unit tests' fake clock, one bump a minute hinted to all of them, with the
// spread a node sends when every visible page holds the topic (fast) and without one (an
// old node). Prints the peak of polls in any sliding 1 s window (10 ms step) against plain
// polling of the same pages at fast (from 30 s on: the pages all load at 0), and hinted
// staleness p50 / p99.
//
//   node bench/herd.mjs [pages]
import { mock } from "node:test";
import { start } from "../src/pushpoll.js";
import { FakeSocket } from "../test/fake.js";

const N = Number(process.argv[2]) || 300;
const FAST = 5000;
const MINUTES = 4;
const flush = () => new Promise((r) => setImmediate(r));
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

function seeded(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function slidingPeak(sorted) {
  let peak = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= 1000) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

// Plain polling of the same pages: each at fast from a random phase.
function plainPeak() {
  const random = seeded(2);
  const starts = [];
  for (let i = 0; i < N; i++) {
    for (let t = 30000 + random() * FAST; t < MINUTES * 60000; t += FAST) starts.push(t);
  }
  return slidingPeak(starts.sort((a, b) => a - b));
}

async function run(spread) {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  const random = seeded(1);
  const starts = [];
  const waits = [];
  let v = 1;
  let bumpAt = 0;
  const pages = [];
  for (let i = 0; i < N; i++) {
    const socket = new FakeSocket();
    const held = { v: 1 };
    const pp = start({
      url: "http://notifier.test",
      token: "t",
      topics: { g: 1 },
      poll: async () => {
        const t = Date.now();
        starts.push(t);
        if (held.v < v) waits.push(t - bumpAt);
        held.v = v;
        return { g: v };
      },
      fast: FAST,
      random,
      now: () => Date.now(),
      heartbeatTimeout: 0,
      document: null,
      share: false,
      onError: () => {},
      io: (url, o) => {
        socket.io.opts = o; // what socket.io-client's Manager keeps, and transport.js reads
        return socket;
      },
    });
    pages.push({ pp, socket });
  }
  // Pages come up over the first 10 s, as after a deploy.
  for (let t = 0; t < MINUTES * 60000; t += 10) {
    mock.timers.tick(10);
    for (let k = 0; k < pages.length; k++) {
      if (Math.floor((k * 10000) / N / 10) * 10 === t) {
        const s = pages[k].socket;
        s.serverConnect();
        await flush();
        s.fire("mode", { mode: "push", fast: FAST, slow: 60000 });
        s.ack();
      }
    }
    if (t > 0 && t % 60000 === 0) {
      v++;
      bumpAt = t;
      for (const p of pages) p.socket.fire("stale", { g: v }, spread ? { spread: FAST } : undefined);
    }
    await flush();
  }
  for (const p of pages) p.pp.stop();
  mock.timers.reset();
  // From 30 s on: the pages all loaded at 0, which no real fleet does.
  starts.splice(0, starts.length, ...starts.filter((t) => t >= 30000).sort((a, b) => a - b));
  const peak = slidingPeak(starts);
  waits.sort((a, b) => a - b);
  return { peak, p50: pct(waits, 50), p99: pct(waits, 99) };
}

const plain = plainPeak();
console.log(`${N} pages, fast ${FAST} ms, one bump a minute to all; plain polling: sliding 1 s peak ${plain} (mean ${(N * 1000) / FAST}/s)`);
for (const spread of [false, true]) {
  const r = await run(spread);
  console.log(`${spread ? "spread fast" : "no spread  "}: sliding 1 s peak ${r.peak} (${(r.peak / plain).toFixed(2)}x plain), hinted p50 ${r.p50} ms, p99 ${r.p99} ms`);
}
