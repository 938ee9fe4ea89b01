// Efficacy simulator: what pushpoll saves the app, measured with the REAL shim
// (client-js/src/pushpoll.js) driving N simulated pages on a simulated clock.
//
//   pages (the shim, unmodified) ── poll() ──► stub app: counts polls, answers versions
//        ▲ stale/mode/pong                          ▲
//        └── fake socket.io socket ◄── fake node ◄──┴── Poisson bumps on T topics
//
// Two runs with the same bumps and seed: "poll" (enabled:false, the app's old 5 s polling)
// and "push" (the shim connected to a fake notifier that hints every holder of a bumped
// topic after a delivery delay). In the push run the notifier goes away for a while
// (--outage-s), so the shim's fallback to fast polling is measured too.
//
// Timers: globalThis.setTimeout/clearTimeout are replaced by a discrete-event scheduler and
// the shim gets `now` from it, so an hour of 2,000 pages runs in seconds. After each event
// the real setImmediate lets pending promise callbacks (poll answers) run, as a browser
// would between two timers.
//
// Output: one JSON line per mode on stdout ({"type":"efficacy",...}); --series FILE writes
// app polls per second over time for both modes (columns: t_s poll push).
//
//   node scripts/bench/efficacy/sim.mjs --pages 2000 --topics 500 --rate 2 --duration-s 1200
import { parseArgs } from "node:util";
import { writeFileSync } from "node:fs";
import { start } from "../../../client-js/src/pushpoll.js";

const { values: a } = parseArgs({
  options: {
    pages: { type: "string", default: "2000" },
    topics: { type: "string", default: "500" },
    "big-holders": { type: "string", default: "1000" }, // pages that also hold the one big topic
    rate: { type: "string", default: "2" }, // bumps/s over the small topics (Poisson)
    "big-every-s": { type: "string", default: "120" }, // the big topic is bumped this often
    "duration-s": { type: "string", default: "1200" },
    fast: { type: "string", default: "5000" },
    slow: { type: "string", default: "60000" },
    jitter: { type: "string", default: "1000" },
    "hint-ms": { type: "string", default: "30" }, // notifier delivery: hint-ms + U(0, hint-spread-ms)
    "hint-spread-ms": { type: "string", default: "50" },
    "app-ms": { type: "string", default: "20" }, // app poll latency
    "outage-at-s": { type: "string", default: "600" },
    "outage-s": { type: "string", default: "120" },
    seed: { type: "string", default: "1" },
    series: { type: "string", default: "" },
  },
});
const P = {
  pages: +a.pages,
  topics: +a.topics,
  bigHolders: Math.min(+a["big-holders"], +a.pages),
  rate: +a.rate,
  bigEvery: +a["big-every-s"] * 1000,
  duration: +a["duration-s"] * 1000,
  fast: +a.fast,
  slow: +a.slow,
  jitter: +a.jitter,
  hintMs: +a["hint-ms"],
  hintSpread: +a["hint-spread-ms"],
  appMs: +a["app-ms"],
  outageAt: +a["outage-at-s"] * 1000,
  outage: +a["outage-s"] * 1000,
  seed: +a.seed,
};
// Bumps stop this long before the end, so every bump has time to be seen by every page.
const TAIL = Math.max(2 * P.fast, 15000);

function rng(seed) {
  // mulberry32: small, fast, and the same sequence on every machine.
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- simulated clock ----
class Clock {
  constructor() {
    this.now = 0;
    this.seq = 0;
    this.heap = [];
    this.live = new Map(); // id -> event, for clearTimeout
  }
  setTimeout(fn, ms) {
    const ev = { at: this.now + Math.max(0, Number(ms) || 0), seq: ++this.seq, fn };
    this.live.set(ev.seq, ev);
    this.push(ev);
    return ev.seq;
  }
  clearTimeout(id) {
    const ev = this.live.get(id);
    if (ev) {
      ev.fn = null;
      this.live.delete(id);
    }
  }
  push(ev) {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], h[i])) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }
  pop() {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
  async run(until) {
    const settle = () => new Promise((r) => realSetImmediate(r));
    while (this.heap.length > 0 && this.heap[0].at <= until) {
      const ev = this.pop();
      if (!ev.fn) continue;
      this.live.delete(ev.seq);
      this.now = ev.at;
      const fn = ev.fn;
      fn();
      await settle();
    }
    this.now = until;
  }
}
function less(x, y) {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}
const realSetImmediate = setImmediate;

// Seconds at the start (pages loading, first polls) left out of rates and staleness.
const warm = 60;

