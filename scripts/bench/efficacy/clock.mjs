// A simulated clock with a browser's timer semantics, so the real shim can run in tens of
// thousands of pages at once and an hour passes in seconds.
//
// Events are either the page's own timers (setTimeout, as the shim and socket.io call it)
// or tasks the simulation schedules (network answers, socket events, visibility changes).
// Page timers are treated as Chromium treats them:
//   - a delay that is NaN or negative is 0; one above 2^31-1 ms overflows and fires at once;
//   - from the sixth nested timer on, a delay below 4 ms is 4 ms (HTML timer nesting);
//   - in a hidden page a timer fires only at the page's next whole-second wake-up, and once
//     the page has been hidden five minutes, a timer at nesting level 5 or more waits for
//     the next whole minute ("intensive throttling"). Each page's wake-ups have their own
//     phase (page.wakePhase, 0..60 s): browsers do not share a clock.
// After each event the promise callbacks it started (a poll's answer reaching the shim)
// run before the next event, as they would in a browser between two tasks: the loop
// yields SETTLE times to the microtask queue, twice the longest chain in the shim (3 give
// the same figures; a real setImmediate per event would cost five times as much). An event
// marked `sync` (engine.io's ping timer, which only tells the shim the server is alive)
// starts none.
const MAX_DELAY = 2147483647;
const SETTLE = 6;

export class Clock {
  constructor() {
    this.now = 0;
    this.seq = 0;
    this.heap = [];
    this.page = null; // the page whose event is running: timers it sets belong to it
    this.nesting = 0; // timer nesting level of the running event, 0 for tasks
    this.events = 0;
  }

  // task runs fn for page (or none) ms from now, untouched by timer clamping.
  task(ms, page, fn) {
    return this.push({ at: this.now + Math.max(0, ms), seq: ++this.seq, fn, page, nesting: 0 });
  }

  // setTimeout is the page's window.setTimeout; the returned event is its id.
  setTimeout(fn, ms) {
    let d = Number(ms);
    if (!(d >= 0) || d > MAX_DELAY) d = 0;
    const nesting = this.nesting + 1;
    if (nesting > 5 && d < 4) d = 4;
    return this.push({ at: this.now + d, seq: ++this.seq, fn, page: this.page, nesting, timer: true });
  }

  clearTimeout(ev) {
    if (ev && typeof ev === "object") ev.fn = null;
  }

  // wakeUp is when a page timer due at `at` may actually run.
  wakeUp(ev) {
    const p = ev.page;
    if (!ev.timer || !p || !p.hidden) return ev.at;
    // Wake-ups fall at whole seconds and minutes of each browser's own clock: the phase is
    // the page's, over a minute, and its whole seconds are that phase modulo a second.
    const step = this.now - p.hiddenSince >= 300000 && ev.nesting >= 5 ? 60000 : 1000;
    const phase = p.wakePhase % step;
    return Math.ceil((ev.at - phase) / step) * step + phase;
  }

  async run(until) {
    while (this.heap.length > 0 && this.heap[0].at <= until) {
      const ev = this.pop();
      if (!ev.fn) continue;
      const due = this.wakeUp(ev);
      if (due > ev.at) {
        ev.at = due;
        this.push(ev);
        continue;
      }
      this.now = ev.at;
      this.page = ev.page;
      this.nesting = ev.timer ? ev.nesting : 0;
      const fn = ev.fn;
      ev.fn = null;
      this.events++;
      fn();
      if (!ev.sync) for (let i = 0; i < SETTLE; i++) await null;
      this.page = null;
      this.nesting = 0;
    }
    this.now = until;
  }

  push(ev) {
    const h = this.heap;
    let i = h.length;
    h.push(ev);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], ev)) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = ev;
    return ev;
  }

  pop() {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    const n = h.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const m = r < n && less(h[r], h[l]) ? r : l;
      if (!less(h[m], last)) break;
      h[i] = h[m];
      i = m;
    }
    h[i] = last;
    return top;
  }
}

function less(x, y) {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

// rng is mulberry32: small, fast, and the same sequence on every machine.
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// exp draws an exponential wait with the given mean.
export function exp(random, mean) {
  return -Math.log(1 - random()) * mean;
}
