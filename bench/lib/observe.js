/**
 * How the benchmarks time an event's spread: poll every observer until it
 * shows the event, without the polls themselves loading the machine.
 */
import {performance} from 'node:perf_hooks';
import {sleep} from './fleet.js';

/**
 * Poll every observer (one call in flight per observer) until `seen(node)`
 * holds for it; its arrival is ms after `t0`, or the number `seen` returns
 * (a time the observed process stamped). An observer waits `pollMs` between
 * two of its calls, and longer while many are still waiting, so that the
 * bench never asks more than `rate` calls per second in all: 100 processes
 * polled every 50 ms would spend the CPU they need on answering the bench.
 * As observers see the event the rest are polled faster, so the last arrivals
 * (p99, 100%) get the finest resolution. A failed call (a busy process) is
 * retried, never taken as an answer.
 * @template T
 * @param {readonly T[]} observers
 * @param {(node: T) => Promise<boolean | number>} seen
 * @param {number} t0 performance.now() when the event started
 * @param {{pollMs: number, rate: number, timeoutMs: number}} pacing
 * @returns {Promise<(number | null)[]>} arrivals in observer order, null after the timeout
 */
export async function observe(observers, seen, t0, {pollMs, rate, timeoutMs}) {
  const deadline = t0 + timeoutMs;
  let pending = observers.length;
  return Promise.all(
    observers.map(async (node) => {
      while (performance.now() < deadline) {
        let ok = false;
        try {
          ok = await seen(node);
        } catch {
          // Timed out or refused under load: ask again.
        }
        if (ok !== false) {
          pending--;
          return typeof ok === 'number' ? ok : performance.now() - t0;
        }
        await sleep(Math.max(pollMs, (pending * 1000) / rate));
      }
      pending--;
      return null;
    }),
  );
}
