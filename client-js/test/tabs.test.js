// Tabs of one browser share one socket: election, relay, hand-over (src/tabs.js), with a
// hand-written browser (test/browser.js) and fake sockets played as the notifier.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createTabs } from "../src/tabs.js";
import { FakeBrowser, FakeNetwork, settle } from "./browser.js";

const URL = "http://notifier.test";
const OPTS = { forceNew: true };
const KEY = URL + " " + JSON.stringify(OPTS);
const EVENTS = ["connect", "disconnect", "stale", "expired", "mode", "drain", "ping", "connect_error", "resubscribe"];

// open starts one shim's worth of socket in a new tab (or in `tab`), recording every event.
function open(browser, net, tab = browser.tab()) {
  // One sharing scope per document, as the shim's default one is.
  tab.scope = tab.scope || createTabs(tab.env);
  const s = tab.scope.socket(KEY, () => net.io(URL, OPTS));
  const t = { tab, s, seen: [] };
  for (const ev of EVENTS) s.on(ev, (...args) => t.seen.push([ev, ...args]));
  t.events = (ev) => t.seen.filter((e) => e[0] === ev).map((e) => e.slice(1));
  return t;
}

// subscribe emits as the shim does and resolves to the ack the tab receives.
function subscribe(t, token, topics) {
  return new Promise((resolve) => t.s.emit("subscribe", { token, topics }, resolve));
}

// answer acks every subscribe the socket has not answered yet; grant(token, topic) decides.
function answer(sock, grant = () => true) {
  sock.answered = sock.answered || 0;
  const subs = sock.sent("subscribe");
  for (; sock.answered < subs.length; sock.answered++) {
    const [req, cb] = subs[sock.answered];
    const ack = { granted: [], denied: {} };
    for (const topic of Object.keys(req.topics)) {
      if (grant(req.token, topic)) ack.granted.push(topic);
      else ack.denied[topic] = "not in token";
    }
    cb(ack);
  }
}

// threeTabs: a holder and two followers, connected; A holds a and s, B b and s, C c.
async function threeTabs() {
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const tabs = [open(browser, net), open(browser, net), open(browser, net)];
  await settle(browser);
  assert.equal(net.sockets.length, 1, "one socket for three tabs");
  const sock = net.sockets[0];
  sock.serverConnect();
  await settle(browser);
  const [a, b, c] = tabs;
  const acks = [subscribe(a, "tokA", { a: 1, s: 5 }), subscribe(b, "tokB", { b: 1, s: 5 }), subscribe(c, "tokC", { c: 1 })];
  await settle(browser);
  answer(sock);
  await settle(browser);
  return { browser, net, sock, a, b, c, acks: await Promise.all(acks) };
}

test("one socket per browser: first tab holds, the others follow, the node hears the count", async () => {
  const { net, sock, a, b, c } = await threeTabs();
  assert.deepEqual([a.s.shared, b.s.shared, c.s.shared], ["holder", "follower", "follower"]);
  assert.equal(net.sockets.length, 1);
  for (const t of [a, b, c]) assert.equal(t.events("connect").length, 1);
  assert.deepEqual(sock.sent("tabs"), [[3]]);
  assert.equal(a.s.io.engine.pingInterval, 25000, "followers see the holder's ping interval");
  assert.equal(b.s.io.engine.pingInterval, 25000);
});

test("each tab subscribes with its own token and gets its own ack", async () => {
  const { sock, acks } = await threeTabs();
  assert.deepEqual(
    sock.sent("subscribe").map(([req]) => req),
    [
      { token: "tokA", topics: { a: 1, s: 5 } },
      { token: "tokB", topics: { b: 1, s: 5 } },
      { token: "tokC", topics: { c: 1 } },
    ],
  );
  assert.deepEqual(acks.map((x) => x.granted), [["a", "s"], ["b", "s"], ["c"]]);
});

