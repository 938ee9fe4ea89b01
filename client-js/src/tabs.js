/**
 * One notifier socket per browser: the tabs of one browser profile that start the shim
 * against the same notifier share it.
 *
 * One tab holds the socket; every tab, the holder's own included, talks to it over
 * BroadcastChannels through a TabSocket, an object with the surface pushpoll.js uses from
 * socket.io-client (on, off, emit with ack, connect, disconnect, close, io.engine.pingInterval).
 *
 *   const tabs = createTabs();                // per document; env injectable for tests
 *   const s = tabs.socket(key, open);         // null where sharing is impossible
 *   s.shared;                                 // "holder" | "follower"
 *
 * key names the connection (the notifier URL and the socket options): tabs share only a
 * socket they would have opened alike. open() opens the real socket, in whichever tab
 * comes to hold it.
 *
 * Election: the Web Locks API. Every page queues for one lock per notifier and socket
 * options; the browser grants it to one page at a time and hands it to the next the moment
 * the holder's document goes away (closed, navigated, crashed), with no timeout to wait
 * out. Each tab also holds a lock of its own for as long as it lives; the holder queues for
 * it, and so learns that a tab is gone even when it never said goodbye. A SharedWorker would
 * keep the socket alive across tab closes, but its script must come from the page's own
 * origin (the shim is served by the notifier, often another origin, and blob: URLs make a
 * new worker per tab), so it would ask every app to host a file.
 *
 * Channels (relay.js lists the messages): the lock and the shared channel are named
 * `pushpoll/2 <key>`, the protocol's version first, so tabs whose shim speaks another
 * version elect their own holder rather than talk past each other. On the shared channel
 * the holder announces itself (`hub`, with its id) and tabs say hello, want and bye; all
 * else goes over a channel per holder/tab pair, `pushpoll/2 <key> <hub id> <tab id>`: the
 * tab's emits (its subscribe carries its token) and the holder's answers and relays. So a
 * token never goes over the shared channel, and a tab hears only its holder. A
 * BroadcastChannel only reaches documents of the same origin in the same profile and
 * storage partition: the app's own pages, which can fetch that token endpoint with the
 * same cookies anyway. Any of them can still post anything on any channel, so every
 * message is checked by shape (relay.js) and one of the wrong shape is ignored.
 *
 * The holder keeps, per tab, the topics the node granted that tab and the newest version
 * the tab is known to have seen (what it subscribed with, raised by every hint relayed), and:
 *   - relays `stale` and `expired` only for a tab's granted topics; `mode`, `drain`, `ping`
 *     and `connect_error` to every attached tab;
 *   - subscribes for each tab with that tab's token, so the node answers each tab for
 *     itself (a token that lacks a topic gets it denied; other tabs keep theirs);
 *   - tells a tab at once, with a `stale`, when the socket knows a newer version of one of
 *     its topics than the tab: the node only catches up what the socket as a whole is
 *     behind on, and another tab may have moved it on;
 *   - unsubscribes a topic when the last tab holding it leaves, closes or crashes;
 *   - reports the number of tabs, and how many are visible, to the node (`tabs`, DESIGN §2).
 *
 * Liveness: the holder announces itself every BEAT (2 s). A holder frozen by the browser
 * or hung keeps its lock, so a follower that hears no holder for LOST (6 s) tells its shim
 * the link is down (it polls at `fast`), and says hello again when a holder speaks. Why
 * these values, and why the beat never slows down in a hidden holder: see BEAT.
 *
 * Hand-over: the next page in the lock's queue opens a new socket. Tabs that were connected
 * through the old holder stay connected from their shim's point of view (no mode change, no
 * fallback polling) and get `resubscribe` once the new socket is up, so each subscribes
 * again with the versions it holds and the node catches up any bump made meanwhile. If the
 * new socket cannot connect they get `disconnect`; if it takes too long, the shim's
 * heartbeat watchdog sees the silence as it would on a dead link.
 *
 * A hidden holder serves the others as well as a visible one: everything it does for them
 * runs on socket and channel events, which browsers do not throttle in hidden tabs, and its
 * two timers form no chain: Engine.IO's ping timeout is re-armed from each of the server's
 * pings (a network event),
 * the beat from a channel message; so Chrome's intensive throttling of long-hidden tabs
 * never applies, and the 1 s alignment of hidden tabs is immaterial to a 25 s ping and
 * allowed for in LOST. Each tab's own polls and watchdog stay on its own timers, stretched
 * only when that tab is hidden.
 *
 * A socket-level `drain` is acted on once, by the holder: it disconnects at once and
 * reconnects after one random delay up to `within` (at most 5 min); the tabs hear `drain`
 * with `within: 0`, go through their own drain (polling meanwhile) and ask to connect at
 * once, so they are attached when the holder's delay ends, without drawing a second one.
 *
 * A subscribe whose ack comes back on a connection since replaced (the holder reconnected
 * between emit and ack) is sent again on the new connection for its tab, with the versions
 * the tab holds, unless the tab has subscribed there itself already.
 */

