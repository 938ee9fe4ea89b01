// Efficacy benchmark: what pushpoll costs the app, measured with the REAL shim
// (client-js/src/pushpoll.js, or --shim) in thousands of simulated tabs on a simulated
// clock, against what plain polling at `fast` would cost the app in the same tabs.
//
//   tabs (the shim, unmodified; document stub with visibility) ── poll() ──► stub app
//     ▲ socket.io 4 socket: stale/mode/drain/ping, reconnect with socket.io's backoff │ versions
//     └── nodes (node.mjs) behind a balancer: hint throttle, spread, fan-out latency,
//         hint loss, half-open sockets, server events (events.mjs) ◄── bumps (Redis) ──┘
//
// The sim couples to the shim only through its public API: start(options) with the
// injection points (io, random, now, document, poll) and onPoll; the socket it is given
// speaks the wire events of DESIGN §2. So a rewritten shim runs here unchanged.
//
// Everything a browser would do to the shim is done to it: timers clamped and throttled as
// Chromium does (clock.mjs), tabs hidden and shown, tabs closed and reopened, hints lost
// (i.i.d. with probability --loss, and all of them on a half-open socket until the
// client's ping timeout closes it), delayed by each node's fan-out latency, and the
// workload's server event. Nothing is asserted: the targets are reported beside the
// figures (scripts/bench/report).
//
// Two plain-polling baselines in the same tabs with the same lifetimes and visibility
// (measures.mjs): `timeout`, an app chaining setTimeout after each answer, and `interval`,
// an app on setInterval(poll, fast) throttled as Chrome throttles hidden tabs (whole
// seconds, then once a minute after 5 minutes hidden).
//
// Output: one JSON line per workload on stdout ({"type":"efficacy",...}); with
// --series-dir, DIR/efficacy-<workload>.series holds, per second, app polls in the aligned
// second and the largest sliding 1 s window starting in it, for both baselines and push.
//
//   node scripts/bench/efficacy/sim.mjs --workload tracker --duration-s 900
import { parseArgs } from "node:util";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Clock, rng, exp } from "./clock.mjs";
import { Node, Socket, fanoutLast } from "./node.mjs";
import { WORKLOADS } from "./workloads.mjs";
import { EVENTS } from "./events.mjs";
import { Browser } from "./browser.mjs";
import {
  Bins,
  Samples,
  TabWindow,
  rates,
  over,
  sliding,
  aligned,
  timeoutPolls,
  intervalPolls,
  baselineStaleness,
  STEP,
  WINDOW,
} from "./measures.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const { values: a } = parseArgs({
  options: {
    workload: { type: "string", default: "current,tracker,hot" },
    label: { type: "string", default: "" },
    shim: { type: "string", default: join(here, "../../../client-js/src/pushpoll.js") },
    "shim-options": { type: "string", default: "{}" }, // JSON merged into the shim's options
    "duration-s": { type: "string", default: "900" },
    "warm-s": { type: "string", default: "0" }, // left out of staleness; 0 measures the opening herd
    fast: { type: "string", default: "5000" },
    slow: { type: "string", default: "60000" },
    jitter: { type: "string", default: "1000" },
    "server-fast": { type: "string", default: "5000" }, // what the node's `mode` says
    "server-slow": { type: "string", default: "60000" },
    "app-ms": { type: "string", default: "20" }, // the app answering one poll
    "net-ms": { type: "string", default: "20" }, // browser <-> servers, one way: net + U(0, spread)
    "net-spread-ms": { type: "string", default: "40" },
    loss: { type: "string", default: "0.001" }, // each hint is lost with this probability
    "half-open-per-hour": { type: "string", default: "0.1" }, // per connection: goes half-open at this rate
    "node-throttle-ms": { type: "string", default: "1000" }, // the node's --hint-throttle; 0 off
    "spread-factor": { type: "string", default: "1" }, // spread.mjs; 0: the node sends no spread
    "resync-spread-ms": { type: "string", default: "2000" },
    nodes: { type: "string", default: "" }, // default: the workload's
    "hidden-share": { type: "string", default: "0.5" }, // share of the time a tab is hidden
    "visible-mean-s": { type: "string", default: "300" }, // mean visible spell
    "tab-life-s": { type: "string", default: "1800" }, // mean tab lifetime
    "reopen-s": { type: "string", default: "30" }, // mean wait before the slot's next tab
    event: { type: "string", default: "" }, // default: the workload's (events.mjs)
    "event-at-s": { type: "string", default: "480" },
    "event-s": { type: "string", default: "60" },
    "ping-ms": { type: "string", default: "25000" }, // the node's --ping-interval
    "ping-timeout-ms": { type: "string", default: "60000" }, // the node's --ping-timeout
    "safety-net-ms": { type: "string", default: "" }, // the longest safety net in force (default slow)
    "tabs-per-browser": { type: "string", default: "1" }, // >1: that many slots share a browser and run tabs.js
    sample: { type: "string", default: "1" }, // simulate this share of the tabs; counts are scaled back
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
  halfOpenPerHour: +a["half-open-per-hour"],
  nodeThrottleMs: +a["node-throttle-ms"],
  spreadFactor: +a["spread-factor"],
  resyncSpreadMs: +a["resync-spread-ms"],
  hiddenShare: +a["hidden-share"],
  visibleMeanMs: +a["visible-mean-s"] * 1000,
  tabLifeMs: +a["tab-life-s"] * 1000,
  reopenMs: +a["reopen-s"] * 1000,
  eventAtMs: +a["event-at-s"] * 1000,
  eventMs: +a["event-s"] * 1000,
  pingMs: +a["ping-ms"],
  pingTimeoutMs: +a["ping-timeout-ms"],
  safetyNetMs: +(a["safety-net-ms"] || a.slow),
  tabsPerBrowser: +a["tabs-per-browser"],
  sample: +a.sample,
  scale: 1 / +a.sample,
  seed: +a.seed,
};
const shimOptions = JSON.parse(a["shim-options"]);
const shimPath = resolve(a.shim);
const { start } = await import(pathToFileURL(shimPath).href);
// The shim's tab sharing, from beside the shim: createTabs(env) is its documented injection point.
const { createTabs } = await import(pathToFileURL(join(dirname(shimPath), "tabs.js")).href);
// Bumps stop this long before the end, so each has time to reach every tab.
const TAIL = Math.max(2 * P.fast, 15000);
const secs = Math.ceil(P.durationMs / 1000);

