/**
 * The store compliance suite: every {@link StoreBackend} (bundled or
 * third-party) calls {@link describeStoreCompliance} from its own vitest file,
 * and the suite checks the store-agnostic rules of the MeshStore contract:
 * local writes and reads, verification, versions, tombstones and re-adds,
 * garbage collection without resurrection, digests, snapshots, and that sync
 * sessions converge under any interleaving (property tests with fast-check).
 */
import {randomBytes} from 'node:crypto';
import fc from 'fast-check';
import {beforeAll, describe, expect, it} from 'vitest';
import {compareEntries, DecodeError, ed25519Signer, encode, generateIdentity, issueGrant, issueMembership, issueRevocation, MAX_SYNC_MESSAGE_BYTES, nodeAddress, RECORD_LIMITS, signRevocation} from '@wgmesh/core';
import type {Logger, MeshAdmin, MeshStore, Revocation, StoreBackend, StoreChange, SyncSession, SyncStats, VerifiedEntry} from '@wgmesh/core';
import {SimulatedClock} from './simulated-clock.js';
import {
  corruptSignature,
  FIXTURE_NOW,
  forgeEntry,
  makeEntryPool,
  makeTestNode,
  recordingLogger,
  testMeshAdmin,
  testMeshAuthority,
  testMeshId,
  wireEntry,
  type EntryPool,
  type TestNode,
} from './signed-fixtures.js';

/** Garbage-collection horizon of the stores the suite opens (ms). */
export const COMPLIANCE_GC_HORIZON_MS = 3_600_000;
/** Allowed clock skew of the stores the suite opens (ms). */
export const COMPLIANCE_CLOCK_SKEW_MS = 60_000;

/** Sync sessions the suite allows two replicas to take to converge across a difference of several MiB. */
const MAX_SESSIONS_TO_CONVERGE = 20;

/** What {@link runSync} reports. */
export interface SyncRun {
  /** The initiator's counters. */
  initiator: SyncStats;
  /** The responder's counters. */
  responder: SyncStats;
  /** Messages exchanged, both directions. */
  messages: number;
  /** Bytes of the largest message, either direction. */
  largestMessage: number;
}

/**
 * Run one complete sync session between two stores in memory, as a transport
 * would: `initiator` starts, replies go back and forth until one side has
 * nothing more to say. Fails if the exchange does not end within `maxMessages`
 * (the default leaves room for a large difference, which a store carries a
 * few dozen entries a message).
 */
export function runSync(initiator: MeshStore, responder: MeshStore, maxMessages = 10_000): SyncRun {
  const ends = {initiator: initiator.openSync('initiator'), responder: responder.openSync('responder')};
  let message: Uint8Array | null = ends.initiator.start();
  let to: 'initiator' | 'responder' = 'responder';
  let messages = 0;
  let largestMessage = 0;
  while (message !== null) {
    if (++messages > maxMessages) throw new Error(`sync session did not end within ${maxMessages} messages`);
    largestMessage = Math.max(largestMessage, message.byteLength);
    message = ends[to].receive(message);
    to = to === 'responder' ? 'initiator' : 'responder';
  }
  if (!ends.initiator.done || !ends.responder.done) throw new Error('sync session ended with a side still expecting messages');
  return {initiator: ends.initiator.stats(), responder: ends.responder.stats(), messages, largestMessage};
}

/** The state of a store as comparable text: `id:hash` per entry, sorted. */
export function storeState(store: MeshStore): string[] {
  return store.entries().map(entryKey).sort();
}

/** What a store must hold after merging `entries` (in any order, any number of times): the winner per node. */
export function expectedState(entries: readonly VerifiedEntry[]): string[] {
  const winners = new Map<string, VerifiedEntry>();
  for (const entry of entries) {
    const held = winners.get(entry.value.id);
    if (held === undefined || compareEntries(entry, held) > 0) winners.set(entry.value.id, entry);
  }
  return [...winners.values()].map(entryKey).sort();
}