test("hints reach only the tabs holding the topic, mode and the server's pings reach all", async () => {
  const { browser, sock, a, b, c } = await threeTabs();
  sock.fire("stale", { a: 2 });
  sock.fire("stale", { s: 6 });
  sock.fire("stale", { a: 3, b: 2, c: 0 });
  sock.fire("mode", { mode: "push", fast: 5000, slow: 60000 });
  sock.serverPing();
  await settle(browser);
  assert.deepEqual(a.events("stale"), [[{ a: 2 }], [{ s: 6 }], [{ a: 3 }]]);
  assert.deepEqual(b.events("stale"), [[{ s: 6 }], [{ b: 2 }]]);
  assert.deepEqual(c.events("stale"), [[{ c: 0 }]]);
  for (const t of [a, b, c]) {
    assert.deepEqual(t.events("mode"), [[{ mode: "push", fast: 5000, slow: 60000 }]]);
    assert.deepEqual(t.events("ping"), [[]]);
  }
});

test("a token that lacks a topic: that tab is denied it, the other keeps it", async () => {
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const a = open(browser, net);
  const b = open(browser, net);
  await settle(browser);
  const sock = net.sockets[0];
  sock.serverConnect();
  await settle(browser);
  const acks = [subscribe(a, "tokA", { s: 5 }), subscribe(b, "tokB", { s: 5 })];
  await settle(browser);
  answer(sock, (token) => token === "tokA");
  await settle(browser);
  const [ackA, ackB] = await Promise.all(acks);
  assert.deepEqual(ackA, { granted: ["s"], denied: {} });
  assert.deepEqual(ackB, { granted: [], denied: { s: "not in token" } });
  assert.deepEqual(sock.sent("unsubscribe"), [], "a denial does not take the topic from the tab that has it");
  sock.fire("stale", { s: 6 });
  await settle(browser);
  assert.deepEqual(a.events("stale"), [[{ s: 6 }]]);
  assert.deepEqual(b.events("stale"), []);
});

test("a topic is unsubscribed when the last tab holding it leaves, closes or crashes", async () => {
  const { browser, sock, b, c, a } = await threeTabs();
  b.s.close(); // b and s: s is still A's
  await settle(browser);
  assert.deepEqual(sock.sent("unsubscribe"), [[["b"]]]);
  c.tab.crash(); // no goodbye: the holder learns it from the tab's lock
  await settle(browser);
  assert.deepEqual(sock.sent("unsubscribe"), [[["b"]], [["c"]]]);
  assert.deepEqual(sock.sent("tabs"), [[3], [2], [1]]);
  a.s.emit("unsubscribe", ["s"]);
  await settle(browser);
  assert.deepEqual(sock.sent("unsubscribe"), [[["b"]], [["c"]], [["s"]]]);
  sock.fire("stale", { s: 9, a: 4 });
  await settle(browser);
  assert.deepEqual(a.events("stale").at(-1), [{ a: 4 }]);
});

test("a tab subscribing behind what the socket knows is told at once", async () => {
  const { browser, sock, a, b } = await threeTabs();
  sock.fire("stale", { s: 7 }); // both hold s at 5
  await settle(browser);
  // B polled meanwhile and subscribes again (say, on a fresh token) at 7; A is told nothing new.
  const ack = subscribe(b, "tokB2", { s: 7 });
  await settle(browser);
  answer(sock);
  await ack;
  await settle(browser);
  assert.deepEqual(a.events("stale"), [[{ s: 7 }]]);
  // A tab that joins holding s at 5 gets 7 from the holder, since the node thinks the
  // socket already has it and would say nothing.
  const d = open(browser, net0());
  await settle(browser);
  const ackD = subscribe(d, "tokD", { s: 5 });
  await settle(browser);
  answer(sock);
  await ackD;
  await settle(browser);
  assert.deepEqual(d.events("stale"), [[{ s: 7 }]]);
  // And a tab that subscribes ahead of the others carries them forward.
  const ackA = subscribe(a, "tokA2", { s: 9, a: 1 });
  await settle(browser);
  answer(sock);
  await ackA;
  await settle(browser);
  assert.deepEqual(b.events("stale").at(-1), [{ s: 9 }]);
  assert.deepEqual(d.events("stale").at(-1), [{ s: 9 }]);
});