// lives draws, per tab slot, when a tab is open and when it is hidden: [open, close) lives
// over the run, each with its visibility flips, in the slot's browser (its timers' wake-up
// phase). Pages first load over one fast interval, as visitors arrive. Only a share
// --sample of the slots is kept.
function lives(W, random) {
  const out = [];
  const hiddenMean = (P.visibleMeanMs * P.hiddenShare) / Math.max(1e-9, 1 - P.hiddenShare);
  for (let i = 0; i < W.tabs; i++) {
    const keep = random() < P.sample;
    const phase = random() * 60000;
    const spans = [];
    let at = random() * P.fast;
    while (at < P.durationMs) {
      const close = Math.min(at + exp(random, P.tabLifeMs), P.durationMs);
      const hidden0 = random() < P.hiddenShare;
      const flips = [];
      let h = hidden0;
      for (let f = at + exp(random, h ? hiddenMean : P.visibleMeanMs); f < close; f += exp(random, h ? hiddenMean : P.visibleMeanMs)) {
        flips.push(f);
        h = !h;
      }
      spans.push({ open: at, close, hidden0, flips, phase });
      at = close + exp(random, P.reopenMs);
    }
    if (keep) out.push({ slot: i, spans });
  }
  return out;
}

// bumpList draws the workload's bumps; a workload with `staleEvery` k measures the
// staleness of one bump in k (flood: 5 bumps a second in 10,000 tabs).
function bumpList(W, random) {
  const out = [];
  W.bumps(random, P.durationMs - TAIL, (at, topic) => out.push({ at, topic }));
  out.sort((x, y) => x.at - y.at);
  const k = W.staleEvery || 1;
  out.forEach((b, i) => (b.measured = i % k === 0));
  return out;
}

