/** The state every file of the store compliance suite shares: the backend, signed fixtures made once, and ways to open stores. */
import {beforeAll, expect} from 'vitest';
import {issueRevocation, signRevocation} from '@wgmesh/core';
import type {Logger, MeshStore, Revocation, StoreBackend, VerifiedEntry} from '@wgmesh/core';
import {SimulatedClock} from '../simulated-clock.js';
import {FIXTURE_NOW, makeEntryPool, makeTestNode, recordingLogger, testMeshAdmin, testMeshId, wireEntry, type EntryPool, type TestNode} from '../signed-fixtures.js';
import {COMPLIANCE_CLOCK_SKEW_MS, COMPLIANCE_GC_HORIZON_MS, hex, storeState} from './helpers.js';

/** A store's state and digest, to compare before and after. */
export interface StoreSnapshot {
  state: string[];
  digest: string;
}

/**
 * One backend under test. Made while the suite is defined; the backend and
 * the fixtures are ready once the suite's `beforeAll` has run, so tests read
 * them as `suite.backend`, `suite.pool`... inside test bodies.
 */
export class StoreSuite {
  /** The mesh every store opens, unless a test says otherwise. */
  readonly meshId = testMeshId();
  /** The simulated time stores open at. */
  readonly start = FIXTURE_NOW + 10_000;
  backend!: StoreBackend;
  /** Signed entries of five nodes, one of them revoked at a version below its newest record's. */
  pool!: EntryPool;
  alice!: TestNode;
  bob!: TestNode;
  /** Nodes for the large-difference sync: a few that write records near the size cap, many that write small ones. */
  largeNodes!: TestNode[];
  smallNodes!: TestNode[];

  /** Call while the suite is defined (it registers a `beforeAll` hook). */
  constructor(makeBackend: () => StoreBackend | Promise<StoreBackend>) {
    beforeAll(async () => {
      this.backend = await makeBackend();
      const signed = makeEntryPool(this.meshId, 5, FIXTURE_NOW);
      // One node of the pool is revoked, at a version below its newest record's: every property holds with a revocation too.
      const revoked = signed.nodes.at(-1)!;
      const admin = testMeshAdmin(this.meshId);
      const revocation = signRevocation(admin.signer, {...issueRevocation(admin, revoked.id, 'node', FIXTURE_NOW + 2000).value, version: 2} as Revocation);
      this.pool = {...signed, entries: [...signed.entries, revocation]};
      this.alice = makeTestNode(this.meshId);
      this.bob = makeTestNode(this.meshId);
      this.largeNodes = Array.from({length: 80}, () => makeTestNode(this.meshId));
      this.smallNodes = Array.from({length: 300}, () => makeTestNode(this.meshId));
    });
  }

  /** Open an empty store on a simulated clock at {@link start}. */
  readonly open = (options: {clock?: SimulatedClock; logger?: Logger; meshId?: string} = {}): MeshStore =>
    this.backend.open({
      meshId: options.meshId ?? this.meshId,
      clock: options.clock ?? new SimulatedClock(this.start),
      logger: options.logger ?? recordingLogger(),
      gcHorizonMs: COMPLIANCE_GC_HORIZON_MS,
      maxClockSkewMs: COMPLIANCE_CLOCK_SKEW_MS,
    });

  /** A store that merged `entries`. */
  readonly loaded = (entries: readonly VerifiedEntry[]): MeshStore => {
    const store = this.open();
    store.merge(entries.map(wireEntry));
    return store;
  };

  /** A state-level join, as a replica would compute it from two snapshots. */
  readonly join = (a: MeshStore, b: MeshStore): MeshStore => {
    const store = this.open();
    store.load(a.save());
    store.load(b.save());
    return store;
  };

  /** Fails unless `store` still holds what {@link snapshotOf} saw. */
  readonly expectUnchanged = (store: MeshStore, before: StoreSnapshot): void => {
    expect(storeState(store)).toEqual(before.state);
    expect(hex(store.digest())).toBe(before.digest);
  };

  /** The state and digest of `store` now. */
  readonly snapshotOf = (store: MeshStore): StoreSnapshot => ({state: storeState(store), digest: hex(store.digest())});
}
