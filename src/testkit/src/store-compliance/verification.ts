/** Store compliance, verification. */
import {describe, expect, it} from 'vitest';
import {encode, nodeAddress} from '@wgmesh/core';
import type {StoreChange} from '@wgmesh/core';
import {corruptSignature, forgeEntry, makeTestNode, testMeshId, wireEntry} from '../signed-fixtures.js';
import {COMPLIANCE_GC_HORIZON_MS, COMPLIANCE_CLOCK_SKEW_MS} from './helpers.js';
import type {StoreSuite} from './suite.js';

/** Define the verification tests on `suite`. */
export function describeVerification(suite: StoreSuite): void {
  const {meshId, start, open, expectUnchanged, snapshotOf} = suite;
  describe('verification', () => {
    const cases: [string, () => {entry: ReturnType<typeof wireEntry>; reason: RegExp}][] = [
      ['a forged signature', () => ({entry: corruptSignature(suite.alice.record()), reason: /signature/})],
      [
        'a body changed after signing',
        () => {
          const signed = suite.alice.record();
          return {entry: {body: encode({...signed.value, alias: 'evil'}), signature: signed.signature}, reason: /signature/};
        },
      ],
      [
        "a record claiming another node's id",
        () => ({entry: forgeEntry(suite.alice.recordBody({id: suite.bob.id, address: nodeAddress(meshId, suite.bob.id, 0)}), suite.alice.identity), reason: /another node/}),
      ],
      [
        "a record in another node's name signed by a third key",
        () => ({entry: forgeEntry(suite.bob.recordBody(), suite.alice.identity), reason: /signature/}),
      ],
      [
        'a mis-addressed record',
        () => ({entry: forgeEntry(suite.alice.recordBody({address: nodeAddress(meshId, suite.bob.id, 0)}), suite.alice.identity), reason: /address/}),
      ],
      [
        'a record whose address counter does not match its address',
        () => ({entry: forgeEntry(suite.alice.recordBody({addressCounter: 1}), suite.alice.identity), reason: /address/}),
      ],
      [
        'a record of another mesh',
        () => {
          const other = testMeshId();
          return {entry: wireEntry(makeTestNode(other, {identity: suite.alice.identity}).record()), reason: /mesh/};
        },
      ],
      [
        'a record dated beyond the allowed clock skew',
        () => ({entry: wireEntry(suite.alice.record({updatedAt: start + COMPLIANCE_CLOCK_SKEW_MS + 1000})), reason: /future/}),
      ],
      [
        'a record older than the garbage-collection horizon',
        () => ({entry: wireEntry(suite.alice.record({updatedAt: start - COMPLIANCE_GC_HORIZON_MS - 1000})), reason: /expire/}),
      ],
      ['bytes that are not an entry', () => ({entry: {body: new Uint8Array([0xc1, 0xff, 0x00]), signature: new Uint8Array(64)}, reason: /./})],
    ];
    for (const [what, make] of cases) {
      it(`rejects ${what} and changes nothing`, () => {
        const store = open();
        store.merge([wireEntry(suite.bob.record())]);
        const before = snapshotOf(store);
        const changes: StoreChange[] = [];
        store.onChange((change) => changes.push(change));
        const {entry, reason} = make();
        const result = store.merge([entry]);
        expect(result.accepted).toEqual([]);
        expect(result.rejected).toHaveLength(1);
        expect(result.rejected[0]!.reason).toMatch(reason);
        expect(changes).toEqual([]);
        expectUnchanged(store, before);
      });
    }

    it('accepts a record dated within the allowed clock skew', () => {
      const store = open();
      const result = store.merge([wireEntry(suite.alice.record({updatedAt: start + COMPLIANCE_CLOCK_SKEW_MS - 1000}))]);
      expect(result.rejected).toEqual([]);
      expect(result.accepted).toHaveLength(1);
    });

    it('merges the good entries of a batch and rejects the bad ones', () => {
      const store = open();
      const result = store.merge([corruptSignature(suite.bob.record()), wireEntry(suite.alice.record())]);
      expect(result.accepted.map((e) => e.value.id)).toEqual([suite.alice.id]);
      expect(result.rejected).toHaveLength(1);
      expect(store.get(suite.bob.id)).toBeUndefined();
    });
  });
}
