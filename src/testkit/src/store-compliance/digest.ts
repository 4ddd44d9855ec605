/** Store compliance, digest. */
import {describe, expect, it} from 'vitest';
import {wireEntry} from '../signed-fixtures.js';
import {hex} from './helpers.js';
import type {StoreSuite} from './suite.js';

/** Define the digest tests on `suite`. */
export function describeDigest(suite: StoreSuite): void {
  const {open, loaded} = suite;
  describe('digest', () => {
    it('is equal exactly when the entries are equal', () => {
      const entries = suite.pool.entries.slice(0, 12);
      const a = loaded(entries);
      const b = loaded([...entries].reverse());
      expect(hex(a.digest())).toBe(hex(b.digest()));
      expect(hex(open().digest())).toBe(hex(open().digest()));
      expect(hex(open().digest())).not.toBe(hex(a.digest()));
      // Entries a winner overrides do not count: only the state does.
      const sameState = loaded(entries.filter((e) => e.value.version !== 1));
      expect(hex(sameState.digest())).toBe(hex(a.digest()));
      const lacking = loaded(entries.filter((e) => e.value.id !== entries[0]!.value.id));
      expect(hex(lacking.digest())).not.toBe(hex(a.digest()));
      // Same node ids, one entry in another version.
      const d = loaded([...entries, suite.alice.record({version: 1})]);
      const e = loaded([...entries, suite.alice.record({version: 2})]);
      expect(hex(d.digest())).not.toBe(hex(e.digest()));
      e.merge([wireEntry(suite.alice.record({version: 1}))]);
      d.merge([wireEntry(suite.alice.record({version: 2}))]);
      expect(hex(d.digest())).toBe(hex(e.digest()));
    });
  });
}
