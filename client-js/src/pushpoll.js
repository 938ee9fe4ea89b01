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
 * token when there is one but never leaves the bucket in debt. The page's load counts as a
 * whole period of polling: the bucket starts empty, so a hint in the page's first period
 * polls at its end, when plain polling's first poll would. A hidden page polls no more
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
 *   heartbeatTimeout (auto) ms of silence from the server (no ping, no event) after which
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
 *     comes one interval later (fast while connecting; within slow once push is established),
 *     and a hinted one not before one period of the budget (`fast`, or `throttle`): pages
 *     that load together poll no sooner than plain polling's first poll would.
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
 * Layout: this file holds the Shim class (the poll scheduler and the link to the notifier,
 * its state in named fields, its timers in one Timers); options.js reads and bounds the
 * options, budget.js is the per-page budget, timers.js the named timers, transport.js
 * opens the socket (websocket first), tabs.js shares it between tabs.
 *
 * Events with the notifier (socket.io protocol 5 over Engine.IO 4, default namespace; the
 * notifier speaks socket.io 2 as well, for shims built before):
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
import { Budget } from "./budget.js";
import { heartbeatSource, pingInterval } from "./heartbeat.js";
import { MAX_INTERVAL, bounded, readOptions, toVersion } from "./options.js";
import { Timers } from "./timers.js";
import { openSocket, wire } from "./transport.js";

// Shadow reports per poll; at the fast rate this keeps a page under one report a second.
const MAX_REPORTS = 10;
// Margin over the server's ping interval before silence counts: the server's ping comes on
// its schedule, so 10 s absorbs a slow network without masking a dead link.
const HEARTBEAT_MARGIN = 10000;
// Used until the handshake tells the real ping interval (the notifier's default is 25 s, so
// this is its interval plus a margin).
const HEARTBEAT_FALLBACK = 35000;
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

/**
 * @typedef {{v: number, zero: boolean, at: number, before: number, act: boolean, spread: number}} Hint
 * A hint not yet covered by a poll that started after it. act = false for hints received
 * in shadow mode, which are watched but never polled for.
 */

/**
 * One page's shim: the poll scheduler and the link to the notifier. Its timers live in
 * `timers` under these names: "poll" (the next poll, whatever its reason, so two can
 * never race), "heartbeat", "subscribe" (a token retry), "reconnect", and one "deadline"
 * per poll or token fetch in flight; stop() clears them all at once.
 */
class Shim {
  /** @param {any} options */
  constructor(options) {
    const { o, page, env, warn } = readOptions(options);
    this.o = o;
    this.page = page; // the page's own bounds
    this.now = env.now;
    this.random = env.random;
    this.doc = env.doc;
    this.warn = warn;
    this.timers = new Timers();

    // Intervals now in force: the page's, moved by the server's `mode` within its bounds.
    this.fast = page.fast;
    this.slow = page.slow;
    this.safetyNet = page.slow; // the adaptive safety net grows this between slow and slowMax

    /** @type {Record<string, number>} topic -> version held */
    this.held = Object.create(null);
    for (const t of Object.keys(o.topics || {})) this.held[t] = toVersion(o.topics[t]) || 0;
    this.topicList = Object.keys(this.held);

    this.stopped = false;
    /** @type {import("../pushpoll.js").Mode} */
    this.mode = o.enabled ? "poll" : "off";

    // The link. `gen` counts connections so that a token or ack that arrives after the
    // connection it belonged to is dropped instead of acting on the new one.
    this.socket = null;
    this.unwire = null;
    this.connected = false;
    this.connectedAt = 0;
    this.serverMode = null;
    this.draining = false;
    this.silent = false;
    this.gen = 0;
    this.kicks = 0;
    this.tokenFailures = 0;
    this.outageReported = false;
    this.uncovered = new Set(this.topicList); // topics push does not cover right now
    this.lastHeard = this.now(); // the server's last sign of life on this connection
    this.hiddenSince = this.hidden() ? this.now() : null;
    this.reportedHidden = false; // what the node was last told of this page's visibility

    // The polls.
    this.pollAt = 0;
    /** @type {"timer" | "hint" | null} what the armed "poll" timer is for */
    this.pollKind = null;
    this.inFlight = false;
    // The app's poll is still running, even past pollTimeout: no second one starts meanwhile.
    this.appBusy = false;
    /** @type {"timer" | "hint" | null} the kind of poll that came due while appBusy */
    this.owed = null;
    this.failed = false;
    this.lastPollAt = this.now(); // the page's data is as fresh as a poll at start
    this.budget = new Budget(this.lastPollAt);
    /** @type {Map<string, Hint>} */
    this.pending = new Map();

    this.onVisibility = this.onVisibility.bind(this);
  }

