/** Store compliance, versions, tombstones and re-adds. */
import {describe, expect, it} from 'vitest';
import {wireEntry} from '../signed-fixtures.js';
import {storeState, hex} from './helpers.js';
import type {StoreSuite} from './suite.js';

/** Define the versions, tombstones and re-adds tests on `suite`. */
export function describeVersions(suite: StoreSuite): void {
  const {loaded} = suite;
  describe('versions, tombstones and re-adds', () => {
    it('keeps the higher version whatever the order, and ignores an older one', () => {
      const v1 = suite.alice.record({version: 1});
      const v2 = suite.alice.record({version: 2});
      const a = loaded([v1, v2]);
      const b = loaded([v2, v1]);
      expect(a.get(suite.alice.id)?.value.version).toBe(2);
      expect(storeState(a)).toEqual(storeState(b));
      expect(a.merge([wireEntry(v1)]).accepted).toEqual([]);
      expect(a.get(suite.alice.id)?.value.version).toBe(2);
    });

    it('breaks a tie on equal versions by content, identically on both sides', () => {
      const x = suite.alice.record({version: 7, alias: 'x'});
      const y = suite.alice.record({version: 7, alias: 'y'});
      const winner = Buffer.compare(Buffer.from(x.hash), Buffer.from(y.hash)) > 0 ? x : y;
      const a = loaded([x, y]);
      const b = loaded([y, x]);
      expect(hex(a.get(suite.alice.id)!.hash)).toBe(hex(winner.hash));
      expect(hex(b.get(suite.alice.id)!.hash)).toBe(hex(winner.hash));
      expect(hex(a.digest())).toBe(hex(b.digest()));
    });

    it('lets a tombstone win over older records only', () => {
      const store = loaded([suite.alice.record({version: 1})]);
      store.merge([wireEntry(suite.alice.tombstone({version: 2}))]);
      expect(store.get(suite.alice.id)?.value.kind).toBe('tombstone');
      expect(store.records()).toEqual([]);
      // An older record arriving late does not bring the node back.
      expect(store.merge([wireEntry(suite.alice.record({version: 1, alias: 'late'}))]).accepted).toEqual([]);
      expect(store.records()).toEqual([]);
      // A tombstone older than the held record loses.
      const live = loaded([suite.bob.record({version: 5})]);
      expect(live.merge([wireEntry(suite.bob.tombstone({version: 4}))]).accepted).toEqual([]);
      expect(live.records().map((r) => r.id)).toEqual([suite.bob.id]);
    });

    it('re-adds a node whose newer record follows its tombstone', () => {
      const store = loaded([suite.alice.record({version: 1}), suite.alice.tombstone({version: 2})]);
      expect(store.records()).toEqual([]);
      const readd = suite.alice.record({version: 3, description: 'back'});
      expect(store.merge([wireEntry(readd)]).accepted).toHaveLength(1);
      expect(store.records().map((r) => r.description)).toEqual(['back']);
      // ... and the same in the other order.
      const other = loaded([readd, suite.alice.tombstone({version: 2}), suite.alice.record({version: 1})]);
      expect(storeState(other)).toEqual(storeState(store));
    });
  });
}
