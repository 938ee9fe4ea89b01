// Hand-written fakes for the shim's tests: a socket that records what the client emits and
// lets a test play the server, a document with a settable visibility, and a clock helper
// over node:test's mock timers.
import { mock } from "node:test";
import { start } from "../src/pushpoll.js";

// Listeners by event name, and fire() to play an event: the part the socket and its
// manager share.
class FakeEmitter {
  constructor() {
    this.handlers = new Map();
  }

  on(ev, fn) {
    if (!this.handlers.has(ev)) this.handlers.set(ev, []);
    this.handlers.get(ev).push(fn);
    return this;
  }

  off(ev, fn) {
    const list = this.handlers.get(ev) || [];
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  fire(ev, ...args) {
    for (const fn of (this.handlers.get(ev) || []).slice()) fn(...args);
  }

  listenerCount() {
    let n = 0;
    for (const list of this.handlers.values()) n += list.length;
    return n;
  }
}

// socket.io-client 4's Manager (socket.io) as the shim sees it: it fires `ping` for each of
// the server's pings, and its engine keeps the handshake's ping interval.
export class FakeManager extends FakeEmitter {
  constructor(opts = {}) {
    super();
    this.opts = opts;
    this.engine = { _pingInterval: -1 };
  }
}

export class FakeSocket extends FakeEmitter {
  constructor() {
    super();
    this.io = new FakeManager();
    this.emitted = [];
    this.connected = false;
    this.closed = false;
    this.connectCalls = 0;
    this.disconnectCalls = 0;
  }

  emit(ev, ...args) {
    this.emitted.push({ ev, args });
    return this;
  }

  connect() {
    this.connectCalls++;
    return this;
  }

  // Like socket.io-client: a client-side disconnect fires "disconnect" at once.
  disconnect() {
    this.disconnectCalls++;
    if (this.connected) {
      this.connected = false;
      this.fire("disconnect", "io client disconnect");
    }
    return this;
  }

  close() {
    this.closed = true;
    return this.disconnect();
  }

  // The socket's listeners and its manager's.
  listenerCount() {
    return super.listenerCount() + this.io.listenerCount();
  }

  // ---- the server's side ----

  // Engine.IO 4's heartbeat: the server's ping, reported by the manager.
  serverPing() {
    this.io.fire("ping");
  }

  serverConnect() {
    this.connected = true;
    this.fire("connect");
  }

  serverDisconnect(reason = "transport close") {
    this.connected = false;
    this.fire("disconnect", reason);
  }

  sent(ev) {
    return this.emitted.filter((e) => e.ev === ev).map((e) => e.args);
  }

  // Answers the latest subscribe; by default grants every topic it asked for.
  ack(answer) {
    const subs = this.sent("subscribe");
    const [req, cb] = subs[subs.length - 1];
    cb(answer || { granted: Object.keys(req.topics), denied: {} });
    return req;
  }
}

export class FakeDocument {
  constructor() {
    this.hidden = false;
    this.listeners = [];
  }

  addEventListener(ev, fn) {
    this.listeners.push([ev, fn]);
  }

  removeEventListener(ev, fn) {
    this.listeners = this.listeners.filter(([e, f]) => !(e === ev && f === fn));
  }

  setHidden(h) {
    this.hidden = h;
    for (const [e, fn] of this.listeners.slice()) if (e === "visibilitychange") fn();
  }
}

// Lets promise callbacks (poll results, token fetches) run. setImmediate is not mocked,
// and it runs only after every queued microtask.
export function flush() {
  return new Promise((resolve) => setImmediate(resolve));
}

// Advances mock time one millisecond at a time, settling promises after each step, so that
// a timer set from a poll's answer starts from the moment the answer came, as in a browser.
// A longer step is faster over hours of mock time; promises then settle at step boundaries.
export async function advance(ms, step = 1) {
  for (let i = 0; i < ms; i += step) {
    mock.timers.tick(Math.min(step, ms - i));
    await flush();
  }
}

export function enableClock() {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
}

export function resetClock() {
  mock.timers.reset();
}

// Starts the shim with a fake socket and a recording poll. Defaults keep tests short:
// the heartbeat watchdog is off unless a test turns it on, and random() is fixed.
export function setup(opts = {}) {
  const socket = new FakeSocket();
  const t = {
    socket,
    ioCalls: [],
    polls: [], // {at, versions}
    modes: [],
    errors: [],
    answer: (versions) => versions, // what the next poll resolves to
    tokens: 0,
    open: [], // with deferred: {resolve, reject} of each poll, finished by the test
    inFlight: 0,
    maxInFlight: 0,
  };
  // deferred: polls stay in flight until the test resolves or rejects them.
  const deferred = opts.deferred;
  delete opts.deferred;
  const deferredPoll = (versions) => {
    t.polls.push({ at: Date.now(), versions });
    t.inFlight++;
    t.maxInFlight = Math.max(t.maxInFlight, t.inFlight);
    return new Promise((resolve, reject) => {
      const done = (fn) => (v) => {
        t.inFlight--;
        fn(v);
      };
      t.open.push({ resolve: done(resolve), reject: done(reject) });
    });
  };
  const base = {
    url: "http://notifier.test",
    token: () => {
      t.tokens++;
      return "tok" + t.tokens;
    },
    topics: { "project:42": 1057 },
    poll: deferred
      ? deferredPoll
      : async (versions) => {
          t.polls.push({ at: Date.now(), versions });
          return t.answer(versions);
        },
    fast: 5000,
    slow: 60000,
    jitter: 1000,
    heartbeatTimeout: 0,
    random: () => 0.5,
    // The shim's clock is monotonic (performance.now); the tests drive it with mock time.
    now: () => Date.now(),
    document: null,
    onMode: (m) => t.modes.push(m),
    onError: (err) => t.errors.push(err),
    io: (url, o) => {
      t.ioCalls.push({ url, opts: o });
      socket.io.opts = o;
      return socket;
    },
  };
  t.pp = start(Object.assign(base, opts));
  return t;
}

// Finishes deferred poll number i and lets the shim take the answer at the current time.
export async function settle(t, i, value, fail = false) {
  if (fail) t.open[i].reject(value);
  else t.open[i].resolve(value);
  await flush();
}

// The page's load counts as a whole `fast` of polling (src/budget.js): a hint in the page's
// first `fast` waits for the end of it, as plain polling's first poll would. Tests of what a
// hint does on its own start past it.
export function pastOpening(fast = 5000) {
  return advance(fast, 100);
}

// Plays a healthy notifier: connect, announce the mode, grant the subscription.
export async function connect(t, mode = "push", intervals = { fast: 5000, slow: 60000 }) {
  t.socket.serverConnect();
  await flush(); // the token function resolves
  t.socket.fire("mode", Object.assign({ mode }, intervals));
  t.socket.ack();
  await flush();
}
