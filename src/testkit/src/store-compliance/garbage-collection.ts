/** Store compliance, garbage collection. */
import {describe, expect, it} from 'vitest';
import {SimulatedClock} from '../simulated-clock.js';
import {wireEntry} from '../signed-fixtures.js';
import {COMPLIANCE_GC_HORIZON_MS, runSync, hex} from './helpers.js';
import type {StoreSuite} from './suite.js';

/** Define the garbage collection tests on `suite`. */
export function describeGarbageCollection(suite: StoreSuite): void {
  const {start, open} = suite;
  describe('garbage collection', () => {
    it('drops expired entries and refuses an old copy afterwards, so a removed node never comes back', async () => {
      const clock = new SimulatedClock(start);
      const store = open({clock});
      const old = suite.alice.record({version: 1, updatedAt: start - 1000});
      const tombstone = suite.alice.tombstone({version: 2, updatedAt: start});
      store.merge([wireEntry(old), wireEntry(tombstone)]);
      expect(store.collectGarbage()).toBe(0);
      await clock.advance(COMPLIANCE_GC_HORIZON_MS / 2);
      const fresh = suite.bob.record({version: 1, updatedAt: clock.now()});
      store.merge([wireEntry(fresh)]);
      await clock.advance(COMPLIANCE_GC_HORIZON_MS / 2 + 1);
      expect(store.collectGarbage()).toBe(1);
      expect(store.get(suite.alice.id)).toBeUndefined();
      expect(store.get(suite.bob.id)?.value.version).toBe(1);
      for (const copy of [old, tombstone]) {
        const result = store.merge([wireEntry(copy)]);
        expect(result.accepted).toEqual([]);
        expect(result.rejected).toHaveLength(1);
      }
      expect(store.get(suite.alice.id)).toBeUndefined();
    });

    it('does not take back an old copy from a replica that has not collected yet', async () => {
      const clock = new SimulatedClock(start);
      const collected = open({clock});
      const lagging = open({clock});
      collected.merge([wireEntry(suite.alice.record({version: 1, updatedAt: start - 1000})), wireEntry(suite.alice.tombstone({version: 2, updatedAt: start}))]);
      lagging.merge([wireEntry(suite.alice.record({version: 1, updatedAt: start - 1000}))]);
      await clock.advance(COMPLIANCE_GC_HORIZON_MS + 1);
      collected.collectGarbage();
      runSync(lagging, collected);
      runSync(collected, lagging);
      expect(collected.get(suite.alice.id)).toBeUndefined();
      expect(collected.records()).toEqual([]);
    });

    it('changes the digest when it drops entries', async () => {
      const clock = new SimulatedClock(start);
      const store = open({clock});
      store.merge([wireEntry(suite.alice.record({updatedAt: start}))]);
      const before = hex(store.digest());
      await clock.advance(COMPLIANCE_GC_HORIZON_MS + 1);
      store.collectGarbage();
      expect(hex(store.digest())).not.toBe(before);
      expect(hex(store.digest())).toBe(hex(open().digest()));
    });
  });
}
