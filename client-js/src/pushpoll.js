/**
 * pushpoll browser shim.
 *
 * The page keeps its own poll; this module only decides when to call it. While the
 * notifier is connected and says "push", polls happen every `slow` ms as a safety net and
 * soon after a `stale` hint; in every other state polls happen every `fast` ms, exactly
 * as the page did before pushpoll. The rule it keeps: in any window, a page never polls
 * more often than plain polling at its own `fast` would, and a failing push path can only
 * make it as fresh as it used to be, never staler. Push only removes polls or moves them
 * earlier.
 *
 * The per-page rule (src/budget.js): at most one poll in any 1 s, and at most 60 s / `fast`
 * polls in any rolling 60 s, hinted and timer polls together, as plain polling at `fast`
 * makes; never two of the app's polls in flight, even past pollTimeout. Hinted polls draw
 * on a token bucket: 2 tokens, one more per `fast` (or `throttle`); a timer poll takes a
 * token when there is one but never leaves the bucket in debt. A hidden page polls no more
 * often than the app's own setInterval would there (once a minute after 5 minutes hidden,
 * as Chrome throttles it).
 *
 *   const pp = start(options);   // also PushPoll.start(options) from the IIFE build
 *   pp.mode;                     // "push" | "poll" | "shadow" | "off"
 *   pp.setVersion(topic, v);     // the page learned a version some other way (only raises)
 *   pp.shared;                   // "holder" | "follower" | "alone" (see `share`)
 *   pp.stop();                   // no timer, listener or socket is left behind
 *
 * Options (default). Every interval is in ms and bounded: a value outside its bounds is
 * clamped to the nearest one and reported to onError, never handed to setTimeout as is.
 *   url           (required unless enabled:false) notifier origin, e.g. "https://push.example.com"
 *   token         (none) string, or (async) function returning one. A function is called on
 *                 every (re)connect and on `expired`, so it should fetch a fresh token. A
 *                 fetch that fails or takes over 10 s is retried with a growing, jittered
 *                 delay (1 s doubling to 5 min), reported once per streak of failures.
 *   topics        ({}) topic -> version the page holds now (0 = unknown). Only these topics
 *                 are tracked; setVersion and poll results for other topics are ignored.
 *   poll          (required) async (versions) => ({topic: version}); the app's own poll. It
 *                 receives a copy of the versions held and resolves to the versions now held.
 *                 The shim never starts a second poll while one is in flight.
 *   fast          (5000, 1000..1 day) ms between polls whenever push is not trusted. The
 *                 server's `mode` event may shorten it down to fastMin, never lengthen it.
 *   fastMin       (the page's fast, 1000..fast) the shortest fast a server may ask for. By
 *                 default no server value makes the page poll more often than it would
 *                 without pushpoll; a page that trusts its notifier may lower this.
 *   slow          (60000, fast..slowMax) ms between safety-net polls in push mode; each one
 *                 waits a random delay in [slow/2, slow] so that pages do not poll in step.
 *                 The server's `mode` event may set it anywhere from the page's fast to slowMax.
 *   slowMax       (max(slow, 600000)) the longest safety-net interval the server (or the
 *                 adaptive safety net) may ask for.
 *   jitter        (1000) a hinted poll waits a random 0..max(jitter, spread) ms, never more
 *                 than `fast`, so one publish does not make every page poll in the same
 *                 millisecond; `spread` is the node's window for a widely held topic.
 *   throttle      (the current fast) ms per token of the budget: hinted polls beyond the
 *                 burst of 2 come one per throttle, and hints meanwhile collapse into the
 *                 next one, which fetches the newest version. A topic bumped many times a
 *                 second thus costs a page at most one poll per `fast`.
 *   pollTimeout   (30000) a poll that has not settled by then counts as failed: it is
 *                 reported, and the next one is due after `fast`; it starts only once the
 *                 app's request has ended, though. A late answer is ignored.
 *   adaptive      (false) true: while safety-net polls keep finding nothing, each safety-net
 *                 interval doubles, up to slowMax; the first change that no hint announced
 *                 (a missed hint) snaps it back to `slow`. Hinted polls change nothing.
 *   enabled       (true) false: never connect, poll every `fast`; mode "off".
 *   onMode        (none) (mode) => {}, called on every change after start; pp.mode holds
 *                 the initial one.
 *   transports    (websocket first) socket.io transports. By default the shim connects over
 *                 websocket, the one transport that needs no session affinity behind a load
 *                 balancer, and only after 3 failed attempts in a row tries long-polling
 *                 (without upgrades); when that works, it remembers it for this notifier for
 *                 an hour (localStorage, where available). Setting transports turns this off.
 *   socketOptions ({}) extra socket.io-client options (path, query...), applied last.
 *   share         (true) tabs of this browser that start the shim with the same url,
 *                 transports and socketOptions share one socket (src/tabs.js): one tab holds
 *                 it, the others talk to it over a BroadcastChannel; each keeps its own
 *                 topics, token, poll and timers, and gets only its own topics' hints. When
 *                 the holder goes away another tab takes over within about a second, without
 *                 leaving push. false, or a browser without Web Locks or BroadcastChannel: a
 *                 socket per tab.
 *   heartbeatTimeout (auto) ms of silence from the server (no pong, no event) after which
 *                 push is treated as unhealthy and the page polls at `fast` until the server
 *                 is heard again. Auto = the server's ping interval + 10000 (30000 before the
 *                 handshake is known); 0 turns the watchdog off and leaves detection to
 *                 socket.io's own ping timeout, which closes the connection.
 *   hiddenFactor  (4, 1..100) while document.hidden, intervals are this many times longer
 *                 (and at least a minute after 5 minutes hidden) and hints are remembered
 *                 instead of polled; on return a remembered hint polls (after jitter, within
 *                 the budget).
 *   onHint        (none) (topic, version) => {} for every hint received, useful or not.
 *   onPoll        (none) ({reason: "timer"|"hint", ok, versions, missed}) => {} after each
 *                 poll settles or times out; missed lists the topics whose change that poll
 *                 found without a hint announcing it (only while connected).
 *   onError       (console.warn) (error) => {} for failed or timed-out polls, token fetches,
 *                 denied topics, the first connect error of an outage, refused intervals,
 *                 the fallback to long-polling, and errors thrown by callbacks.
 *   Any other key is reported to onError and ignored.
 *   io, tabs, random, now, document  injection points for tests: the socket.io-client
 *                 factory io(url, opts), the sharing scope (createTabs(env) in tabs.js),
 *                 Math.random, the monotonic clock (performance.now, or Date.now where
 *                 there is none) and the Document to watch.
 *
 * Decisions a user may ask about:
 *   - No poll at start: the page already has data when it calls start(). The first poll
 *     comes one interval later (fast while connecting; within slow once push is established).
 *   - Every poll restarts the periodic timer, so a hinted poll also pushes back the next
 *     safety-net poll.
 *   - A change that reaches every page at once (server mode change, node death, the end of
 *     an outage) would make them poll in step for ever, so every mode change spreads the
 *     next poll over the whole new interval, and every safety-net delay is drawn at random.
 *     No timer poll starts sooner than `fast` after the previous poll; hinted polls keep to
 *     the budget.
 *   - A poll that rejects (or throws, or times out) is reported to onError and retried
 *     after `fast`.
 *   - If the server denies any topic (or never confirms it), push cannot be trusted for
 *     that topic, and since the app polls all topics together the shim stays in "poll" mode
 *     (fast) and tells onError which topics and why.
 *   - A server that accepts the connection and then closes it is reconnected to after a
 *     growing, jittered delay (1 s doubling to 5 min, plus a random 0..10 s so that a
 *     node's pages do not all return in the same second), reported once per streak; the
 *     streak ends when a connection stays up for a minute.
 *   - While the tab is hidden, a silent server is not held against it: browsers throttle the
 *     timers that send pings there. Back in view, silence is measured from when the server
 *     was last heard: a link already silent too long is distrusted at once, and the page
 *     polls within jitter.
 *
 * Events with the notifier (socket.io 2, default namespace):
 *   emit `subscribe` {token, topics: {topic: version}} with ack {granted: [...], denied: {topic: reason}}
 *   on   `stale`   {topic: version} [, {spread: ms}]: poll if newer than held; 0 = poll to be
 *                  sure; spread: draw the poll over max(jitter, spread), never beyond fast
 *   emit `tabs`    {tabs: 1, visible: 0|1} when the page hides or shows (the node spreads
 *                  hints over its visible pages; a shared socket reports its tabs' sum)
 *   on   `mode`    {mode: "push"|"poll"|"shadow", fast, slow}
 *   on   `drain`   {within}: disconnect, reconnect after a random 0..within ms, poll meanwhile
 *   on   `expired` {topics: [...]}: fetch a fresh token and subscribe to those topics again
 *   emit `report`  (shadow mode, after the poll that follows a hint)
 *                  {topic, hintV, leadMs, found}: found = the poll saw a version above the
 *                  one held when the hint came; leadMs = hint arrival to the poll's answer.
 *                  {topic, missed: true}: a poll found a change that no hint announced.
 *                  At most 10 per poll, so reports stay below one per second at `fast`.
 */