// ---- one simulated run ----
async function simulate(mode) {
  const clock = new Clock();
  globalThis.setTimeout = (fn, ms) => clock.setTimeout(fn, ms);
  globalThis.clearTimeout = (id) => clock.clearTimeout(id);
  const random = rng(P.seed * 7919 + (mode === "push" ? 1 : 2)); // the shim's jitter
  const world = rng(P.seed); // bumps: the same in both modes

  const version = new Map(); // topic -> current version at the app
  const bumpsOf = new Map(); // topic -> [{v, at}]
  const holders = new Map(); // topic -> [page]
  const pages = [];
  let pushUp = true;
  const stats = { polls: 0, hintPolls: 0, staleness: [], stalenessDown: [], perSecond: new Map(), per100: new Map(), bigAt: [] };

  function topicsOf(i) {
    const ts = ["t:" + (i % P.topics)];
    if (i < P.bigHolders) ts.push("big");
    return ts;
  }

  // Fake notifier side of one page's socket (socket.io-client 2 surface the shim uses).
  function fakeIO(page) {
    return () => {
      const s = {
        handlers: new Map(),
        connected: false,
        io: { engine: { pingInterval: 25000 } },
        on(ev, fn) {
          if (!this.handlers.has(ev)) this.handlers.set(ev, []);
          this.handlers.get(ev).push(fn);
          return this;
        },
        off(ev, fn) {
          const l = this.handlers.get(ev) || [];
          const i = l.indexOf(fn);
          if (i >= 0) l.splice(i, 1);
          return this;
        },
        fire(ev, ...args) {
          for (const fn of (this.handlers.get(ev) || []).slice()) fn(...args);
        },
        emit(ev, req, ack) {
          if (ev !== "subscribe" || !this.connected) return this;
          // The node answers after a round trip, then hints what the client missed.
          clock.setTimeout(() => {
            if (!this.connected) return;
            const topics = Object.keys(req.topics);
            ack({ granted: topics, denied: {} });
            const missed = {};
            for (const t of topics) if ((version.get(t) || 0) > req.topics[t]) missed[t] = version.get(t);
            if (Object.keys(missed).length) this.fire("stale", missed);
          }, 2);
          return this;
        },
        connect() {
          return this;
        },
        disconnect() {
          if (this.connected) {
            this.connected = false;
            this.fire("disconnect", "io client disconnect");
          }
          return this;
        },
        close() {
          return this.disconnect();
        },
        serverConnect() {
          this.connected = true;
          this.fire("connect");
          this.fire("mode", { mode: "push", fast: P.fast, slow: P.slow });
        },
        serverDrop() {
          this.connected = false;
          this.fire("disconnect", "transport close");
        },
      };
      page.socket = s;
      // Connection comes up a few ms after start, spread like real page loads.
      clock.setTimeout(() => s.serverConnect(), 5 + random() * 1000);
      return s;
    };
  }

  function recordPoll(t) {
    stats.polls++;
    const sec = Math.floor(t / 1000);
    stats.perSecond.set(sec, (stats.perSecond.get(sec) || 0) + 1);
    const d = Math.floor(t / 100);
    stats.per100.set(d, (stats.per100.get(d) || 0) + 1);
  }

  for (let i = 0; i < P.pages; i++) {
    const page = { i, topics: topicsOf(i), seen: new Map(), socket: null };
    pages.push(page);
    for (const t of page.topics) {
      page.seen.set(t, 0);
      if (!holders.has(t)) holders.set(t, []);
      holders.get(t).push(page);
    }
    const topics = {};
    for (const t of page.topics) topics[t] = 0;
    // Pages load at random moments over one fast interval, as real visitors do; a page
    // starting between two bumps holds the version current when it loads.
    clock.setTimeout(() => {
      for (const t of page.topics) {
        topics[t] = version.get(t) || 0;
        page.seen.set(t, topics[t]);
      }
      page.pp = start({
        url: "http://notifier.invalid",
        token: "t",
        topics,
        enabled: mode === "push",
        fast: P.fast,
        slow: P.slow,
        jitter: P.jitter,
        heartbeatTimeout: undefined,
        io: fakeIO(page),
        random,
        now: () => clock.now,
        document: null,
        onError: () => {},
        onPoll: (e) => {
          if (e.reason === "hint") stats.hintPolls++;
        },
        poll: (held) =>
          new Promise((resolve) => {
            const asked = clock.now;
            recordPoll(asked);
            // The app answers with its state when the request arrives.
            const answer = {};
            for (const t of page.topics) answer[t] = version.get(t) || 0;
            clock.setTimeout(() => {
              const at = clock.now;
              for (const t of page.topics) {
                const before = page.seen.get(t);
                if (answer[t] > before) {
                  for (const b of bumpsOf.get(t) || []) {
                    if (b.v > before && b.v <= answer[t] && !b.early) (b.down ? stats.stalenessDown : stats.staleness).push(at - b.at);
                  }
                  page.seen.set(t, answer[t]);
                }
              }
              resolve(answer);
            }, P.appMs);
          }),
      });
    }, random() * P.fast);
  }

  // Bumps: Poisson over the small topics, periodic on the big one.
  function bump(t) {
    const v = (version.get(t) || 0) + 1;
    version.set(t, v);
    // Bumps while push is down, and for 10 s after it is back (sockets reconnecting), are
    // counted apart from the hinted ones; so are bumps in the first minute (pages loading).
    const down = mode === "push" && P.outage > 0 && clock.now >= P.outageAt && clock.now < P.outageAt + P.outage + 10000;
    const early = clock.now < warm * 1000;
    if (!bumpsOf.has(t)) bumpsOf.set(t, []);
    bumpsOf.get(t).push({ v, at: clock.now, down, early });
    if (t === "big" && !down && !early) stats.bigAt.push(clock.now);
    if (mode !== "push" || !pushUp) return;
    for (const page of holders.get(t) || []) {
      clock.setTimeout(() => {
        if (page.socket && page.socket.connected) page.socket.fire("stale", { [t]: v });
      }, P.hintMs + world() * P.hintSpread);
    }
  }
  let at = 0;
  for (;;) {
    at += (-Math.log(1 - world()) / P.rate) * 1000;
    if (at > P.duration - TAIL) break;
    const t = "t:" + Math.floor(world() * P.topics);
    clock.setTimeout(() => bump(t), at);
  }
  for (let t = P.bigEvery / 2; t <= P.duration - TAIL; t += P.bigEvery) clock.setTimeout(() => bump("big"), t);
  // Heartbeat: the server's pongs, every ping interval, while push is up.
  for (let t = 25000; t < P.duration; t += 25000) {
    clock.setTimeout(() => {
      if (mode === "push" && pushUp) for (const p of pages) if (p.socket && p.socket.connected) p.socket.fire("pong");
    }, t);
  }
  // Outage: the notifier goes away, then comes back; sockets reconnect over a few seconds.
  if (mode === "push" && P.outage > 0) {
    clock.setTimeout(() => {
      pushUp = false;
      for (const p of pages) if (p.socket && p.socket.connected) p.socket.serverDrop();
    }, P.outageAt);
    clock.setTimeout(() => {
      pushUp = true;
      for (const p of pages) clock.setTimeout(() => p.socket && !p.socket.connected && p.socket.serverConnect(), random() * 5000);
    }, P.outageAt + P.outage);
  }
  await clock.run(P.duration);
  for (const p of pages) p.pp.stop();
  return stats;
}

