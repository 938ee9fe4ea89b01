// The shim over a shared socket: tabs of one (fake) browser, each with its own topics,
// token and poll, behind one socket the test plays the notifier on.
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { start } from "../src/pushpoll.js";
import { createTabs } from "../src/tabs.js";
import { advance, enableClock, resetClock, pastOpening } from "./fake.js";
import { FakeBrowser, FakeNetwork, settle } from "./browser.js";

beforeEach(enableClock);
afterEach(resetClock);

// page starts a shim in a new tab of browser; its polls answer from `app`.
function page(browser, net, name, topics, app, opts = {}, tab = browser.tab()) {
  const p = { name, polls: [], modes: [], errors: [], tab };
  p.pp = start({
    url: "http://notifier.test",
    token: "tok-" + name,
    topics,
    poll: async (versions) => {
      p.polls.push(versions);
      const out = {};
      for (const t of Object.keys(versions)) out[t] = app[t] || 0;
      return out;
    },
    fast: 5000,
    slow: 60000,
    jitter: 100,
    heartbeatTimeout: 0,
    random: () => 0.5,
    now: () => Date.now(),
    document: null,
    onMode: (m) => p.modes.push(m),
    onError: (err) => p.errors.push(err),
    io: net.io,
    tabs: createTabs(tab.env),
    ...opts,
  });
  return p;
}

// grantAll acks every unanswered subscribe on sock, granting what the token names.
function grantAll(sock) {
  const subs = sock.sent("subscribe");
  for (let i = sock.answered || 0; i < subs.length; i++) {
    const [req, cb] = subs[i];
    cb({ granted: Object.keys(req.topics), denied: {} });
  }
  sock.answered = subs.length;
}

async function connect(browser, sock) {
  sock.serverConnect();
  await settle(browser);
  sock.fire("mode", { mode: "push", fast: 5000, slow: 60000 });
  await settle(browser);
  grantAll(sock);
  await settle(browser);
}

test("two tabs, one socket: a topic of one tab polls only that tab, a shared one polls each once", async () => {
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const app = { a: 1, b: 1, s: 1 };
  const A = page(browser, net, "A", { a: 1, s: 1 }, app);
  const B = page(browser, net, "B", { b: 1, s: 1 }, app);
  await settle(browser);
  assert.equal(net.sockets.length, 1);
  const sock = net.sockets[0];
  await connect(browser, sock);
  assert.deepEqual([A.pp.mode, B.pp.mode], ["push", "push"]);
  assert.deepEqual([A.pp.shared, B.pp.shared], ["holder", "follower"]);
  assert.deepEqual(
    sock.sent("subscribe").map(([req]) => req.token),
    ["tok-A", "tok-B"],
  );

  await pastOpening();
  app.b = 2;
  sock.fire("stale", { b: 2 });
  await settle(browser);
  await advance(200);
  assert.deepEqual([A.polls.length, B.polls.length], [0, 1]);

  // Past B's throttle window (fast), so that its hinted poll may follow at once.
  await advance(5000);
  app.s = 2;
  sock.fire("stale", { s: 2 });
  await settle(browser);
  await advance(200);
  assert.deepEqual([A.polls.length, B.polls.length], [1, 2]);
});

test("the holder stops: the other tab takes the socket over, stays in push, resubscribes with what it holds", async () => {
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const app = { a: 1, b: 1 };
  const A = page(browser, net, "A", { a: 1 }, app);
  const B = page(browser, net, "B", { b: 1 }, app);
  await settle(browser);
  await connect(browser, net.sockets[0]);
  await pastOpening();
  app.b = 2;
  net.sockets[0].fire("stale", { b: 2 });
  await settle(browser);
  await advance(200); // B polls and now holds b at 2

  A.pp.stop();
  await settle(browser);
  assert.equal(net.sockets.length, 2);
  assert.equal(B.pp.shared, "holder");
  const next = net.sockets[1];
  next.serverConnect();
  await settle(browser);
  next.fire("mode", { mode: "push", fast: 5000, slow: 60000 });
  await settle(browser);
  assert.deepEqual(next.sent("subscribe").map(([req]) => req), [{ token: "tok-B", topics: { b: 2 } }]);
  grantAll(next);
  await settle(browser);
  assert.deepEqual(B.modes, ["push"], "no fallback polling for a hand-over");
  await advance(10000);
  assert.equal(B.polls.length, 1);
});

test("a hand-over the new socket cannot finish puts the tab in poll until it can", async () => {
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const A = page(browser, net, "A", { a: 1 }, {});
  const B = page(browser, net, "B", { b: 1 }, {});
  await settle(browser);
  await connect(browser, net.sockets[0]);
  A.tab.crash();
  await settle(browser);
  net.sockets[1].fire("connect_error", new Error("refused"));
  await settle(browser);
  assert.deepEqual(B.modes, ["push", "poll"]);
  await connect(browser, net.sockets[1]);
  assert.deepEqual(B.modes, ["push", "poll", "push"]);
});

test("share: false opens a socket per tab", async () => {
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  const A = page(browser, net, "A", { a: 1 }, {}, { share: false });
  const B = page(browser, net, "B", { b: 1 }, {}, { share: false });
  await settle(browser);
  assert.equal(net.sockets.length, 2);
  assert.deepEqual([A.pp.shared, B.pp.shared], ["alone", "alone"]);
});

test("drain: one random draw, the holder's, decides when the shared socket comes back", async () => {
  const browser = new FakeBrowser();
  const net = new FakeNetwork();
  // The holder's sharing scope draws 0.1 of the window; each shim would draw 0.5.
  const holderTab = browser.tab();
  holderTab.env.random = () => 0.1;
  const A = page(browser, net, "A", { a: 1 }, {}, {}, holderTab);
  const B = page(browser, net, "B", { b: 1 }, {});
  await settle(browser);
  const sock = net.sockets[0];
  await connect(browser, sock);
  assert.deepEqual([A.pp.mode, B.pp.mode], ["push", "push"]);
  const before = sock.connectCalls;
  sock.fire("drain", { within: 4000 });
  await settle(browser);
  assert.equal(sock.disconnectCalls, 1, "the draining node is left at once");
  assert.deepEqual([A.pp.mode, B.pp.mode], ["poll", "poll"]);
  await advance(399, 1);
  await settle(browser);
  assert.equal(sock.connectCalls, before, "not before the holder's delay");
  await advance(1);
  await settle(browser);
  assert.equal(sock.connectCalls, before + 1, "at the holder's delay (400 ms), not at a tab's (2000 ms)");
  await connect(browser, sock);
  assert.deepEqual([A.pp.mode, B.pp.mode], ["push", "push"], "both tabs back on the socket");
  await advance(4000, 100);
  await settle(browser);
  assert.equal(sock.connectCalls, before + 1, "no second reconnect from a tab's own draw");
});