function entryKey(entry: VerifiedEntry): string {
  return `${entry.value.id}:${Buffer.from(entry.hash).toString('hex')}`;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** One sync session in flight, advanced one message at a time (for interleaving tests). */
class InFlightSync {
  private readonly sessions: {initiator: SyncSession; responder: SyncSession};
  private pending: {to: 'initiator' | 'responder'; bytes: Uint8Array} | null;
  private last: {to: 'initiator' | 'responder'; bytes: Uint8Array} | null = null;

  constructor(
    readonly stores: {initiator: MeshStore; responder: MeshStore},
  ) {
    this.sessions = {initiator: stores.initiator.openSync('initiator'), responder: stores.responder.openSync('responder')};
    this.pending = {to: 'responder', bytes: this.sessions.initiator.start()};
  }

  get finished(): boolean {
    return this.pending === null;
  }

  /** Deliver the next message. */
  step(): void {
    if (this.pending === null) return;
    const {to, bytes} = this.pending;
    this.last = this.pending;
    const reply = this.sessions[to].receive(bytes);
    this.pending = reply === null ? null : {to: to === 'responder' ? 'initiator' : 'responder', bytes: reply};
  }

  /**
   * Deliver the last delivered message again. A store may refuse it (DecodeError) or
   * accept it; either way its state must not be damaged. Returns the store it went to.
   */
  replay(): MeshStore | undefined {
    if (this.last === null) return undefined;
    const {to, bytes} = this.last;
    this.sessions[to].receive(bytes);
    return this.stores[to];
  }
}

/**
 * Register the store compliance suite for a backend. Stores are opened with
 * {@link COMPLIANCE_GC_HORIZON_MS} and {@link COMPLIANCE_CLOCK_SKEW_MS} on a
 * simulated clock. Rejection reasons are matched loosely: core's `verifyEntry`
 * messages as they are, and a reason mentioning "expire" for an entry past the
 * horizon. Malformed sync messages and snapshots must throw core's DecodeError.
 * @param name shown in the test names, e.g. `twophase`
 * @param makeBackend builds the backend under test (called once)
 */
export function describeStoreCompliance(name: string, makeBackend: () => StoreBackend | Promise<StoreBackend>): void {
  describe(`store compliance: ${name}`, () => {
    let backend: StoreBackend;
    let pool: EntryPool;
    let alice: TestNode;
    let bob: TestNode;
    /** Nodes for the large-difference sync: a few that write records near the size cap, many that write small ones. */
    let largeNodes: TestNode[];
    let smallNodes: TestNode[];
    const meshId = testMeshId();
    const start = FIXTURE_NOW + 10_000;

    beforeAll(async () => {
      backend = await makeBackend();
      const signed = makeEntryPool(meshId, 5, FIXTURE_NOW);
      // One node of the pool is revoked, at a version below its newest record's: every property holds with a revocation too.
      const revoked = signed.nodes.at(-1)!;
      const admin = testMeshAdmin(meshId);
      const revocation = signRevocation(admin.signer, {...issueRevocation(admin, revoked.id, 'node', FIXTURE_NOW + 2000).value, version: 2} as Revocation);
      pool = {...signed, entries: [...signed.entries, revocation]};
      alice = makeTestNode(meshId);
      bob = makeTestNode(meshId);
      largeNodes = Array.from({length: 80}, () => makeTestNode(meshId));
      smallNodes = Array.from({length: 300}, () => makeTestNode(meshId));
    });

    function open(options: {clock?: SimulatedClock; logger?: Logger; meshId?: string} = {}): MeshStore {
      return backend.open({
        meshId: options.meshId ?? meshId,
        clock: options.clock ?? new SimulatedClock(start),
        logger: options.logger ?? recordingLogger(),
        gcHorizonMs: COMPLIANCE_GC_HORIZON_MS,
        maxClockSkewMs: COMPLIANCE_CLOCK_SKEW_MS,
      });
    }

    function loaded(entries: readonly VerifiedEntry[]): MeshStore {
      const store = open();
      store.merge(entries.map(wireEntry));
      return store;
    }

    /** A state-level join, as a replica would compute it from two snapshots. */
    function join(a: MeshStore, b: MeshStore): MeshStore {
      const store = open();
      store.load(a.save());
      store.load(b.save());
      return store;
    }

    function expectUnchanged(store: MeshStore, before: {state: string[]; digest: string}): void {
      expect(storeState(store)).toEqual(before.state);
      expect(hex(store.digest())).toBe(before.digest);
    }

    function snapshotOf(store: MeshStore): {state: string[]; digest: string} {
      return {state: storeState(store), digest: hex(store.digest())};
    }

    describe('local writes and reads', () => {
      it('opens an empty store of its kind for the mesh', () => {
        const store = open();
        expect(store.kind).toBe(backend.kind);
        expect(store.meshId).toBe(meshId);
        expect(store.size).toBe(0);
        expect(store.entries()).toEqual([]);
        expect(store.records()).toEqual([]);
        expect(store.get(alice.id)).toBeUndefined();
      });

      it('holds a merged record and returns it by id', () => {
        const store = open();
        const entry = alice.record({alias: 'alice'});
        const result = store.merge([wireEntry(entry)]);
        expect(result.rejected).toEqual([]);
        expect(result.accepted.map((e) => hex(e.hash))).toEqual([hex(entry.hash)]);
        expect(store.size).toBe(1);
        expect(store.get(alice.id)?.value).toEqual(entry.value);
        expect(hex(store.get(alice.id)!.hash)).toBe(hex(entry.hash));
        expect(store.records()).toEqual([entry.value]);
      });

      it('lists live records sorted by id, leaving tombstoned nodes out of records but not out of entries', () => {
        const store = open();
        const carol = pool.nodes[0]!;
        store.merge([alice.record(), bob.record(), carol.tombstone()].map(wireEntry));
        const ids = [alice.id, bob.id].sort();
        expect(store.records().map((r) => r.id)).toEqual(ids);
        expect(store.entries().map((e) => e.value.id).sort()).toEqual([alice.id, bob.id, carol.id].sort());
        expect(store.size).toBe(3);
        expect(store.get(carol.id)?.value.kind).toBe('tombstone');
      });

      it('treats an entry it already holds as a no-op', () => {
        const store = open();
        const entry = alice.record();
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
        const v1 = alice.record({version: 1});
        const v2 = alice.record({version: 2});
        store.merge([wireEntry(v1)]);
        store.merge([wireEntry(v2), wireEntry(v1)]);
        expect(changes.map((c) => [c.id, c.current.value.version, c.previous?.value.version])).toEqual([
          [alice.id, 1, undefined],
          [alice.id, 2, 1],
        ]);
        unsubscribe();
        store.merge([wireEntry(alice.record({version: 3}))]);
        expect(changes).toHaveLength(2);
      });
    });

    describe('verification', () => {
      const cases: [string, () => {entry: ReturnType<typeof wireEntry>; reason: RegExp}][] = [
        ['a forged signature', () => ({entry: corruptSignature(alice.record()), reason: /signature/})],
        [
          'a body changed after signing',
          () => {
            const signed = alice.record();
            return {entry: {body: encode({...signed.value, alias: 'evil'}), signature: signed.signature}, reason: /signature/};
          },
        ],
        [
          "a record claiming another node's id",
          () => ({entry: forgeEntry(alice.recordBody({id: bob.id, address: nodeAddress(meshId, bob.id, 0)}), alice.identity), reason: /another node/}),
        ],
        [
          "a record in another node's name signed by a third key",
          () => ({entry: forgeEntry(bob.recordBody(), alice.identity), reason: /signature/}),
        ],
        [
          'a mis-addressed record',
          () => ({entry: forgeEntry(alice.recordBody({address: nodeAddress(meshId, bob.id, 0)}), alice.identity), reason: /address/}),
        ],
        [
          'a record whose address counter does not match its address',
          () => ({entry: forgeEntry(alice.recordBody({addressCounter: 1}), alice.identity), reason: /address/}),
        ],
        [
          'a record of another mesh',
          () => {
            const other = testMeshId();
            return {entry: wireEntry(makeTestNode(other, {identity: alice.identity}).record()), reason: /mesh/};
          },
        ],
        [
          'a record dated beyond the allowed clock skew',
          () => ({entry: wireEntry(alice.record({updatedAt: start + COMPLIANCE_CLOCK_SKEW_MS + 1000})), reason: /future/}),
        ],
        [
          'a record older than the garbage-collection horizon',
          () => ({entry: wireEntry(alice.record({updatedAt: start - COMPLIANCE_GC_HORIZON_MS - 1000})), reason: /expire/}),
        ],
        ['bytes that are not an entry', () => ({entry: {body: new Uint8Array([0xc1, 0xff, 0x00]), signature: new Uint8Array(64)}, reason: /./})],
      ];
      for (const [what, make] of cases) {
        it(`rejects ${what} and changes nothing`, () => {
          const store = open();
          store.merge([wireEntry(bob.record())]);
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
        const result = store.merge([wireEntry(alice.record({updatedAt: start + COMPLIANCE_CLOCK_SKEW_MS - 1000}))]);
        expect(result.rejected).toEqual([]);
        expect(result.accepted).toHaveLength(1);
      });

      it('merges the good entries of a batch and rejects the bad ones', () => {
        const store = open();
        const result = store.merge([corruptSignature(bob.record()), wireEntry(alice.record())]);
        expect(result.accepted.map((e) => e.value.id)).toEqual([alice.id]);
        expect(result.rejected).toHaveLength(1);
        expect(store.get(bob.id)).toBeUndefined();
      });
    });

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
          const store = loaded([bob.record()]);
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
        const store = loaded(pool.entries);
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
        const entries = [record.record({updatedAt: start}), tombstone.tombstone({updatedAt: start}), byGrant.record({updatedAt: start}), bob.record({updatedAt: start})];
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
        expect(store.entries().map((e) => e.value.id).sort()).toEqual([bob.id, byGrant.id].sort());
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
        const revocation = revoke(alice);
        const first = loaded([revocation, ...ownEntries(alice), bob.record()]);
        const last = loaded([...ownEntries(alice), bob.record(), revocation]);
        for (const store of [first, last]) {
          expect(hex(store.get(alice.id)!.hash)).toBe(hex(revocation.hash));
          expect(store.get(alice.id)?.value.kind).toBe('revocation');
          expect(store.records().map((r) => r.id)).toEqual([bob.id]);
          expect(store.merge(ownEntries(alice).map(wireEntry)).accepted).toEqual([]);
        }
        expect(storeState(first)).toEqual(storeState(last));
        expect(hex(first.digest())).toBe(hex(last.digest()));
      });

      it('spread in a sync session and win on both replicas', () => {
        const revocation = revoke(alice);
        const holder = loaded([revocation, bob.record()]);
        const member = loaded([...ownEntries(alice), ...pool.entries]);
        runSync(member, holder);
        for (const store of [holder, member]) {
          expect(store.get(alice.id)?.value.kind).toBe('revocation');
          expect(store.records().map((r) => r.id)).not.toContain(alice.id);
        }
        expect(storeState(member)).toEqual(storeState(holder));
        // The revoked node syncing its newest record afterwards changes nothing.
        const revoked = loaded([ownEntries(alice)[1]!]);
        runSync(revoked, member);
        expect(member.get(alice.id)?.value.kind).toBe('revocation');
        expect(revoked.get(alice.id)?.value.kind).toBe('revocation');
      });

      it('survive save and load into a store that holds a newer record, and the other way round', () => {
        const revocation = revoke(alice);
        const revokedSnapshot = loaded([revocation]).save();
        const liveSnapshot = loaded(ownEntries(alice)).save();
        const a = loaded(ownEntries(alice));
        a.load(revokedSnapshot);
        const b = loaded([revocation]);
        b.load(liveSnapshot);
        for (const store of [a, b]) expect(hex(store.get(alice.id)!.hash)).toBe(hex(revocation.hash));
        expect(storeState(a)).toEqual(storeState(b));
      });

      it('are rejected as invalid unless an admin signed them', () => {
        const store = loaded([alice.record()]);
        const before = snapshotOf(store);
        const member = ed25519Signer();
        const selfMade: MeshAdmin = {meshId, signer: member, chain: {authorityKey: member.publicKey, grant: null}};
        const inAuthorityName: MeshAdmin = {meshId, signer: member, chain: {authorityKey: testMeshAuthority(meshId).publicKey, grant: null}};
        const selfGranted: MeshAdmin = {meshId, signer: member, chain: {authorityKey: testMeshAuthority(meshId).publicKey, grant: issueGrant(member, member.publicKey, FIXTURE_NOW)}};
        const forged = [selfMade, inAuthorityName, selfGranted].map((admin) => wireEntry(issueRevocation(admin, alice.id, 'node', start)));
        const result = store.merge(forged);
        expect(result.accepted).toEqual([]);
        expect(result.rejected).toHaveLength(3);
        for (const rejection of result.rejected) expect(rejection).toMatchObject({id: alice.id, invalid: true});
        expectUnchanged(store, before);
      });

      it('are accepted from an admin the authority granted, and never collected', async () => {
        const clock = new SimulatedClock(start);
        const store = open({clock});
        const key = ed25519Signer();
        const granted: MeshAdmin = {meshId, signer: key, chain: {authorityKey: testMeshAuthority(meshId).publicKey, grant: issueGrant(testMeshAuthority(meshId), key.publicKey, FIXTURE_NOW)}};
        const byGrant = issueRevocation(granted, bob.id, 'node', start);
        expect(store.merge([wireEntry(revoke(alice)), wireEntry(byGrant), wireEntry(pool.nodes[0]!.record({updatedAt: start}))]).rejected).toEqual([]);
        await clock.advance(10 * COMPLIANCE_GC_HORIZON_MS);
        expect(store.collectGarbage()).toBe(1);
        expect(store.entries().map((e) => e.value.kind)).toEqual(['revocation', 'revocation']);
        // A revoked node re-signing its record at the new time still cannot come back.
        const now = clock.now();
        expect(store.merge([wireEntry(alice.record({version: now, updatedAt: now}))]).accepted).toEqual([]);
        expect(store.get(alice.id)?.value.kind).toBe('revocation');
        // ... nor on a replica that syncs with this one.
        const fresh = open({clock});
        fresh.merge([wireEntry(alice.record({version: now, updatedAt: now}))]);
        runSync(fresh, store);
        expect(fresh.get(alice.id)?.value.kind).toBe('revocation');
      });
    });

    describe('versions, tombstones and re-adds', () => {
      it('keeps the higher version whatever the order, and ignores an older one', () => {
        const v1 = alice.record({version: 1});
        const v2 = alice.record({version: 2});
        const a = loaded([v1, v2]);
        const b = loaded([v2, v1]);
        expect(a.get(alice.id)?.value.version).toBe(2);
        expect(storeState(a)).toEqual(storeState(b));
        expect(a.merge([wireEntry(v1)]).accepted).toEqual([]);
        expect(a.get(alice.id)?.value.version).toBe(2);
      });

      it('breaks a tie on equal versions by content, identically on both sides', () => {
        const x = alice.record({version: 7, alias: 'x'});
        const y = alice.record({version: 7, alias: 'y'});
        const winner = Buffer.compare(Buffer.from(x.hash), Buffer.from(y.hash)) > 0 ? x : y;
        const a = loaded([x, y]);
        const b = loaded([y, x]);
        expect(hex(a.get(alice.id)!.hash)).toBe(hex(winner.hash));
        expect(hex(b.get(alice.id)!.hash)).toBe(hex(winner.hash));
        expect(hex(a.digest())).toBe(hex(b.digest()));
      });

      it('lets a tombstone win over older records only', () => {
        const store = loaded([alice.record({version: 1})]);
        store.merge([wireEntry(alice.tombstone({version: 2}))]);
        expect(store.get(alice.id)?.value.kind).toBe('tombstone');
        expect(store.records()).toEqual([]);
        // An older record arriving late does not bring the node back.
        expect(store.merge([wireEntry(alice.record({version: 1, alias: 'late'}))]).accepted).toEqual([]);
        expect(store.records()).toEqual([]);
        // A tombstone older than the held record loses.
        const live = loaded([bob.record({version: 5})]);
        expect(live.merge([wireEntry(bob.tombstone({version: 4}))]).accepted).toEqual([]);
        expect(live.records().map((r) => r.id)).toEqual([bob.id]);
      });

      it('re-adds a node whose newer record follows its tombstone', () => {
        const store = loaded([alice.record({version: 1}), alice.tombstone({version: 2})]);
        expect(store.records()).toEqual([]);
        const readd = alice.record({version: 3, description: 'back'});
        expect(store.merge([wireEntry(readd)]).accepted).toHaveLength(1);
        expect(store.records().map((r) => r.description)).toEqual(['back']);
        // ... and the same in the other order.
        const other = loaded([readd, alice.tombstone({version: 2}), alice.record({version: 1})]);
        expect(storeState(other)).toEqual(storeState(store));
      });
    });

    describe('garbage collection', () => {
      it('drops expired entries and refuses an old copy afterwards, so a removed node never comes back', async () => {
        const clock = new SimulatedClock(start);
        const store = open({clock});
        const old = alice.record({version: 1, updatedAt: start - 1000});
        const tombstone = alice.tombstone({version: 2, updatedAt: start});
        store.merge([wireEntry(old), wireEntry(tombstone)]);
        expect(store.collectGarbage()).toBe(0);
        await clock.advance(COMPLIANCE_GC_HORIZON_MS / 2);
        const fresh = bob.record({version: 1, updatedAt: clock.now()});
        store.merge([wireEntry(fresh)]);
        await clock.advance(COMPLIANCE_GC_HORIZON_MS / 2 + 1);
        expect(store.collectGarbage()).toBe(1);
        expect(store.get(alice.id)).toBeUndefined();
        expect(store.get(bob.id)?.value.version).toBe(1);
        for (const copy of [old, tombstone]) {
          const result = store.merge([wireEntry(copy)]);
          expect(result.accepted).toEqual([]);
          expect(result.rejected).toHaveLength(1);
        }
        expect(store.get(alice.id)).toBeUndefined();
      });

      it('does not take back an old copy from a replica that has not collected yet', async () => {
        const clock = new SimulatedClock(start);
        const collected = open({clock});
        const lagging = open({clock});
        collected.merge([wireEntry(alice.record({version: 1, updatedAt: start - 1000})), wireEntry(alice.tombstone({version: 2, updatedAt: start}))]);
        lagging.merge([wireEntry(alice.record({version: 1, updatedAt: start - 1000}))]);
        await clock.advance(COMPLIANCE_GC_HORIZON_MS + 1);
        collected.collectGarbage();
        runSync(lagging, collected);
        runSync(collected, lagging);
        expect(collected.get(alice.id)).toBeUndefined();
        expect(collected.records()).toEqual([]);
      });

      it('changes the digest when it drops entries', async () => {
        const clock = new SimulatedClock(start);
        const store = open({clock});
        store.merge([wireEntry(alice.record({updatedAt: start}))]);
        const before = hex(store.digest());
        await clock.advance(COMPLIANCE_GC_HORIZON_MS + 1);
        store.collectGarbage();
        expect(hex(store.digest())).not.toBe(before);
        expect(hex(store.digest())).toBe(hex(open().digest()));
      });
    });

    describe('digest', () => {
      it('is equal exactly when the entries are equal', () => {
        const entries = pool.entries.slice(0, 12);
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
        const d = loaded([...entries, alice.record({version: 1})]);
        const e = loaded([...entries, alice.record({version: 2})]);
        expect(hex(d.digest())).not.toBe(hex(e.digest()));
        e.merge([wireEntry(alice.record({version: 1}))]);
        d.merge([wireEntry(alice.record({version: 2}))]);
        expect(hex(d.digest())).toBe(hex(e.digest()));
      });
    });

    describe('save and load', () => {
      it('round-trips every entry, tombstones included', () => {
        const source = loaded(pool.entries);
        const copy = open();
        const result = copy.load(source.save());
        expect(result.rejected).toEqual([]);
        expect(storeState(copy)).toEqual(storeState(source));
        expect(hex(copy.digest())).toBe(hex(source.digest()));
        expect(copy.records()).toEqual(source.records());
      });

      it('merges a snapshot into a store that already holds entries', () => {
        const a = loaded(pool.entries.filter((_, i) => i % 2 === 0));
        const b = loaded(pool.entries.filter((_, i) => i % 3 === 0));
        b.load(a.save());
        expect(storeState(b)).toEqual(expectedState(pool.entries.filter((_, i) => i % 2 === 0 || i % 3 === 0)));
      });

      it('refuses a corrupt snapshot with a DecodeError and changes nothing', () => {
        const store = loaded(pool.entries.slice(0, 6));
        const before = snapshotOf(store);
        const good = loaded(pool.entries.slice(6, 18)).save();
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
        foreign.merge([wireEntry(makeTestNode(other, {identity: alice.identity}).record())]);
        const store = open();
        expect(() => store.load(foreign.save())).toThrow(DecodeError);
        expect(store.size).toBe(0);
      });

      it('loads a stale snapshot, leaving out only the entries that expired since', async () => {
        const clock = new SimulatedClock(start);
        const source = open({clock});
        source.merge([wireEntry(alice.record({updatedAt: start - 1000}))]);
        await clock.advance(COMPLIANCE_GC_HORIZON_MS / 2);
        source.merge([wireEntry(bob.record({updatedAt: clock.now()}))]);
        const snapshot = source.save();
        await clock.advance(COMPLIANCE_GC_HORIZON_MS / 2 + 1000);
        const copy = open({clock});
        const result = copy.load(snapshot);
        expect(result.accepted.map((e) => e.value.id)).toEqual([bob.id]);
        expect(result.rejected.map((r) => r.id)).toEqual([alice.id]);
      });
    });

    describe('sync', () => {
      it('ends at once when both replicas are equal', () => {
        const a = loaded(pool.entries.slice(0, 10));
        const b = loaded(pool.entries.slice(0, 10));
        const run = runSync(a, b);
        expect(run.initiator.entriesMerged + run.responder.entriesMerged).toBe(0);
        expect(storeState(a)).toEqual(storeState(b));
      });

      it('brings both sides to the merge of both', () => {
        const left = pool.entries.filter((_, i) => i % 4 !== 1);
        const right = pool.entries.filter((_, i) => i % 3 !== 0);
        for (const [x, y] of [
          [left, right],
          [[], right],
          [left, []],
        ] as const) {
          const a = loaded(x);
          const b = loaded(y);
          runSync(a, b);
          const expected = expectedState([...x, ...y]);
          expect(storeState(a)).toEqual(expected);
          expect(storeState(b)).toEqual(expected);
          expect(hex(a.digest())).toBe(hex(b.digest()));
        }
      });

      it('refuses a session for another mesh', () => {
        const other = testMeshId();
        const foreign = open({meshId: other});
        foreign.merge([wireEntry(makeTestNode(other, {identity: generateIdentity()}).record())]);
        const store = loaded(pool.entries.slice(0, 3));
        const before = snapshotOf(store);
        const responder = store.openSync('responder');
        expect(() => responder.receive(foreign.openSync('initiator').start())).toThrow(DecodeError);
        expectUnchanged(store, before);
      });

      it(`refuses a message over MAX_SYNC_MESSAGE_BYTES (${MAX_SYNC_MESSAGE_BYTES}) and changes nothing`, () => {
        const a = loaded(pool.entries.slice(0, 8));
        const b = loaded(pool.entries.slice(4, 14));
        // The initiator's own first message, followed by bytes that take it over the cap.
        const hello = a.openSync('initiator').start();
        const oversized = new Uint8Array(MAX_SYNC_MESSAGE_BYTES + 1);
        oversized.set(hello);
        const before = snapshotOf(b);
        expect(() => b.openSync('responder').receive(oversized)).toThrow(DecodeError);
        expectUnchanged(b, before);
      });

      it(`converges across a difference of more than MAX_SYNC_MESSAGE_BYTES, each message at most that size`, () => {
        // Records near the size cap on one side (over 2 MiB in all, of random text that compression shrinks by a quarter at most), many small ones on the other.
        const services = (): Record<string, string> =>
          Object.fromEntries(
            Array.from({length: RECORD_LIMITS.services}, (_, i) => [`service-${i}`, randomBytes((RECORD_LIMITS.serviceValue / 4) * 3).toString('base64')]),
          );
        const big = largeNodes.map((node) => node.record({services: services()}));
        expect(big.reduce((sum, entry) => sum + entry.body.byteLength, 0)).toBeGreaterThan(MAX_SYNC_MESSAGE_BYTES);
        const small = smallNodes.map((node) => node.record());
        for (const [x, y] of [
          [big, small],
          [small, big],
        ] as const) {
          const a = loaded(x);
          const b = loaded(y);
          let largest = 0;
          // One session, or several for a store that leaves part of a large difference to the next session.
          for (let sessions = 1; hex(a.digest()) !== hex(b.digest()); sessions++) {
            if (sessions > MAX_SESSIONS_TO_CONVERGE) throw new Error(`replicas still differ after ${MAX_SESSIONS_TO_CONVERGE} sync sessions`);
            largest = Math.max(largest, runSync(a, b).largestMessage);
          }
          expect(largest).toBeLessThanOrEqual(MAX_SYNC_MESSAGE_BYTES);
          const expected = expectedState([...x, ...y]);
          expect(storeState(a)).toEqual(expected);
          expect(storeState(b)).toEqual(expected);
        }
      });

      it('throws a DecodeError on garbage, truncated or foreign messages and changes nothing', () => {
        const a = loaded(pool.entries.slice(0, 8));
        const b = loaded(pool.entries.slice(4, 14));
        const hello = a.openSync('initiator').start();
        const garbage = [
          new Uint8Array(0),
          new Uint8Array([0xc1]),
          new Uint8Array(256).fill(0xab),
          hello.subarray(0, Math.max(1, hello.byteLength - 5)),
          encode({t: 'nonsense'}),
          encode([1, 2, 3]),
        ];
        for (const bad of garbage) {
          const before = snapshotOf(b);
          expect(() => b.openSync('responder').receive(bad)).toThrow(DecodeError);
          expectUnchanged(b, before);
        }
        // The initiator side too: a truncated reply.
        const initiator = a.openSync('initiator');
        const reply = b.openSync('responder').receive(initiator.start());
        expect(reply).not.toBeNull();
        const before = snapshotOf(a);
        expect(() => initiator.receive(reply!.subarray(0, reply!.byteLength - 3))).toThrow(DecodeError);
        expectUnchanged(a, before);
      });
    });

    describe('properties', () => {
      const subset = (): fc.Arbitrary<VerifiedEntry[]> => fc.shuffledSubarray(pool.entries as VerifiedEntry[]);

      it('merge is commutative', () => {
        fc.assert(
          fc.property(subset(), subset(), (x, y) => {
            const a = loaded(x);
            a.merge(y.map(wireEntry));
            const b = loaded(y);
            b.merge(x.map(wireEntry));
            expect(storeState(a)).toEqual(storeState(b));
            expect(hex(a.digest())).toBe(hex(b.digest()));
            expect(storeState(a)).toEqual(expectedState([...x, ...y]));
          }),
          {numRuns: 25},
        );
      });

      it('merge is associative', () => {
        fc.assert(
          fc.property(subset(), subset(), subset(), (x, y, z) => {
            const [a, b, c] = [loaded(x), loaded(y), loaded(z)];
            const left = join(join(a, b), c);
            const right = join(a, join(b, c));
            expect(storeState(left)).toEqual(storeState(right));
            expect(hex(left.digest())).toBe(hex(right.digest()));
          }),
          {numRuns: 15},
        );
      });

      it('merge is idempotent', () => {
        fc.assert(
          fc.property(subset(), (x) => {
            const a = loaded(x);
            const once = snapshotOf(a);
            expect(a.merge(x.map(wireEntry)).accepted).toEqual([]);
            expectUnchanged(a, once);
            expectUnchanged(join(a, a), once);
          }),
          {numRuns: 25},
        );
      });

      for (const replicas of [2, 3, 5]) {
        it(`sync sessions between ${replicas} replicas converge under any interleaving, duplicated and dropped sessions`, () => {
          const index = fc.nat({max: replicas - 1});
          const op = fc.oneof(
            {arbitrary: fc.record({op: fc.constant('open' as const), from: index, to: index}), weight: 3},
            {arbitrary: fc.record({op: fc.constant('step' as const), pick: fc.nat()}), weight: 8},
            {arbitrary: fc.record({op: fc.constant('drop' as const), pick: fc.nat()}), weight: 1},
            {arbitrary: fc.record({op: fc.constant('replay' as const), pick: fc.nat()}), weight: 1},
            {arbitrary: fc.record({op: fc.constant('write' as const), replica: index, entry: fc.nat({max: pool.entries.length - 1})}), weight: 2},
          );
          fc.assert(
            fc.property(fc.array(subset(), {minLength: replicas, maxLength: replicas}), fc.array(op, {maxLength: 60}), (initial, ops) => {
              const stores = initial.map((entries) => loaded(entries));
              const seen: VerifiedEntry[] = initial.flat();
              let active: InFlightSync[] = [];
              for (const step of ops) {
                if (step.op === 'open') {
                  if (step.from !== step.to) active.push(new InFlightSync({initiator: stores[step.from]!, responder: stores[step.to]!}));
                } else if (step.op === 'write') {
                  const entry = pool.entries[step.entry]!;
                  stores[step.replica]!.merge([wireEntry(entry)]);
                  seen.push(entry);
                } else if (active.length > 0) {
                  const session = active[step.pick % active.length]!;
                  if (step.op === 'step') session.step();
                  else if (step.op === 'replay') {
                    // The replayed message either fails cleanly (store untouched) or is absorbed;
                    // the session is abandoned afterwards in both cases.
                    const target = [session.stores.initiator, session.stores.responder];
                    const before = target.map(snapshotOf);
                    try {
                      session.replay();
                    } catch (error) {
                      expect(error).toBeInstanceOf(DecodeError);
                      target.forEach((store, i) => expectUnchanged(store, before[i]!));
                    }
                  }
                  if (step.op !== 'step' || session.finished) active = active.filter((s) => s !== session);
                }
              }
              // Heal: gather everything into replica 0, then hand it back out.
              for (let i = 1; i < replicas; i++) runSync(stores[i]!, stores[0]!);
              for (let i = 1; i < replicas; i++) runSync(stores[0]!, stores[i]!);
              const expected = expectedState(seen);
              for (const store of stores) {
                expect(storeState(store)).toEqual(expected);
                expect(hex(store.digest())).toBe(hex(stores[0]!.digest()));
              }
            }),
            {numRuns: replicas === 5 ? 15 : 25},
          );
        });
      }

      it('a session run to the end leaves both sides equal', () => {
        fc.assert(
          fc.property(subset(), subset(), (x, y) => {
            const a = loaded(x);
            const b = loaded(y);
            runSync(a, b);
            expect(storeState(a)).toEqual(expectedState([...x, ...y]));
            expect(storeState(b)).toEqual(storeState(a));
          }),
          {numRuns: 25},
        );
      });
    });
  });
}