import { heartbeatSource, pingInterval } from "./heartbeat.js";
import { toVersion } from "./options.js";
import { fromHub, fromTab, onShared } from "./relay.js";

// Names the lock and the channels; see relay.js for the messages.
const PROTOCOL = "pushpoll/2";
// What the holder passes on to every attached tab as it comes from the socket.
const RELAYED = ["connect_error", "ping", "mode"];
// `drain` without a usable `within`: the value the design uses. A longer window than
// DRAIN_MAX would only keep the tabs off push for no reason (the shim caps it alike).
const DRAIN_DEFAULT = 10000;
const DRAIN_MAX = 300000;
// The holder announces itself on the shared channel every BEAT ms, and a follower that
// hears no holder for LOST ms stops trusting push (its shim polls at `fast`) until one
// speaks again: a holder frozen by the browser, or hung, still holds the lock, so only its
// silence shows. A hidden holder's timers run at most once a second (Chrome aligns them
// to whole seconds), so its beats come at most BEAT + 1 s apart; after 5 minutes hidden,
// Chrome runs a chain of 5 or more nested timers at most once a minute, so the next beat
// is armed from a message (the holder hearing its own announcement), which starts a new
// chain each time and is never held back that long. LOST is twice that worst gap, so a
// hidden or briefly busy holder is not taken for frozen, and a frozen one is found within
// about 6 s (7 s for a hidden follower, whose own timer is aligned the same way). A beat
// costs each tab of the browser one message every 2 s.
const BEAT = 2000;
const LOST = 6000;

function newId(random) {
  return Math.floor(random() * 2 ** 52).toString(36) + Math.floor(random() * 2 ** 52).toString(36);
}

// pairName names the channel between one holder (hub id) and one tab.
function pairName(name, hub, tab) {
  return name + " " + hub + " " + tab;
}

/**
 * createTabs returns the sharing scope of one document. env overrides the browser's
 * BroadcastChannel, navigator.locks, Math.random, setTimeout and clearTimeout.
 */
export function createTabs(env = {}) {
  const g = typeof globalThis !== "undefined" ? globalThis : {};
  const e = {
    BroadcastChannel: "BroadcastChannel" in env ? env.BroadcastChannel : g.BroadcastChannel,
    locks: "locks" in env ? env.locks : g.navigator && g.navigator.locks,
    random: env.random || Math.random,
    setTimeout: env.setTimeout || ((fn, ms) => setTimeout(fn, ms)),
    clearTimeout: env.clearTimeout || ((t) => clearTimeout(t)),
  };
  const pages = new Map(); // lock name -> Page

  return {
    // socket returns a TabSocket sharing the connection named key, or null where this
    // browser lacks BroadcastChannel or Web Locks (the caller then opens its own).
    socket(key, open) {
      if (typeof e.BroadcastChannel !== "function" || !e.locks || typeof e.locks.request !== "function") return null;
      // The protocol's version is in the name: tabs running a shim that speaks another one
      // elect their own holder instead of talking past each other.
      const name = PROTOCOL + " " + key;
      let page = pages.get(name);
      if (!page) {
        page = new Page(e, name, open, () => pages.delete(name));
        pages.set(name, page);
      }
      return new TabSocket(page);
    },
  };
}