// bumpsByTopic: topic -> sorted times of its measured bumps after the warm-up.
function bumpsByTopic(bumps) {
  const m = new Map();
  for (const b of bumps) {
    if (!b.measured || b.at < P.warmMs) continue;
    if (!m.has(b.topic)) m.set(b.topic, []);
    m.get(b.topic).push(b.at);
  }
  return m;
}

// baseline is plain polling in the same tabs: polls, staleness and the worst tab.
function baseline(W, tabs, bumps, kind, random) {
  const bins = new Bins(P.durationMs);
  const settled = new Bins(P.durationMs); // the polls after each page's first fast
  const stale = new Samples();
  const byTopic = bumpsByTopic(bumps);
  const oneWay = () => P.netMs + random() * P.netSpreadMs;
  const rtt = () => oneWay() + P.appMs + oneWay();
  let per60 = 0;
  let per1 = 0;
  for (const { slot, spans } of tabs) {
    const topics = W.topicsOf(slot);
    const times = topics.length === 1 ? byTopic.get(topics[0]) || [] : topics.flatMap((t) => byTopic.get(t) || []).sort((x, y) => x - y);
    for (const life of spans) {
      const polls = kind === "timeout" ? timeoutPolls(life, P.fast, rtt) : intervalPolls(life, P.fast);
      const win = new TabWindow();
      for (const t of polls) {
        bins.add(t);
        if (t >= life.open + P.fast) settled.add(t);
        if (t >= P.warmMs) win.add(t);
      }
      per60 = Math.max(per60, win.per60);
      per1 = Math.max(per1, win.per1);
      baselineStaleness(life, polls, times, oneWay, P.appMs, (x, pending) => stale.add(x, pending));
    }
  }
  return { bins, settled, staleness: stale.summary(), worst_tab_per_60s: per60, worst_tab_per_1s: per1 };
}