function pct(xs, q) {
  if (xs.length === 0) return null;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

const results = {};
for (const mode of ["poll", "push"]) {
  const st = await simulate(mode);
  const secs = P.duration / 1000;
  let steady = 0;
  let steadyN = 0;
  let downPolls = 0;
  let downN = 0;
  for (let s = warm; s < secs; s++) {
    const n = st.perSecond.get(s) || 0;
    const inOutage = mode === "push" && P.outage > 0 && s * 1000 >= P.outageAt && s * 1000 < P.outageAt + P.outage + 10000;
    if (inOutage) {
      downPolls += n;
      downN++;
    } else {
      steady += n;
      steadyN++;
    }
  }
  // The herd a hint on the big topic brings: the busiest 100 ms in the 3 s after each of its
  // bumps (outside the outage). Jitter spreads the holders' polls over `jitter` ms.
  let peak100 = 0;
  for (const at of st.bigAt) {
    for (let d = Math.floor(at / 100); d < Math.floor((at + 3000) / 100); d++) peak100 = Math.max(peak100, st.per100.get(d) || 0);
  }
  results[mode] = {
    type: "efficacy",
    mode,
    ...P,
    polls: st.polls,
    hint_polls: st.hintPolls,
    app_polls_per_s: +(steady / Math.max(1, steadyN)).toFixed(2),
    app_polls_per_s_outage: downN ? +(downPolls / downN).toFixed(2) : null,
    staleness_p50_ms: pct(st.staleness, 0.5),
    staleness_p99_ms: pct(st.staleness, 0.99),
    staleness_max_ms: pct(st.staleness, 1),
    staleness_samples: st.staleness.length,
    staleness_down_p50_ms: pct(st.stalenessDown, 0.5),
    staleness_down_p99_ms: pct(st.stalenessDown, 0.99),
    big_holders: P.bigHolders,
    peak_polls_per_s_after_big_hint: peak100 * 10,
    per_second: st.perSecond,
  };
}
results.push.reduction = +(results.poll.app_polls_per_s / results.push.app_polls_per_s).toFixed(1);
for (const mode of ["poll", "push"]) {
  const { per_second, ...line } = results[mode];
  console.log(JSON.stringify(line));
}
if (a.series) {
  const secs = P.duration / 1000;
  let out = "# t_s poll push (app polls per second)\n";
  for (let s = 0; s < secs; s++) out += `${s} ${results.poll.per_second.get(s) || 0} ${results.push.per_second.get(s) || 0}\n`;
  writeFileSync(a.series, out);
}
process.exit(0);