// Page is this document's stake in one shared socket: its tabs, and the holder role while
// the lock is ours.
class Page {
  constructor(env, name, open, onEmpty) {
    this.env = env;
    this.name = name;
    this.open = open;
    this.onEmpty = onEmpty;
    this.tabs = new Set();
    this.hub = null;
    this.closed = false;
    this.release = null;
    this.abort = new AbortController();
    env.locks
      .request(name, { signal: this.abort.signal }, () => {
        if (this.closed) return undefined;
        this.hub = new Hub(env, name, open);
        // Held until this page has no tab left; the browser frees it if the page dies.
        return new Promise((resolve) => {
          this.release = resolve;
        });
      })
      .catch(() => {
        // Aborted: the page's last tab closed before its turn came.
      });
  }

  remove(tab) {
    this.tabs.delete(tab);
    if (this.tabs.size > 0 || this.closed) return;
    this.closed = true;
    this.onEmpty();
    this.abort.abort();
    if (this.hub) this.hub.close();
    this.hub = null;
    if (this.release) this.release();
  }
}

// TabSocket is one shim's view of the shared socket.
class TabSocket {
  constructor(page) {
    const env = page.env;
    this.page = page;
    this.env = env;
    this.id = newId(env.random);
    this.handlers = new Map();
    // Like socket.io's autoConnect: the shim expects io() to start connecting.
    this.want = true;
    this.connected = false;
    this.sock = null; // the shared connection this tab is attached to
    this.ping = undefined;
    this.acks = new Map();
    this.nextAck = 1;
    this.ready = false;
    this.watchdog = null; // fires when no holder has been heard for LOST ms
    this.lost = false; // the holder fell silent: say hello again when one speaks
    this.closed = false;
    this.unlock = null;
    this.io = { engine: { pingInterval: undefined } };
    this.bc = new env.BroadcastChannel(page.name);
    this.bc.onmessage = (ev) => this.receive(onShared(ev.data));
    this.hubId = ""; // the holder whose pair channel this tab listens on
    this.pair = null;
    page.tabs.add(this);
    // Only once this tab holds its own lock can the holder watch it; hello says it does.
    env.locks
      .request(page.name + " tab " + this.id, () => {
        if (this.closed) return undefined;
        this.ready = true;
        this.hello();
        return new Promise((resolve) => {
          this.unlock = resolve;
        });
      })
      .catch(() => {});
  }