// push runs the shim in every tab, against the nodes.
async function push(W, tabs, bumps, eventName) {
  const clock = new Clock();
  const random = rng(P.seed * 7919 + 1);
  // socket.io's backoff draws from Math.random: seeded too, so runs repeat exactly.
  Math.random = rng(P.seed * 7919 + 2);
  globalThis.setTimeout = (fn, ms) => clock.setTimeout(fn, ms);
  globalThis.clearTimeout = (id) => clock.clearTimeout(id);

  const bins = new Bins(P.durationMs);
  const settled = new Bins(P.durationMs);
  const classes = ["hinted", "hinted_delayed", "hinted_prompt", "lost", "down", "hidden"];
  const stale = Object.fromEntries(classes.map((c) => [c, new Samples()]));
  const reasons = {};
  const byTopic = new Map(); // topic -> Set(page) of open tabs
  let per60 = 0;
  let per1 = 0;
  let errors = 0;

  const sim = {
    clock,
    random,
    P,
    version: new Map(), // the app's version table
    redisUp: true,
    nodes: [],
    // A fan-out to a socket decided the fate of every bump its tabs have not seen yet up
    // to v (all the tabs of its browser when they share it).
    onFanOut(s, topic, v, lost) {
      for (const page of s.page.browser ? s.page.browser.pages : [s.page]) {
        for (const e of page.open.get(topic) || []) if (e.v <= v && e.cls === null) e.cls = lost ? "lost" : "hinted";
      }
    },
  };
  const browsers = new Map(); // slot / tabsPerBrowser -> Browser
  const nodeRandom = rng(P.seed * 7919 + 3);
  const nodes = +a.nodes || W.nodes || 1;
  for (let i = 0; i < nodes; i++) {
    // Nodes differ: fan-out speed 0.75–1.5× the measured one, Redis delivery 1–5 ms.
    sim.nodes.push(new Node(sim, i, 0.75 + 0.75 * nodeRandom(), 1 + 4 * nodeRandom()));
  }

  function openTab(slot, life) {
    let browser = null;
    if (P.tabsPerBrowser > 1) {
      const b = Math.floor(slot / P.tabsPerBrowser);
      if (!browsers.has(b)) browsers.set(b, new Browser(clock));
      browser = browsers.get(b);
    }
    const page = {
      browser,
      random,
      slot,
      topics: W.topicsOf(slot),
      hidden: life.hidden0,
      hiddenSince: clock.now,
      openedAt: clock.now,
      wakePhase: life.phase,
      open: new Map(),
      listeners: [],
      sock: null,
      alive: true,
      win: new TabWindow(),
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
      topics[t] = sim.version.get(t) || 0;
      page.open.set(t, []);
      if (!byTopic.has(t)) byTopic.set(t, new Set());
      byTopic.get(t).add(page);
    }
    clock.page = page;
    if (browser) browser.pages.add(page);
    page.pp = start({
      url: "https://notifier.invalid",
      token: "t",
      topics,
      fast: P.fast,
      slow: P.slow,
      jitter: P.jitter,
      ...shimOptions,
      io: (url, opts) => {
        page.sock = new Socket(sim, page, opts);
        if (browser) browser.sock = page.sock;
        return page.sock;
      },
      tabs: browser ? createTabs(browser.env(page)) : undefined,
      onHint: (topic, v) => hinted(page, topic, v),
      random,
      now: () => clock.now,
      document: page.doc,
      onError: () => errors++,
      onPoll: (e) => (reasons[e.reason] = (reasons[e.reason] || 0) + 1),
      poll: () => poll(page),
    });
    clock.page = null;
    for (const f of life.flips) clock.task(f - clock.now, page, () => flip(page));
    clock.task(life.close - clock.now, page, () => closeTab(page));
  }

  function flip(page) {
    if (!page.alive) return;
    page.hidden = !page.hidden;
    page.hiddenSince = clock.now;
    if (page.hidden) page.hides++;
    for (const fn of page.listeners.slice()) fn({ type: "visibilitychange" });
  }

  // A hint reached the page's shim: the bumps it announces start waiting on the shim.
  function hinted(page, topic, v) {
    for (const e of page.open.get(topic) || []) if (e.v <= v && e.hintAt === undefined) e.hintAt = clock.now;
  }

  // classOf: a bump no fan-out ever reached (its node died or stopped pushing between the
  // bump and the fan-out) was fetched without push: "down", unless a hint came anyway.
  function classOf(page, e) {
    if (e.hides !== page.hides) return "hidden";
    if (e.cls === null) return e.hintAt !== undefined ? "hinted" : "down";
    return e.cls;
  }

  // closeTab: bumps the tab never fetched were stale until it closed.
  function closeTab(page) {
    page.alive = false;
    page.pp.stop();
    if (page.browser) page.browser.gone(page);
    for (const t of page.topics) {
      byTopic.get(t).delete(page);
      for (const e of page.open.get(t)) if (e.at >= P.warmMs) stale[classOf(page, e)].add(clock.now - e.at, true);
      page.open.set(t, []);
    }
    per60 = Math.max(per60, page.win.per60);
    per1 = Math.max(per1, page.win.per1);
  }

  function poll(page) {
    const t0 = clock.now;
    bins.add(t0);
    if (t0 >= page.openedAt + P.fast) settled.add(t0);
    if (t0 >= P.warmMs) page.win.add(t0);
    return new Promise((resolveAnswer) => {
      clock.task(P.netMs + random() * P.netSpreadMs, page, () => {
        const answer = {};
        for (const tp of page.topics) answer[tp] = sim.version.get(tp) || 0;
        clock.task(P.appMs + P.netMs + random() * P.netSpreadMs, page, () => {
          if (page.alive) seen(page, answer, t0);
          resolveAnswer(answer);
        });
      });
    });
  }

  // seen records the staleness of every bump this answer (of a poll sent at t0) brought.
  // A hinted bump counts as delayed by the budget or spread when its poll started more than
  // `jitter` after the hint reached the page.
  function seen(page, answer, t0) {
    for (const t of page.topics) {
      const list = page.open.get(t);
      let k = 0;
      while (k < list.length && list[k].v <= answer[t]) {
        const e = list[k++];
        if (e.at < P.warmMs) continue;
        const cls = classOf(page, e);
        const x = clock.now - e.at;
        stale[cls].add(x);
        if (cls === "hinted") stale[e.hintAt !== undefined && t0 - e.hintAt > P.jitter + 1 ? "hinted_delayed" : "hinted_prompt"].add(x);
      }
      if (k > 0) list.splice(0, k);
    }
  }

  function bump(topic, measured) {
    const at = clock.now;
    const v = (sim.version.get(topic) || 0) + 1;
    sim.version.set(topic, v);
    if (measured) {
      for (const page of byTopic.get(topic) || []) {
        const s = page.browser ? page.browser.sock : page.sock;
        const held = s && s.connected && s.node.pushing() && s.topics.includes(topic);
        page.open.get(topic).push({ v, at, hides: page.hides, cls: page.hidden ? "hidden" : held ? null : "down", hintAt: undefined });
      }
    }
    if (!sim.redisUp) return;
    for (const n of sim.nodes) clock.task(n.redisMs, null, () => n.receive(topic, v));
  }

  for (const { slot, spans } of tabs) for (const life of spans) clock.task(life.open, null, () => openTab(slot, life));
  for (const b of bumps) clock.task(b.at, null, () => bump(b.topic, b.measured));
  const span = P.eventMs > 0 ? EVENTS[eventName].schedule(sim, P.eventAtMs, P.eventMs) : null;
  await clock.run(P.durationMs);
  for (const pages of byTopic.values()) for (const p of pages) if (p.alive) closeTab(p);
  const sum = (k) => sim.nodes.reduce((x, n) => x + n[k], 0);

  return {
    bins,
    settled,
    span,
    staleness: Object.fromEntries(classes.map((c) => [c, stale[c].summary()])),
    worst_tab_per_60s: per60,
    worst_tab_per_1s: per1,
    polls_by_reason: reasons,
    fan_outs: sum("fanOuts"),
    hints: sum("hints"),
    hints_lost: sum("lost"),
    hints_lost_half_open: sum("lostHalfOpen"),
    errors,
    events: clock.events,
  };
}

