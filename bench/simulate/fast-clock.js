/**
 * The simulation's clock: like the test kit's SimulatedClock (time moves only
 * when advanced; due timers run in time order, equal times in scheduling
 * order) but built for hundreds of thousands of timers per simulated second.
 * SimulatedClock lets promise callbacks run after every single timer (20
 * microtask rounds each); here every timer due at the same millisecond runs
 * as one batch, and then the microtask queue is drained completely (one
 * macrotask turn), so async chains of any depth settle before time moves on.
 * Within one millisecond, callbacks of the batch may interleave differently
 * than one by one; nothing in the control plane depends on order below its
 * whole-millisecond timers.
 */

/**
 * @typedef {object} Timer
 * @property {number} at
 * @property {number} seq
 * @property {() => void} fn
 * @property {boolean} cancelled
 */

/** Min-heap of timers by (at, seq). */
class TimerHeap {
  constructor() {
    /** @type {Timer[]} */
    this.items = [];
  }

  get size() {
    return this.items.length;
  }

  /** @returns {Timer | undefined} */
  peek() {
    return this.items[0];
  }

  /** @param {Timer} timer */
  push(timer) {
    const items = this.items;
    items.push(timer);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent];
      if (p.at < timer.at || (p.at === timer.at && p.seq < timer.seq)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = timer;
  }

  /** @returns {Timer | undefined} */
  pop() {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    const n = items.length;
    if (n > 0 && last !== undefined) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        let child = left;
        if (right < n && before(items[right], items[left])) child = right;
        if (!before(items[child], last)) break;
        items[i] = items[child];
        i = child;
      }
      items[i] = last;
    }
    return top;
  }
}

/** @param {Timer} a @param {Timer} b */
function before(a, b) {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Let every queued promise callback run, however deep the chains (one macrotask turn). */
const drain = () => new Promise((resolve) => setImmediate(resolve));

/** A simulated {@link import('@wgmesh/core').Clock}. */
export class FastClock {
  /** @param {number} [start] initial time, ms since the epoch */
  constructor(start = Date.UTC(2026, 10, 25)) {
    this.current = start;
    this.seq = 0;
    this.timers = new TimerHeap();
    /** Timers run so far (for the wall-time profile). */
    this.fired = 0;
  }

  now() {
    return this.current;
  }

  /**
   * @param {() => void} fn
   * @param {number} ms
   */
  setTimeout(fn, ms) {
    const timer = {at: this.current + Math.max(0, ms), seq: this.seq++, fn, cancelled: false};
    this.timers.push(timer);
    return {cancel: () => void (timer.cancelled = true)};
  }

  /** Timers pending (cancelled ones included until they come due). */
  get pending() {
    return this.timers.size;
  }

  /** Advance by `ms`, running every timer that comes due, batch by batch. */
  async advance(ms) {
    const end = this.current + ms;
    const timers = this.timers;
    for (;;) {
      const next = timers.peek();
      if (next === undefined || next.at > end) break;
      const at = next.at;
      if (at > this.current) this.current = at;
      while (timers.size > 0 && timers.peek().at <= at) {
        const timer = timers.pop();
        if (timer.cancelled) continue;
        this.fired++;
        timer.fn();
      }
      await drain();
    }
    this.current = end;
    await drain();
  }
}