  get shared() {
    return this.page.hub ? "holder" : "follower";
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

  // emit while not connected is dropped, ack and all: the shim only emits when connected,
  // and subscribes again on every (re)connect.
  emit(ev, ...args) {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (!this.connected) return this;
    let id = 0;
    if (ack) {
      id = this.nextAck++;
      this.acks.set(id, ack);
    }
    if (this.pair) this.pair.postMessage({ t: "emit", ev, args, id });
    return this;
  }

  // connect attaches this tab again, and reconnects the socket if it is down.
  connect() {
    if (this.closed || this.connected) return this;
    this.want = true;
    this.post({ t: "want", on: true });
    return this;
  }

  // disconnect detaches this tab only; the socket stays up for the others.
  disconnect() {
    if (this.closed) return this;
    const was = this.connected;
    this.want = false;
    this.detach();
    this.post({ t: "want", on: false });
    if (was) this.fire("disconnect", "io client disconnect");
    return this;
  }

  close() {
    if (this.closed) return this;
    this.disconnect();
    this.post({ t: "bye" });
    this.closed = true;
    this.bc.close();
    if (this.pair) this.pair.close();
    if (this.watchdog !== null) this.env.clearTimeout(this.watchdog);
    if (this.unlock) this.unlock();
    this.page.remove(this);
    return this;
  }

  detach() {
    this.connected = false;
    this.sock = null;
    this.acks.clear();
  }

  hello() {
    this.post({ t: "hello", hub: this.hubId, want: this.want, connected: this.connected });
  }

  // listen moves this tab to the pair channel of holder hub; false if it is there already.
  listen(hub) {
    if (hub === this.hubId) return false;
    if (this.pair) this.pair.close();
    this.hubId = hub;
    this.pair = new this.env.BroadcastChannel(pairName(this.page.name, hub, this.id));
    this.pair.onmessage = (ev) => this.fromHub(fromHub(ev.data));
    return true;
  }

  post(msg) {
    if (!this.ready || this.closed) return;
    msg.tab = this.id;
    this.bc.postMessage(msg);
  }

  fire(ev, ...args) {
    for (const fn of (this.handlers.get(ev) || []).slice()) fn(...args);
  }

  // receive reads the shared channel: a tab only hears the holders there.
  receive(m) {
    if (this.closed || !m || m.t !== "hub") return;
    this.watch();
    const moved = this.listen(m.hub);
    if ((moved || this.lost) && this.ready) {
      this.lost = false;
      this.hello();
    }
  }

  // watch restarts the wait for the next beat. It is armed from a message, never from a
  // timer, so it forms no timer chain either. The holder's own document needs none: it
  // cannot freeze without freezing the tabs in it.
  watch() {
    if (this.watchdog !== null) this.env.clearTimeout(this.watchdog);
    this.watchdog = null;
    if (this.page.hub) return;
    this.watchdog = this.env.setTimeout(() => {
      this.watchdog = null;
      if (this.closed || this.page.hub) return;
      this.lost = true;
      this.down("transport close");
    }, LOST);
  }

  fromHub(m) {
    if (this.closed || !m) return;
    if (m.t === "up") this.up(m);
    else if (m.t === "down") this.down(m.reason);
    else if (m.t === "ev" && this.want) this.fire(m.ev, ...m.args);
    else if (m.t === "ack") {
      const fn = this.acks.get(m.id);
      this.acks.delete(m.id);
      if (fn) fn(...m.args);
    }
  }

  up(m) {
    if (!this.want || (this.connected && this.sock === m.sock)) return;
    this.io.engine.pingInterval = m.ping;
    const moved = this.connected;
    this.detach();
    this.connected = true;
    this.sock = m.sock;
    if (!moved) this.fire("connect");
    else if (this.handlers.has("resubscribe")) this.fire("resubscribe");
    else {
      // A caller that does not know hand-overs sees a reconnect.
      this.fire("disconnect", "transport close");
      this.fire("connect");
    }
  }

  down(reason) {
    if (!this.connected) return;
    this.detach();
    this.fire("disconnect", reason);
  }
}

// Hub runs in the holder: the real socket, and what each tab holds on it.
class Hub {
  constructor(env, name, open) {
    this.env = env;
    this.name = name;
    this.id = newId(env.random);
    this.conns = 0;
    this.sock = null; // names the current connection; null while down
    // tab id -> {want, granted: Map topic -> newest version the tab is known to have
    // seen, carried: connected through an earlier holder, subscribedOn: the connection its
    // last subscribe went out on, abort}
    this.tabs = new Map();
    this.known = new Map(); // topic -> newest version this connection has seen
    /** @type {number | {tabs: number, visible: number}} what the node counts for this connection */
    this.reported = 1;
    // The node says its mode once per connection: kept for tabs that attach later.
    this.mode = null;
    this.holdoff = null; // drain timer: no reconnect before it fires
    this.beat = null; // the next announcement's timer
    this.bc = new env.BroadcastChannel(name);
    this.bc.onmessage = (ev) => this.receive(onShared(ev.data));
    this.socket = open();
    this.listeners = [];
    const on = (ev, fn) => {
      const from = ev === "ping" ? heartbeatSource(this.socket) : this.socket;
      this.listeners.push([from, ev, fn]);
      from.on(ev, fn);
    };
    on("connect", () => this.onConnect());
    on("disconnect", (reason) => this.onDisconnect(reason));
    on("stale", (msg, extra) => this.onStale(msg, extra));
    on("expired", (msg) => this.onExpired(msg));
    on("drain", (msg) => this.onDrain(msg));
    for (const ev of RELAYED) on(ev, (...args) => this.relay(ev, args));
    // The holder hears its own announcements on a second channel object and arms the next
    // beat from there (see BEAT).
    this.loop = new env.BroadcastChannel(name);
    this.loop.onmessage = (ev) => {
      const m = onShared(ev.data);
      if (m && m.t === "hub" && m.hub === this.id) this.nextBeat();
    };
    this.announce();
  }

