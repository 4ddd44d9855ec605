import {describe, expect, it} from 'vitest';
import {fullGarbageCollection, MemoryReclaimer, RECLAIM_CHECK_MS, RECLAIM_MIN_GAP_MS} from '../src/runtime/memory-reclaim.js';
import {silentLogger} from '../src/testkit/signed-fixtures.js';
import {SimulatedClock} from '../src/testkit/simulated-clock.js';

const MB = 1_000_000;

/** A reclaimer over a resident size the test sets; a collection brings it to `afterCollect`. */
function rig() {
  const clock = new SimulatedClock();
  const state = {rss: 100 * MB, afterCollect: 100 * MB, collections: 0};
  const reclaimer = new MemoryReclaimer({
    clock,
    logger: silentLogger(),
    residentBytes: () => state.rss,
    collect: () => {
      state.collections++;
      state.rss = state.afterCollect;
    },
  });
  return {clock, state, reclaimer};
}

describe('memory reclaimer', () => {
  it('collects once a burst is over (grown past the baseline, no longer growing), not while it goes on', async () => {
    const {clock, state, reclaimer} = rig();
    reclaimer.start();
    await clock.advance(RECLAIM_CHECK_MS);
    state.rss = 150 * MB;
    await clock.advance(RECLAIM_CHECK_MS);
    state.rss = 180 * MB;
    await clock.advance(RECLAIM_CHECK_MS);
    expect(state.collections).toBe(0);
    state.afterCollect = 104 * MB;
    await clock.advance(RECLAIM_CHECK_MS);
    expect(state.collections).toBe(1);
    expect(state.rss).toBe(104 * MB);
    // Steady at the new level: nothing more.
    await clock.advance(10 * RECLAIM_CHECK_MS);
    expect(state.collections).toBe(1);
    reclaimer.stop();
  });

  it('never collects more often than the minimum gap, and not for growth within 10%', async () => {
    const {clock, state, reclaimer} = rig();
    expect(reclaimer.check()).toBe(false);
    state.rss = 109 * MB;
    expect(reclaimer.check()).toBe(false);
    expect(reclaimer.check()).toBe(false);
    state.rss = 200 * MB;
    reclaimer.check();
    state.afterCollect = 190 * MB;
    expect(reclaimer.check()).toBe(true);
    state.rss = 300 * MB;
    reclaimer.check();
    expect(reclaimer.check()).toBe(false);
    await clock.advance(RECLAIM_MIN_GAP_MS);
    expect(reclaimer.check()).toBe(true);
  });

  it('gets V8 to collect without --expose-gc', async () => {
    const collect = fullGarbageCollection();
    const ref = new WeakRef({garbage: new Array(1000).fill(0)});
    // A WeakRef's target lives at least until the end of the job that made it.
    await new Promise((resolve) => setImmediate(resolve));
    collect();
    expect(ref.deref()).toBeUndefined();
  });
});
