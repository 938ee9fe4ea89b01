/**
 * The shim's options: their defaults, and the bounds every interval is kept within. A value
 * outside its bounds is clamped to the nearest one and reported, never handed to setTimeout
 * as is; an unknown key is reported and ignored.
 */

export const DEFAULTS = {
  url: "",
  token: undefined,
  topics: {},
  poll: undefined,
  fast: 5000,
  slow: 60000,
  fastMin: undefined,
  slowMax: undefined,
  jitter: 1000,
  throttle: undefined,
  pollTimeout: 30000,
  adaptive: false,
  enabled: true,
  onMode: undefined,
  transports: undefined,
  socketOptions: undefined,
  share: true,
  heartbeatTimeout: undefined,
  hiddenFactor: 4,
  onHint: undefined,
  onPoll: undefined,
  onError: undefined,
  // Seams for tests and simulators; not in the public type.
  io: undefined,
  tabs: undefined,
  random: undefined,
  now: undefined,
  document: undefined,
};

// No poll interval below a second: a server (or a typo) asking for less would make every
// page hammer the app. No interval above a day, well inside setTimeout's limit.
export const MIN_INTERVAL = 1000;
export const MAX_INTERVAL = 24 * 3600 * 1000;
// The default ceiling for slow: a safety net looser than 10 minutes is the page's call.
const SLOW_MAX_DEFAULT = 600000;
const MAX_HIDDEN_FACTOR = 100;

/** A version: a whole number ≥ 0 (a numeric string too), else null. @param {unknown} v */
export function toVersion(v) {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  return typeof n === "number" && isFinite(n) && n >= 0 ? Math.floor(n) : null;
}

function positive(v, name) {
  if (typeof v !== "number" || !(v > 0) || !isFinite(v)) {
    throw new TypeError("pushpoll: " + name + " must be a positive number of ms");
  }
  return v;
}

function monotonic() {
  if (typeof performance !== "undefined" && performance && typeof performance.now === "function") {
    return () => performance.now();
  }
  return () => Date.now();
}

/**
 * A value outside lo..hi is refused: reported, and the nearest bound used instead.
 * @param {(err: unknown) => void} warn
 * @param {number} v @param {string} name @param {number} lo @param {number} hi
 * @param {string} [from] "option" or "server"
 */
export function bounded(warn, v, name, lo, hi, from = "option") {
  const n = Math.min(hi, Math.max(lo, v));
  if (n !== v) warn(new RangeError("pushpoll: " + from + " " + name + " " + v + " is outside " + lo + ".." + hi + "; using " + n));
  return n;
}

/**
 * Where the shim reports: onError, or console.warn; an onError that throws has nowhere
 * left to report to.
 * @param {((err: unknown) => void) | undefined} onError
 * @returns {(err: unknown) => void}
 */
export function reporter(onError) {
  return (err) => {
    try {
      if (onError) onError(err);
      else if (typeof console !== "undefined") console.warn("pushpoll:", err);
    } catch (_) {
      // Nothing left to tell.
    }
  };
}

/**
 * Reads the options once: the raw ones (o), the page's own bounds, which no server value
 * may cross, the environment (clock, random, document) and where to report. Throws on a
 * missing poll or url; reports everything else.
 * @param {any} options
 */
export function readOptions(options) {
  const o = Object.assign({}, DEFAULTS);
  const unknown = [];
  for (const k of Object.keys(options || {})) {
    if (!Object.prototype.hasOwnProperty.call(DEFAULTS, k)) unknown.push(k);
    else if (options[k] !== undefined) o[k] = options[k];
  }
  if (typeof o.poll !== "function") throw new TypeError("pushpoll: poll must be a function");
  if (o.enabled && !o.url && !o.io) throw new TypeError("pushpoll: url is required unless enabled is false");
  const warnTo = reporter(o.onError);
  const clamp = (v, name, lo, hi) => bounded(warnTo, v, name, lo, hi);
  const pageFast = clamp(positive(o.fast, "fast"), "fast", MIN_INTERVAL, MAX_INTERVAL);
  const pageSlow = clamp(positive(o.slow, "slow"), "slow", pageFast, MAX_INTERVAL);
  const page = {
    fast: pageFast,
    slow: pageSlow,
    fastMin: o.fastMin === undefined ? pageFast : clamp(positive(o.fastMin, "fastMin"), "fastMin", MIN_INTERVAL, pageFast),
    slowMax: o.slowMax === undefined ? Math.max(pageSlow, SLOW_MAX_DEFAULT) : clamp(positive(o.slowMax, "slowMax"), "slowMax", pageSlow, MAX_INTERVAL),
    // null: the budget's token period follows the current fast.
    throttle: o.throttle === undefined ? null : clamp(positive(o.throttle, "throttle"), "throttle", MIN_INTERVAL, MAX_INTERVAL),
    pollTimeout: clamp(positive(o.pollTimeout, "pollTimeout"), "pollTimeout", MIN_INTERVAL, MAX_INTERVAL),
    jitter: clamp(Math.max(0, Number(o.jitter) || 0), "jitter", 0, MAX_INTERVAL),
    hiddenFactor: clamp(Math.max(1, Number(o.hiddenFactor) || 1), "hiddenFactor", 1, MAX_HIDDEN_FACTOR),
    // null: follow the server's ping interval.
    heartbeatTimeout: o.heartbeatTimeout == null ? null : clamp(Math.max(0, Number(o.heartbeatTimeout) || 0), "heartbeatTimeout", 0, MAX_INTERVAL),
  };
  // A typo (slowmax) would otherwise do nothing, silently.
  if (unknown.length > 0) warnTo(new TypeError("pushpoll: unknown option " + unknown.join(", ") + "; ignored"));
  const env = {
    now: o.now || monotonic(),
    random: o.random || Math.random,
    doc: o.document !== undefined ? o.document : typeof document !== "undefined" ? document : null,
  };
  return { o, page, env, warn: warnTo };
}