  nextBeat() {
    if (this.beat !== null) this.env.clearTimeout(this.beat);
    this.beat = this.env.setTimeout(() => {
      this.beat = null;
      this.announce();
    }, BEAT);
  }

  announce() {
    this.bc.postMessage({ t: "hub", hub: this.id });
  }

  close() {
    for (const [from, ev, fn] of this.listeners) from.off(ev, fn);
    this.socket.close();
    for (const tab of this.tabs.values()) {
      tab.abort.abort();
      tab.bc.close();
    }
    this.tabs.clear();
    if (this.holdoff !== null) this.env.clearTimeout(this.holdoff);
    if (this.beat !== null) this.env.clearTimeout(this.beat);
    this.loop.close();
    this.bc.close();
  }

  send(to, msg) {
    for (const id of to) {
      const tab = this.tabs.get(id);
      if (tab) tab.bc.postMessage(msg);
    }
  }

  attached() {
    const out = [];
    for (const [id, tab] of this.tabs) if (tab.want) out.push(id);
    return out;
  }

  ping() {
    return pingInterval(this.socket);
  }

  receive(m) {
    if (!m || m.t === "hub") return;
    if (m.t === "hello") return this.hello(m);
    const tab = this.tabs.get(m.tab);
    if (!tab) return;
    if (m.t === "want") this.setWant(m.tab, tab, m.on);
    else if (m.t === "bye") this.drop(m.tab);
  }

  // A tab that says hello listening for another holder (or none yet) is told which one
  // this is, and says hello again on this holder's pair channel.
  hello(m) {
    let tab = this.tabs.get(m.tab);
    if (!tab) {
      const bc = new this.env.BroadcastChannel(pairName(this.name, this.id, m.tab));
      tab = { want: false, granted: new Map(), carried: m.connected, abort: new AbortController(), bc };
      bc.onmessage = (ev) => {
        const e = fromTab(ev.data);
        if (e && this.tabs.get(m.tab) === tab) this.forward(m.tab, tab, e);
      };
      this.tabs.set(m.tab, tab);
      // Granted only once the tab's document let go of its own lock: it is gone.
      this.env.locks
        .request(this.name + " tab " + m.tab, { signal: tab.abort.signal }, () => this.drop(m.tab))
        .catch(() => {});
      this.reportTabs();
    }
    if (m.hub !== this.id) return this.announce();
    this.setWant(m.tab, tab, m.want);
  }

  setWant(id, tab, on) {
    tab.want = on;
    if (!tab.want) {
      this.release(tab, Array.from(tab.granted.keys()));
    } else if (this.sock !== null) {
      tab.carried = false;
      this.send([id], { t: "up", sock: this.sock, ping: this.ping() });
      if (this.mode) this.send([id], { t: "ev", ev: "mode", args: this.mode });
    } else if (this.holdoff === null) {
      this.socket.connect(); // a no-op while socket.io is already connecting
    }
  }

