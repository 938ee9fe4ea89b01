// The measures of the efficacy benchmark, apart from the simulation so that each can be
// tested on its own: polls in sliding 1 s windows, the seconds where pushpoll polled more
// than plain polling, the worst tab, staleness samples, and the two plain-polling
// baselines an app could have had instead of pushpoll.

// Polls are counted in bins of STEP ms; a window is WINDOW / STEP consecutive bins, so
// "sliding 1 s windows at a 10 ms step" are exact, with no sample of a poll's time lost.
export const STEP = 10;
export const WINDOW = 1000;

// Bins counts polls per STEP ms over [0, durationMs).
export class Bins {
  constructor(durationMs) {
    this.n = new Int32Array(Math.ceil(durationMs / STEP));
  }
  add(t, k = 1) {
    const i = Math.floor(t / STEP);
    if (i >= 0 && i < this.n.length) this.n[i] += k;
  }
  total() {
    let s = 0;
    for (const x of this.n) s += x;
    return s;
  }
}

// sliding returns the poll count of every 1 s window [i·STEP, i·STEP + 1 s) that lies
// inside the run.
export function sliding(bins) {
  const w = WINDOW / STEP;
  const n = bins.n;
  const out = new Int32Array(Math.max(0, n.length - w + 1));
  let s = 0;
  for (let i = 0; i < n.length; i++) {
    s += n[i];
    if (i >= w) s -= n[i - w];
    if (i >= w - 1) out[i - w + 1] = s;
  }
  return out;
}

// aligned returns the poll count of each whole second.
export function aligned(bins) {
  const w = WINDOW / STEP;
  const out = new Int32Array(Math.ceil(bins.n.length / w));
  for (let i = 0; i < bins.n.length; i++) out[Math.floor(i / w)] += bins.n[i];
  return out;
}

function quantile(sorted, f) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(f * sorted.length) - 1))];
}

// rates summarises one side's polls: mean polls/s over the run, the p99 and peak of the
// sliding windows, and the peak of aligned seconds (what the first round reported).
export function rates(bins, durationMs) {
  const sl = sliding(bins);
  const sorted = Int32Array.from(sl).sort();
  const al = aligned(bins);
  let peakAligned = 0;
  for (const x of al) peakAligned = Math.max(peakAligned, x);
  return {
    mean: +((bins.total() * 1000) / durationMs).toFixed(2),
    p99: quantile(sorted, 0.99),
    peak: sorted.length ? sorted[sorted.length - 1] : 0,
    peak_aligned: peakAligned,
  };
}

// over compares push with a baseline window by window (the same sliding windows of the
// same pages): `seconds` is how many distinct seconds hold the start of a window where
// push polled more, `excess` the sum over those seconds of the largest surplus among
// their windows, `worst` the largest surplus of any window, `ratio` push's sliding peak
// over the baseline's.
export function over(pushBins, baseBins) {
  const p = sliding(pushBins);
  const b = sliding(baseBins);
  const per = WINDOW / STEP;
  const bySecond = new Map();
  let worst = 0;
  let pp = 0;
  let bp = 0;
  for (let i = 0; i < p.length; i++) {
    pp = Math.max(pp, p[i]);
    bp = Math.max(bp, b[i]);
    const d = p[i] - b[i];
    if (d <= 0) continue;
    worst = Math.max(worst, d);
    const s = Math.floor(i / per);
    bySecond.set(s, Math.max(bySecond.get(s) || 0, d));
  }
  let excess = 0;
  for (const d of bySecond.values()) excess += d;
  return {
    seconds: bySecond.size,
    excess,
    worst,
    ratio: +(pp / Math.max(1, bp)).toFixed(2),
    at_s: [...bySecond.keys()].slice(0, 20),
  };
}

// TabWindow follows one tab's polls: the most it made in any 60 s and in any 1 s. A
// window is half-open, so polls exactly 1 s apart are one per second (the rule's "at
// least 1 s between polls"), and polls exactly `fast` apart are 60/fast per minute.
export class TabWindow {
  constructor() {
    this.recent = [];
    this.head = 0;
    this.last = -Infinity;
    this.run = 0; // polls in the current < 1 s chain
    this.per60 = 0;
    this.per1 = 0;
  }
  add(t) {
    const r = this.recent;
    r.push(t);
    // A millisecond of slack keeps float sums of delays from counting both ends.
    while (r[this.head] <= t - 60000 + 1) this.head++;
    if (this.head > 64) {
      r.splice(0, this.head);
      this.head = 0;
    }
    this.per60 = Math.max(this.per60, r.length - this.head);
    // Polls in (t - 1 s, t]: count back over the recent ones (half a millisecond of slack
    // for float sums; 999 ms apart is two in a second).
    let k = 0;
    for (let i = r.length - 1; i >= this.head && r[i] > t - 1000 + 0.5; i--) k++;
    this.per1 = Math.max(this.per1, k);
  }
}