// scaled multiplies counts by the sampling factor.
function scaled(r) {
  const k = P.scale;
  return { mean: +(r.mean * k).toFixed(2), p99: Math.round(r.p99 * k), peak: Math.round(r.peak * k), peak_aligned: Math.round(r.peak_aligned * k) };
}

// during is the mean polls/s inside span and outside it.
function during(bins, span) {
  if (!span) return {};
  const [from, to] = [span[0], Math.min(span[1], P.durationMs)];
  let inside = 0;
  let all = 0;
  bins.n.forEach((x, i) => {
    all += x;
    if (i * STEP >= from && i * STEP < to) inside += x;
  });
  const k = P.scale * 1000;
  return {
    mean_event: +((inside * k) / (to - from)).toFixed(2),
    mean_outside: +(((all - inside) * k) / (P.durationMs - (to - from))).toFixed(2),
  };
}

function side(r, span) {
  const { bins, settled, ...rest } = r;
  return { ...scaled(rates(bins, P.durationMs)), ...during(bins, span), ...rest };
}

function overScaled(pushBins, baseBins) {
  const o = over(pushBins, baseBins);
  return { ...o, excess: Math.round(o.excess * P.scale), worst: Math.round(o.worst * P.scale) };
}

function series(path, timeout, interval, pushed) {
  const per = WINDOW / STEP;
  const cols = [timeout, interval, pushed].map((b) => ({ al: aligned(b), sl: sliding(b) }));
  let out = "# t_s, then app polls in that second for timeout interval push, then the largest sliding 1 s window starting in it for each\n";
  for (let s = 0; s < secs; s++) {
    const row = [s];
    for (const c of cols) row.push(Math.round(c.al[s] * P.scale));
    for (const c of cols) {
      let m = 0;
      for (let i = s * per; i < Math.min((s + 1) * per, c.sl.length); i++) m = Math.max(m, c.sl[i]);
      row.push(Math.round(m * P.scale));
    }
    out += row.join(" ") + "\n";
  }
  writeFileSync(path, out);
}

