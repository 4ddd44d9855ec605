/** Store compliance, local writes and reads. */
import {describe, expect, it} from 'vitest';
import type {StoreChange} from '@wgmesh/core';
import {wireEntry} from '../signed-fixtures.js';
import {hex} from './helpers.js';
import type {StoreSuite} from './suite.js';

/** Define the local writes and reads tests on `suite`. */
export function describeLocal(suite: StoreSuite): void {
  const {meshId, open} = suite;
  describe('local writes and reads', () => {
    it('opens an empty store of its kind for the mesh', () => {
      const store = open();
      expect(store.kind).toBe(suite.backend.kind);
      expect(store.meshId).toBe(meshId);
      expect(store.size).toBe(0);
      expect(store.entries()).toEqual([]);
      expect(store.records()).toEqual([]);
      expect(store.get(suite.alice.id)).toBeUndefined();
    });

    it('holds a merged record and returns it by id', () => {
      const store = open();
      const entry = suite.alice.record({alias: 'suite.alice'});
      const result = store.merge([wireEntry(entry)]);
      expect(result.rejected).toEqual([]);
      expect(result.accepted.map((e) => hex(e.hash))).toEqual([hex(entry.hash)]);
      expect(store.size).toBe(1);
      expect(store.get(suite.alice.id)?.value).toEqual(entry.value);
      expect(hex(store.get(suite.alice.id)!.hash)).toBe(hex(entry.hash));
      expect(store.records()).toEqual([entry.value]);
    });

    it('lists live records sorted by id, leaving tombstoned nodes out of records but not out of entries', () => {
      const store = open();
      const carol = suite.pool.nodes[0]!;
      store.merge([suite.alice.record(), suite.bob.record(), carol.tombstone()].map(wireEntry));
      const ids = [suite.alice.id, suite.bob.id].sort();
      expect(store.records().map((r) => r.id)).toEqual(ids);
      expect(store.entries().map((e) => e.value.id).sort()).toEqual([suite.alice.id, suite.bob.id, carol.id].sort());
      expect(store.size).toBe(3);
      expect(store.get(carol.id)?.value.kind).toBe('tombstone');
    });

    it('treats an entry it already holds as a no-op', () => {
      const store = open();
      const entry = suite.alice.record();
      store.merge([wireEntry(entry)]);
      const changes: StoreChange[] = [];
      store.onChange((change) => changes.push(change));
      const again = store.merge([wireEntry(entry), wireEntry(entry)]);
      expect(again).toEqual({accepted: [], rejected: []});
      expect(changes).toEqual([]);
    });

    it('tells listeners about every winning entry, with the one it replaced, until unsubscribed', () => {
      const store = open();
      const changes: StoreChange[] = [];
      const unsubscribe = store.onChange((change) => changes.push(change));
      const v1 = suite.alice.record({version: 1});
      const v2 = suite.alice.record({version: 2});
      store.merge([wireEntry(v1)]);
      store.merge([wireEntry(v2), wireEntry(v1)]);
      expect(changes.map((c) => [c.id, c.current.value.version, c.previous?.value.version])).toEqual([
        [suite.alice.id, 1, undefined],
        [suite.alice.id, 2, 1],
      ]);
      unsubscribe();
      store.merge([wireEntry(suite.alice.record({version: 3}))]);
      expect(changes).toHaveLength(2);
    });
  });
}
