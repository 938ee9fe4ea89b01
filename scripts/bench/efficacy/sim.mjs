// Efficacy benchmark: what pushpoll costs the app, measured with the REAL shim
// (client-js/src/pushpoll.js, or --shim) in thousands of simulated tabs on a simulated
// clock, against what plain polling at `fast` would cost it.
//
//   tabs (the shim, unmodified; document stub with visibility) ── poll() ──► stub app
//     ▲ socket.io 2 socket: stale/mode/pong, reconnect with socket.io's backoff  │ versions
//     └── node (node.mjs): hint throttle, fan-out latency, hint loss ◄── bumps ──┘
//
// Everything a browser would do to the shim is done to it: timers clamped and throttled as
// Chromium does (clock.mjs), tabs hidden and shown, tabs closed and reopened, hints lost
// with probability --loss and delayed by the measured fan-out latency, and the notifier
// dying for --outage-s with every socket reconnecting on socket.io's own backoff. Nothing
// is asserted: the targets of the design are reported next to the figures.
//
// Plain polling is the app's setInterval(poll, fast) in the same tabs with the same
// lifetimes: every open tab polls every `fast` from a random phase, hidden or not (the
// bound pushpoll promises never to exceed).
//
// Output: one JSON line per workload on stdout ({"type":"efficacy",...}); with
// --series-dir, DIR/efficacy-<workload>.series holds app polls per second (t_s plain push).
//
//   node scripts/bench/efficacy/sim.mjs --workload tracker --duration-s 900
import { parseArgs } from "node:util";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Clock, rng, exp } from "./clock.mjs";
import { Node, Socket, fanoutLast } from "./node.mjs";
import { WORKLOADS } from "./workloads.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const { values: a } = parseArgs({
  options: {
    workload: { type: "string", default: "current,tracker,hot" },
    label: { type: "string", default: "" },
    shim: { type: "string", default: join(here, "../../../client-js/src/pushpoll.js") },
    "shim-options": { type: "string", default: "{}" }, // JSON merged into the shim's options
    "duration-s": { type: "string", default: "900" },
    "warm-s": { type: "string", default: "120" }, // left out of rates and staleness
    fast: { type: "string", default: "5000" },
    slow: { type: "string", default: "60000" },
    jitter: { type: "string", default: "1000" },
    "server-fast": { type: "string", default: "5000" }, // what the node's `mode` says
    "server-slow": { type: "string", default: "60000" },
    "app-ms": { type: "string", default: "20" }, // the app answering one poll
    "net-ms": { type: "string", default: "20" }, // browser <-> servers, one way: net + U(0, spread)
    "net-spread-ms": { type: "string", default: "40" },
    loss: { type: "string", default: "0.001" }, // each hint is lost with this probability
    "node-throttle-ms": { type: "string", default: "1000" }, // the node's --hint-throttle; 0 off
    "hidden-share": { type: "string", default: "0.5" }, // share of the time a tab is hidden
    "visible-mean-s": { type: "string", default: "300" }, // mean visible spell
    "tab-life-s": { type: "string", default: "1800" }, // mean tab lifetime
    "reopen-s": { type: "string", default: "30" }, // mean wait before the slot's next tab
    "outage-at-s": { type: "string", default: "480" },
    "outage-s": { type: "string", default: "60" },
    "ping-ms": { type: "string", default: "25000" }, // the node's --ping-interval
    "safety-net-ms": { type: "string", default: "" }, // the longest safety net in force (default slow)
    seed: { type: "string", default: "1" },
    "series-dir": { type: "string", default: "" },
  },
});
const P = {
  durationMs: +a["duration-s"] * 1000,
  warmMs: +a["warm-s"] * 1000,
  fast: +a.fast,
  slow: +a.slow,
  jitter: +a.jitter,
  serverFast: +a["server-fast"],
  serverSlow: +a["server-slow"],
  appMs: +a["app-ms"],
  netMs: +a["net-ms"],
  netSpreadMs: +a["net-spread-ms"],
  loss: +a.loss,
  nodeThrottleMs: +a["node-throttle-ms"],
  hiddenShare: +a["hidden-share"],
  visibleMeanMs: +a["visible-mean-s"] * 1000,
  tabLifeMs: +a["tab-life-s"] * 1000,
  reopenMs: +a["reopen-s"] * 1000,
  outageAtMs: +a["outage-at-s"] * 1000,
  outageMs: +a["outage-s"] * 1000,
  pingMs: +a["ping-ms"],
  safetyNetMs: +(a["safety-net-ms"] || a.slow),
  seed: +a.seed,
};
const shimOptions = JSON.parse(a["shim-options"]);
const shimPath = resolve(a.shim);
const { start } = await import(pathToFileURL(shimPath).href);
// Bumps stop this long before the end, so each has time to reach every tab.
const TAIL = Math.max(2 * P.fast, 15000);
const secs = Math.ceil(P.durationMs / 1000);
const inOutage = (t) => P.outageMs > 0 && t >= P.outageAtMs && t < P.outageAtMs + P.outageMs + 30000;

