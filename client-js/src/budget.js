/**
 * The per-page poll budget: what keeps one page within plain polling at its own `fast`
 * whatever the notifier sends it.
 *
 *   - at least MIN_GAP (1 s) between two polls of any kind;
 *   - a token bucket for hinted polls: BURST (2) tokens, one more every `period` (the
 *     page's throttle, by default the current `fast`). A hinted poll needs a whole token;
 *     a timer poll takes one if there is one, but never drives the bucket below zero:
 *     timer polls already keep their own interval, and a debt would make the next hint
 *     wait for it (a prototype without this clamp let one hint wait 8.7 s);
 *   - never more than WINDOW / period polls (at least one) in any rolling WINDOW (60 s),
 *     which is what plain polling at that period does.
 *
 * The burst and the rolling cap pull against each other on a page hinted more often than
 * once a period: a burst spent after a quiet spell has to be paid back within the minute,
 * so one hint then waits up to about two periods (bench/hinted.mjs shows it). A page
 * cannot know whether more hints will come, so it spends its burst whenever it has one: a
 * rule that kept a busy page (over half its minute spent) to one hinted poll a period
 * cost busy boards more hinted staleness than it saved hot topics (BENCHMARKS.md §5).
 *
 * The page's load counts as a whole period of polling: the bucket starts empty. Plain
 * polling's first poll comes one period after the load, and so does the earliest hinted
 * poll, so pages that load together (a deploy, the morning) add nothing to plain
 * polling's first period however many hints they get.
 */
export const BURST = 2;
export const MIN_GAP = 1000;
export const WINDOW = 60000;

export class Budget {
  /** @param {number} t the time of the page's load, in the shim's clock */
  constructor(t) {
    this.tokens = 0;
    this.filledAt = t;
    this.lastStart = -Infinity;
    /** @type {number[]} start times of the polls of the last WINDOW, oldest first */
    this.starts = [];
    /** @type {number | undefined} the period the starts were counted at */
    this.period = undefined;
  }

  // A new period (the server changed `fast`) starts a new count: polls made at a shorter
  // period the page allowed must not silence it for a minute at the longer one.
  /** @param {number} period */
  setPeriod(period) {
    if (period === this.period) return;
    this.period = period;
    this.starts = [];
  }

  /** @param {number} t @param {number} period */
  refill(t, period) {
    this.setPeriod(period);
    if (t > this.filledAt) {
      this.tokens = Math.min(BURST, this.tokens + (t - this.filledAt) / period);
      this.filledAt = t;
    }
  }

  /**
   * The earliest time at or after `at` when a poll may start, as things stand at `t`.
   * @param {number} t now
   * @param {number} at when the caller would like to poll
   * @param {number} period ms per token, and WINDOW / period polls per WINDOW
   * @param {boolean} hinted whether the poll needs a token
   */
  earliest(t, at, period, hinted) {
    this.setPeriod(period);
    while (this.starts.length > 0 && this.starts[0] <= t - WINDOW) this.starts.shift();
    at = Math.max(at, this.lastStart + MIN_GAP);
    const cap = Math.max(1, Math.floor(WINDOW / period));
    const n = this.starts.length;
    if (n >= cap) at = Math.max(at, this.starts[n - cap] + WINDOW);
    if (hinted) {
      this.refill(t, period);
      if (this.tokens < 1) at = Math.max(at, this.filledAt + (1 - this.tokens) * period);
    }
    return at;
  }

  /** Records a poll starting at t, hinted or not. @param {number} t @param {number} period */
  take(t, period) {
    this.refill(t, period);
    this.tokens = Math.max(0, this.tokens - 1);
    this.lastStart = t;
    this.starts.push(t);
    while (this.starts.length > 0 && this.starts[0] <= t - WINDOW) this.starts.shift();
  }
}