  drop(id) {
    const tab = this.tabs.get(id);
    if (!tab) return;
    this.tabs.delete(id);
    tab.abort.abort();
    tab.bc.close();
    this.release(tab, Array.from(tab.granted.keys()));
    this.reportTabs();
  }

  // release forgets topics for tab and unsubscribes those no other tab holds.
  release(tab, topics) {
    const orphans = [];
    for (const t of topics) {
      if (!tab.granted.delete(t)) continue;
      let held = false;
      for (const other of this.tabs.values()) if (other.want && other.granted.has(t)) held = true;
      if (!held) orphans.push(t);
    }
    if (orphans.length === 0 || this.sock === null) return;
    for (const t of orphans) this.known.delete(t);
    this.socket.emit("unsubscribe", orphans);
  }

  // The node hears {tabs, visible}, or a bare count when every tab is visible (what a
  // node that predates visibility understands too).
  reportTabs() {
    const n = this.tabs.size;
    let visible = 0;
    for (const tab of this.tabs.values()) if (!tab.hidden) visible++;
    const report = visible === n ? n : { tabs: n, visible };
    if (this.sock === null || n === 0 || JSON.stringify(report) === JSON.stringify(this.reported)) return;
    this.reported = report;
    this.socket.emit("tabs", report);
  }

  forward(id, tab, m) {
    if (this.sock === null || !tab.want) return;
    if (m.ev === "subscribe") return this.subscribe(id, tab, m);
    if (m.ev === "unsubscribe") return this.release(tab, m.args[0]);
    if (m.ev === "tabs") {
      // A tab's own {tabs: 1, visible}: the socket reports the sum over its tabs.
      tab.hidden = m.args[0].visible === 0;
      return this.reportTabs();
    }
    const args = m.args.slice();
    if (m.id) args.push((...a) => this.send([id], { t: "ack", id: m.id, args: a }));
    this.socket.emit(m.ev, ...args);
  }

  subscribe(id, tab, m) {
    const req = { token: m.args[0].token, topics: m.args[0].topics };
    const asked = req.topics;
    const sock = this.sock;
    tab.subscribedOn = sock;
    this.socket.emit("subscribe", req, (ack) => {
      if (sock !== this.sock) return this.resubscribe(id, tab, req, asked, m.id);
      const granted = ack && Array.isArray(ack.granted) ? ack.granted : [];
      if (this.tabs.get(id) !== tab || !tab.want) {
        // The tab left while asking: what it alone was granted must not stay subscribed.
        for (const t of granted) tab.granted.set(t, 0);
        this.release(tab, granted);
        return;
      }
      for (const t of granted) {
        const v = Math.max(0, Math.floor(Number(asked[t])) || 0);
        tab.granted.set(t, Math.max(v, tab.granted.get(t) || 0));
        // The node raises what it thinks the socket holds the same way.
        if (v > (this.known.get(t) || 0)) this.known.set(t, v);
      }
      // A topic this tab no longer may hold stays only if another tab holds it.
      const denied = ack && ack.denied && typeof ack.denied === "object" ? Object.keys(ack.denied) : [];
      this.release(
        tab,
        denied.filter((t) => tab.granted.has(t)),
      );
      if (m.id) this.send([id], { t: "ack", id: m.id, args: [ack] });
      this.catchUp();
    });
  }

  // resubscribe handles an ack that came back on a connection since replaced: what it
  // granted is gone with that connection. A tab told of the new connection subscribes
  // there itself (the shim does on every connect), and then nothing needs doing; one still
  // attached that has not is subscribed on its behalf, with its request's versions raised
  // to what it is known to hold now, and answered with the new connection's ack.
  resubscribe(id, tab, req, asked, ackId) {
    if (this.sock === null || this.tabs.get(id) !== tab || !tab.want || tab.subscribedOn === this.sock) return;
    const topics = {};
    for (const t of Object.keys(asked)) topics[t] = Math.max(Number(asked[t]) || 0, tab.granted.get(t) || 0);
    this.subscribe(id, tab, { ev: "subscribe", id: ackId, args: [{ token: req.token, topics }] });
  }

