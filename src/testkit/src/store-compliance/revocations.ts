/** Store compliance, revocations. */
import {describe, expect, it} from 'vitest';
import {ed25519Signer, issueGrant, issueRevocation} from '@wgmesh/core';
import type {MeshAdmin, VerifiedEntry} from '@wgmesh/core';
import {SimulatedClock} from '../simulated-clock.js';
import {FIXTURE_NOW, testMeshAdmin, testMeshAuthority, wireEntry, type TestNode} from '../signed-fixtures.js';
import {COMPLIANCE_GC_HORIZON_MS, COMPLIANCE_CLOCK_SKEW_MS, runSync, storeState, hex} from './helpers.js';
import type {StoreSuite} from './suite.js';

/** Define the revocations tests on `suite`. */
export function describeRevocations(suite: StoreSuite): void {
  const {meshId, start, open, loaded, expectUnchanged, snapshotOf} = suite;
  describe('revocations', () => {
    /** A revocation of `node` by this mesh's authority, dated `at`. */
    function revoke(node: TestNode, at = FIXTURE_NOW): VerifiedEntry {
      return issueRevocation(testMeshAdmin(meshId), node.id, 'node', at, 'test');
    }
    /** Every entry `node` could write in the allowed window: far newer versions than the revocation's. */
    function ownEntries(node: TestNode): VerifiedEntry[] {
      const newest = start + COMPLIANCE_CLOCK_SKEW_MS - 1;
      return [
        node.record({version: 1, updatedAt: start}),
        node.record({version: newest, updatedAt: newest}),
        node.tombstone({version: newest, updatedAt: newest}),
        node.record({version: newest - 5, updatedAt: start, alias: 'back'}),
      ];
    }

    it('outrank every record and tombstone of the node in a merge, whatever the versions and the order', () => {
      const revocation = revoke(suite.alice);
      const first = loaded([revocation, ...ownEntries(suite.alice), suite.bob.record()]);
      const last = loaded([...ownEntries(suite.alice), suite.bob.record(), revocation]);
      for (const store of [first, last]) {
        expect(hex(store.get(suite.alice.id)!.hash)).toBe(hex(revocation.hash));
        expect(store.get(suite.alice.id)?.value.kind).toBe('revocation');
        expect(store.records().map((r) => r.id)).toEqual([suite.bob.id]);
        expect(store.merge(ownEntries(suite.alice).map(wireEntry)).accepted).toEqual([]);
      }
      expect(storeState(first)).toEqual(storeState(last));
      expect(hex(first.digest())).toBe(hex(last.digest()));
    });

    it('spread in a sync session and win on both replicas', () => {
      const revocation = revoke(suite.alice);
      const holder = loaded([revocation, suite.bob.record()]);
      const member = loaded([...ownEntries(suite.alice), ...suite.pool.entries]);
      runSync(member, holder);
      for (const store of [holder, member]) {
        expect(store.get(suite.alice.id)?.value.kind).toBe('revocation');
        expect(store.records().map((r) => r.id)).not.toContain(suite.alice.id);
      }
      expect(storeState(member)).toEqual(storeState(holder));
      // The revoked node syncing its newest record afterwards changes nothing.
      const revoked = loaded([ownEntries(suite.alice)[1]!]);
      runSync(revoked, member);
      expect(member.get(suite.alice.id)?.value.kind).toBe('revocation');
      expect(revoked.get(suite.alice.id)?.value.kind).toBe('revocation');
    });

    it('survive save and load into a store that holds a newer record, and the other way round', () => {
      const revocation = revoke(suite.alice);
      const revokedSnapshot = loaded([revocation]).save();
      const liveSnapshot = loaded(ownEntries(suite.alice)).save();
      const a = loaded(ownEntries(suite.alice));
      a.load(revokedSnapshot);
      const b = loaded([revocation]);
      b.load(liveSnapshot);
      for (const store of [a, b]) expect(hex(store.get(suite.alice.id)!.hash)).toBe(hex(revocation.hash));
      expect(storeState(a)).toEqual(storeState(b));
    });

    it('are rejected as invalid unless an admin signed them', () => {
      const store = loaded([suite.alice.record()]);
      const before = snapshotOf(store);
      const member = ed25519Signer();
      const selfMade: MeshAdmin = {meshId, signer: member, chain: {authorityKey: member.publicKey, grant: null}};
      const inAuthorityName: MeshAdmin = {meshId, signer: member, chain: {authorityKey: testMeshAuthority(meshId).publicKey, grant: null}};
      const selfGranted: MeshAdmin = {meshId, signer: member, chain: {authorityKey: testMeshAuthority(meshId).publicKey, grant: issueGrant(member, member.publicKey, FIXTURE_NOW)}};
      const forged = [selfMade, inAuthorityName, selfGranted].map((admin) => wireEntry(issueRevocation(admin, suite.alice.id, 'node', start)));
      const result = store.merge(forged);
      expect(result.accepted).toEqual([]);
      expect(result.rejected).toHaveLength(3);
      for (const rejection of result.rejected) expect(rejection).toMatchObject({id: suite.alice.id, invalid: true});
      expectUnchanged(store, before);
    });

    it('are accepted from an admin the authority granted, and never collected', async () => {
      const clock = new SimulatedClock(start);
      const store = open({clock});
      const key = ed25519Signer();
      const granted: MeshAdmin = {meshId, signer: key, chain: {authorityKey: testMeshAuthority(meshId).publicKey, grant: issueGrant(testMeshAuthority(meshId), key.publicKey, FIXTURE_NOW)}};
      const byGrant = issueRevocation(granted, suite.bob.id, 'node', start);
      expect(store.merge([wireEntry(revoke(suite.alice)), wireEntry(byGrant), wireEntry(suite.pool.nodes[0]!.record({updatedAt: start}))]).rejected).toEqual([]);
      await clock.advance(10 * COMPLIANCE_GC_HORIZON_MS);
      expect(store.collectGarbage()).toBe(1);
      expect(store.entries().map((e) => e.value.kind)).toEqual(['revocation', 'revocation']);
      // A revoked node re-signing its record at the new time still cannot come back.
      const now = clock.now();
      expect(store.merge([wireEntry(suite.alice.record({version: now, updatedAt: now}))]).accepted).toEqual([]);
      expect(store.get(suite.alice.id)?.value.kind).toBe('revocation');
      // ... nor on a replica that syncs with this one.
      const fresh = open({clock});
      fresh.merge([wireEntry(suite.alice.record({version: now, updatedAt: now}))]);
      runSync(fresh, store);
      expect(fresh.get(suite.alice.id)?.value.kind).toBe('revocation');
    });
  });
}
