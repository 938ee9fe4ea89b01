// Hinted staleness of one page on the unit tests' fake clock: bumps arrive as a Poisson
// process, each announced by a hint; a bump's staleness is the time from its hint to the
// start of the first poll after it (the poll answers at once with the newest version).
// Defaults: fast 5 s, slow 60 s, jitter 1 s, push mode, no spread.
//
//   node bench/hinted.mjs                     # the shim in src/
//   node bench/hinted.mjs ./path/to/shim.js   # another version of it, same scenario
//
// Prints, per mean gap between bumps, p50 / p99 / max staleness in ms and polls a minute.
import { mock } from "node:test";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { FakeSocket } from "../test/fake.js";

const modPath = process.argv[2] ? pathToFileURL(resolve(process.argv[2])).href : "../src/pushpoll.js";
const { start } = await import(modPath);

function seeded(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const flush = () => new Promise((r) => setImmediate(r));
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function run(meanGap, minutes) {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  const random = seeded(42);
  const socket = new FakeSocket();
  let v = 1;
  const open = []; // hint times not yet served by a poll
  const waits = [];
  let polls = 0;
  const pp = start({
    url: "http://notifier.test",
    token: "t",
    topics: { t: 1 },
    poll: async () => {
      polls++;
      const t = Date.now();
      for (const h of open.splice(0)) waits.push(t - h);
      return { t: v };
    },
    random: seeded(7),
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
  socket.serverConnect();
  await flush();
  socket.fire("mode", { mode: "push", fast: 5000, slow: 60000 });
  socket.sent("subscribe")[0][1]({ granted: ["t"], denied: {} });
  await flush();
  const end = minutes * 60000;
  let next = -Math.log(1 - random()) * meanGap;
  for (let t = 0; t < end; t += 10) {
    mock.timers.tick(10);
    await flush();
    while (next <= Date.now()) {
      v++;
      open.push(Date.now());
      socket.fire("stale", { t: v });
      next += -Math.log(1 - random()) * meanGap;
    }
  }
  pp.stop();
  mock.timers.reset();
  waits.sort((a, b) => a - b);
  return { p50: pct(waits, 50), p99: pct(waits, 99), max: waits[waits.length - 1], perMin: (polls / minutes).toFixed(1), n: waits.length };
}

console.log("mean gap   bumps   p50 ms   p99 ms   max ms   polls/min");
for (const gap of [2000, 5000, 10000, 30000, 120000]) {
  const r = await run(gap, gap >= 30000 ? 240 : 60);
  console.log(
    [String(gap).padStart(8), String(r.n).padStart(7), String(r.p50).padStart(8), String(r.p99).padStart(8), String(r.max).padStart(8), r.perMin.padStart(11)].join(" "),
  );
}