// net0 is a network whose io() fails the test: a tab joining a live holder opens nothing.
function net0() {
  return {
    io() {
      throw new Error("a follower opened a socket");
    },
  };
}

test("expired reaches only the tabs that held those topics", async () => {
  const { browser, sock, a, b, c } = await threeTabs();
  sock.fire("expired", { topics: ["s", "c"] });
  await settle(browser);
  assert.deepEqual(a.events("expired"), [[{ topics: ["s"] }]]);
  assert.deepEqual(b.events("expired"), [[{ topics: ["s"] }]]);
  assert.deepEqual(c.events("expired"), [[{ topics: ["c"] }]]);
  sock.fire("stale", { s: 8 });
  await settle(browser);
  assert.deepEqual(a.events("stale"), [], "an expired topic is not relayed until granted again");
});

test("the holder crashes: the next tab opens a socket, the others resubscribe without a disconnect", async () => {
  const { browser, net, sock, a, b, c } = await threeTabs();
  a.tab.crash();
  sock.closed = true;
  await settle(browser);
  assert.equal(net.sockets.length, 2);
  assert.deepEqual([b.s.shared, c.s.shared], ["holder", "follower"]);
  const next = net.sockets[1];
  assert.deepEqual(next.opts, OPTS);
  assert.equal(b.events("resubscribe").length, 0, "not before the new socket is up");
  next.serverConnect();
  await settle(browser);
  for (const t of [b, c]) {
    assert.deepEqual(t.events("disconnect"), [], "a hand-over is no outage");
    assert.equal(t.events("connect").length, 1);
    assert.equal(t.events("resubscribe").length, 1);
  }
  assert.deepEqual(next.sent("tabs"), [[2]]);
  // The shims subscribe again with their versions; the node catches up what they missed.
  const acks = [subscribe(b, "tokB", { b: 1, s: 6 }), subscribe(c, "tokC", { c: 1 })];
  await settle(browser);
  answer(next);
  await Promise.all(acks);
  next.fire("stale", { s: 7 });
  await settle(browser);
  assert.deepEqual(b.events("stale"), [[{ s: 7 }]]);
});

test("a new holder whose socket cannot connect tells the carried tabs", async () => {
  const { browser, net, a, b } = await threeTabs();
  a.s.close();
  await settle(browser);
  const next = net.sockets[1];
  next.fire("connect_error", new Error("refused"));
  await settle(browser);
  assert.deepEqual(b.events("disconnect"), [["transport error"]]);
  next.serverConnect();
  await settle(browser);
  assert.equal(b.events("connect").length, 2, "then connects as after any outage");
  assert.equal(b.events("resubscribe").length, 0);
});

test("a page whose last tab stops steps down and frees the lock", async () => {
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const page = browser.tab();
  const a1 = open(browser, net, page);
  const a2 = open(browser, net, page);
  const b = open(browser, net);
  await settle(browser);
  net.sockets[0].serverConnect();
  await settle(browser);
  assert.deepEqual(net.sockets[0].sent("tabs"), [[3]], "two shims in one page count as two");
  a1.s.close();
  await settle(browser);
  assert.equal(net.sockets.length, 1, "the page still has a shim: it keeps the socket");
  assert.equal(a2.s.shared, "holder");
  a2.s.close();
  await settle(browser);
  assert.ok(net.sockets[0].closed, "the socket closes with the page's last shim");
  assert.equal(b.s.shared, "holder");
  assert.equal(net.open().length, 1);
});

