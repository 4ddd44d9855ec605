/**
 * The daemon's own full GC after a burst (src/cli/memory-release.ts): when it
 * is due, that it is asked for once per burst, and that nothing runs where
 * Node does not expose `gc`.
 */
import {afterEach, describe, expect, it, vi} from 'vitest';
import {silentLogger} from '@wgmesh/testkit';
import {CHECK_INTERVAL_MS, GROWTH_BYTES, MIN_SPACING_MS, QUIET_BYTES, decideRelease, initialReleaseState, startMemoryRelease} from '../src/cli/memory-release.js';

const MiB = 1024 * 1024;

/** Feed `readings` one per check from `start`; the times a GC was asked for. */
function run(readings: readonly number[], start = 100_000): number[] {
  let state = initialReleaseState(readings[0]!);
  const asked: number[] = [];
  readings.slice(1).forEach((reading, index) => {
    const now = start + (index + 1) * CHECK_INTERVAL_MS;
    const decision = decideRelease(state, reading, now);
    if (decision.collect) asked.push(now);
    state = decision.state;
  });
  return asked;
}

describe('decideRelease', () => {
  it('asks once the memory has grown past the level by more than the threshold and stopped growing', () => {
    const level = 60 * MiB;
    // Growing through a burst: no GC while it grows; the first reading that does not grow gets one.
    expect(run([level, level + 10 * MiB, level + 40 * MiB, level + 70 * MiB, level + 70 * MiB, level + 69 * MiB])).toEqual([100_000 + 4 * CHECK_INTERVAL_MS]);
  });

  it('counts the idle daemon’s own small allocations between two readings as stopped', () => {
    expect(run([60 * MiB, 100 * MiB, 100 * MiB + QUIET_BYTES])).toEqual([100_000 + 2 * CHECK_INTERVAL_MS]);
  });

  it('does not ask for growth within the threshold, nor while the memory still grows', () => {
    expect(run([60 * MiB, 60 * MiB + GROWTH_BYTES, 60 * MiB + GROWTH_BYTES, 60 * MiB + GROWTH_BYTES - 1])).toEqual([]);
    expect(run([60 * MiB, 90 * MiB, 90 * MiB + QUIET_BYTES + 1, 90 * MiB + 2 * QUIET_BYTES + 2, 120 * MiB])).toEqual([]);
  });

  it('takes the reading after a GC as the new level, and waits the minimum spacing before the next', () => {
    const readings = [60 * MiB, 100 * MiB, 100 * MiB /* GC */, 62 * MiB /* new level */, 100 * MiB, 100 * MiB, 100 * MiB, 100 * MiB, 100 * MiB, 100 * MiB, 100 * MiB, 100 * MiB];
    const asked = run(readings);
    expect(asked[0]).toBe(100_000 + 2 * CHECK_INTERVAL_MS);
    expect(asked).toHaveLength(2);
    expect(asked[1]! - asked[0]!).toBeGreaterThanOrEqual(MIN_SPACING_MS);
    // Memory that stays up after a GC (live data, not garbage) becomes the level: no GC after GC.
    expect(run([60 * MiB, 100 * MiB, 100 * MiB, 100 * MiB, 100 * MiB, 100 * MiB, 100 * MiB, 100 * MiB, 100 * MiB, 100 * MiB])).toHaveLength(1);
  });
});

describe('startMemoryRelease', () => {
  afterEach(() => vi.useRealTimers());

  it('asks V8 for an async major GC after a burst, on its timer, until stopped', () => {
    vi.useFakeTimers();
    let memory = 50 * MiB;
    const gc = vi.fn();
    const stop = startMemoryRelease(silentLogger(), {gc, read: () => memory, now: () => Date.now()});
    memory = 90 * MiB;
    vi.advanceTimersByTime(CHECK_INTERVAL_MS);
    expect(gc).not.toHaveBeenCalled();
    vi.advanceTimersByTime(CHECK_INTERVAL_MS);
    expect(gc).toHaveBeenCalledExactlyOnceWith({type: 'major', execution: 'async'});
    stop();
    memory = 200 * MiB;
    vi.advanceTimersByTime(10 * MIN_SPACING_MS);
    expect(gc).toHaveBeenCalledOnce();
  });

  it('does nothing where Node does not expose gc', () => {
    vi.useFakeTimers();
    const read = vi.fn(() => 0);
    const stop = startMemoryRelease(silentLogger(), {gc: undefined, read});
    vi.advanceTimersByTime(10 * CHECK_INTERVAL_MS);
    expect(read).not.toHaveBeenCalled();
    stop();
  });
});
