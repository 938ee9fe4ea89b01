// The simulated browser must keep the Web Locks and BroadcastChannel rules tabs.js relies
// on, or the sharing measured with --tabs-per-browser is not the shim's.
import test from "node:test";
import assert from "node:assert/strict";
import { Clock } from "./clock.mjs";
import { Browser } from "./browser.mjs";

test("a lock goes to one tab at a time, in request order, and back when its promise settles", async () => {
  const clock = new Clock();
  const b = new Browser(clock);
  const a = { id: "a" };
  const c = { id: "c" };
  const order = [];
  let releaseA;
  b.env(a).locks.request("L", () => {
    order.push(["a", clock.now]);
    return new Promise((r) => (releaseA = r));
  });
  const cDone = b.env(c).locks.request("L", {}, () => {
    order.push(["c", clock.now]);
    return "c held";
  });
  await clock.run(100);
  assert.deepEqual(order.map((x) => x[0]), ["a"]);
  releaseA();
  // The release runs on the promise's settling, a microtask after the clock's last event.
  await new Promise((r) => setImmediate(r));
  await clock.run(200);
  assert.deepEqual(order.map((x) => x[0]), ["a", "c"]);
  assert.equal(await cDone, "c held");
});

test("a waiting request aborts with AbortError; a tab that goes away frees its lock", async () => {
  const clock = new Clock();
  const b = new Browser(clock);
  const a = {};
  const c = {};
  const d = {};
  b.env(a).locks.request("L", () => new Promise(() => {})); // held for ever, until a goes away
  const ctl = new AbortController();
  const aborted = b.env(c).locks.request("L", { signal: ctl.signal }, () => "never");
  let dGot = false;
  b.env(d).locks.request("L", () => {
    dGot = true;
  });
  await clock.run(10);
  ctl.abort();
  await assert.rejects(aborted, { name: "AbortError" });
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(b.env(c).locks.request("L", { signal: pre.signal }, () => 1), { name: "AbortError" });
  assert.equal(dGot, false);
  b.gone(a);
  await clock.run(20);
  assert.equal(dGot, true);
});

test("a message reaches every other channel of its name in the browser, cloned, not the sender", async () => {
  const clock = new Clock();
  const b = new Browser(clock);
  const other = new Browser(clock);
  const got = [];
  const mk = (browser, page, name) => {
    const Ch = browser.env(page).BroadcastChannel;
    const ch = new Ch(name);
    ch.onmessage = (ev) => got.push([page.id, ev.data]);
    return ch;
  };
  const sender = mk(b, { id: "s" }, "n");
  mk(b, { id: "r" }, "n");
  mk(b, { id: "x" }, "other name");
  mk(other, { id: "y" }, "n");
  const closed = mk(b, { id: "z" }, "n");
  closed.close();
  const msg = { v: 1 };
  sender.postMessage(msg);
  msg.v = 2;
  await clock.run(10);
  assert.deepEqual(got, [["r", { v: 1 }]]);
});