test("server disconnect: tabs go down, and a tab's connect() brings the socket back for all", async () => {
  const { browser, sock, a, b } = await threeTabs();
  sock.serverDisconnect("io server disconnect");
  await settle(browser);
  assert.deepEqual(a.events("disconnect"), [["io server disconnect"]]);
  assert.deepEqual(b.events("disconnect"), [["io server disconnect"]]);
  const before = sock.connectCalls;
  b.s.connect();
  await settle(browser);
  assert.equal(sock.connectCalls, before + 1);
  sock.serverConnect();
  await settle(browser);
  assert.equal(a.events("connect").length, 2);
  assert.equal(b.events("connect").length, 2);
  assert.deepEqual(sock.sent("tabs"), [[3], [3]], "a new connection counts again");
});

test("drain: relayed to every tab with within 0; the socket reconnects once, after its own random delay", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const tabs = [];
  for (let i = 0; i < 3; i++) {
    const tab = browser.tab();
    tab.env.random = () => 0.5;
    tabs.push(open(browser, net, tab));
  }
  await settle(browser);
  const sock = net.sockets[0];
  sock.serverConnect();
  await settle(browser);
  sock.fire("drain", { within: 4000 });
  await settle(browser);
  assert.equal(sock.disconnectCalls, 1, "the draining node is left at once");
  // The holder's draw is the only one: the tabs are told to ask again at once.
  for (const x of tabs) assert.deepEqual(x.events("drain"), [[{ within: 0 }]]);
  // The shims detach and ask again on their own timers; the socket waits for its own.
  for (const x of tabs) x.s.disconnect();
  await settle(browser);
  const before = sock.connectCalls;
  for (const x of tabs) x.s.connect();
  await settle(browser);
  assert.equal(sock.connectCalls, before, "no reconnect before the holder's delay");
  t.mock.timers.tick(1999);
  assert.equal(sock.connectCalls, before);
  t.mock.timers.tick(1);
  assert.equal(sock.connectCalls, before + 1);
});

test("a detached tab gets nothing, and its topics leave with it", async () => {
  const { browser, sock, b } = await threeTabs();
  b.s.disconnect();
  await settle(browser);
  assert.deepEqual(b.events("disconnect"), [["io client disconnect"]]);
  assert.deepEqual(sock.sent("unsubscribe"), [[["b"]]]);
  sock.fire("stale", { s: 8 });
  sock.fire("mode", { mode: "poll" });
  await settle(browser);
  assert.deepEqual(b.events("stale"), []);
  assert.deepEqual(b.events("mode"), []);
  b.s.connect();
  await settle(browser);
  assert.equal(b.events("connect").length, 2, "the socket is up: attached at once");
});

test("tabs of another browser, or against another notifier, get their own socket", async () => {
  const net = new FakeNetwork();
  const one = new FakeBrowser();
  const two = new FakeBrowser();
  open(one, net);
  open(one, net);
  open(two, net);
  const tab = one.tab();
  createTabs(tab.env).socket("http://other.test", () => net.io("http://other.test", OPTS));
  await settle(one);
  await settle(two);
  assert.deepEqual(
    net.sockets.map((s) => s.url).sort(),
    [URL, URL, "http://other.test"].sort(),
  );
});

test("without Web Locks or BroadcastChannel there is nothing to share", () => {
  const browser = new FakeBrowser();
  const { env } = browser.tab();
  const io = () => assert.fail("must not open");
  assert.equal(createTabs({ BroadcastChannel: env.BroadcastChannel, locks: undefined }).socket(KEY, io), null);
  assert.equal(createTabs({ BroadcastChannel: undefined, locks: env.locks }).socket(KEY, io), null);
});

test("a tab attaching after the node said its mode hears it too", async () => {
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const a = open(browser, net);
  await settle(browser);
  const sock = net.sockets[0];
  sock.serverConnect();
  sock.fire("mode", { mode: "push", fast: 5000, slow: 60000 });
  await settle(browser);
  const b = open(browser, net);
  await settle(browser);
  assert.deepEqual(b.seen.slice(0, 2), [["connect"], ["mode", { mode: "push", fast: 5000, slow: 60000 }]]);
  assert.equal(a.events("mode").length, 1);
});