// lives draws, per tab slot, when a tab is open: [open, close) spans over the run. Pages
// first load over one fast interval, as visitors arrive.
function lives(W, random) {
  const out = [];
  for (let i = 0; i < W.tabs; i++) {
    const spans = [];
    let at = random() * P.fast;
    while (at < P.durationMs) {
      const close = at + exp(random, P.tabLifeMs);
      spans.push([at, Math.min(close, P.durationMs)]);
      at = close + exp(random, P.reopenMs);
    }
    out.push(spans);
  }
  return out;
}

function bumpList(W, random) {
  const out = [];
  W.bumps(random, P.durationMs - TAIL, (at, topic) => out.push({ at, topic }));
  return out.sort((x, y) => x.at - y.at);
}

// A growable list of float samples.
class Samples {
  constructor() {
    this.a = new Float64Array(1024);
    this.n = 0;
  }
  add(x) {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = x;
  }
  summary() {
    if (this.n === 0) return { n: 0, p50: null, p99: null, max: null };
    const s = this.a.slice(0, this.n).sort();
    const q = (f) => Math.round(s[Math.min(s.length - 1, Math.max(0, Math.ceil(f * s.length) - 1))]);
    return { n: this.n, p50: q(0.5), p99: q(0.99), max: Math.round(s[s.length - 1]) };
  }
}

// rates reports a per-second series after the warm-up: mean, peak and p99 of 1 s windows,
// and the mean outside and inside the outage.
function rates(perSecond) {
  const xs = [];
  let steady = 0;
  let steadyN = 0;
  let down = 0;
  let downN = 0;
  for (let s = P.warmMs / 1000; s < secs; s++) {
    const n = perSecond[s];
    xs.push(n);
    if (inOutage(s * 1000)) {
      down += n;
      downN++;
    } else {
      steady += n;
      steadyN++;
    }
  }
  xs.sort((x, y) => x - y);
  return {
    mean: +(steady / Math.max(1, steadyN)).toFixed(2),
    mean_outage: downN ? +(down / downN).toFixed(2) : null,
    peak: xs[xs.length - 1],
    p99: xs[Math.ceil(0.99 * xs.length) - 1],
  };
}

// plain is the app's own setInterval(poll, fast) in every open tab, and the staleness it
// gives each bump.
function plain(W, spans, bumps, random) {
  const perSecond = new Int32Array(secs);
  for (const slot of spans) {
    for (const [open, close] of slot) {
      for (let t = open + P.fast; t < close; t += P.fast) perSecond[Math.floor(t / 1000)]++;
    }
  }
  const holders = slotsByTopic(W);
  const stale = new Samples();
  for (const b of bumps) {
    if (b.at < P.warmMs) continue;
    for (const i of holders.get(b.topic) || []) {
      const span = spans[i].find(([o, c]) => o <= b.at && b.at < c);
      if (!span) continue;
      // The next poll whose request reaches the app after the bump.
      const ow = P.netMs + random() * P.netSpreadMs;
      const k = Math.max(1, Math.ceil((b.at - ow - span[0]) / P.fast));
      const sent = span[0] + k * P.fast;
      if (sent >= span[1]) continue;
      stale.add(sent + 2 * ow + P.appMs - b.at);
    }
  }
  return { perSecond, ...rates(perSecond), staleness: stale.summary() };
}