// Samples is a growable list of staleness samples (ms).
export class Samples {
  constructor() {
    this.a = new Float64Array(1024);
    this.n = 0;
    this.open = 0; // samples of bumps still pending when their tab closed or the run ended
  }
  add(x, pending = false) {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = x;
    if (pending) this.open++;
  }
  summary() {
    if (this.n === 0) return { n: 0, p50: null, p99: null, max: null, pending: 0 };
    const s = this.a.slice(0, this.n).sort();
    const q = (f) => Math.round(quantile(s, f));
    return { n: this.n, p50: q(0.5), p99: q(0.99), max: Math.round(s[s.length - 1]), pending: this.open };
  }
}

// Visibility is one tab's life: open at `open`, closed at `close`, hidden at the start when
// `hidden0`, and flipping at each time in `flips`. `phase` is where its browser's wake-ups
// fall: whole seconds at phase mod 1 s, whole minutes at phase (browsers differ).
export function hiddenAt(life, t) {
  let h = life.hidden0;
  for (const f of life.flips) {
    if (f > t) break;
    h = !h;
  }
  return h;
}

// hiddenSince returns when the tab last became hidden at or before t (its open time if
// hidden from the start), or null when it is visible at t.
export function hiddenSince(life, t) {
  let h = life.hidden0;
  let since = life.open;
  for (const f of life.flips) {
    if (f > t) break;
    h = !h;
    since = f;
  }
  return h ? since : null;
}

// shownAfter is when a tab hidden at t comes back into view: its throttled timers run then.
function shownAfter(life, t) {
  const f = life.flips.find((x) => x > t);
  return f === undefined ? Infinity : f;
}

function wake(t, phase, step) {
  return Math.ceil((t - phase) / step) * step + phase;
}

// timeoutPolls is the app that chains setTimeout: poll, await the answer, setTimeout(loop,
// fast). Each timer is set from a network answer, so Chrome's intensive throttling (which
// needs a chain of nested timers) never applies; a hidden tab's timer still waits for the
// next whole-second wake-up. rtt() draws one poll's round trip (network and app).
export function timeoutPolls(life, fast, rtt) {
  const out = [];
  let due = life.open + fast;
  while (due < life.close) {
    let at = due;
    if (hiddenAt(life, due)) at = Math.min(wake(due, life.phase % 1000, 1000), shownAfter(life, due));
    if (at >= life.close) break;
    out.push(at);
    due = at + rtt() + fast;
  }
  return out;
}

// intervalPolls is the app on setInterval(poll, fast), as Chrome runs it: due times stay on
// the grid open + k·fast (a missed beat is skipped, not made up); a hidden tab's timer waits
// for the next whole-second wake-up, and once the tab has been hidden five minutes, for the
// next whole-minute one (an interval is a nested timer chain from its fifth run on).
export function intervalPolls(life, fast) {
  const out = [];
  let k = 1;
  let runs = 0;
  while (life.open + k * fast < life.close) {
    const due = life.open + k * fast;
    let at = due;
    const since = hiddenSince(life, due);
    if (since !== null) {
      const intensive = runs >= 5 && due - since >= 300000;
      at = intensive ? wake(due, life.phase, 60000) : wake(due, life.phase % 1000, 1000);
      at = Math.min(at, shownAfter(life, due));
    }
    if (at >= life.close) break;
    out.push(at);
    runs++;
    // Skip the beats the wait swallowed.
    k = Math.max(k + 1, Math.floor((at - life.open) / fast) + 1);
  }
  return out;
}

// staleness gives, for one tab of a baseline, how long each bump waited: from the bump to
// the answer of the first poll whose request reached the app after it. A bump no poll
// fetched before the tab closed counts as stale until the close. oneWay() draws one
// network leg; appMs is the app's answer time.
export function baselineStaleness(life, polls, bumpTimes, oneWay, appMs, add) {
  let i = 0;
  for (const b of bumpTimes) {
    if (b < life.open || b >= life.close) continue;
    // Requests reach the app one leg after they are sent.
    let ow = oneWay();
    while (i < polls.length && polls[i] + ow <= b) {
      i++;
      ow = oneWay();
    }
    if (i < polls.length) add(polls[i] + 2 * ow + appMs - b, false);
    else add(life.close - b, true);
  }
}