test("visibility: the node hears the sum of its tabs' visible ones, and each tab the spread", async () => {
  const { browser, sock, a, b, c } = await threeTabs();
  b.s.emit("tabs", { tabs: 1, visible: 0 });
  c.s.emit("tabs", { tabs: 1, visible: 0 });
  await settle(browser);
  b.s.emit("tabs", { tabs: 1, visible: 1 });
  await settle(browser);
  assert.deepEqual(sock.sent("tabs"), [[3], [{ tabs: 3, visible: 2 }], [{ tabs: 3, visible: 1 }], [{ tabs: 3, visible: 2 }]]);
  sock.fire("stale", { s: 6 }, { spread: 4200 });
  await settle(browser);
  assert.deepEqual(a.events("stale"), [[{ s: 6 }, { spread: 4200 }]]);
  assert.deepEqual(b.events("stale"), [[{ s: 6 }, { spread: 4200 }]]);
});

test("a subscribe answered on a replaced connection: the holder subscribes the tab on the new one", async () => {
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const a = open(browser, net);
  const b = open(browser, net);
  await settle(browser);
  const sock = net.sockets[0];
  sock.serverConnect();
  await settle(browser);
  subscribe(b, "tokB", { b: 3 });
  await settle(browser);
  assert.equal(sock.sent("subscribe").length, 1);
  // The holder reconnects between the emit and the ack; the old connection's ack comes last.
  sock.serverDisconnect("transport close");
  sock.serverConnect();
  await settle(browser);
  answer(sock);
  await settle(browser);
  assert.deepEqual(
    sock.sent("subscribe").map(([req]) => req),
    [{ token: "tokB", topics: { b: 3 } }, { token: "tokB", topics: { b: 3 } }],
    "subscribed again, on the connection now up",
  );
  answer(sock);
  await settle(browser);
  sock.fire("stale", { b: 4 });
  await settle(browser);
  assert.deepEqual(b.events("stale"), [[{ b: 4 }]], "the tab is covered on the new connection");
  assert.deepEqual(a.events("stale"), []);
});

test("a subscribe answered on a replaced connection after the tab subscribed again itself: nothing doubled", async () => {
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  open(browser, net);
  const b = open(browser, net);
  await settle(browser);
  const sock = net.sockets[0];
  sock.serverConnect();
  await settle(browser);
  subscribe(b, "tokB", { b: 3 });
  await settle(browser);
  const [, oldAck] = sock.sent("subscribe")[0];
  sock.serverDisconnect("transport close");
  sock.serverConnect();
  await settle(browser);
  // As the shim does on connect.
  const ack = subscribe(b, "tokB", { b: 3 });
  await settle(browser);
  oldAck({ granted: ["b"], denied: {} });
  await settle(browser);
  assert.equal(sock.sent("subscribe").length, 2, "the tab's own subscribe covers it");
  sock.answered = 1;
  answer(sock);
  assert.deepEqual(await ack, { granted: ["b"], denied: {} });
});

// listen records every message another script of the origin sees on channel name.
function listen(browser, name) {
  const ch = new (browser.tab().env.BroadcastChannel)(name);
  const got = [];
  ch.onmessage = (ev) => got.push(ev.data);
  return got;
}

test("the channel's name carries the protocol's version", () => {
  const browser = new FakeBrowser();
  const t = open(browser, new FakeNetwork());
  assert.equal(t.s.page.name, "pushpoll/2 " + KEY);
});