function slotsByTopic(W) {
  const m = new Map();
  for (let i = 0; i < W.tabs; i++) {
    for (const t of W.topicsOf(i)) {
      if (!m.has(t)) m.set(t, []);
      m.get(t).push(i);
    }
  }
  return m;
}

// push runs the shim in every tab, against the node.
async function push(W, spans, bumps) {
  const clock = new Clock();
  const random = rng(P.seed * 7919 + 1);
  // socket.io's backoff draws from Math.random: seeded too, so runs repeat exactly.
  Math.random = rng(P.seed * 7919 + 2);
  globalThis.setTimeout = (fn, ms) => clock.setTimeout(fn, ms);
  globalThis.clearTimeout = (id) => clock.clearTimeout(id);

  const perSecond = new Int32Array(secs);
  const classes = ["hinted", "lost", "down", "hidden"];
  const stale = Object.fromEntries(classes.map((c) => [c, new Samples()]));
  const reasons = {};
  const byTopic = new Map(); // topic -> Set(page) of open tabs
  let worstWindow = 0; // most polls one tab sent in any 60 s
  let errors = 0;

  const sim = {
    clock,
    random,
    P,
    node: null,
    // A fan-out decided the fate of every bump the page has not seen yet up to v.
    onFanOut(page, topic, v, lost) {
      for (const e of page.open.get(topic) || []) if (e.v <= v && e.cls === null) e.cls = lost ? "lost" : "hinted";
    },
  };
  const node = new Node(sim);
  sim.node = node;

  function openTab(slot, close) {
    const page = {
      slot,
      topics: W.topicsOf(slot),
      hidden: random() < P.hiddenShare,
      hiddenSince: clock.now,
      wakePhase: random() * 1000, // each browser's whole-second wake-ups fall elsewhere
      open: new Map(),
      listeners: [],
      sock: null,
      alive: true,
      recent: [],
      hides: 0, // times the tab was hidden: a bump it hid through waited on visibility
    };
    page.doc = {
      get hidden() {
        return page.hidden;
      },
      get visibilityState() {
        return page.hidden ? "hidden" : "visible";
      },
      addEventListener(type, fn) {
        if (type === "visibilitychange") page.listeners.push(fn);
      },
      removeEventListener(type, fn) {
        page.listeners = page.listeners.filter((f) => f !== fn);
      },
    };
    const topics = {};
    for (const t of page.topics) {
      topics[t] = node.version.get(t) || 0;
      page.open.set(t, []);
      if (!byTopic.has(t)) byTopic.set(t, new Set());
      byTopic.get(t).add(page);
    }
    clock.page = page;
    page.pp = start({
      url: "https://notifier.invalid",
      token: "t",
      topics,
      fast: P.fast,
      slow: P.slow,
      jitter: P.jitter,
      ...shimOptions,
      io: (url, opts) => (page.sock = new Socket(sim, page, opts)),
      random,
      now: () => clock.now,
      document: page.doc,
      onError: () => errors++,
      onPoll: (e) => (reasons[e.reason] = (reasons[e.reason] || 0) + 1),
      poll: (held) => poll(page),
    });
    clock.page = null;
    flipLater(page);
    clock.task(close - clock.now, page, () => closeTab(page));
  }

  function flipLater(page) {
    const mean = page.hidden ? (P.visibleMeanMs * P.hiddenShare) / Math.max(1e-9, 1 - P.hiddenShare) : P.visibleMeanMs;
    clock.task(exp(random, mean), page, () => {
      if (!page.alive) return;
      page.hidden = !page.hidden;
      page.hiddenSince = clock.now;
      if (page.hidden) page.hides++;
      for (const fn of page.listeners.slice()) fn({ type: "visibilitychange" });
      flipLater(page);
    });
  }

  function closeTab(page) {
    page.alive = false;
    page.pp.stop();
    for (const t of page.topics) byTopic.get(t).delete(page);
  }

  function poll(page) {
    const t = clock.now;
    perSecond[Math.floor(t / 1000)]++;
    if (t >= P.warmMs) {
      page.recent.push(t);
      // Polls exactly `fast` apart are 12 per minute, not 13: a millisecond of slack
      // keeps float sums of delays from counting both ends of the window.
      while (page.recent[0] <= t - 60000 + 1) page.recent.shift();
      worstWindow = Math.max(worstWindow, page.recent.length);
    }
    return new Promise((resolveAnswer) => {
      clock.task(node.oneWay(), page, () => {
        const answer = {};
        for (const tp of page.topics) answer[tp] = node.version.get(tp) || 0;
        clock.task(P.appMs + node.oneWay(), page, () => {
          if (page.alive) seen(page, answer);
          resolveAnswer(answer);
        });
      });
    });
  }

  // seen records the staleness of every bump this answer brought to the page.
  function seen(page, answer) {
    for (const t of page.topics) {
      const list = page.open.get(t);
      let k = 0;
      while (k < list.length && list[k].v <= answer[t]) {
        const e = list[k++];
        const cls = e.hides !== page.hides ? "hidden" : e.cls === null ? "hinted" : e.cls;
        if (e.at >= P.warmMs) stale[cls].add(clock.now - e.at);
      }
      if (k > 0) list.splice(0, k);
    }
  }

  function bump(topic) {
    const at = clock.now;
    const v = (node.version.get(topic) || 0) + 1;
    for (const page of byTopic.get(topic) || []) {
      const held = page.sock && page.sock.connected && page.sock.topics.includes(topic);
      page.open.get(topic).push({ v, at, hides: page.hides, cls: page.hidden ? "hidden" : held ? null : "down" });
    }
    node.bump(topic);
  }

  spans.forEach((slot, i) => {
    for (const [open, close] of slot) clock.task(open, null, () => openTab(i, close));
  });
  for (const b of bumps) clock.task(b.at, null, () => bump(b.topic));
  if (P.outageMs > 0) {
    clock.task(P.outageAtMs, null, () => node.kill());
    clock.task(P.outageAtMs + P.outageMs, null, () => node.restart());
  }
  await clock.run(P.durationMs);
  for (const pages of byTopic.values()) for (const p of pages) if (p.alive) closeTab(p);

  return {
    perSecond,
    ...rates(perSecond),
    staleness: Object.fromEntries(classes.map((c) => [c, stale[c].summary()])),
    worst_tab_polls_per_60s: worstWindow,
    polls_by_reason: reasons,
    fan_outs: node.fanOuts,
    hints: node.hints,
    hints_lost: node.lost,
    errors,
    events: clock.events,
  };
}