const names = a.workload.split(",").map((s) => s.trim());
for (const name of names) {
  const W = WORKLOADS[name];
  if (!W) throw new Error(`unknown workload ${name}; one of ${Object.keys(WORKLOADS).join(", ")}`);
  const eventName = a.event || W.event || "none";
  if (!EVENTS[eventName]) throw new Error(`unknown event ${eventName}; one of ${Object.keys(EVENTS).join(", ")}`);
  const world = rng(P.seed);
  const tabs = lives(W, world);
  const bumps = bumpList(W, world);
  const began = performance.now();
  const timeout = baseline(W, tabs, bumps, "timeout", rng(P.seed * 31 + 7));
  const interval = baseline(W, tabs, bumps, "interval", rng(P.seed * 31 + 8));
  const pp = await push(W, tabs, bumps, eventName);
  const line = {
    type: "efficacy",
    workload: name,
    label: a.label,
    about: W.about,
    event: eventName,
    event_about: EVENTS[eventName].about,
    tabs: W.tabs,
    tabs_simulated: tabs.length,
    browsers: P.tabsPerBrowser > 1 ? Math.ceil(W.tabs / P.tabsPerBrowser) : W.tabs,
    nodes: +a.nodes || W.nodes || 1,
    bumps: bumps.length,
    bumps_measured: bumps.filter((b) => b.measured).length,
    ...P,
    shim: relative(join(here, "../../.."), shimPath),
    shim_options: shimOptions,
    fanout_p99_ms: Math.round(fanoutLast(Math.min(1000, W.tabs))),
    plain: { timeout: side(timeout, pp.span), interval: side(interval, pp.span) },
    push: {
      ...side(pp, pp.span),
      over: { timeout: overScaled(pp.bins, timeout.bins), interval: overScaled(pp.bins, interval.bins) },
      // The same without each page's first fast (its opening: plain polling has not
      // polled yet, the shim's budget allows a hinted poll), on both sides.
      over_settled: { timeout: overScaled(pp.settled, timeout.settled), interval: overScaled(pp.settled, interval.settled) },
    },
    wall_s: +((performance.now() - began) / 1000).toFixed(1),
  };
  line.reduction = +(line.plain.timeout.mean / Math.max(1e-9, line.push.mean)).toFixed(1);
  line.reduction_interval = +(line.plain.interval.mean / Math.max(1e-9, line.push.mean)).toFixed(1);
  console.log(JSON.stringify(line));
  if (a["series-dir"]) {
    mkdirSync(a["series-dir"], { recursive: true });
    series(join(a["series-dir"], `efficacy-${name}${a.label ? "-" + a.label : ""}.series`), timeout.bins, interval.bins, pp.bins);
  }
}
process.exit(0);
