// The notifier side of the simulation: one node holding every page's socket, and the
// socket.io-client 2 socket each page's shim talks to.
//
// The node fans a bump out to a topic's holders through the per-topic hint throttle
// (leading hint at once, one trailing hint of the newest version at the window's end, as
// notifier/throttle.go does), loses each hint with probability `loss`, and delivers the
// rest after the fan-out latency the load benchmark measured for that many holders plus
// a one-way trip to the browser. When the node dies every socket sees "transport close"
// and reconnects with socket.io's own backoff (the real backo2 module, with the options
// the shim passes), failing with connect_error until the node is back.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const Backoff = require("../../../client-js/node_modules/backo2/index.js");

// Last-client fan-out latency in ms by holders on one node (BENCHMARKS.md §1, pushpoll
// notifier, median last client: 1K 17 ms, 10K 230 ms, 19K 570 ms); interpolated linearly.
const FANOUT_LAST = [
  [0, 1],
  [1000, 17],
  [10000, 230],
  [19000, 570],
];

export function fanoutLast(holders) {
  for (let i = 1; i < FANOUT_LAST.length; i++) {
    const [n1, l1] = FANOUT_LAST[i];
    if (holders <= n1 || i === FANOUT_LAST.length - 1) {
      const [n0, l0] = FANOUT_LAST[i - 1];
      return l0 + ((holders - n0) * (l1 - l0)) / (n1 - n0);
    }
  }
  return 1;
}

export class Node {
  // sim: {clock, random, P (parameters), onFanOut(page, topic, v, lost)}
  constructor(sim) {
    this.sim = sim;
    this.up = true;
    this.sockets = new Set();
    this.holders = new Map(); // topic -> Set(socket)
    this.version = new Map(); // the version table the app writes: topic -> newest version
    this.busy = new Map(); // throttle: topic -> {held, v}
    this.fanOuts = 0;
    this.hints = 0;
    this.lost = 0;
  }

  // The network between a browser and the node, one way.
  oneWay() {
    const P = this.sim.P;
    return P.netMs + this.sim.random() * P.netSpreadMs;
  }

  bump(topic) {
    const v = (this.version.get(topic) || 0) + 1;
    this.version.set(topic, v);
    if (!this.up) return v;
    const W = this.sim.P.nodeThrottleMs;
    if (W <= 0) {
      this.fanOut(topic, v);
      return v;
    }
    const b = this.busy.get(topic);
    if (b) {
      b.held = true;
      b.v = v;
      return v;
    }
    this.openWindow(topic, W);
    this.fanOut(topic, v);
    return v;
  }

  openWindow(topic, W) {
    const b = { held: false, v: 0 };
    this.busy.set(topic, b);
    this.sim.clock.task(W, null, () => {
      if (this.busy.get(topic) !== b) return;
      if (!b.held || !this.up) {
        this.busy.delete(topic);
        return;
      }
      this.openWindow(topic, W);
      this.fanOut(topic, b.v);
    });
  }

  fanOut(topic, v) {
    const hs = this.holders.get(topic);
    if (!hs) return;
    this.fanOuts++;
    const { clock, random, P } = this.sim;
    const last = fanoutLast(hs.size);
    for (const s of hs) {
      const lost = random() < P.loss;
      this.sim.onFanOut(s.page, topic, v, lost);
      if (lost) {
        this.lost++;
        continue;
      }
      this.hints++;
      const epoch = s.epoch;
      clock.task(random() * last + this.oneWay(), s.page, () => {
        if (s.connected && s.epoch === epoch) s.fire("stale", { [topic]: v });
      });
    }
  }

  attach(s) {
    this.sockets.add(s);
  }

  detach(s) {
    this.sockets.delete(s);
    for (const t of s.topics) {
      const hs = this.holders.get(t);
      if (hs) hs.delete(s);
    }
    s.topics = [];
  }

  // subscribe answers after the round trip, then hints what the page is behind on.
  subscribe(s, req, ack) {
    const epoch = s.epoch;
    this.sim.clock.task(this.oneWay(), s.page, () => {
      if (!s.connected || s.epoch !== epoch) return;
      const topics = Object.keys(req.topics || {});
      for (const t of topics) {
        if (!this.holders.has(t)) this.holders.set(t, new Set());
        this.holders.get(t).add(s);
      }
      s.topics = topics;
      const missed = {};
      let any = false;
      for (const t of topics) {
        const v = this.version.get(t) || 0;
        if (v > req.topics[t]) {
          missed[t] = v;
          any = true;
        }
      }
      this.sim.clock.task(this.oneWay(), s.page, () => {
        if (!s.connected || s.epoch !== epoch) return;
        ack({ granted: topics, denied: {} });
        if (any) s.fire("stale", missed);
      });
    });
  }

