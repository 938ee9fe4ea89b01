// setTimeout keeps delays in a signed 32-bit integer: anything longer fires at once.
export const MAX_DELAY = 2147483647;

/**
 * Every timer of one shim, by name: setting a name replaces its timer, and clearAll (on
 * stop) is the one place that clears them all. No delay reaches setTimeout unbounded.
 */
export class Timers {
  constructor() {
    /** @type {Map<string, ReturnType<typeof setTimeout>>} */
    this.live = new Map();
    this.seq = 0;
  }

  /** @param {string} name @param {() => void} fn @param {number} ms */
  set(name, fn, ms) {
    this.clear(name);
    const h = setTimeout(
      () => {
        this.live.delete(name);
        fn();
      },
      Math.min(MAX_DELAY, Math.max(0, ms)),
    );
    this.live.set(name, h);
  }

  /** A timer of its own under `prefix`; returns the name to clear it by. @param {string} prefix @param {() => void} fn @param {number} ms */
  add(prefix, fn, ms) {
    const name = prefix + " " + ++this.seq;
    this.set(name, fn, ms);
    return name;
  }

  /** @param {string} name */
  has(name) {
    return this.live.has(name);
  }

  /** @param {string} name */
  clear(name) {
    const h = this.live.get(name);
    if (h === undefined) return;
    clearTimeout(h);
    this.live.delete(name);
  }

  clearAll() {
    for (const h of this.live.values()) clearTimeout(h);
    this.live.clear();
  }
}
