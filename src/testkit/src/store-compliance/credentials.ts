/** Store compliance, membership credentials. */
import {describe, expect, it} from 'vitest';
import {ed25519Signer, generateIdentity, issueGrant, issueMembership} from '@wgmesh/core';
import type {MeshAdmin} from '@wgmesh/core';
import {SimulatedClock} from '../simulated-clock.js';
import {FIXTURE_NOW, makeTestNode, testMeshAdmin, testMeshAuthority, testMeshId, wireEntry, type TestNode} from '../signed-fixtures.js';
import type {StoreSuite} from './suite.js';

/** Define the membership credentials tests on `suite`. */
export function describeCredentials(suite: StoreSuite): void {
  const {meshId, start, open, loaded, expectUnchanged, snapshotOf} = suite;
  describe('membership credentials', () => {
    /** A member that signs credentials with its own key while naming the mesh's authority: what a Sybil attacker can do. */
    function memberAsAdmin(): MeshAdmin {
      return {meshId, signer: ed25519Signer(), chain: {authorityKey: testMeshAuthority(meshId).publicKey, grant: null}};
    }
    /** An admin of this mesh whose grant ends at `validUntil`. */
    function grantedAdmin(validUntil: number): MeshAdmin {
      const key = ed25519Signer();
      const grant = issueGrant(testMeshAuthority(meshId), key.publicKey, FIXTURE_NOW, validUntil);
      return {meshId, signer: key, chain: {authorityKey: testMeshAuthority(meshId).publicKey, grant}};
    }
    /** A node of this mesh whose credential `issue` makes for its signing key. */
    function nodeWith(issue: (signingKey: string) => Uint8Array): TestNode {
      const identity = generateIdentity();
      return makeTestNode(meshId, {identity, credential: issue(identity.signingKey)});
    }

    const cases: [string, () => TestNode, RegExp][] = [
      [
        'a credential the node made for itself',
        () => {
          const identity = generateIdentity();
          const self: MeshAdmin = {meshId, signer: {publicKey: identity.signingKey, sign: (data) => identity.sign(data)}, chain: {authorityKey: identity.signingKey, grant: null}};
          return makeTestNode(meshId, {identity, credential: issueMembership(self, identity.signingKey, 'peer', FIXTURE_NOW)});
        },
        /does not belong to mesh/,
      ],
      ['a credential signed by a member in the authority\'s name', () => nodeWith((key) => issueMembership(memberAsAdmin(), key, 'peer', FIXTURE_NOW)), /bad signature/],
      ['the credential of another node', () => nodeWith(() => issueMembership(testMeshAdmin(meshId), generateIdentity().signingKey, 'peer', FIXTURE_NOW)), /admits another node/],
      ['a credential of another mesh', () => nodeWith((key) => issueMembership(testMeshAdmin(testMeshId()), key, 'peer', FIXTURE_NOW)), /does not belong to mesh/],
    ];
    for (const [what, make, reason] of cases) {
      it(`rejects a record and a tombstone with ${what} as invalid, and changes nothing`, () => {
        const store = loaded([suite.bob.record()]);
        const before = snapshotOf(store);
        const node = make();
        const result = store.merge([wireEntry(node.record()), wireEntry(node.tombstone())]);
        expect(result.accepted).toEqual([]);
        expect(result.rejected).toHaveLength(2);
        for (const rejection of result.rejected) {
          expect(rejection).toMatchObject({id: node.id, invalid: true});
          expect(rejection.reason).toMatch(/no valid membership/);
        }
        expect(result.rejected[0]!.reason).toMatch(reason);
        expectUnchanged(store, before);
      });
    }

    it('rejects a Sybil flood of 500 records admitted by a member, not an admin, and holds nothing more', () => {
      const store = loaded(suite.pool.entries);
      const before = snapshotOf(store);
      const member = memberAsAdmin();
      const flood = Array.from({length: 500}, () => wireEntry(nodeWith((key) => issueMembership(member, key, 'peer', FIXTURE_NOW)).record()));
      const result = store.merge(flood);
      expect(result.accepted).toEqual([]);
      expect(result.rejected).toHaveLength(500);
      expect(result.rejected.every((rejection) => rejection.invalid === true)).toBe(true);
      expect(store.size).toBe(before.state.length);
      expectUnchanged(store, before);
    });

    it('rejects, as expired and not invalid, an entry whose credential ended, also in a snapshot', () => {
      const ended = nodeWith((key) => issueMembership(testMeshAdmin(meshId), key, 'peer', FIXTURE_NOW, start - 1));
      const store = open();
      const result = store.merge([wireEntry(ended.record())]);
      expect(result.accepted).toEqual([]);
      expect(result.rejected).toHaveLength(1);
      expect(result.rejected[0]!.invalid).toBeUndefined();
      expect(result.rejected[0]!.reason).toMatch(/credential ended/);
      expect(store.size).toBe(0);
      // A snapshot saved while it was valid is stale, not corrupt.
      const earlier = open({clock: new SimulatedClock(start - 10)});
      expect(earlier.merge([wireEntry(ended.record())]).accepted).toHaveLength(1);
      const loadedLate = open();
      const fromSnapshot = loadedLate.load(earlier.save());
      expect(fromSnapshot.accepted).toEqual([]);
      expect(fromSnapshot.rejected.map((r) => r.id)).toEqual([ended.id]);
    });

    it('collects an entry once its credential ends, long before the horizon, and keeps those of an admin whose grant ended', async () => {
      const clock = new SimulatedClock(start);
      const store = open({clock});
      const end = start + 60_000;
      const record = nodeWith((key) => issueMembership(testMeshAdmin(meshId), key, 'peer', FIXTURE_NOW, end));
      const tombstone = nodeWith((key) => issueMembership(testMeshAdmin(meshId), key, 'peer', FIXTURE_NOW, end + 1000));
      // Admitted by an admin while its grant held: the node stays once the grant ends.
      const byGrant = nodeWith((key) => issueMembership(grantedAdmin(end), key, 'peer', FIXTURE_NOW));
      const entries = [record.record({updatedAt: start}), tombstone.tombstone({updatedAt: start}), byGrant.record({updatedAt: start}), suite.bob.record({updatedAt: start})];
      expect(store.merge(entries.map(wireEntry)).rejected).toEqual([]);
      expect(store.get(record.id)?.validUntil).toBe(end);
      expect(store.get(byGrant.id)?.validUntil).toBeUndefined();
      await clock.advance(60_000);
      expect(store.collectGarbage()).toBe(0);
      await clock.advance(1);
      expect(store.collectGarbage()).toBe(1);
      expect(store.get(record.id)).toBeUndefined();
      await clock.advance(1000);
      expect(store.collectGarbage()).toBe(1);
      expect(store.get(tombstone.id)).toBeUndefined();
      expect(store.entries().map((e) => e.value.id).sort()).toEqual([suite.bob.id, byGrant.id].sort());
      // The same entry offered again is refused.
      expect(store.merge([wireEntry(record.record({updatedAt: start}))]).accepted).toEqual([]);
    });

    it('rejects as invalid a membership an admin issued after its grant ended', () => {
      const store = open();
      const late = nodeWith((key) => issueMembership(grantedAdmin(FIXTURE_NOW - 1), key, 'peer', FIXTURE_NOW));
      const result = store.merge([wireEntry(late.record())]);
      expect(result.accepted).toEqual([]);
      expect(result.rejected).toMatchObject([{id: late.id, invalid: true}]);
      expect(result.rejected[0]!.reason).toMatch(/after the issuer's admin grant ended/);
      expect(store.size).toBe(0);
    });
  });
}
