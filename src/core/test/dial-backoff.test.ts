import {describe, expect, it} from 'vitest';
import type {RandomSource} from '../src/contracts/clock.js';
import {DIAL_BACKOFF, DialBackoff, dialBackoffParams, type DialBackoffParams} from '../src/control/dial-backoff.js';
import {SimulatedClock} from '@wgmesh/testkit';

const E = 'peer.example:4000';

/** A random source that always returns `value` (0: the shortest jitter, just under 1: the longest). */
function fixed(value: number): RandomSource {
  return {float: () => value, bytes: (n) => new Uint8Array(n)};
}

function setup(random = fixed(0.5), params: Partial<DialBackoffParams> = {}): {clock: SimulatedClock; backoff: DialBackoff} {
  const clock = new SimulatedClock();
  return {clock, backoff: new DialBackoff(clock, random, {...DIAL_BACKOFF, ...params})};
}

/** Fail `endpoint` once every `stepMs` for `forMs`, keeping this node in touch with someone (an answer elsewhere each step). */
async function failFor(clock: SimulatedClock, backoff: DialBackoff, forMs: number, stepMs = 1_000): Promise<void> {
  for (let t = 0; t < forMs; t += stepMs) {
    backoff.answered();
    backoff.failed(E);
    await clock.advance(stepMs);
  }
}

describe('DialBackoff', () => {
  it('imposes no wait during the grace period', async () => {
    const {clock, backoff} = setup();
    await failFor(clock, backoff, DIAL_BACKOFF.graceMs - 1_000);
    expect(backoff.ready(E)).toBe(true);
    expect(backoff.failingFor(E)).toBe(DIAL_BACKOFF.graceMs - 1_000);
  });

  it('then waits as long as the endpoint has been failing, jittered, and at most the cap', async () => {
    for (const [float, factor] of [
      [0, 1 - DIAL_BACKOFF.jitter],
      [0.5, 1],
      [0.999_999, 1 + DIAL_BACKOFF.jitter],
    ] as const) {
      const {clock, backoff} = setup(fixed(float));
      backoff.failed(E);
      await clock.advance(90_000);
      backoff.answered();
      backoff.failed(E);
      expect(backoff.waitFor(E)).toBe(Math.round(90_000 * factor));
      expect(backoff.ready(E)).toBe(false);
      await clock.advance(backoff.waitFor(E));
      expect(backoff.ready(E)).toBe(true);
      // Two hours in: the cap.
      await clock.advance(2 * 3_600_000);
      backoff.answered();
      backoff.failed(E);
      expect(backoff.waitFor(E)).toBe(Math.round(DIAL_BACKOFF.capMs * factor));
    }
  });

  it('spaces attempts exponentially when callers try as soon as they may', async () => {
    const {clock, backoff} = setup();
    const attempts: number[] = [];
    const start = clock.now();
    for (let t = 0; t < 3_600_000; t += 1_000) {
      if (backoff.ready(E)) {
        attempts.push(clock.now() - start);
        backoff.answered();
        backoff.failed(E);
      }
      await clock.advance(1_000);
    }
    // 60 in the grace minute, then 60, 120, 240, 480 s apart, then one every 10 min.
    expect(attempts.slice(60).map((at) => at / 1_000)).toEqual([60, 120, 240, 480, 960, 1560, 2160, 2760, 3360]);
  });

  it('forgets the streak when the endpoint answers', async () => {
    const {clock, backoff} = setup();
    await failFor(clock, backoff, 120_000);
    expect(backoff.ready(E)).toBe(false);
    backoff.succeeded(E);
    expect(backoff.ready(E)).toBe(true);
    expect(backoff.failingFor(E)).toBe(0);
  });

  it('opens at once for a member heard from after a silence, not for one heard from all along', async () => {
    const {clock, backoff} = setup();
    const silentSince = clock.now() - 1;
    await failFor(clock, backoff, 120_000);
    expect(backoff.ready(E, silentSince)).toBe(false);
    // A restarted member heartbeats: heard after the last failure, silent before.
    expect(backoff.ready(E, clock.now())).toBe(true);

    const other = setup();
    for (let t = 0; t < 120_000; t += 1_000) {
      other.backoff.answered();
      // It reaches this node all the while (its heartbeats): its endpoint just does not answer.
      other.backoff.failed(E, other.clock.now() - 500);
      await other.clock.advance(1_000);
    }
    expect(other.backoff.ready(E, other.clock.now())).toBe(false);
  });

  it('does not count failures while this node reaches nobody', async () => {
    const {clock, backoff} = setup();
    backoff.answered();
    await clock.advance(DIAL_BACKOFF.cutOffMs + 1);
    for (let t = 0; t < 300_000; t += 1_000) {
      backoff.failed(E);
      await clock.advance(1_000);
    }
    expect(backoff.ready(E)).toBe(true);
    expect(backoff.failingFor(E)).toBe(0);
  });

  it('treats endpoints that differ in letter case as one', async () => {
    const {clock, backoff} = setup();
    await failFor(clock, backoff, 120_000);
    expect(backoff.ready(E.toUpperCase())).toBe(false);
  });

  it('keeps at most maxEntries streaks, dropping the stalest', async () => {
    const {clock, backoff} = setup(fixed(0.5), {maxEntries: 3, graceMs: 0});
    for (const endpoint of ['a:1', 'b:1', 'c:1', 'd:1']) {
      backoff.answered();
      backoff.failed(endpoint);
      await clock.advance(1_000);
      backoff.failed(endpoint);
    }
    expect(['a:1', 'b:1', 'c:1', 'd:1'].map((endpoint) => backoff.failingFor(endpoint) > 0)).toEqual([false, true, true, true]);
  });
});

describe('dialBackoffParams', () => {
  it('takes the grace and the longest wait from the settings (config dialBackoffGrace, dialBackoffMax), the rest from the defaults', async () => {
    expect(dialBackoffParams({})).toEqual(DIAL_BACKOFF);
    const params = dialBackoffParams({dialBackoffGraceMs: 10_000, dialBackoffMaxMs: 30_000});
    expect(params).toEqual({...DIAL_BACKOFF, graceMs: 10_000, capMs: 30_000});
    // With them: free for 10 s, then a wait as long as the failing so far, never over 30 s.
    const clock = new SimulatedClock();
    const backoff = new DialBackoff(clock, fixed(0.5), params);
    await failFor(clock, backoff, 9_000);
    expect(backoff.ready(E)).toBe(true);
    await failFor(clock, backoff, 2_000);
    expect(backoff.ready(E)).toBe(false);
    expect(backoff.waitFor(E)).toBeGreaterThan(0);
    // Failing for minutes: the wait is the longest one, not the minutes.
    for (let i = 0; i < 10; i++) {
      await clock.advance(backoff.waitFor(E));
      backoff.answered();
      backoff.failed(E);
    }
    expect(backoff.failingFor(E)).toBeGreaterThan(120_000);
    expect(backoff.waitFor(E)).toBeLessThanOrEqual(30_000);
    expect(backoff.waitFor(E)).toBeGreaterThan(20_000);
  });
});
