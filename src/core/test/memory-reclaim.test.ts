import {describe, expect, it} from 'vitest';
import {fullGarbageCollection, MemoryReclaimer, RECLAIM_CHECK_MS, RECLAIM_MIN_GAP_MS} from '../src/runtime/memory-reclaim.js';
import {silentLogger} from '../src/testkit/signed-fixtures.js';
import {SimulatedClock} from '../src/testkit/simulated-clock.js';

const MB = 1024 * 1024;

/** A reclaimer over buffer bytes the test sets; a collection brings them to `afterCollect`. */
function rig() {
  const clock = new SimulatedClock();
  const state = {buffers: 4 * MB, afterCollect: 4 * MB, collections: 0};
  const reclaimer = new MemoryReclaimer({
    clock,
    logger: silentLogger(),
    bufferBytes: () => state.buffers,
    collect: () => {
      state.collections++;
      state.buffers = state.afterCollect;
    },
  });
  return {clock, state, reclaimer};
}

describe('memory reclaimer', () => {
  it('collects once a burst is over (grown past the baseline, no longer growing), not while it goes on', async () => {
    const {clock, state, reclaimer} = rig();
    reclaimer.start();
    await clock.advance(RECLAIM_CHECK_MS);
    state.buffers = 40 * MB;
    await clock.advance(RECLAIM_CHECK_MS);
    state.buffers = 70 * MB;
    await clock.advance(RECLAIM_CHECK_MS);
    expect(state.collections).toBe(0);
    state.afterCollect = 5 * MB;
    await clock.advance(RECLAIM_CHECK_MS);
    expect(state.collections).toBe(1);
    expect(state.buffers).toBe(5 * MB);
    // Steady at the new level: nothing more.
    await clock.advance(10 * RECLAIM_CHECK_MS);
    expect(state.collections).toBe(1);
    reclaimer.stop();
  });

  it('never collects more often than the minimum gap, and not for growth of 16 MiB or less', async () => {
    const {clock, state, reclaimer} = rig();
    expect(reclaimer.check()).toBe(false);
    state.buffers = 20 * MB;
    expect(reclaimer.check()).toBe(false);
    expect(reclaimer.check()).toBe(false);
    state.buffers = 60 * MB;
    reclaimer.check();
    state.afterCollect = 50 * MB;
    expect(reclaimer.check()).toBe(true);
    state.buffers = 90 * MB;
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