  // catchUp tells every tab about versions this connection knows and it has not seen.
  catchUp() {
    for (const [id, tab] of this.tabs) {
      if (!tab.want) continue;
      const behind = {};
      let any = false;
      for (const [t, v] of tab.granted) {
        const k = this.known.get(t) || 0;
        if (k > v) {
          behind[t] = k;
          tab.granted.set(t, k);
          any = true;
        }
      }
      if (any) this.send([id], { t: "ev", ev: "stale", args: [behind] });
    }
  }

  onConnect() {
    this.sock = this.id + ":" + ++this.conns;
    this.mode = null;
    this.known.clear();
    this.reported = 1;
    for (const tab of this.tabs.values()) {
      tab.granted.clear();
      tab.carried = false;
    }
    this.send(this.attached(), { t: "up", sock: this.sock, ping: this.ping() });
    this.reportTabs();
  }

  onDisconnect(reason) {
    this.sock = null;
    this.known.clear();
    for (const tab of this.tabs.values()) tab.granted.clear();
    this.send(this.attached(), { t: "down", reason });
  }

  relay(ev, args) {
    if (ev === "mode") this.mode = args;
    if (ev === "connect_error") {
      // Tabs that came over from an earlier holder learn that this socket is not up.
      const carried = [];
      for (const [id, tab] of this.tabs) {
        if (tab.carried) carried.push(id);
        tab.carried = false;
      }
      this.send(carried, { t: "down", reason: "transport error" });
    }
    this.send(this.attached(), { t: "ev", ev, args });
  }

  // extra: the node's {spread} (DESIGN §2), relayed as it came.
  onStale(msg, extra) {
    if (!msg || typeof msg !== "object") return;
    // Only what a tab takes (relay.js): a version the shim reads, an object as the spread.
    const topics = Object.keys(msg).filter((t) => toVersion(msg[t]) !== null);
    const args = extra && typeof extra === "object" && !Array.isArray(extra) ? [extra] : [];
    for (const t of topics) {
      const v = Number(msg[t]);
      if (v > (this.known.get(t) || 0)) this.known.set(t, v);
    }
    for (const [id, tab] of this.tabs) {
      if (!tab.want) continue;
      const mine = {};
      let any = false;
      for (const t of topics) {
        if (!tab.granted.has(t)) continue;
        mine[t] = msg[t];
        const v = Number(msg[t]);
        if (v > tab.granted.get(t)) tab.granted.set(t, v);
        any = true;
      }
      if (any) this.send([id], { t: "ev", ev: "stale", args: [mine, ...args] });
    }
  }

  onExpired(msg) {
    const topics = msg && Array.isArray(msg.topics) ? msg.topics : [];
    for (const t of topics) this.known.delete(t);
    for (const [id, tab] of this.tabs) {
      const mine = topics.filter((t) => tab.granted.delete(t));
      if (tab.want && mine.length > 0) this.send([id], { t: "ev", ev: "expired", args: [{ topics: mine }] });
    }
  }

  // One random draw, this one, decides when the shared socket comes back. The tabs hear
  // `drain` with `within: 0`, so each goes through its drain (polling meanwhile) and asks
  // to reconnect at once; they are attached when this delay ends and the socket is up,
  // instead of after the later of two draws.
  onDrain(msg) {
    this.relay("drain", [Object.assign({}, msg && typeof msg === "object" ? msg : {}, { within: 0 })]);
    const within = msg && Number(msg.within) >= 0 ? Math.min(Number(msg.within), DRAIN_MAX) : DRAIN_DEFAULT;
    if (this.holdoff !== null) this.env.clearTimeout(this.holdoff);
    this.holdoff = this.env.setTimeout(() => {
      this.holdoff = null;
      if (this.attached().length > 0) this.socket.connect();
    }, this.env.random() * within);
    this.socket.disconnect();
  }
}