import io from "socket.io-client";
import { createTabs } from "./tabs.js";
import { Budget } from "./budget.js";

const DEFAULTS = {
  url: "",
  token: undefined,
  topics: {},
  poll: undefined,
  fast: 5000,
  slow: 60000,
  fastMin: undefined,
  slowMax: undefined,
  jitter: 1000,
  throttle: undefined,
  pollTimeout: 30000,
  adaptive: false,
  enabled: true,
  onMode: undefined,
  transports: undefined,
  socketOptions: undefined,
  share: true,
  heartbeatTimeout: undefined,
  hiddenFactor: 4,
  onHint: undefined,
  onPoll: undefined,
  onError: undefined,
  io: undefined,
  tabs: undefined,
  random: undefined,
  now: undefined,
  document: undefined,
};

// setTimeout keeps delays in a signed 32-bit integer: anything longer fires at once.
const MAX_DELAY = 2147483647;
// No poll interval below a second: a server (or a typo) asking for less would make every
// page hammer the app. No interval above a day, well inside MAX_DELAY.
const MIN_INTERVAL = 1000;
const MAX_INTERVAL = 24 * 3600 * 1000;
// The default ceiling for slow: a safety net looser than 10 minutes is the page's call.
const SLOW_MAX_DEFAULT = 600000;
const MAX_HIDDEN_FACTOR = 100;
// Shadow reports per poll; at the fast rate this keeps a page under one report a second.
const MAX_REPORTS = 10;
// Margin over the server's ping interval before silence counts: a pong normally follows
// the ping within milliseconds, so 10 s absorbs a slow network without masking a dead link.
const HEARTBEAT_MARGIN = 10000;
// Used until the handshake tells the real ping interval (go-socket.io's default is 20 s).
const HEARTBEAT_FALLBACK = 30000;
// socket.io's reconnect: a 30 s ceiling and ±50 % randomization, instead of the 5 s
// default, so a node's death does not bring its sockets back in synchronized waves.
const RECONNECT = { reconnectionDelay: 1000, reconnectionDelayMax: 30000, randomizationFactor: 0.5 };
// Token fetches that fail and servers that kick us: 1 s doubling to 5 min, drawn in
// [½, 1] of that, so a broken endpoint costs a tab about 20 requests an hour, not 720.
const BACKOFF_BASE = 1000;
const BACKOFF_MAX = 300000;
// A kicked connection that had stayed up this long ends the kick streak.
const KICK_STABLE = 60000;
// A server-side close reaches every socket of a node at once: each reconnect is drawn over
// this much more than the backoff, as a drain's is, so the pages do not come back in the
// same second.
const KICK_SPREAD = 10000;
// Chrome's intensive throttling: after 5 minutes hidden, an app's own setInterval runs at
// most once a minute. A hidden page never polls more often than that app would.
const LONG_HIDDEN = 300000;
const LONG_HIDDEN_INTERVAL = 60000;
// A token function that has not answered by then is treated as failed.
const TOKEN_TIMEOUT = 10000;
// `drain` without a usable `within`: the value the design uses. A longer one than
// DRAIN_MAX would only keep the page off push (polling at fast) for no reason.
const DRAIN_DEFAULT = 10000;
const DRAIN_MAX = 300000;
// Websocket attempts that must fail in a row before long-polling is tried, and how long a
// notifier that could only be reached by long-polling is remembered.
const WS_TRIES = 3;
const REMEMBER_POLLING = 3600000;
const STORE_PREFIX = "pushpoll:polling-only:";

