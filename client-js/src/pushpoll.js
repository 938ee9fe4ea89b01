/**
 * pushpoll browser shim.
 *
 * The page keeps its own poll; this module only decides when to call it. While the
 * notifier is connected and says "push", polls happen every `slow` ms as a safety net and
 * right after a `stale` hint; in every other state polls happen every `fast` ms, exactly
 * as the page did before pushpoll. A push path that fails can therefore only make the page
 * as fresh as it used to be, never staler.
 *
 *   const pp = start(options);   // also PushPoll.start(options) from the IIFE build
 *   pp.mode;                     // "push" | "poll" | "shadow" | "off"
 *   pp.setVersion(topic, v);     // the page learned a version some other way (only raises)
 *   pp.stop();                   // no timer, listener or socket is left behind
 *
 * Options (default):
 *   url           (required unless enabled:false) notifier origin, e.g. "https://push.example.com"
 *   token         (none) string, or (async) function returning one. A function is called on
 *                 every (re)connect and on `expired`, so it should fetch a fresh token.
 *   topics        ({}) topic -> version the page holds now (0 = unknown). Only these topics
 *                 are tracked; setVersion and poll results for other topics are ignored.
 *   poll          (required) async (versions) => ({topic: version}); the app's own poll. It
 *                 receives a copy of the versions held and resolves to the versions now held.
 *                 It must settle: the shim never starts a second poll while one is in flight.
 *   fast          (5000) ms between polls whenever push is not trusted.
 *   slow          (60000) ms between polls in push mode. The server's `mode` event
 *                 overrides fast and slow.
 *   jitter        (1000) a hinted poll waits a random 0..jitter ms, so one publish does not
 *                 make every page poll in the same millisecond.
 *   enabled       (true) false: never connect, poll every `fast`; mode "off".
 *   onMode        (none) (mode) => {}, called on every change after start; pp.mode holds
 *                 the initial one.
 *   transports    (socket.io's: ["polling", "websocket"]) ["polling"] = long-polling only.
 *   socketOptions ({}) extra socket.io-client options (path, query...), applied last.
 *   heartbeatTimeout (auto) ms of silence from the server (no pong, no event) after which
 *                 push is treated as unhealthy and the page polls at `fast` until the server
 *                 is heard again. Auto = the server's ping interval + 10000 (30000 before the
 *                 handshake is known); 0 turns the watchdog off and leaves detection to
 *                 socket.io's own ping timeout, which closes the connection.
 *   hiddenFactor  (4) while document.hidden, intervals are this many times longer and hints
 *                 are remembered instead of polled; on return a remembered hint polls at once
 *                 (after jitter).
 *   onHint        (none) (topic, version) => {} for every hint received, useful or not.
 *   onPoll        (none) ({reason: "timer"|"hint", ok, versions}) => {} after each poll settles.
 *   onError       (console.warn) (error) => {} for failed polls, token fetches, denied topics,
 *                 the first connect error of an outage, and errors thrown by callbacks.
 *   io, random, now, document  injection points for tests: the socket.io-client factory
 *                 io(url, opts), Math.random, Date.now and the Document to watch.
 *
 * Decisions a user may ask about:
 *   - No poll at start: the page already has data when it calls start(). The first poll
 *     comes one interval later (fast while connecting, slow once push is established).
 *   - Every poll restarts the periodic timer, so a hinted poll also pushes back the next
 *     slow poll.
 *   - A poll that rejects (or throws) is reported to onError and retried after `fast`.
 *   - A change that reaches every page at once (server mode change, node death) would make
 *     all overdue pages poll together, so an overdue poll is spread over one interval. A
 *     tab that becomes visible again is one page, so its overdue poll waits only `jitter`.
 *   - If the server denies any topic (or never confirms it), push cannot be trusted for
 *     that topic, and since the app polls all topics together the shim stays in "poll" mode
 *     (fast) and tells onError which topics and why.
 *   - While the tab is hidden, a silent server is not held against it: browsers throttle the
 *     timers that send pings there.
 *
 * Events with the notifier (socket.io 2, default namespace):
 *   emit `subscribe` {token, topics: {topic: version}} with ack {granted: [...], denied: {topic: reason}}
 *   on   `stale`   {topic: version}: poll if newer than held; 0 = poll to be sure
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

const DEFAULTS = {
  url: "",
  token: undefined,
  topics: {},
  poll: undefined,
  fast: 5000,
  slow: 60000,
  jitter: 1000,
  enabled: true,
  onMode: undefined,
  transports: undefined,
  socketOptions: undefined,
  heartbeatTimeout: undefined,
  hiddenFactor: 4,
  onHint: undefined,
  onPoll: undefined,
  onError: undefined,
  io: undefined,
  random: undefined,
  now: undefined,
  document: undefined,
};

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
// socket.io 2 does not reconnect after a server-side disconnect; we do, with the same
// ceiling, doubling from 1 s so a server that keeps refusing us is not hammered.
const KICK_BASE = 1000;
const KICK_MAX = 30000;
// `drain` without a usable `within`: the value the design uses.
const DRAIN_DEFAULT = 10000;

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

export function start(options) {
  const o = Object.assign({}, DEFAULTS);
  for (const k of Object.keys(options || {})) {
    if (options[k] !== undefined) o[k] = options[k];
  }
  if (typeof o.poll !== "function") throw new TypeError("pushpoll: poll must be a function");
  if (o.enabled && !o.url && !o.io) throw new TypeError("pushpoll: url is required unless enabled is false");
  let fast = positive(o.fast, "fast");
  let slow = positive(o.slow, "slow");
  const jitter = Math.max(0, Number(o.jitter) || 0);
  const hiddenFactor = Math.max(1, Number(o.hiddenFactor) || 1);
  const now = o.now || (() => Date.now());
  const random = o.random || Math.random;
  const doc = o.document !== undefined ? o.document : typeof document !== "undefined" ? document : null;

  const held = Object.create(null);
  for (const t of Object.keys(o.topics || {})) held[t] = toVersion(o.topics[t]) || 0;
  const topicList = Object.keys(held);

  let stopped = false;
  let mode = o.enabled ? "poll" : "off";

  // Connection state. `gen` counts connections so that a token or ack that arrives after
  // the connection it belonged to is dropped instead of acting on the new one.
  let socket = null;
  let connected = false;
  let serverMode = null;
  let draining = false;
  let silent = false;
  let gen = 0;
  let kicks = 0;
  let outageReported = false;
  let uncovered = new Set(topicList); // topics push does not cover right now
  const listeners = [];

  // Poll state: one timer for the next poll, whatever its reason, so two can never race.
  let pollTimer = null;
  let pollAt = 0;
  let pollKind = null; // "timer" | "hint"
  let inFlight = false;
  let failed = false;
  let lastPollAt = now(); // the page's data is as fresh as a poll at start
  // Hints not yet covered by a poll that started after them: topic -> {v, zero, at, before, act}.
  // act = false for hints received in shadow mode, which are watched but never polled for.
  let pending = new Map();

  let hbTimer = null;
  let subTimer = null;
  let reconnectTimer = null;

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

  function hidden() {
    return !!(doc && doc.hidden);
  }

  function interval() {
    const base = mode === "push" && !failed ? slow : fast;
    return hidden() ? base * hiddenFactor : base;
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
    call(o.onMode, m);
    rearm(interval());
  }

  // ---- poll scheduling ----

  function clearPollTimer() {
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = null;
    pollKind = null;
  }

  function arm(at, kind) {
    clearPollTimer();
    pollAt = at;
    pollKind = kind;
    pollTimer = setTimeout(firePoll, Math.max(0, at - now()));
  }

  function firePoll() {
    const kind = pollKind;
    pollTimer = null;
    pollKind = null;
    runPoll(kind === "hint" ? "hint" : "timer");
  }

  // Puts the periodic poll one interval after the last poll. When that is already past,
  // the poll is spread over `spread` ms instead of happening at once.
  function rearm(spread) {
    if (stopped || inFlight) return;
    if (pollKind === "hint" && !hidden()) return;
    let at = lastPollAt + interval();
    const t = now();
    if (at <= t) at = t + random() * spread;
    arm(at, "timer");
  }

  function hasActionable() {
    for (const e of pending.values()) if (e.act) return true;
    return false;
  }

  function scheduleHint() {
    if (stopped || inFlight || hidden()) return;
    // A hinted poll already waiting takes this hint too; drawing a new delay per hint
    // would pull bursts towards 0 and defeat the jitter.
    if (pollKind === "hint") return;
    const at = now() + random() * jitter;
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
      else into.set(t, { v: Math.max(cur.v, e.v), zero: cur.zero || e.zero, at: Math.min(cur.at, e.at), before: Math.min(cur.before, e.before), act: cur.act || e.act });
    }
  }

  function raise(t, v) {
    const n = toVersion(v);
    if (n !== null && t in held && n > held[t]) held[t] = n;
  }

  function runPoll(reason) {
    if (stopped || inFlight) return;
    clearPollTimer();
    inFlight = true;
    const served = pending;
    pending = new Map();
    const before = Object.assign({}, held);
    Promise.resolve()
      .then(() => o.poll(Object.assign({}, held)))
      .then(
        (result) => finish(reason, served, before, true, result),
        (err) => {
          warn(err);
          finish(reason, served, before, false, null);
        },
      );
  }

  function finish(reason, served, before, ok, result) {
    inFlight = false;
    if (stopped) return;
    lastPollAt = now();
    failed = !ok;
    if (ok) {
      if (result && typeof result === "object") {
        for (const t of Object.keys(result)) raise(t, result[t]);
      }
      shadowReports(served, before);
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
      arm(lastPollAt + interval(), "timer");
    }
    call(o.onPoll, { reason, ok, versions: Object.assign({}, held) });
  }

  function shadowReports(served, before) {
    if (mode !== "shadow" || !connected) return;
    const doneAt = now();
    const out = [];
    const hinted = new Set();
    const add = (t, e) => {
      hinted.add(t);
      out.push({ topic: t, hintV: e.v, leadMs: Math.max(0, doneAt - e.at), found: held[t] > e.before });
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
    for (const t of topicList) if (held[t] > before[t] && !hinted.has(t)) out.push({ topic: t, missed: true });
    for (const r of out.slice(0, MAX_REPORTS)) socket.emit("report", r);
  }

  function hint(t, v) {
    call(o.onHint, t, v);
    const n = toVersion(v);
    if (n === null || !(t in held)) return;
    if (n !== 0 && n <= held[t]) return; // already held: costs nothing
    const act = mode !== "shadow";
    merge(pending, new Map([[t, { v: n, zero: n === 0, at: now(), before: held[t], act }]]));
    if (act) scheduleHint();
  }

  // ---- socket ----

  function heartbeatMs() {
    if (o.heartbeatTimeout != null) return Math.max(0, Number(o.heartbeatTimeout) || 0);
    const engine = socket && socket.io && socket.io.engine;
    const ping = engine && Number(engine.pingInterval);
    return ping > 0 ? ping + HEARTBEAT_MARGIN : HEARTBEAT_FALLBACK;
  }

  function heard() {
    if (stopped || !connected) return;
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
    return Promise.resolve().then(() => (typeof o.token === "function" ? o.token() : o.token));
  }

  function subscribe(topics) {
    const g = gen;
    if (subTimer !== null) clearTimeout(subTimer);
    subTimer = null;
    token().then(
      (tok) => {
        if (stopped || g !== gen || !connected) return;
        const req = {};
        for (const t of topics) req[t] = held[t];
        socket.emit("subscribe", { token: tok == null ? "" : String(tok), topics: req }, (ack) => onAck(ack, g));
      },
      (err) => {
        warn(err);
        if (stopped || g !== gen || !connected) return;
        // Keep trying at the polling rate: the page is polling meanwhile, so nothing is lost.
        subTimer = setTimeout(() => {
          subTimer = null;
          subscribe(Array.from(uncovered));
        }, fast);
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
    if (denied.length > 0) {
      const why = denied.map((t) => t + " (" + ack.denied[t] + ")").join(", ");
      warn(new Error("pushpoll: topics denied, polling at the fast rate: " + why));
    } else {
      kicks = 0;
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
    }, ms);
  }

  const handlers = {
    connect() {
      connected = true;
      draining = false;
      silent = false;
      outageReported = false;
      serverMode = null;
      gen++;
      uncovered = new Set(topicList);
      heard();
      subscribe(topicList);
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
        reconnectAfter(random() * Math.min(KICK_MAX, KICK_BASE * Math.pow(2, kicks)));
        kicks++;
      }
      updateMode();
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
      const f = toVersion(msg.fast);
      const s = toVersion(msg.slow);
      const changed = (f > 0 && f !== fast) || (s > 0 && s !== slow);
      if (f > 0) fast = f;
      if (s > 0) slow = s;
      if (msg.mode === "push" || msg.mode === "poll" || msg.mode === "shadow") serverMode = msg.mode;
      const before = mode;
      updateMode();
      if (changed && mode === before) rearm(interval());
    },
    stale(msg) {
      heard();
      if (!msg || typeof msg !== "object") return;
      for (const t of Object.keys(msg)) hint(t, msg[t]);
    },
    drain(msg) {
      heard();
      const w = msg && toVersion(msg.within);
      draining = true;
      socket.disconnect();
      reconnectAfter(random() * (w === null ? DRAIN_DEFAULT : w));
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
    if (!hidden() && hasActionable()) scheduleHint();
    else rearm(jitter);
  }

  // ---- start ----

  arm(lastPollAt + interval(), "timer");
  if (doc && typeof doc.addEventListener === "function") doc.addEventListener("visibilitychange", onVisibility);
  if (o.enabled) {
    const opts = Object.assign({ forceNew: true }, RECONNECT);
    if (o.transports) opts.transports = o.transports;
    Object.assign(opts, o.socketOptions);
    socket = (o.io || io)(o.url, opts);
    for (const ev of Object.keys(handlers)) {
      const fn = (...args) => {
        if (!stopped) handlers[ev](...args);
      };
      listeners.push([ev, fn]);
      socket.on(ev, fn);
    }
  }

  return {
    get mode() {
      return mode;
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
      for (const t of [hbTimer, subTimer, reconnectTimer]) if (t !== null) clearTimeout(t);
      hbTimer = subTimer = reconnectTimer = null;
      if (doc && typeof doc.removeEventListener === "function") doc.removeEventListener("visibilitychange", onVisibility);
      if (socket) {
        for (const [ev, fn] of listeners) socket.off(ev, fn);
        socket.close();
        socket = null;
      }
      connected = false;
      mode = "off";
    },
  };
}

export default { start };