  call(fn, ...args) {
    if (typeof fn !== "function") return;
    try {
      fn(...args);
    } catch (err) {
      this.warn(err);
    }
  }

  // Settles like p, or rejects with `message` after ms; a late settle of p is ignored.
  deadline(p, ms, message) {
    return new Promise((resolve, reject) => {
      const name = this.timers.add("deadline", () => reject(new Error(message)), ms);
      const done = (fn) => (v) => {
        this.timers.clear(name);
        fn(v);
      };
      Promise.resolve(p).then(done(resolve), done(reject));
    });
  }

  hidden() {
    return !!(this.doc && this.doc.hidden);
  }

  trusted() {
    return this.mode === "push" && !this.failed;
  }

  interval() {
    const base = this.trusted() ? this.safetyNet : this.fast;
    if (!this.hidden()) return base;
    const stretched = base * this.page.hiddenFactor;
    const long = this.hiddenSince !== null && this.now() - this.hiddenSince >= LONG_HIDDEN;
    return long ? Math.max(stretched, LONG_HIDDEN_INTERVAL) : stretched;
  }

  // ms per token of the budget: the page's throttle, or else the current fast.
  period() {
    return this.page.throttle === null ? this.fast : this.page.throttle;
  }

  // One safety-net delay: random in [½, 1] of the interval, so pages that polled together
  // once drift apart instead of polling in step for ever.
  nextDelay() {
    const iv = this.interval();
    return this.trusted() ? iv * (0.5 + this.random() / 2) : iv;
  }

  computeMode() {
    if (!this.o.enabled) return "off";
    if (!this.connected || this.draining || this.silent || this.uncovered.size > 0) return "poll";
    if (this.serverMode === "push" || this.serverMode === "shadow") return this.serverMode;
    return "poll";
  }

  updateMode() {
    if (this.stopped) return;
    const m = this.computeMode();
    if (m === this.mode) return;
    this.mode = m;
    if (m !== "push") this.safetyNet = this.slow;
    this.call(this.o.onMode, m);
    this.spread();
  }

  // ---- poll scheduling ----

  clearPollTimer() {
    this.timers.clear("poll");
    this.pollKind = null;
  }

  // The earliest a poll of this kind may start, wanted at `at`: a periodic poll never
  // sooner than `fast` after the previous one, and every poll within the budget.
  allowed(at, kind) {
    if (kind !== "hint") at = Math.max(at, this.budget.lastStart + this.fast);
    return this.budget.earliest(this.now(), at, this.period(), kind === "hint");
  }

  // Every poll goes through here.
  arm(at, kind) {
    this.clearPollTimer();
    at = this.allowed(at, kind);
    this.pollAt = at;
    this.pollKind = kind;
    this.timers.set("poll", () => this.firePoll(), at - this.now());
  }

  firePoll() {
    const kind = this.pollKind;
    this.pollKind = null;
    this.runPoll(kind === "hint" ? "hint" : "timer");
  }

  // Puts the periodic poll one interval after the last poll. When that is already past,
  // the poll is spread over `over` ms instead of happening at once.
  rearm(over) {
    if (this.stopped || this.inFlight) return;
    if (this.pollKind === "hint" && !this.hidden()) return;
    let at = this.lastPollAt + this.interval();
    const t = this.now();
    if (at <= t) at = t + this.random() * over;
    this.arm(at, "timer");
  }

  // After a mode or interval change, which reaches many pages at once: in push mode the
  // next poll is drawn over the whole new interval (but not sooner than `fast` after the
  // last one, as plain polling would); polling at fast keeps its phase unless overdue, and
  // then spreads over one interval.
  spread() {
    if (this.stopped || this.inFlight) return;
    if (this.pollKind === "hint" && !this.hidden()) return;
    if (this.trusted()) this.arm(Math.max(this.now() + settledDelay(this.interval(), this.random()), this.lastPollAt + this.fast), "timer");
    else this.rearm(this.interval());
  }