// This document's sharing scope, made on first use so that importing touches nothing.
// Only pages share: elsewhere (a worker, Node) there are no tabs, and code that runs many
// shims in one process, such as a simulator, must not have them share a socket by accident.
let documentTabs = null;
function tabsOfDocument() {
  if (typeof document === "undefined") return null;
  if (documentTabs === null) documentTabs = createTabs();
  return documentTabs;
}

function toVersion(v) {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  return typeof n === "number" && isFinite(n) && n >= 0 ? Math.floor(n) : null;
}

function positive(v, name) {
  if (typeof v !== "number" || !(v > 0) || !isFinite(v)) {
    throw new TypeError("pushpoll: " + name + " must be a positive number of ms");
  }
  return v;
}

// The wait until the next safety-net poll, seen at a random moment by a page whose polls
// come every U[iv/2, iv]: uniform over [0, iv/2] with probability 2/3, then falling to 0 at
// iv (inverse of that distribution at u). Pages that enter push together and draw from it
// poll at the same mean rate from the first interval on, with no bunch where their first
// and second polls overlap, as a plain U[0, iv] draw would make.
function settledDelay(iv, u) {
  return u <= 2 / 3 ? u * 0.75 * iv : iv - (iv / 2) * Math.sqrt(3 * (1 - u));
}

// [½, 1] of min(max, base·2^n): exponential, capped, and never in step with another tab.
function backoff(n, random) {
  return Math.min(BACKOFF_MAX, BACKOFF_BASE * Math.pow(2, Math.min(n, 30))) * (0.5 + random() / 2);
}

function monotonic() {
  if (typeof performance !== "undefined" && performance && typeof performance.now === "function") {
    return () => performance.now();
  }
  return () => Date.now();
}

/**
 * The injection points of tests and simulators: not part of the public options.
 * @typedef {object} Seams
 * @property {(url: string, opts: object) => any} [io] socket.io-client's io(url, opts)
 * @property {any} [tabs] the sharing scope, createTabs(env) from tabs.js
 * @property {() => number} [random] Math.random
 * @property {() => number} [now] the monotonic clock, in ms
 * @property {{hidden?: boolean, addEventListener?: Function, removeEventListener?: Function} | null} [document]
 */

/**
 * @param {import("../pushpoll.js").Options & Seams} options
 * @returns {import("../pushpoll.js").PushPoll}
 */