test("tokens stay off the shared channel: each tab subscribes on its pair's channel with the holder", async () => {
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const a = open(browser, net);
  const spy = listen(browser, a.s.page.name);
  const b = open(browser, net);
  await settle(browser);
  const sock = net.sockets[0];
  sock.serverConnect();
  await settle(browser);
  const hub = a.s.page.hub.id;
  const pair = listen(browser, `${a.s.page.name} ${hub} ${b.s.id}`);
  const ack = subscribe(b, "secret-token-B", { b: 1 });
  await settle(browser);
  answer(sock);
  assert.deepEqual(await ack, { granted: ["b"], denied: {} });
  assert.ok(spy.length > 0, "the spy hears the shared channel");
  assert.ok(!JSON.stringify(spy).includes("secret-token-B"), "a token went over the shared channel: " + JSON.stringify(spy));
  assert.ok(JSON.stringify(pair).includes("secret-token-B"), "the pair's channel carries it");
});

test("messages of the wrong shape are ignored: no emit reaches the node, no event a tab, nothing throws", async () => {
  const { browser, sock, a, b, c } = await threeTabs();
  const junk = browser.tab().env.BroadcastChannel;
  const shared = new junk(a.s.page.name);
  const toHub = new junk(`${a.s.page.name} ${a.s.page.hub.id} ${b.s.id}`);
  const emitted = sock.emitted.length;
  const seen = [a, b, c].map((t) => t.seen.length);
  const to = [a.s.id, b.s.id, c.s.id];
  for (const m of [
    null,
    5,
    "hub",
    [],
    {},
    { t: "hub" },
    { t: "hub", hub: 5 },
    { t: "hub", hub: "NOT AN ID" },
    { t: "hello", tab: {} },
    { t: "hello", tab: b.s.id, hub: 7, want: true, connected: true },
    { t: "hello", tab: "zz", hub: "", want: "yes", connected: false },
    { t: "want", tab: b.s.id, on: "no" },
    { t: "bye", tab: 7 },
    { t: "bye", tab: "x".repeat(100) },
    // The first protocol's messages, as an old shim or a buggy script would post them.
    { t: "emit", tab: b.s.id, ev: "connect", args: [], id: 0 },
    { t: "emit", tab: b.s.id, ev: "subscribe", args: [{ token: "t", topics: { x: 1 } }], id: 0 },
    { t: "up", to, sock: "fake:1", ping: 1 },
    { t: "down", to, reason: "transport close" },
    { t: "ev", to, ev: "mode", args: [{ mode: "push" }] },
    { t: "ev", to, ev: "stale", args: 5 },
    { t: "ack", to, id: 1, args: null },
  ]) {
    shared.postMessage(m);
  }
  for (const m of [
    null,
    { t: "emit" },
    { t: "emit", ev: "connect", args: [], id: 0 },
    { t: "emit", ev: "disconnect", args: [], id: 0 },
    { t: "emit", ev: "subscribe", args: [null], id: 0 },
    { t: "emit", ev: "subscribe", args: [{ token: 5, topics: { b: 1 } }], id: 0 },
    { t: "emit", ev: "subscribe", args: [{ token: "t", topics: { b: "junk" } }], id: 0 },
    { t: "emit", ev: "subscribe", args: [{ token: "t", topics: [1, 2] }], id: 0 },
    { t: "emit", ev: "subscribe", args: [{ token: "t", topics: { b: 1 } }], id: -1 },
    { t: "emit", ev: "subscribe", args: [{ token: "t", topics: { b: 1 } }], id: "1" },
    { t: "emit", ev: "subscribe", args: "x", id: 0 },
    { t: "emit", ev: "unsubscribe", args: ["b"], id: 0 },
    { t: "emit", ev: "unsubscribe", args: [[1]], id: 0 },
    { t: "emit", ev: "tabs", args: [5], id: 0 },
    { t: "emit", ev: "tabs", args: [{ tabs: 1, visible: "0" }], id: 0 },
    { t: "emit", ev: "report", args: [], id: 0 },
    // What the holder would send a tab, malformed.
    { t: "up" },
    { t: "up", sock: 5 },
    { t: "up", sock: "s", ping: "25000" },
    { t: "down" },
    { t: "down", reason: 5 },
    { t: "ev", ev: "stale", args: 5 },
    { t: "ev", ev: "stale", args: [null] },
    { t: "ev", ev: "stale", args: [{ b: "x" }] },
    { t: "ev", ev: "stale", args: [{ b: 9 }, 5] },
    { t: "ev", ev: "expired", args: [{ topics: "b" }] },
    { t: "ev", ev: "mode", args: ["push"] },
    { t: "ev", ev: "connect", args: [] },
    { t: "ev", ev: "resubscribe", args: [] },
    { t: "ack", id: "1", args: [] },
    { t: "ack", id: 1, args: null },
    { t: "ack", id: 0, args: [] },
  ]) {
    toHub.postMessage(m);
  }
  await settle(browser);
  assert.deepEqual(sock.emitted.slice(emitted), [], "the node got an emit from junk");
  assert.deepEqual([a, b, c].map((t, i) => t.seen.slice(seen[i])), [[], [], []], "a tab acted on junk");
  assert.deepEqual([a.s.connected, b.s.connected, c.s.connected], [true, true, true]);
  // The holder still serves every tab.
  sock.fire("stale", { b: 9, c: 2 });
  await settle(browser);
  assert.deepEqual(b.events("stale"), [[{ b: 9 }]]);
  assert.deepEqual(c.events("stale"), [[{ c: 2 }]]);
});

