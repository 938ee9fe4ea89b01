// A hand-written browser for the tab-sharing tests: BroadcastChannel and Web Locks shared
// by the tabs of one profile, tabs that close, crash or freeze, timers throttled as Chrome
// throttles a hidden tab's, and a network of fake sockets.
//
// Deliveries and lock grants happen in later tasks (setImmediate), as in a browser, and are
// counted, so settle() can wait until nothing is left in flight instead of sleeping.
import { FakeSocket } from "./fake.js";

export class FakeBrowser {
  constructor() {
    this.channels = new Set();
    this.locks = new Map(); // name -> {held: request | null, queue: [request]}
    this.inFlight = 0;
  }

  later(fn) {
    this.inFlight++;
    setImmediate(() => {
      this.inFlight--;
      fn();
    });
  }

  tab() {
    return new FakeTab(this);
  }

  lockState(name) {
    if (!this.locks.has(name)) this.locks.set(name, { held: null, queue: [] });
    return this.locks.get(name);
  }

  // grant gives a free lock to the first request in its queue.
  grant(name) {
    const st = this.lockState(name);
    if (st.held || st.queue.length === 0) return;
    const req = st.queue.shift();
    st.held = req;
    this.later(() => {
      if (req.tab.dead) return;
      let result;
      try {
        result = req.callback({ name, mode: "exclusive" });
      } catch (err) {
        this.release(req);
        req.reject(err);
        return;
      }
      Promise.resolve(result).then(
        (v) => {
          this.release(req);
          req.resolve(v);
        },
        (err) => {
          this.release(req);
          req.reject(err);
        },
      );
    });
  }

  release(req) {
    const st = this.lockState(req.name);
    if (st.held !== req) return;
    st.held = null;
    this.grant(req.name);
  }

  // holder names the tab holding a lock, or null.
  holder(name) {
    const st = this.locks.get(name);
    return st && st.held ? st.held.tab : null;
  }
}

class FakeTab {
  constructor(browser) {
    this.browser = browser;
    this.dead = false;
    const tab = this;

    class BroadcastChannel {
      constructor(name) {
        this.name = name;
        this.tab = tab;
        this.onmessage = null;
        this.closed = false;
        browser.channels.add(this);
      }

      postMessage(data) {
        if (this.closed) throw new Error("InvalidStateError: channel closed");
        // Like the structured clone a real channel makes: no shared objects, no functions.
        const copy = structuredClone(data);
        for (const ch of browser.channels) {
          if (ch === this || ch.name !== this.name) continue;
          browser.later(() => {
            ch.tab.run(0, () => {
              if (!ch.closed && ch.onmessage) ch.onmessage({ data: copy });
            });
          });
        }
      }

      close() {
        this.closed = true;
        browser.channels.delete(this);
      }
    }

    const locks = {
      request(name, options, callback) {
        if (typeof options === "function") {
          callback = options;
          options = {};
        }
        return new Promise((resolve, reject) => {
          const req = { name, tab, callback, resolve, reject };
          const signal = options && options.signal;
          if (signal) {
            const abort = () => {
              const st = browser.lockState(name);
              const i = st.queue.indexOf(req);
              if (i < 0) return; // already granted: aborting does nothing
              st.queue.splice(i, 1);
              reject(new Error("AbortError"));
            };
            if (signal.aborted) return abort();
            signal.addEventListener("abort", abort);
          }
          browser.lockState(name).queue.push(req);
          browser.grant(name);
        });
      },
    };

    // A page's timers (tabs.js takes them from env): nothing runs in a dead tab; a frozen
    // tab runs it when thawed; a hidden one aligns it to whole seconds, and once hidden 5
    // minutes, a timer at nesting level 5 or more (set from a chain of timer callbacks) to
    // whole minutes, as Chrome does. Messages run at nesting level 0.
    const setTimer = (fn, ms) => {
      const level = tab.nesting + 1;
      const now = Date.now();
      let at = now + Math.max(0, ms);
      if (tab.hiddenSince !== null) {
        const step = now - tab.hiddenSince >= 300000 && level >= 5 ? 60000 : 1000;
        at = Math.ceil(at / step) * step;
      }
      const t = setTimeout(() => tab.run(level, fn), at - now);
      if (typeof t.unref === "function") t.unref(); // a page's heartbeat must not keep a test alive
      return t;
    };
    this.nesting = 0;
    this.frozen = null; // while frozen: what waits for the thaw
    this.hiddenSince = null;
    this.env = { BroadcastChannel, locks, setTimeout: setTimer, clearTimeout: (t) => clearTimeout(t) };
  }

  // run is one task of this tab at a timer nesting level.
  run(level, fn) {
    if (this.dead) return;
    if (this.frozen) {
      this.frozen.push([level, fn]);
      return;
    }
    const prev = this.nesting;
    this.nesting = level;
    try {
      fn();
    } finally {
      this.nesting = prev;
    }
  }

  // freeze stops the tab as a browser freezes a background tab: it keeps its locks, and
  // its timers and messages wait for thaw().
  freeze() {
    this.frozen = this.frozen || [];
  }

  thaw() {
    const queued = this.frozen || [];
    this.frozen = null;
    for (const [level, fn] of queued) this.run(level, fn);
  }

  // hide throttles the tab's timers from now on, as a hidden tab's (Date.now() is the clock).
  hide() {
    this.hiddenSince = Date.now();
  }

  // crash ends the tab with no goodbye: its channels go quiet and the browser frees its locks.
  crash() {
    this.dead = true;
    for (const ch of Array.from(this.browser.channels)) if (ch.tab === this) ch.close();
    for (const [name, st] of this.browser.locks) {
      st.queue = st.queue.filter((r) => r.tab !== this);
      if (st.held && st.held.tab === this) this.browser.release(st.held);
      else this.browser.grant(name);
    }
  }
}

// settle waits until no message or lock grant is in flight.
export async function settle(browser) {
  for (let quiet = 0; quiet < 3; ) {
    await new Promise((resolve) => setImmediate(resolve));
    quiet = browser.inFlight === 0 ? quiet + 1 : 0;
  }
}

// FakeNetwork hands out the sockets io() opens; the test plays the notifier on them.
export class FakeNetwork {
  constructor() {
    this.sockets = [];
    this.io = (url, opts) => {
      const s = new FakeSocket();
      s.url = url;
      s.opts = opts;
      s.io.opts = opts;
      s.io.engine._pingInterval = 25000;
      this.sockets.push(s);
      return s;
    };
  }

  open() {
    return this.sockets.filter((s) => !s.closed);
  }
}