export function start(options) {
  const o = Object.assign({}, DEFAULTS);
  const unknown = [];
  for (const k of Object.keys(options || {})) {
    if (!Object.prototype.hasOwnProperty.call(DEFAULTS, k)) unknown.push(k);
    else if (options[k] !== undefined) o[k] = options[k];
  }
  if (typeof o.poll !== "function") throw new TypeError("pushpoll: poll must be a function");
  if (o.enabled && !o.url && !o.io) throw new TypeError("pushpoll: url is required unless enabled is false");
  const now = o.now || monotonic();
  const random = o.random || Math.random;
  const doc = o.document !== undefined ? o.document : typeof document !== "undefined" ? document : null;

  // A value outside lo..hi is refused: reported, and the nearest bound used instead.
  function bounded(v, name, lo, hi, from = "option") {
    const n = Math.min(hi, Math.max(lo, v));
    if (n !== v) warn(new RangeError("pushpoll: " + from + " " + name + " " + v + " is outside " + lo + ".." + hi + "; using " + n));
    return n;
  }
  // The page's own bounds, which no server value may cross.
  const pageFast = bounded(positive(o.fast, "fast"), "fast", MIN_INTERVAL, MAX_INTERVAL);
  const pageSlow = bounded(positive(o.slow, "slow"), "slow", pageFast, MAX_INTERVAL);
  const fastMin = o.fastMin === undefined ? pageFast : bounded(positive(o.fastMin, "fastMin"), "fastMin", MIN_INTERVAL, pageFast);
  const slowMax =
    o.slowMax === undefined ? Math.max(pageSlow, SLOW_MAX_DEFAULT) : bounded(positive(o.slowMax, "slowMax"), "slowMax", pageSlow, MAX_INTERVAL);
  // A typo (slowmax) would otherwise do nothing, silently.
  if (unknown.length > 0) warn(new TypeError("pushpoll: unknown option " + unknown.join(", ") + "; ignored"));
  const throttle = o.throttle === undefined ? null : bounded(positive(o.throttle, "throttle"), "throttle", MIN_INTERVAL, MAX_INTERVAL);
  const pollTimeout = bounded(positive(o.pollTimeout, "pollTimeout"), "pollTimeout", MIN_INTERVAL, MAX_INTERVAL);
  const jitter = bounded(Math.max(0, Number(o.jitter) || 0), "jitter", 0, MAX_INTERVAL);
  const hiddenFactor = bounded(Math.max(1, Number(o.hiddenFactor) || 1), "hiddenFactor", 1, MAX_HIDDEN_FACTOR);
  const heartbeatTimeout = o.heartbeatTimeout == null ? null : bounded(Math.max(0, Number(o.heartbeatTimeout) || 0), "heartbeatTimeout", 0, MAX_INTERVAL);
  let fast = pageFast;
  let slow = pageSlow;
  let safetyNet = slow; // the adaptive safety net grows this between slow and slowMax

  const held = Object.create(null);
  for (const t of Object.keys(o.topics || {})) held[t] = toVersion(o.topics[t]) || 0;
  const topicList = Object.keys(held);

  let stopped = false;
  /** @type {import("../pushpoll.js").Mode} */
  let mode = o.enabled ? "poll" : "off";

  // Connection state. `gen` counts connections so that a token or ack that arrives after
  // the connection it belonged to is dropped instead of acting on the new one.
  let socket = null;
  let unwire = null;
  let connected = false;
  let connectedAt = 0;
  let serverMode = null;
  let draining = false;
  let silent = false;
  let gen = 0;
  let kicks = 0;
  let tokenFailures = 0;
  let outageReported = false;
  let uncovered = new Set(topicList); // topics push does not cover right now

  // Poll state: one timer for the next poll, whatever its reason, so two can never race.
  let pollTimer = null;
  let pollAt = 0;
  let pollKind = null; // "timer" | "hint"
  let inFlight = false;
  // The app's poll is still running, even past pollTimeout: no second one starts meanwhile.
  let appBusy = false;
  let owed = null; // the kind of poll that came due while appBusy, run when it settles
  let failed = false;
  let lastPollAt = now(); // when the last poll settled; the page's data is as fresh as a poll at start
  const budget = new Budget(lastPollAt);
  // Hints not yet covered by a poll that started after them: topic -> {v, zero, at, before, act}.
  // act = false for hints received in shadow mode, which are watched but never polled for.
  let pending = new Map();

  let lastHeard = now(); // the server's last sign of life on this connection
  let hiddenSince = doc && doc.hidden ? now() : null;
  let reportedHidden = false; // what the node was last told of this page's visibility
  let hbTimer = null;
  let subTimer = null;
  let reconnectTimer = null;
  // Deadlines of poll and token promises, cleared by stop().
  const deadlines = new Set();

  function warn(err) {
    try {
      if (o.onError) o.onError(err);
      else if (typeof console !== "undefined") console.warn("pushpoll:", err);
    } catch (_) {
      // An onError that throws has nowhere left to report to.
    }
  }

  function call(fn, ...args) {
    if (typeof fn !== "function") return;
    try {
      fn(...args);
    } catch (err) {
      warn(err);
    }
  }

  // Settles like p, or rejects with `message` after ms; a late settle of p is ignored.
  function deadline(p, ms, message) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        deadlines.delete(timer);
        reject(new Error(message));
      }, ms);
      deadlines.add(timer);
      const done = (fn) => (v) => {
        clearTimeout(timer);
        deadlines.delete(timer);
        fn(v);
      };
      Promise.resolve(p).then(done(resolve), done(reject));
    });
  }

  function hidden() {
    return !!(doc && doc.hidden);
  }

  function trusted() {
    return mode === "push" && !failed;
  }

  function interval() {
    const base = trusted() ? safetyNet : fast;
    if (!hidden()) return base;
    const long = hiddenSince !== null && now() - hiddenSince >= LONG_HIDDEN;
    return long ? Math.max(base * hiddenFactor, LONG_HIDDEN_INTERVAL) : base * hiddenFactor;
  }

  // ms per token of the budget: the page's throttle, or else the current fast.
  function period() {
    return throttle === null ? fast : throttle;
  }

  // One safety-net delay: random in [½, 1] of the interval, so pages that polled together
  // once drift apart instead of polling in step for ever.
  function nextDelay() {
    const iv = interval();
    return trusted() ? iv * (0.5 + random() / 2) : iv;
  }

  function computeMode() {
    if (!o.enabled) return "off";
    if (!connected || draining || silent || uncovered.size > 0) return "poll";
    if (serverMode === "push" || serverMode === "shadow") return serverMode;
    return "poll";
  }

  function updateMode() {
    if (stopped) return;
    const m = computeMode();
    if (m === mode) return;
    mode = m;
    if (m !== "push") safetyNet = slow;
    call(o.onMode, m);
    spread();
  }

  // ---- poll scheduling ----

  function clearPollTimer() {
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = null;
    pollKind = null;
  }

  // The earliest a poll of this kind may start, wanted at `at`: a periodic poll never
  // sooner than `fast` after the previous one, and every poll within the budget.
  function allowed(at, kind) {
    if (kind !== "hint") at = Math.max(at, budget.lastStart + fast);
    return budget.earliest(now(), at, period(), kind === "hint");
  }

  // Every poll goes through here, and no delay reaches setTimeout unbounded.
  function arm(at, kind) {
    clearPollTimer();
    at = allowed(at, kind);
    pollAt = at;
    pollKind = kind;
    pollTimer = setTimeout(firePoll, Math.min(MAX_DELAY, Math.max(0, at - now())));
  }

  function firePoll() {
    const kind = pollKind;
    pollTimer = null;
    pollKind = null;
    runPoll(kind === "hint" ? "hint" : "timer");
  }

  // Puts the periodic poll one interval after the last poll. When that is already past,
  // the poll is spread over `over` ms instead of happening at once.
  function rearm(over) {
    if (stopped || inFlight) return;
    if (pollKind === "hint" && !hidden()) return;
    let at = lastPollAt + interval();
    const t = now();
    if (at <= t) at = t + random() * over;
    arm(at, "timer");
  }

  // After a mode or interval change, which reaches many pages at once: in push mode the
  // next poll is drawn over the whole new interval (but not sooner than `fast` after the
  // last one, as plain polling would); polling at fast keeps its phase unless overdue, and
  // then spreads over one interval.
  function spread() {
    if (stopped || inFlight) return;
    if (pollKind === "hint" && !hidden()) return;
    if (trusted()) arm(Math.max(now() + settledDelay(interval(), random()), lastPollAt + fast), "timer");
    else rearm(interval());
  }

  function hasActionable() {
    for (const e of pending.values()) if (e.act) return true;
    return false;
  }

  // A hint polls at a random moment within max(jitter, the node's spread), never beyond
  // `fast`, and within the budget; one poll then takes every hint that came meanwhile.
  function scheduleHint() {
    if (stopped || inFlight || hidden()) return;
    // A hinted poll already waiting takes this hint too; drawing a new delay per hint
    // would pull bursts towards 0 and defeat the jitter.
    if (pollKind === "hint") return;
    let over = jitter;
    for (const e of pending.values()) if (e.act) over = Math.max(over, e.spread);
    const at = allowed(now() + random() * Math.min(over, fast), "hint");
    if (pollTimer !== null && pollAt <= at) return;
    arm(at, "hint");
  }

  function satisfied(t, e) {
    return !e.zero && e.v > 0 && e.v <= held[t];
  }

  function merge(into, from) {
    for (const [t, e] of from) {
      const cur = into.get(t);
      if (!cur) into.set(t, e);
      else
        into.set(t, {
          v: Math.max(cur.v, e.v),
          zero: cur.zero || e.zero,
          at: Math.min(cur.at, e.at),
          before: Math.min(cur.before, e.before),
          act: cur.act || e.act,
          spread: Math.max(cur.spread, e.spread),
        });
    }
  }

  function raise(t, v) {
    const n = toVersion(v);
    if (n !== null && t in held && n > held[t]) held[t] = n;
  }

  function runPoll(reason) {
    if (stopped || inFlight) return;
    clearPollTimer();
    if (appBusy) {
      // The last poll timed out but the app's request still runs: this one starts when
      // that one ends, so the app never has two in flight.
      owed = owed === "hint" ? owed : reason;
      return;
    }
    inFlight = true;
    appBusy = true;
    budget.take(now(), period());
    const served = pending;
    pending = new Map();
    const before = Object.assign({}, held);
    const app = Promise.resolve().then(() => o.poll(Object.assign({}, held)));
    app.then(appDone, appDone);
    deadline(
      app,
      pollTimeout,
      "pushpoll: poll did not settle within " + pollTimeout + " ms; counted as failed",
    ).then(
      (result) => finish(reason, served, before, true, result),
      (err) => {
        warn(err);
        finish(reason, served, before, false, null);
      },
    );
  }

  function appDone() {
    appBusy = false;
    if (stopped || owed === null) return;
    const kind = owed;
    owed = null;
    if (kind === "hint" && !hasActionable()) return rearm(interval());
    arm(now(), kind);
  }

  function finish(reason, served, before, ok, result) {
    inFlight = false;
    if (stopped) return;
    lastPollAt = now();
    failed = !ok;
    let missed = [];
    if (ok) {
      if (result && typeof result === "object") {
        for (const t of Object.keys(result)) raise(t, result[t]);
      }
      missed = misses(served, before);
      shadowReports(served, before, missed);
      adapt(reason, missed, topicList.some((t) => held[t] > before[t]));
      for (const [t, e] of pending) if (e.act && satisfied(t, e)) pending.delete(t);
    } else {
      // The failed poll answered none of its hints: the retry must.
      const back = served;
      merge(back, pending);
      pending = back;
    }
    if (ok && hasActionable() && !hidden()) {
      scheduleHint(); // at most one follow-up, for hints that came while in flight
    } else {
      arm(lastPollAt + nextDelay(), "timer");
    }
    call(o.onPoll, { reason, ok, versions: Object.assign({}, held), missed });
  }

  // Topics whose change this poll found although no hint announced it, neither one the
  // poll served nor one that came while it was in flight for a version the poll brought
  // back. Only push and shadow count: in poll mode the server promises nothing.
  function misses(served, before) {
    if (!connected || (mode !== "push" && mode !== "shadow")) return [];
    const announced = (t) => served.has(t) || (pending.has(t) && satisfied(t, pending.get(t)));
    return topicList.filter((t) => held[t] > before[t] && !announced(t));
  }

  // Only a safety-net poll that found nothing is evidence that push misses nothing; a
  // hinted poll says nothing about the safety net.
  function adapt(reason, missed, changed) {
    if (!o.adaptive) return;
    if (missed.length > 0) safetyNet = slow;
    else if (mode === "push" && reason === "timer" && !changed) safetyNet = Math.min(slowMax, safetyNet * 2);
  }

  function shadowReports(served, before, missed) {
    if (mode !== "shadow" || !connected) return;
    const doneAt = now();
    const out = [];
    const add = (t, e) => {
      out.push({ topic: t, hintV: e.v, leadMs: Math.max(0, Math.round(doneAt - e.at)), found: held[t] > e.before });
    };
    for (const [t, e] of served) if (!e.act) add(t, e);
    // A hint that came while this poll was in flight, for a version the poll brought back,
    // was still earlier than the poll's answer.
    for (const [t, e] of pending) {
      if (!e.act && satisfied(t, e)) {
        add(t, e);
        pending.delete(t);
      }
    }
    for (const t of missed) out.push({ topic: t, missed: true });
    for (const r of out.slice(0, MAX_REPORTS)) socket.emit("report", r);
  }

  function hint(t, v, spread) {
    call(o.onHint, t, v);
    const n = toVersion(v);
    if (n === null || !(t in held)) return;
    if (n !== 0 && n <= held[t]) return; // already held: costs nothing
    const act = mode !== "shadow";
    merge(pending, new Map([[t, { v: n, zero: n === 0, at: now(), before: held[t], act, spread }]]));
    if (act) scheduleHint();
  }

  // ---- the connection ----

  function heartbeatMs() {
    if (heartbeatTimeout !== null) return heartbeatTimeout;
    const engine = socket && socket.io && socket.io.engine;
    const ping = engine && Number(engine.pingInterval);
    return ping > 0 && ping < MAX_INTERVAL ? ping + HEARTBEAT_MARGIN : HEARTBEAT_FALLBACK;
  }

  function heard() {
    if (stopped || !connected) return;
    lastHeard = now();
    if (hbTimer !== null) clearTimeout(hbTimer);
    hbTimer = null;
    const ms = heartbeatMs();
    if (ms > 0) hbTimer = setTimeout(onSilence, ms);
    if (silent) {
      silent = false;
      updateMode();
    }
  }

  function onSilence() {
    hbTimer = null;
    if (hidden()) {
      hbTimer = setTimeout(onSilence, heartbeatMs());
      return;
    }
    silent = true;
    updateMode();
  }

  function token() {
    return deadline(
      Promise.resolve().then(() => (typeof o.token === "function" ? o.token() : o.token)),
      TOKEN_TIMEOUT,
      "pushpoll: the token function did not answer within " + TOKEN_TIMEOUT + " ms",
    );
  }

  function subscribe(topics) {
    const g = gen;
    if (subTimer !== null) clearTimeout(subTimer);
    subTimer = null;
    token().then(
      (tok) => {
        tokenFailures = 0;
        if (stopped || g !== gen || !connected) return;
        const req = {};
        for (const t of topics) req[t] = held[t];
        socket.emit("subscribe", { token: tok == null ? "" : String(tok), topics: req }, (ack) => onAck(ack, g));
      },
      (err) => {
        // The page polls at fast meanwhile, so nothing is lost by waiting longer each time.
        if (tokenFailures === 0) warn(err);
        const delay = backoff(tokenFailures++, random);
        if (stopped || g !== gen || !connected) return;
        subTimer = setTimeout(() => {
          subTimer = null;
          subscribe(Array.from(uncovered));
        }, delay);
      },
    );
  }

  function onAck(ack, g) {
    if (stopped || g !== gen) return;
    heard();
    if (!ack || typeof ack !== "object") {
      warn(new Error("pushpoll: unexpected subscribe answer; polling at the fast rate"));
      return;
    }
    if (Array.isArray(ack.granted)) for (const t of ack.granted) uncovered.delete(t);
    const denied = ack.denied && typeof ack.denied === "object" ? Object.keys(ack.denied) : [];
    // A resubscribe after a hand-over starts from covered topics: a denial uncovers them.
    for (const t of denied) if (t in held) uncovered.add(t);
    if (denied.length > 0) {
      const why = denied.map((t) => t + " (" + ack.denied[t] + ")").join(", ");
      warn(new Error("pushpoll: topics denied, polling at the fast rate: " + why));
    }
    updateMode();
  }

  function reconnectAfter(ms) {
    if (reconnectTimer !== null) clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      draining = false;
      if (!stopped && socket && !connected) socket.connect();
      updateMode();
    }, Math.min(MAX_DELAY, ms));
  }

  // A server interval is taken within the page's bounds: fast within fastMin..the page's
  // own, slow never below the page's fast nor above slowMax.
  function serverIntervals(msg) {
    const f = toVersion(msg.fast);
    const s = toVersion(msg.slow);
    const nf = f > 0 ? bounded(f, "fast", fastMin, pageFast, "server") : fast;
    const ns = s > 0 ? bounded(s, "slow", pageFast, slowMax, "server") : slow;
    const changed = nf !== fast || ns !== slow;
    fast = nf;
    if (ns !== slow) slow = safetyNet = ns;
    return changed;
  }

  const handlers = {
    connect() {
      connected = true;
      connectedAt = now();
      draining = false;
      silent = false;
      outageReported = false;
      serverMode = null;
      gen++;
      uncovered = new Set(topicList);
      reportedHidden = false;
      heard();
      subscribe(topicList);
      reportVisibility();
      updateMode();
    },
    disconnect(reason) {
      connected = false;
      serverMode = null;
      silent = false;
      gen++;
      uncovered = new Set(topicList);
      if (hbTimer !== null) clearTimeout(hbTimer);
      if (subTimer !== null) clearTimeout(subTimer);
      hbTimer = subTimer = null;
      if (reason === "io server disconnect" && !draining) {
        // socket.io 2 does not reconnect after a server-side disconnect; we do, backing
        // off across connections that the server accepts and then closes again.
        if (now() - connectedAt >= KICK_STABLE) kicks = 0;
        const delay = Math.min(BACKOFF_MAX, backoff(kicks, random) + random() * KICK_SPREAD);
        if (kicks === 0) warn(new Error("pushpoll: the notifier closed the connection; reconnecting with backoff"));
        kicks++;
        reconnectAfter(delay);
      }
      updateMode();
    },
    // The shared socket moved to another tab (the one holding it went away): the
    // connection never stopped for this page, but the new one must hear its topics.
    resubscribe() {
      gen++;
      reportedHidden = false;
      heard();
      subscribe(topicList);
      reportVisibility();
    },
    connect_error(err) {
      // socket.io retries on its own; one report per outage is enough to explain it.
      if (outageReported) return;
      outageReported = true;
      warn(err);
    },
    pong() {
      heard();
    },
    mode(msg) {
      heard();
      if (!msg || typeof msg !== "object") return;
      const changed = serverIntervals(msg);
      if (msg.mode === "push" || msg.mode === "poll" || msg.mode === "shadow") serverMode = msg.mode;
      const before = mode;
      updateMode();
      if (changed && mode === before) spread();
    },
    // stale {topic: version} [, {spread: ms}]: the node's spread says over how long the
    // holders of a widely held topic should draw their polls (DESIGN §9).
    stale(msg, extra) {
      heard();
      if (!msg || typeof msg !== "object") return;
      const spread = (extra && typeof extra === "object" && toVersion(extra.spread)) || 0;
      for (const t of Object.keys(msg)) hint(t, msg[t], Math.min(spread, MAX_INTERVAL));
    },
    drain(msg) {
      heard();
      const w = msg && toVersion(msg.within);
      draining = true;
      socket.disconnect();
      reconnectAfter(random() * (w === null ? DRAIN_DEFAULT : Math.min(w, DRAIN_MAX)));
      updateMode();
    },
    expired(msg) {
      heard();
      const topics = (msg && Array.isArray(msg.topics) ? msg.topics : []).filter((t) => t in held);
      if (topics.length === 0) return;
      for (const t of topics) uncovered.add(t);
      updateMode();
      subscribe(topics);
    },
  };

  function onVisibility() {
    if (stopped) return;
    hiddenSince = hidden() ? now() : null;
    reportVisibility();
    if (!hidden() && checkSilence()) return;
    if (!hidden() && hasActionable()) scheduleHint();
    else rearm(jitter);
  }

  // Back in view: the watchdog was re-armed while hidden, so the server's silence is
  // measured from when it was last heard. A link silent for too long is distrusted at once
  // and the page polls within jitter, as after a hint. Reports whether it was.
  function checkSilence() {
    const ms = heartbeatMs();
    if (!connected || silent || !(ms > 0)) return false;
    const left = lastHeard + ms - now();
    if (hbTimer !== null) clearTimeout(hbTimer);
    hbTimer = null;
    if (left > 0) {
      hbTimer = setTimeout(onSilence, left);
      return false;
    }
    silent = true;
    updateMode();
    if (!inFlight) arm(Math.min(pollTimer !== null ? pollAt : Infinity, now() + random() * jitter), "timer");
    return true;
  }

  // The node spreads hints over the page's visible peers (DESIGN §9): it is told when
  // this page hides or shows. A bare count (what old shims send) means all visible.
  function reportVisibility() {
    if (!socket || !connected || hidden() === reportedHidden) return;
    reportedHidden = hidden();
    socket.emit("tabs", { tabs: 1, visible: reportedHidden ? 0 : 1 });
  }

  // ---- start ----

  arm(lastPollAt + interval(), "timer");
  if (doc && typeof doc.addEventListener === "function") doc.addEventListener("visibilitychange", onVisibility);
  if (o.enabled) {
    const opened = openSocket(o, warn);
    socket = opened.socket;
    const unwireHandlers = wire(socket, handlers, () => stopped);
    unwire = () => {
      unwireHandlers();
      opened.release();
    };
  }

  return {
    get mode() {
      return mode;
    },
    // "holder": this tab holds the socket other tabs share; "follower": another tab does;
    // "alone": a socket of its own (sharing off, or not supported), or none.
    get shared() {
      return (socket && socket.shared) || "alone";
    },
    setVersion(topic, v) {
      if (stopped) return;
      raise(topic, v);
      for (const [t, e] of pending) if (e.act && satisfied(t, e)) pending.delete(t);
      // The page already has what the hint announced: the hinted poll is no longer needed.
      if (pollKind === "hint" && !hasActionable()) {
        clearPollTimer();
        rearm(interval());
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearPollTimer();
      owed = null;
      for (const t of [hbTimer, subTimer, reconnectTimer, ...deadlines]) if (t !== null) clearTimeout(t);
      hbTimer = subTimer = reconnectTimer = null;
      deadlines.clear();
      if (doc && typeof doc.removeEventListener === "function") doc.removeEventListener("visibilitychange", onVisibility);
      if (socket) {
        unwire();
        socket.close();
        socket = null;
      }
      connected = false;
      mode = "off";
    },
  };
}