const names = a.workload.split(",").map((s) => s.trim());
for (const name of names) {
  const W = WORKLOADS[name];
  if (!W) throw new Error(`unknown workload ${name}; one of ${Object.keys(WORKLOADS).join(", ")}`);
  const world = rng(P.seed);
  const spans = lives(W, world);
  const bumps = bumpList(W, world);
  const began = performance.now();
  const base = plain(W, spans, bumps, rng(P.seed * 31 + 7));
  const pp = await push(W, spans, bumps);
  const { perSecond: basePS, ...baseOut } = base;
  const { perSecond: pushPS, ...pushOut } = pp;
  const line = {
    type: "efficacy",
    workload: name,
    label: a.label,
    about: W.about,
    tabs: W.tabs,
    bumps: bumps.length,
    ...P,
    shim: relative(join(here, "../../.."), shimPath),
    shim_options: shimOptions,
    fanout_p99_ms: Math.round(fanoutLast(W.tabs >= 1000 ? 1000 : W.tabs)),
    plain: baseOut,
    push: pushOut,
    reduction: +(base.mean / Math.max(1e-9, pp.mean)).toFixed(1),
    wall_s: +((performance.now() - began) / 1000).toFixed(1),
  };
  console.log(JSON.stringify(line));
  if (a["series-dir"]) {
    mkdirSync(a["series-dir"], { recursive: true });
    let out = "# t_s plain push (app polls per second)\n";
    for (let s = 0; s < secs; s++) out += `${s} ${basePS[s]} ${pushPS[s]}\n`;
    writeFileSync(join(a["series-dir"], `efficacy-${name}${a.label ? "-" + a.label : ""}.series`), out);
  }
}
process.exit(0);
