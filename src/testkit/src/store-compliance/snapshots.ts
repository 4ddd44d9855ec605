/** Store compliance, save and load. */
import {describe, expect, it} from 'vitest';
import {DecodeError, encode} from '@wgmesh/core';
import {SimulatedClock} from '../simulated-clock.js';
import {makeTestNode, testMeshId, wireEntry} from '../signed-fixtures.js';
import {COMPLIANCE_GC_HORIZON_MS, storeState, expectedState, hex} from './helpers.js';
import type {StoreSuite} from './suite.js';

/** Define the save and load tests on `suite`. */
export function describeSnapshots(suite: StoreSuite): void {
  const {meshId, start, open, loaded, expectUnchanged, snapshotOf} = suite;
  describe('save and load', () => {
    it('round-trips every entry, tombstones included', () => {
      const source = loaded(suite.pool.entries);
      const copy = open();
      const result = copy.load(source.save());
      expect(result.rejected).toEqual([]);
      expect(storeState(copy)).toEqual(storeState(source));
      expect(hex(copy.digest())).toBe(hex(source.digest()));
      expect(copy.records()).toEqual(source.records());
    });

    it('merges a snapshot into a store that already holds entries', () => {
      const a = loaded(suite.pool.entries.filter((_, i) => i % 2 === 0));
      const b = loaded(suite.pool.entries.filter((_, i) => i % 3 === 0));
      b.load(a.save());
      expect(storeState(b)).toEqual(expectedState(suite.pool.entries.filter((_, i) => i % 2 === 0 || i % 3 === 0)));
    });

    it('refuses a corrupt snapshot with a DecodeError and changes nothing', () => {
      const store = loaded(suite.pool.entries.slice(0, 6));
      const before = snapshotOf(store);
      const good = loaded(suite.pool.entries.slice(6, 18)).save();
      const truncated = good.subarray(0, Math.floor(good.byteLength / 2));
      const flipped = new Uint8Array(good);
      // Flip a byte well inside the entries (past any header), so it lands in a body or a signature.
      const at = Math.floor(flipped.byteLength * 0.75);
      flipped[at] = (flipped[at] ?? 0) ^ 0x40;
      for (const bad of [new Uint8Array(0), new Uint8Array([1, 2, 3, 4]), truncated, encode({hello: 'world'}), flipped]) {
        expect(() => store.load(bad)).toThrow(DecodeError);
        expectUnchanged(store, before);
      }
    });

    it('refuses a snapshot of another mesh', () => {
      const other = testMeshId();
      const foreign = open({meshId: other});
      foreign.merge([wireEntry(makeTestNode(other, {identity: suite.alice.identity}).record())]);
      const store = open();
      expect(() => store.load(foreign.save())).toThrow(DecodeError);
      expect(store.size).toBe(0);
    });

    it('loads a stale snapshot, leaving out only the entries that expired since', async () => {
      const clock = new SimulatedClock(start);
      const source = open({clock});
      source.merge([wireEntry(suite.alice.record({updatedAt: start - 1000}))]);
      await clock.advance(COMPLIANCE_GC_HORIZON_MS / 2);
      source.merge([wireEntry(suite.bob.record({updatedAt: clock.now()}))]);
      const snapshot = source.save();
      await clock.advance(COMPLIANCE_GC_HORIZON_MS / 2 + 1000);
      const copy = open({clock});
      const result = copy.load(snapshot);
      expect(result.accepted.map((e) => e.value.id)).toEqual([suite.bob.id]);
      expect(result.rejected.map((r) => r.id)).toEqual([suite.alice.id]);
    });
  });
}