// ---- the socket ----
// The only code that creates a socket or listens to one. The rest of the shim needs a
// socket-like object (on, off, emit, connect, disconnect, close) that fires the events of
// `handlers`, so another source of those events can take the socket's place here: with
// `share`, a TabSocket (tabs.js). The transport policy rides on `open`: whichever tab
// creates the real socket.io socket with it applies the policy.

function openSocket(o, warn) {
  const chosen = o.transports || (o.socketOptions && o.socketOptions.transports);
  const store = chosen ? null : storage();
  const key = STORE_PREFIX + origin(o.url);
  const open = () => {
    const opts = Object.assign({ forceNew: true }, RECONNECT);
    if (chosen) {
      opts.transports = chosen;
    } else {
      opts.transports = [rememberedPolling(store, key) ? "polling" : "websocket"];
      opts.upgrade = false;
    }
    Object.assign(opts, o.socketOptions);
    const socket = (o.io || io)(o.url, opts);
    return { socket, release: chosen ? () => {} : websocketFirst(socket, store, key, warn) };
  };
  // The tab that comes to hold a shared socket opens it, and closes it when it steps down.
  const scope = o.share && (o.tabs || tabsOfDocument());
  const shared = scope && scope.socket(o.url + " " + JSON.stringify([chosen, o.socketOptions]), () => open().socket);
  return shared ? { socket: shared, release() {} } : open();
}