  hasActionable() {
    for (const e of this.pending.values()) if (e.act) return true;
    return false;
  }

  // A hint polls at a random moment within max(jitter, the node's spread), never beyond
  // `fast`, and within the budget; one poll then takes every hint that came meanwhile.
  scheduleHint() {
    if (this.stopped || this.inFlight || this.hidden()) return;
    // A hinted poll already waiting takes this hint too; drawing a new delay per hint
    // would pull bursts towards 0 and defeat the jitter.
    if (this.pollKind === "hint") return;
    let over = this.page.jitter;
    for (const e of this.pending.values()) if (e.act) over = Math.max(over, e.spread);
    const at = this.allowed(this.now() + this.random() * Math.min(over, this.fast), "hint");
    // A periodic poll due sooner takes the hint, and is a hinted poll from now on: a mode
    // change (push trusted at last) must not push it back over the safety net.
    if (this.timers.has("poll") && this.pollAt <= at) {
      this.pollKind = "hint";
      return;
    }
    this.arm(at, "hint");
  }

  satisfied(t, e) {
    return !e.zero && e.v > 0 && e.v <= this.held[t];
  }

  /** @param {Map<string, Hint>} into @param {Map<string, Hint>} from */
  static merge(into, from) {
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

  raise(t, v) {
    const n = toVersion(v);
    if (n !== null && t in this.held && n > this.held[t]) this.held[t] = n;
  }

  runPoll(reason) {
    if (this.stopped || this.inFlight) return;
    this.clearPollTimer();
    if (this.appBusy) {
      // The last poll timed out but the app's request still runs: this one starts when
      // that one ends, so the app never has two in flight.
      this.owed = this.owed === "hint" ? "hint" : reason;
      return;
    }
    this.inFlight = true;
    this.appBusy = true;
    this.budget.take(this.now(), this.period());
    const served = this.pending;
    this.pending = new Map();
    const before = Object.assign({}, this.held);
    const app = Promise.resolve().then(() => this.o.poll(Object.assign({}, this.held)));
    const appDone = () => this.appDone();
    app.then(appDone, appDone);
    const limit = this.page.pollTimeout;
    this.deadline(app, limit, "pushpoll: poll did not settle within " + limit + " ms; counted as failed").then(
      (result) => this.finish(reason, served, before, true, result),
      (err) => {
        this.warn(err);
        this.finish(reason, served, before, false, null);
      },
    );
  }

  appDone() {
    this.appBusy = false;
    if (this.stopped || this.owed === null) return;
    const kind = this.owed;
    this.owed = null;
    if (kind === "hint" && !this.hasActionable()) return this.rearm(this.interval());
    this.arm(this.now(), kind);
  }

  finish(reason, served, before, ok, result) {
    this.inFlight = false;
    if (this.stopped) return;
    this.lastPollAt = this.now();
    this.failed = !ok;
    let missed = [];
    if (ok) {
      if (result && typeof result === "object") {
        for (const t of Object.keys(result)) this.raise(t, result[t]);
      }
      missed = this.misses(served, before);
      this.shadowReports(served, before, missed);
      this.adapt(
        reason,
        missed,
        this.topicList.some((t) => this.held[t] > before[t]),
      );
      for (const [t, e] of this.pending) if (e.act && this.satisfied(t, e)) this.pending.delete(t);
    } else {
      // The failed poll answered none of its hints: the retry must.
      Shim.merge(served, this.pending);
      this.pending = served;
    }
    if (ok && this.hasActionable() && !this.hidden()) {
      this.scheduleHint(); // at most one follow-up, for hints that came while in flight
    } else {
      this.arm(this.lastPollAt + this.nextDelay(), "timer");
    }
    this.call(this.o.onPoll, { reason, ok, versions: Object.assign({}, this.held), missed });
  }

  // Topics whose change this poll found although no hint announced it, neither one the
  // poll served nor one that came while it was in flight for a version the poll brought
  // back. Only push and shadow count: in poll mode the server promises nothing.
  misses(served, before) {
    if (!this.connected || (this.mode !== "push" && this.mode !== "shadow")) return [];
    const announced = (t) => served.has(t) || (this.pending.has(t) && this.satisfied(t, this.pending.get(t)));
    return this.topicList.filter((t) => this.held[t] > before[t] && !announced(t));
  }

  // Only a safety-net poll that found nothing is evidence that push misses nothing; a
  // hinted poll says nothing about the safety net.
  adapt(reason, missed, changed) {
    if (!this.o.adaptive) return;
    if (missed.length > 0) this.safetyNet = this.slow;
    else if (this.mode === "push" && reason === "timer" && !changed) this.safetyNet = Math.min(this.page.slowMax, this.safetyNet * 2);
  }

  shadowReports(served, before, missed) {
    if (this.mode !== "shadow" || !this.connected) return;
    const doneAt = this.now();
    const out = [];
    const add = (t, e) => {
      out.push({ topic: t, hintV: e.v, leadMs: Math.max(0, Math.round(doneAt - e.at)), found: this.held[t] > e.before });
    };
    for (const [t, e] of served) if (!e.act) add(t, e);
    // A hint that came while this poll was in flight, for a version the poll brought back,
    // was still earlier than the poll's answer.
    for (const [t, e] of this.pending) {
      if (!e.act && this.satisfied(t, e)) {
        add(t, e);
        this.pending.delete(t);
      }
    }
    for (const t of missed) out.push({ topic: t, missed: true });
    for (const r of out.slice(0, MAX_REPORTS)) this.socket.emit("report", r);
  }

  hint(t, v, spread) {
    this.call(this.o.onHint, t, v);
    const n = toVersion(v);
    if (n === null || !(t in this.held)) return;
    if (n !== 0 && n <= this.held[t]) return; // already held: costs nothing
    const act = this.mode !== "shadow";
    Shim.merge(this.pending, new Map([[t, { v: n, zero: n === 0, at: this.now(), before: this.held[t], act, spread }]]));
    if (act) this.scheduleHint();
  }

  // ---- the link ----

  heartbeatMs() {
    if (this.page.heartbeatTimeout !== null) return this.page.heartbeatTimeout;
    const ping = Number(pingInterval(this.socket));
    return ping > 0 && ping < MAX_INTERVAL ? ping + HEARTBEAT_MARGIN : HEARTBEAT_FALLBACK;
  }

  heard() {
    if (this.stopped || !this.connected) return;
    this.lastHeard = this.now();
    this.timers.clear("heartbeat");
    const ms = this.heartbeatMs();
    if (ms > 0) this.timers.set("heartbeat", () => this.onSilence(), ms);
    if (this.silent) {
      this.silent = false;
      this.updateMode();
    }
  }

  onSilence() {
    if (this.hidden()) {
      this.timers.set("heartbeat", () => this.onSilence(), this.heartbeatMs());
      return;
    }
    this.silent = true;
    this.updateMode();
  }

  token() {
    const o = this.o;
    return this.deadline(
      Promise.resolve().then(() => (typeof o.token === "function" ? o.token() : o.token)),
      TOKEN_TIMEOUT,
      "pushpoll: the token function did not answer within " + TOKEN_TIMEOUT + " ms",
    );
  }

  subscribe(topics) {
    const g = this.gen;
    this.timers.clear("subscribe");
    this.token().then(
      (tok) => {
        this.tokenFailures = 0;
        if (this.stopped || g !== this.gen || !this.connected) return;
        const req = {};
        for (const t of topics) req[t] = this.held[t];
        this.socket.emit("subscribe", { token: tok == null ? "" : String(tok), topics: req }, (ack) => this.onAck(ack, g));
      },
      (err) => {
        // The page polls at fast meanwhile, so nothing is lost by waiting longer each time.
        if (this.tokenFailures === 0) this.warn(err);
        const delay = backoff(this.tokenFailures++, this.random);
        if (this.stopped || g !== this.gen || !this.connected) return;
        this.timers.set("subscribe", () => this.subscribe(Array.from(this.uncovered)), delay);
      },
    );
  }

  onAck(ack, g) {
    if (this.stopped || g !== this.gen) return;
    this.heard();
    if (!ack || typeof ack !== "object") {
      this.warn(new Error("pushpoll: unexpected subscribe answer; polling at the fast rate"));
      return;
    }
    if (Array.isArray(ack.granted)) for (const t of ack.granted) this.uncovered.delete(t);
    const denied = ack.denied && typeof ack.denied === "object" ? Object.keys(ack.denied) : [];
    // A resubscribe after a hand-over starts from covered topics: a denial uncovers them.
    for (const t of denied) if (t in this.held) this.uncovered.add(t);
    if (denied.length > 0) {
      const why = denied.map((t) => t + " (" + ack.denied[t] + ")").join(", ");
      this.warn(new Error("pushpoll: topics denied, polling at the fast rate: " + why));
    }
    this.updateMode();
  }

  // A reconnect after a growing, jittered delay; one report per streak of kicks.
  kicked(why) {
    const delay = Math.min(BACKOFF_MAX, backoff(this.kicks, this.random) + this.random() * KICK_SPREAD);
    if (this.kicks === 0) this.warn(new Error("pushpoll: " + why + "; reconnecting with backoff"));
    this.kicks++;
    this.reconnectAfter(delay);
  }

  reconnectAfter(ms) {
    this.timers.set(
      "reconnect",
      () => {
        this.draining = false;
        if (!this.stopped && this.socket && !this.connected) this.socket.connect();
        this.updateMode();
      },
      ms,
    );
  }

  // A server interval is taken within the page's bounds: fast within fastMin..the page's
  // own, slow never below the page's fast nor above slowMax.
  serverIntervals(msg) {
    const f = toVersion(msg.fast);
    const s = toVersion(msg.slow);
    const p = this.page;
    const nf = f > 0 ? bounded(this.warn, f, "fast", p.fastMin, p.fast, "server") : this.fast;
    const ns = s > 0 ? bounded(this.warn, s, "slow", p.fast, p.slowMax, "server") : this.slow;
    const changed = nf !== this.fast || ns !== this.slow;
    this.fast = nf;
    if (ns !== this.slow) this.slow = this.safetyNet = ns;
    return changed;
  }

  // The events of the socket, by name (wire() calls them only until stop()).
  handlers() {
    return {
      connect: () => {
        this.connected = true;
        this.connectedAt = this.now();
        this.draining = false;
        this.silent = false;
        this.outageReported = false;
        this.serverMode = null;
        this.gen++;
        this.uncovered = new Set(this.topicList);
        this.reportedHidden = false;
        this.heard();
        this.subscribe(this.topicList);
        this.reportVisibility();
        this.updateMode();
      },
      disconnect: (reason) => {
        this.connected = false;
        this.serverMode = null;
        this.silent = false;
        this.gen++;
        this.uncovered = new Set(this.topicList);
        this.timers.clear("heartbeat");
        this.timers.clear("subscribe");
        // socket.io does not reconnect after a server-side disconnect; we do, backing off
        // across connections that the server accepts and then closes again.
        if (reason === "io server disconnect" && !this.draining) {
          if (this.now() - this.connectedAt >= KICK_STABLE) this.kicks = 0;
          this.kicked("the notifier closed the connection");
        }
        this.updateMode();
      },
      // The shared socket moved to another tab (the one holding it went away): the
      // connection never stopped for this page, but the new one must hear its topics.
      resubscribe: () => {
        this.gen++;
        this.reportedHidden = false;
        this.heard();
        this.subscribe(this.topicList);
        this.reportVisibility();
      },
      connect_error: (err) => {
        // socket.io 4 gives up on a socket whose CONNECT the server refused (it is no
        // longer active); we try again, as after a server-side disconnect.
        if (this.socket.active === false && !this.draining) this.kicked("the notifier refused the connection (" + ((err && err.message) || err) + ")");
        // socket.io retries on its own; one report per outage is enough to explain it.
        if (this.outageReported) return;
        this.outageReported = true;
        this.warn(err);
      },
      mode: (msg) => {
        this.heard();
        if (!msg || typeof msg !== "object") return;
        const changed = this.serverIntervals(msg);
        if (msg.mode === "push" || msg.mode === "poll" || msg.mode === "shadow") this.serverMode = msg.mode;
        const before = this.mode;
        this.updateMode();
        if (changed && this.mode === before) this.spread();
      },
      // stale {topic: version} [, {spread: ms}]: the node's spread says over how long the
      // holders of a widely held topic should draw their polls (DESIGN §6).
      stale: (msg, extra) => {
        this.heard();
        if (!msg || typeof msg !== "object") return;
        const spread = (extra && typeof extra === "object" && toVersion(extra.spread)) || 0;
        for (const t of Object.keys(msg)) this.hint(t, msg[t], Math.min(spread, MAX_INTERVAL));
      },
      drain: (msg) => {
        this.heard();
        const w = msg && toVersion(msg.within);
        this.draining = true;
        this.socket.disconnect();
        this.reconnectAfter(this.random() * (w === null ? DRAIN_DEFAULT : Math.min(w, DRAIN_MAX)));
        this.updateMode();
      },
      expired: (msg) => {
        this.heard();
        const topics = (msg && Array.isArray(msg.topics) ? msg.topics : []).filter((t) => t in this.held);
        if (topics.length === 0) return;
        for (const t of topics) this.uncovered.add(t);
        this.updateMode();
        this.subscribe(topics);
      },
    };
  }

  onVisibility() {
    if (this.stopped) return;
    this.hiddenSince = this.hidden() ? this.now() : null;
    this.reportVisibility();
    if (!this.hidden() && this.checkSilence()) return;
    if (!this.hidden() && this.hasActionable()) this.scheduleHint();
    else this.rearm(this.page.jitter);
  }

  // Back in view: the watchdog was re-armed while hidden, so the server's silence is
  // measured from when it was last heard. A link silent for too long is distrusted at once
  // and the page polls within jitter, as after a hint. Reports whether it was.
  checkSilence() {
    const ms = this.heartbeatMs();
    if (!this.connected || this.silent || !(ms > 0)) return false;
    const left = this.lastHeard + ms - this.now();
    if (left > 0) {
      this.timers.set("heartbeat", () => this.onSilence(), left);
      return false;
    }
    this.timers.clear("heartbeat");
    this.silent = true;
    this.updateMode();
    if (!this.inFlight) {
      const armed = this.timers.has("poll") ? this.pollAt : Infinity;
      this.arm(Math.min(armed, this.now() + this.random() * this.page.jitter), "timer");
    }
    return true;
  }

  // The node spreads hints over the page's visible peers (DESIGN §6): it is told when
  // this page hides or shows. A bare count (what old shims send) means all visible.
  reportVisibility() {
    if (!this.socket || !this.connected || this.hidden() === this.reportedHidden) return;
    this.reportedHidden = this.hidden();
    this.socket.emit("tabs", { tabs: 1, visible: this.reportedHidden ? 0 : 1 });
  }

  // ---- start and stop ----

  start() {
    this.arm(this.lastPollAt + this.interval(), "timer");
    const doc = this.doc;
    if (doc && typeof doc.addEventListener === "function") doc.addEventListener("visibilitychange", this.onVisibility);
    if (this.o.enabled) {
      const opened = openSocket(this.o, this.warn);
      this.socket = opened.socket;
      const stopped = () => this.stopped;
      const unwireHandlers = wire(this.socket, this.handlers(), stopped);
      // Engine.IO 4: the server pings, and each ping is the link's sign of life.
      const unwirePing = wire(heartbeatSource(this.socket), { ping: () => this.heard() }, stopped);
      this.unwire = () => {
        unwireHandlers();
        unwirePing();
        opened.release();
      };
    }
  }

  setVersion(topic, v) {
    if (this.stopped) return;
    this.raise(topic, v);
    for (const [t, e] of this.pending) if (e.act && this.satisfied(t, e)) this.pending.delete(t);
    // The page already has what the hint announced: the hinted poll is no longer needed.
    if (this.pollKind === "hint" && !this.hasActionable()) {
      this.clearPollTimer();
      this.rearm(this.interval());
    }
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    this.owed = null;
    this.pollKind = null;
    this.timers.clearAll();
    const doc = this.doc;
    if (doc && typeof doc.removeEventListener === "function") doc.removeEventListener("visibilitychange", this.onVisibility);
    if (this.socket) {
      this.unwire();
      this.socket.close();
      this.socket = null;
    }
    this.connected = false;
    this.mode = "off";
  }
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
  const shim = new Shim(options);
  shim.start();
  return {
    get mode() {
      return shim.mode;
    },
    // "holder": this tab holds the socket other tabs share; "follower": another tab does;
    // "alone": a socket of its own (sharing off, or not supported), or none.
    get shared() {
      return (shim.socket && shim.socket.shared) || "alone";
    },
    setVersion: (topic, v) => shim.setVersion(topic, v),
    stop: () => shim.stop(),
  };
}

export default { start };
