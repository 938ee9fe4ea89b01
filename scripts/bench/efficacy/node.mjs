// The notifier side of the simulation: a cluster of nodes behind a balancer, sharing the
// app's version table (Redis), and the socket.io-client 4 socket each page's shim talks to.
//
// Each node fans a bump out to the topic's holders it has through its own per-topic hint
// throttle (leading hint at once, one trailing hint of the newest version at the window's
// end, as notifier/throttle.go does), with the node's spread window (spread.mjs) as the
// hint's second argument, loses each hint with probability `loss` (i.i.d.) and every hint
// to a half-open socket (correlated: until the client's ping timeout closes it), and
// delivers the rest after the fan-out latency the load benchmark measured for that many
// holders, scaled by the node's own speed, plus a one-way trip to the browser. Server
// events (events.mjs) kill, drain, stall and flip nodes and take Redis away.
import { createRequire } from "node:module";
import { nodeSpreadMs, parseTabs } from "./spread.mjs";
import { exp } from "./clock.mjs";

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
  // sim: {clock, random, P (parameters), version (the app's table), nodes, redisUp,
  // onFanOut(socket, topic, v, lost)}; speed scales the fan-out latency, redisMs is how long
  // a publish takes to reach this node.
  constructor(sim, id, speed, redisMs) {
    this.sim = sim;
    this.id = id;
    this.speed = speed;
    this.redisMs = redisMs;
    this.up = true;
    this.draining = false;
    this.stalled = false;
    this.mode = "push";
    this.stallQueue = []; // what the node would have done while stalled, done at the flush
    this.sockets = new Set();
    this.visible = 0; // visible tabs over the open sockets, as notifier/spread.go counts them
    this.holders = new Map(); // topic -> Set(socket)
    this.known = new Map(); // topic -> newest version this node received
    this.busy = new Map(); // throttle: topic -> {held, v}
    this.fanOuts = 0;
    this.hints = 0;
    this.lost = 0;
    this.lostHalfOpen = 0;
  }

  // The network between a browser and the node, one way.
  oneWay() {
    const P = this.sim.P;
    return P.netMs + this.sim.random() * P.netSpreadMs;
  }

  // pushing says whether this node's pages have push in force for a bump published now:
  // hints reach them and the node has not told them to poll.
  pushing() {
    return this.up && !this.stalled && this.mode === "push" && this.sim.redisUp;
  }

  // receive is a bump arriving on the node's Redis subscription.
  receive(topic, v) {
    if (!this.up) return;
    if (this.stalled) {
      this.stallQueue.push(() => this.receive(topic, v));
      return;
    }
    // The mode only tells the pages how far to trust push (notifier/server.go currentMode);
    // the node fans out every bump it receives, whatever it told them.
    this.known.set(topic, Math.max(v, this.known.get(topic) || 0));
    const W = this.sim.P.nodeThrottleMs;
    if (W <= 0) {
      this.fanOut(topic, v);
      return;
    }
    const b = this.busy.get(topic);
    if (b) {
      b.held = true;
      b.v = Math.max(b.v, v);
      return;
    }
    this.openWindow(topic, W);
    this.fanOut(topic, v);
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
      if (this.stalled) {
        this.busy.delete(topic);
        this.stallQueue.push(() => this.receive(topic, b.v));
        return;
      }
      this.openWindow(topic, W);
      this.fanOut(topic, b.v);
    });
  }

  // fanOut hints every holder; within spreads the sends over that many ms (a resync).
  fanOut(topic, v, within = 0) {
    const hs = this.holders.get(topic);
    if (!hs || hs.size === 0) return;
    this.fanOuts++;
    const { clock, random, P } = this.sim;
    const last = this.speed * fanoutLast(hs.size * P.scale);
    const spread = nodeSpreadMs(hs, this.visible, { fast: P.serverFast, slow: P.serverSlow, factor: P.spreadFactor });
    const extra = spread > 0 ? [{ spread }] : [];
    for (const s of hs) {
      const iid = random() < P.loss;
      const lost = iid || s.halfOpen;
      this.sim.onFanOut(s, topic, v, lost);
      if (lost) {
        if (iid) this.lost++;
        else this.lostHalfOpen++;
        continue;
      }
      this.hints++;
      const epoch = s.epoch;
      clock.task(random() * (last + within) + this.oneWay(), s.page, () => {
        if (!s.connected || s.epoch !== epoch || s.halfOpen) return;
        s.fire("stale", { [topic]: v }, ...extra);
      });
    }
  }

  attach(s) {
    this.sockets.add(s);
    this.visible += s.visible;
  }

  detach(s) {
    this.sockets.delete(s);
    this.visible -= s.visible;
    for (const t of s.topics) {
      const hs = this.holders.get(t);
      if (hs) hs.delete(s);
    }
    s.topics = [];
  }

  // subscribe answers after the round trip, then hints what the page is behind on (from
  // the version table, as a node with one does).
  subscribe(s, req, ack) {
    const epoch = s.epoch;
    this.sim.clock.task(this.oneWay(), s.page, () => this.subscribed(s, epoch, req, ack));
  }

  subscribed(s, epoch, req, ack) {
    if (!s.connected || s.epoch !== epoch) return;
    if (this.stalled) {
      this.stallQueue.push(() => this.subscribed(s, epoch, req, ack));
      return;
    }
    const topics = Object.keys(req.topics || {});
    for (const t of topics) {
      if (!this.holders.has(t)) this.holders.set(t, new Set());
      this.holders.get(t).add(s);
    }
    s.topics = topics;
    const missed = {};
    let any = false;
    if (this.sim.redisUp) {
      for (const t of topics) {
        const v = this.sim.version.get(t) || 0;
        if (v > req.topics[t]) {
          missed[t] = v;
          any = true;
        }
      }
    }
    this.sim.clock.task(this.oneWay(), s.page, () => {
      if (!s.connected || s.epoch !== epoch) return;
      ack({ granted: topics, denied: {} });
      if (!any) return;
      s.fire("stale", missed);
    });
  }

  // setMode tells every socket the node's mode, as a flag flip or a broker outage does.
  setMode(mode) {
    this.mode = mode;
    const P = this.sim.P;
    for (const s of this.sockets) s.send("mode", { mode, fast: P.serverFast, slow: P.serverSlow });
  }

  // resync is the node's answer to its broker link coming back: hint every holder of a
  // topic the table has moved on, spread over ResyncSpread, then mode push.
  resync() {
    const P = this.sim.P;
    for (const [t, hs] of this.holders) {
      const v = this.sim.version.get(t) || 0;
      if (hs.size > 0 && v > (this.known.get(t) || 0)) {
        this.known.set(t, v);
        this.fanOut(t, v, P.resyncSpreadMs);
      }
    }
    this.sim.clock.task(P.resyncSpreadMs, null, () => this.setMode("push"));
  }

  // drain tells every socket to move away within `within`, as SIGTERM does, and closes
  // what is left after the drain timeout.
  drain(within, timeout, downMs) {
    this.draining = true;
    for (const s of this.sockets) s.send("drain", { within });
    this.sim.clock.task(timeout, null, () => {
      this.kill();
      this.sim.clock.task(downMs, null, () => this.restart());
    });
  }

  stall() {
    this.stalled = true;
  }

  // flush ends a stall: everything the node held back happens at once.
  flush() {
    this.stalled = false;
    const q = this.stallQueue;
    this.stallQueue = [];
    for (const fn of q) fn();
  }

  kill() {
    this.up = false;
    this.busy.clear();
    this.stallQueue = [];
    for (const s of Array.from(this.sockets)) s.dropped("transport close");
  }

  restart() {
    this.up = true;
    this.draining = false;
    this.stalled = false;
    this.mode = "push";
  }
}