// run advances mock time by ms in steps, letting messages and lock grants settle after each.
async function run(browser, t, ms, step = 100) {
  for (let i = 0; i < ms; i += step) {
    t.mock.timers.tick(Math.min(step, ms - i));
    await settle(browser);
  }
}

test("a frozen holder: followers stop trusting push within 6 s, and attach again when it thaws", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const a = open(browser, net);
  const b = open(browser, net);
  await settle(browser);
  const sock = net.sockets[0];
  sock.serverConnect();
  await settle(browser);
  assert.equal(b.events("connect").length, 1);
  a.tab.freeze(); // keeps its lock: nobody else can take the socket over
  await run(browser, t, 5900);
  assert.deepEqual(b.events("disconnect"), [], "not before 6 s of silence");
  await run(browser, t, 100);
  assert.deepEqual(b.events("disconnect"), [["transport close"]], "the follower's shim falls back to polling");
  assert.deepEqual(a.events("disconnect"), [], "the holder's own tab is frozen with it");
  a.tab.thaw();
  await settle(browser);
  assert.equal(b.events("connect").length, 2, "back on the socket at the holder's next beat");
  await run(browser, t, 20000, 500);
  assert.equal(b.events("disconnect").length, 1, "a live holder keeps its followers");
});

test("a hidden holder, hidden for long, is not taken for frozen (its beat forms no timer chain)", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const a = open(browser, net);
  const b = open(browser, net);
  await settle(browser);
  net.sockets[0].serverConnect();
  await settle(browser);
  a.tab.hide();
  b.tab.hide();
  // The throttling the fake applies: a plain chain of timers in the hidden holder would fall
  // to one run a minute after 5 minutes; a follower waiting 6 s would lose it.
  const chain = [];
  const tick = () => a.tab.env.setTimeout(() => (chain.push(Date.now()), tick()), 2000);
  tick();
  await run(browser, t, 12 * 60000, 500);
  const gaps = chain.slice(1).map((at, i) => at - chain[i]);
  assert.ok(Math.max(...gaps) >= 60000, "the fake throttles a long-hidden chain to a minute: " + Math.max(...gaps));
  assert.deepEqual(b.events("disconnect"), [], "the follower lost a hidden holder");
  assert.equal(b.events("connect").length, 1);
});

test("a stale from the node with a junk version or spread: the tabs still get the rest", async () => {
  const { browser, sock, a, b } = await threeTabs();
  sock.fire("stale", { a: 2, s: "junk" }, 5);
  sock.fire("stale", { b: 3 }, { spread: 100 });
  await settle(browser);
  assert.deepEqual(a.events("stale"), [[{ a: 2 }]]);
  assert.deepEqual(b.events("stale"), [[{ b: 3 }, { spread: 100 }]]);
});