// Calls handlers[ev] for every event the socket fires until the returned function is
// called, and never after `stopped()` says so.
function wire(socket, handlers, stopped) {
  const listeners = [];
  for (const ev of Object.keys(handlers)) {
    const fn = (...args) => {
      if (!stopped()) handlers[ev](...args);
    };
    listeners.push([ev, fn]);
    socket.on(ev, fn);
  }
  return () => {
    for (const [ev, fn] of listeners) socket.off(ev, fn);
  };
}

// Websocket first, because long-polling needs session affinity behind most balancers and
// websocket does not. Only after WS_TRIES failed attempts in a row (a proxy that refuses
// the upgrade, or blocks websockets) does the manager's next attempt use long-polling, and
// when that connects, the notifier is remembered as polling-only. A notifier that is just
// down fails both ways, so the transports alternate and nothing is remembered; once a
// websocket has worked, failures are outages, and the transport stays.
function websocketFirst(socket, store, key, warn) {
  const manager = socket.io;
  if (!manager || !manager.opts) return () => {}; // not a socket.io-client 2 socket: nothing to steer
  let failures = 0;
  let fellBack = false;
  let websocketWorked = false;
  const onError = () => {
    if (websocketWorked || ++failures < WS_TRIES) return;
    failures = 0;
    const next = manager.opts.transports[0] === "websocket" ? "polling" : "websocket";
    manager.opts.transports = [next];
    fellBack = next === "polling";
  };
  const onConnect = () => {
    failures = 0;
    if (manager.opts.transports[0] === "websocket") websocketWorked = true;
    if (!fellBack) return;
    fellBack = false;
    warn(new Error("pushpoll: websocket could not be opened; using long-polling for this notifier"));
    try {
      if (store) store.setItem(key, String(Date.now() + REMEMBER_POLLING));
    } catch (_) {
      // A full or refused storage only means the next page load tries websocket again.
    }
  };
  return wire(socket, { connect_error: onError, connect: onConnect }, () => false);
}

// localStorage where the page may use it; reading it throws in some sandboxed frames.
function storage() {
  try {
    return typeof localStorage !== "undefined" ? localStorage : null;
  } catch (_) {
    return null;
  }
}

function rememberedPolling(store, key) {
  try {
    const until = store ? store.getItem(key) : null;
    if (until === null) return false;
    if (Number(until) > Date.now()) return true;
    store.removeItem(key); // expired, or not ours to make sense of
  } catch (_) {
    // As if nothing were stored.
  }
  return false;
}

function origin(url) {
  try {
    return new URL(url).origin;
  } catch (_) {
    return String(url);
  }
}

export default { start };
