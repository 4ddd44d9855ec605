/**
 * A simulated clock: time moves only when a test (or a simulation) advances it,
 * and due timers run in time order. Lets thousands of nodes run in one process.
 */
import type {Clock, TimerHandle} from '@wgmesh/core';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Min-heap of timers ordered by (at, seq), so equal times run in scheduling order. */
class TimerHeap {
  private readonly items: Timer[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Timer | undefined {
    return this.items[0];
  }

  push(timer: Timer): void {
    const items = this.items;
    items.push(timer);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!TimerHeap.before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): Timer | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && TimerHeap.before(items[left]!, items[smallest]!)) smallest = left;
        if (right < items.length && TimerHeap.before(items[right]!, items[smallest]!)) smallest = right;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest]!, items[i]!];
        i = smallest;
      }
    }
    return top;
  }

  private static before(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}

/** A {@link Clock} whose time only moves when advanced. */
export class SimulatedClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new TimerHeap();

  /** @param start initial time in ms since the epoch */
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = {at: this.current + Math.max(0, ms), seq: this.seq++, fn, cancelled: false};
    this.timers.push(timer);
    return {cancel: () => void (timer.cancelled = true)};
  }

  /** Number of timers still pending (cancelled ones included until they come due). */
  get pending(): number {
    return this.timers.size;
  }

  /**
   * Advance time by `ms`, running every timer that comes due, in order. After
   * each timer, pending promise callbacks run (so async code between timers
   * progresses as it would in real time).
   */
  async advance(ms: number): Promise<void> {
    const end = this.current + ms;
    for (;;) {
      const next = this.timers.peek();
      if (!next || next.at > end) break;
      this.timers.pop();
      this.current = Math.max(this.current, next.at);
      if (!next.cancelled) next.fn();
      await flushMicrotasks();
    }
    this.current = end;
    await flushMicrotasks();
  }
}

/** Let every pending promise callback run (several rounds, for chained awaits). */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}
