// Websocket first: the transport that needs no session affinity behind a balancer, with
// long-polling only for notifiers that cannot be reached over websocket, remembered.
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { setup, FakeManager, FakeSocket, enableClock, resetClock } from "./fake.js";

const KEY = "pushpoll:polling-only:http://notifier.test";

class FakeStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(k) {
    return this.items.has(k) ? this.items.get(k) : null;
  }
  setItem(k, v) {
    this.items.set(k, String(v));
  }
  removeItem(k) {
    this.items.delete(k);
  }
}

let store;
beforeEach(() => {
  enableClock();
  store = new FakeStorage();
  globalThis.localStorage = store;
});
afterEach(() => {
  resetClock();
  delete globalThis.localStorage;
});

// A shim over a fake socket whose manager keeps the options it was created with, as
// socket.io-client 4's Manager does (it hands them to every new Engine.IO socket).
function start(opts = {}) {
  const socket = new FakeSocket();
  const created = [];
  const t = setup({
    ...opts,
    io: (url, o) => {
      created.push(o);
      socket.io = new FakeManager(o);
      return socket;
    },
  });
  t.socket = socket;
  t.created = created;
  t.transports = () => socket.io.opts.transports;
  t.fail = (n) => {
    for (let i = 0; i < n; i++) socket.fire("connect_error", new Error("websocket error"));
  };
  return t;
}

test("default: websocket only, no upgrade", () => {
  const t = start();
  assert.deepEqual(t.created[0].transports, ["websocket"]);
  assert.equal(t.created[0].upgrade, false);
});

test("websocket fails 3 times in a row: the next attempt uses long-polling, remembered once it works", () => {
  const t = start();
  t.fail(2);
  assert.deepEqual(t.transports(), ["websocket"], "two failures are not enough");
  t.fail(1);
  assert.deepEqual(t.transports(), ["polling"]);
  assert.equal(t.socket.io.opts.upgrade, false, "no upgrade attempts from polling");
  assert.equal(store.getItem(KEY), null, "not remembered before polling works");
  t.socket.serverConnect();
  assert.equal(Number(store.getItem(KEY)), 3600000, "remembered for an hour");
  assert.match(String(t.errors[t.errors.length - 1]), /websocket could not be opened; using long-polling/);
  t.pp.stop();
});

test("a remembered notifier starts on long-polling; after the hour, websocket again", () => {
  store.setItem(KEY, "3600000");
  const t = start();
  assert.deepEqual(t.created[0].transports, ["polling"]);
  t.pp.stop();
  store.setItem(KEY, "0"); // expired
  const u = start();
  assert.deepEqual(u.created[0].transports, ["websocket"]);
  assert.equal(store.getItem(KEY), null, "the expired entry is removed");
  // Another notifier is not affected by this one's memory.
  store.setItem(KEY, "3600000");
  const w = start({ url: "http://other.test" });
  assert.deepEqual(w.created[0].transports, ["websocket"]);
});

test("a notifier that is down fails both ways: transports alternate, nothing is remembered", () => {
  const t = start();
  t.fail(3);
  assert.deepEqual(t.transports(), ["polling"]);
  t.fail(3);
  assert.deepEqual(t.transports(), ["websocket"]);
  t.socket.serverConnect();
  assert.equal(store.getItem(KEY), null);
  assert.equal(t.errors.length, 1, "only the outage's first connect error");
});

test("once a websocket has worked, failures are outages: websocket stays", () => {
  const t = start();
  t.fail(2);
  t.socket.serverConnect();
  t.socket.serverDisconnect("transport close");
  t.fail(20);
  assert.deepEqual(t.transports(), ["websocket"]);
});

test("a success on long-polling resets the count of failures", () => {
  const t = start();
  t.fail(3);
  t.fail(2);
  t.socket.serverConnect();
  t.socket.serverDisconnect("transport close");
  t.fail(2);
  assert.deepEqual(t.transports(), ["polling"]);
});

test("transports set by the page: used as given, never switched", () => {
  const t = start({ transports: ["polling", "websocket"] });
  assert.deepEqual(t.created[0].transports, ["polling", "websocket"]);
  assert.equal("upgrade" in t.created[0], false, "socket.io's own upgrade default");
  t.fail(9);
  assert.deepEqual(t.transports(), ["polling", "websocket"]);
  const u = start({ socketOptions: { transports: ["polling"] } });
  u.fail(9);
  assert.deepEqual(u.transports(), ["polling"]);
});

test("storage that throws (a sandboxed frame) only costs the memory", () => {
  Object.defineProperty(globalThis, "localStorage", {
    configurable: true,
    get() {
      throw new Error("SecurityError");
    },
  });
  const t = start();
  assert.deepEqual(t.created[0].transports, ["websocket"]);
  t.fail(3);
  t.socket.serverConnect();
  assert.equal(t.pp.mode, "poll");
});

test("stop(): the fallback's listeners go too", () => {
  const t = start();
  t.pp.stop();
  assert.equal(t.socket.listenerCount(), 0);
});
