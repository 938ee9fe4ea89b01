// One simulated browser profile: the BroadcastChannel and Web Locks its tabs share, on the
// simulated clock, so that the shim's own tab-sharing code (client-js/src/tabs.js, through
// the shim's `tabs` option, createTabs(env)) runs in the simulation unchanged.
//
// Semantics kept from the browser: a message posted on a channel reaches every other
// channel of that name in the profile (not the sender), as a task of the receiving tab,
// structured-cloned, in order; a lock is granted to one request at a time, in request
// order; the callback's promise holds it; a request whose signal aborts while waiting
// rejects with AbortError; a tab that goes away loses its locks and its waiting requests.

// Messages between tabs of one browser take this long (a task hop, same process).
const HOP_MS = 0.2;

export class Browser {
  constructor(clock) {
    this.clock = clock;
    this.channels = new Map(); // name -> Set(channel)
    this.locks = new Map(); // name -> {held: entry|null, queue: [entry]}
    this.pages = new Set();
    this.sock = null; // the socket the browser's holder tab opened last
  }

  // env is what createTabs(env) takes, for one tab (page) of this browser.
  env(page) {
    const browser = this;
    const clock = this.clock;
    class Channel {
      constructor(name) {
        this.name = name;
        this.page = page;
        this.onmessage = null;
        this.closed = false;
        if (!browser.channels.has(name)) browser.channels.set(name, new Set());
        browser.channels.get(name).add(this);
      }
      postMessage(msg) {
        if (this.closed) return;
        for (const ch of browser.channels.get(this.name)) {
          if (ch === this) continue;
          const data = structuredClone(msg);
          clock.task(HOP_MS, ch.page, () => {
            if (!ch.closed && ch.onmessage) ch.onmessage({ data });
          });
        }
      }
      close() {
        this.closed = true;
        browser.channels.get(this.name).delete(this);
      }
    }
    const locks = {
      request(name, opts, cb) {
        if (typeof opts === "function") {
          cb = opts;
          opts = {};
        }
        return browser.request(page, name, opts || {}, cb);
      },
    };
    return { BroadcastChannel: Channel, locks, random: page.random, setTimeout: (fn, ms) => clock.setTimeout(fn, ms), clearTimeout: (t) => clock.clearTimeout(t) };
  }

  request(page, name, opts, cb) {
    if (!this.locks.has(name)) this.locks.set(name, { held: null, queue: [] });
    const lock = this.locks.get(name);
    return new Promise((resolve, reject) => {
      const entry = { page, cb, resolve, reject, done: false };
      const signal = opts.signal;
      if (signal && signal.aborted) {
        reject(abortError());
        return;
      }
      if (signal) {
        signal.addEventListener("abort", () => {
          const i = lock.queue.indexOf(entry);
          if (i >= 0) {
            lock.queue.splice(i, 1);
            reject(abortError());
          }
        });
      }
      lock.queue.push(entry);
      this.grant(name);
    });
  }

  grant(name) {
    const lock = this.locks.get(name);
    if (lock.held || lock.queue.length === 0) return;
    const entry = lock.queue.shift();
    lock.held = entry;
    this.clock.task(HOP_MS, entry.page, () => {
      if (entry.done) return;
      let out;
      try {
        out = Promise.resolve(entry.cb({ name, mode: "exclusive" }));
      } catch (err) {
        out = Promise.reject(err);
      }
      entry.release = () => this.release(name, entry);
      out.then(
        (v) => {
          entry.release();
          entry.resolve(v);
        },
        (err) => {
          entry.release();
          entry.reject(err);
        },
      );
    });
  }

  release(name, entry) {
    const lock = this.locks.get(name);
    if (entry.done || lock.held !== entry) return;
    entry.done = true;
    lock.held = null;
    this.grant(name);
  }

  // gone is a tab's document going away: its locks are freed, its requests dropped.
  gone(page) {
    this.pages.delete(page);
    for (const [name, lock] of this.locks) {
      lock.queue = lock.queue.filter((e) => e.page !== page);
      if (lock.held && lock.held.page === page) {
        const e = lock.held;
        if (e.release) e.release();
        else {
          e.done = true;
          lock.held = null;
          this.grant(name);
        }
      }
    }
    for (const set of this.channels.values()) for (const ch of set) if (ch.page === page) ch.closed = true;
  }
}

function abortError() {
  const err = new Error("The request was aborted.");
  err.name = "AbortError";
  return err;
}