// Socket is what io(url, opts) returns to the shim: the socket.io-client surface it
// uses (on/off/emit/connect/disconnect/close, io.engine.pingInterval, `ping` on the socket
// as a TabSocket fires it), with the
// Manager's reconnect loop. Each connection goes to a node the balancer picks at random
// among those up and not draining.
export class Socket {
  constructor(sim, page, opts) {
    this.sim = sim;
    this.page = page;
    this.node = null;
    this.handlers = new Map();
    this.connected = false;
    this.halfOpen = false;
    this.epoch = 0;
    this.topics = [];
    this.tabs = 1;
    this.visible = 1;
    this.lastPong = 0;
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

  // send is a server event on its way to this connection.
  send(ev, msg) {
    const epoch = this.epoch;
    this.sim.clock.task(this.node.oneWay(), this.page, () => {
      if (this.connected && this.epoch === epoch && !this.halfOpen) this.fire(ev, msg);
    });
  }

  emit(ev, req, ack) {
    if (!this.connected || this.halfOpen) return this;
    if (ev === "subscribe") this.node.subscribe(this, req, ack);
    if (ev === "tabs") this.reportTabs(req);
    return this;
  }

  // reportTabs is a `tabs` report reaching the node after a one-way trip; the node counts
  // the socket's visible tabs from it (a late one, after the socket closed, changes nothing).
  reportTabs(req) {
    const r = parseTabs(req);
    if (!r) return;
    const epoch = this.epoch;
    const node = this.node;
    this.sim.clock.task(node.oneWay(), this.page, () => {
      if (!this.connected || this.epoch !== epoch) return;
      node.visible += r.visible - this.visible;
      this.tabs = r.tabs;
      this.visible = r.visible;
    });
  }

  // open is one connection attempt: a handshake round trip, then connected or refused.
  open() {
    const clock = this.sim.clock;
    const ups = this.sim.nodes.filter((n) => n.up && !n.draining);
    const node = ups.length ? ups[Math.floor(this.sim.random() * ups.length)] : this.sim.nodes[0];
    const rtt = 2 * node.oneWay();
    clock.task(rtt, this.page, () => {
      if (this.skip || this.connected) return;
      if (!node.up || node.draining) {
        this.fire("connect_error", new Error("xhr poll error"));
        this.reconnecting = false;
        this.reconnect();
        return;
      }
      this.node = node;
      this.backoff.reset();
      this.reconnecting = false;
      this.connected = true;
      this.halfOpen = false;
      this.tabs = 1;
      this.visible = 1;
      this.epoch++;
      this.lastPong = clock.now;
      node.attach(this);
      this.fire("connect");
      const epoch = this.epoch;
      const P = this.sim.P;
      clock.task(node.oneWay(), this.page, () => {
        if (this.connected && this.epoch === epoch) this.fire("mode", { mode: node.mode, fast: P.serverFast, slow: P.serverSlow });
      });
      if (P.halfOpenPerHour > 0) {
        clock.task(exp(this.sim.random, 3600000 / P.halfOpenPerHour), this.page, () => {
          if (this.connected && this.epoch === epoch) this.halfOpen = true;
        });
      }
      this.ping(epoch);
    });
  }

  // ping is Engine.IO 4's heartbeat: the server's ping every pingInterval, heard by the
  // page a one-way trip later (nothing next to the interval). No ping comes from a stalled
  // node or over a half-open connection; once the last one is older than pingInterval +
  // pingTimeout, socket.io-client closes the connection ("ping timeout").
  ping(epoch) {
    const clock = this.sim.clock;
    const prev = clock.page;
    clock.page = this.page;
    const P = this.sim.P;
    const t = clock.setTimeout(() => {
      if (!this.connected || this.epoch !== epoch) return;
      if (!this.halfOpen && !this.node.stalled) {
        this.lastPong = clock.now;
        this.fire("ping");
      } else if (clock.now - this.lastPong >= P.pingMs + P.pingTimeoutMs) {
        this.dropped("ping timeout");
        return;
      }
      this.ping(epoch);
    }, P.pingMs);
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

  // dropped: the node died under this socket, or the client gave up on its silence.
  dropped(reason) {
    if (!this.connected) return;
    this.connected = false;
    this.halfOpen = false;
    this.node.detach(this);
    this.fire("disconnect", reason);
    this.backoff.reset();
    this.reconnect();
  }
}