  kill() {
    this.up = false;
    this.busy.clear();
    for (const s of Array.from(this.sockets)) s.dropped();
  }

  restart() {
    this.up = true;
  }
}

// Socket is what io(url, opts) returns to the shim: the socket.io-client 2 surface it
// uses (on/off/emit/connect/disconnect/close, io.engine.pingInterval), with the
// Manager's reconnect loop.
export class Socket {
  constructor(sim, page, opts) {
    this.sim = sim;
    this.page = page;
    this.node = sim.node;
    this.handlers = new Map();
    this.connected = false;
    this.epoch = 0;
    this.topics = [];
    this.io = { engine: { pingInterval: sim.P.pingMs } };
    this.backoff = new Backoff({
      min: opts.reconnectionDelay ?? 1000,
      max: opts.reconnectionDelayMax ?? 5000,
      jitter: opts.randomizationFactor ?? 0.5,
    });
    this.skip = false;
    this.reconnecting = false;
    this.timers = [];
    this.open();
  }

  on(ev, fn) {
    if (!this.handlers.has(ev)) this.handlers.set(ev, []);
    this.handlers.get(ev).push(fn);
    return this;
  }

  off(ev, fn) {
    const l = this.handlers.get(ev) || [];
    const i = l.indexOf(fn);
    if (i >= 0) l.splice(i, 1);
    return this;
  }

  fire(ev, ...args) {
    for (const fn of (this.handlers.get(ev) || []).slice()) fn(...args);
  }

  emit(ev, req, ack) {
    if (ev === "subscribe" && this.connected) this.node.subscribe(this, req, ack);
    return this;
  }

  // open is one connection attempt: a handshake round trip, then connected or refused.
  open() {
    const clock = this.sim.clock;
    const rtt = 2 * this.node.oneWay();
    clock.task(rtt, this.page, () => {
      if (this.skip || this.connected) return;
      if (!this.node.up) {
        this.fire("connect_error", new Error("xhr poll error"));
        this.reconnecting = false;
        this.reconnect();
        return;
      }
      this.backoff.reset();
      this.reconnecting = false;
      this.connected = true;
      this.epoch++;
      this.node.attach(this);
      this.fire("connect");
      const epoch = this.epoch;
      const P = this.sim.P;
      clock.task(this.node.oneWay(), this.page, () => {
        if (this.connected && this.epoch === epoch) this.fire("mode", { mode: "push", fast: P.serverFast, slow: P.serverSlow });
      });
      this.ping(epoch);
    });
  }

  // ping is engine.io's heartbeat: the page's own timer; the pong it brings back is
  // counted at the ping (a round trip is nothing next to the interval).
  ping(epoch) {
    const clock = this.sim.clock;
    const prev = clock.page;
    clock.page = this.page;
    const t = clock.setTimeout(() => {
      if (!this.connected || this.epoch !== epoch) return;
      this.fire("pong");
      this.ping(epoch);
    }, this.sim.P.pingMs);
    t.sync = true;
    clock.page = prev;
    this.timers.push(t);
    if (this.timers.length > 4) this.timers.shift();
  }

  reconnect() {
    if (this.reconnecting || this.skip) return;
    this.reconnecting = true;
    const clock = this.sim.clock;
    const prev = clock.page;
    clock.page = this.page;
    this.timers.push(
      clock.setTimeout(() => {
        if (!this.skip) this.open();
      }, this.backoff.duration()),
    );
    clock.page = prev;
  }

  connect() {
    this.skip = false;
    if (!this.connected && !this.reconnecting) this.open();
    return this;
  }

  disconnect() {
    this.skip = true;
    this.reconnecting = false;
    for (const t of this.timers) this.sim.clock.clearTimeout(t);
    this.timers = [];
    if (this.connected) {
      this.connected = false;
      this.node.detach(this);
      this.fire("disconnect", "io client disconnect");
    }
    return this;
  }

  close() {
    return this.disconnect();
  }

  // dropped: the node died under this socket.
  dropped() {
    if (!this.connected) return;
    this.connected = false;
    this.node.detach(this);
    this.fire("disconnect", "transport close");
    this.backoff.reset();
    this.reconnect();
  }
}
