/**
 * Whole snapshots (a join, a restart) are checked ahead by worker threads,
 * and by the event loop a slice per turn: every result (entries merged,
 * rejections and their reasons, errors) is the one checking on the main
 * thread in one go gives, for valid, forged and replayed entries alike.
 */
import {createRequire} from 'node:module';
import {availableParallelism} from 'node:os';
import {
  decodeControlReply,
  decodeInviteToken,
  encode,
  encodeControlReply,
  encodeControlRequest,
  encodeInviteToken,
  generateIdentity,
  issueInvite,
  issueRevocation,
  loadSnapshot,
  MAIN_THREAD_SLICE_ENTRIES,
  MAX_ENTRY_BYTES,
  nodeAddress,
  redeemInvite,
  systemClock,
  UnknownMeshError,
  verifyEntry,
  VerifyPool,
  withPreparedVerdicts,
  type Daemon,
  type SignedEntry,
  type VerifiedEntry,
} from '@wgmesh/core';
import {corruptSignature, FIXTURE_NOW, forgeEntry, makeTestNode, silentLogger, SimulatedClock, testMeshAdmin, testMeshId, wireEntry} from '@wgmesh/testkit';
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import fc from 'fast-check';
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';
import {MemoryFleet} from './helpers/memory-daemons.js';

/** The libsodium bindings core verifies with (the same module object: patched here, seen there). */
const sodium = createRequire(import.meta.resolve('@wgmesh/core'))('sodium-native') as {crypto_sign_verify_detached: (...args: Uint8Array[]) => boolean};

/**
 * Ed25519 verifications run by this thread (workers load their own
 * libsodium) while `work` runs: how many, and the most in one turn of the
 * event loop (a turn ends where a setImmediate chain ticks).
 */
async function mainThreadVerifications<T>(work: () => Promise<T>): Promise<{result: T; count: number; mostInOneTurn: number}> {
  const original = sodium.crypto_sign_verify_detached;
  let count = 0;
  let turn = 0;
  const perTurn = new Map<number, number>();
  let ticker = setImmediate(function tick() {
    turn++;
    ticker = setImmediate(tick);
  });
  sodium.crypto_sign_verify_detached = (...args) => {
    count++;
    perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
    return original(...args);
  };
  try {
    return {result: await work(), count, mostInOneTurn: Math.max(0, ...perTurn.values())};
  } finally {
    sodium.crypto_sign_verify_detached = original;
    clearImmediate(ticker);
  }
}

/** Most signatures the event loop may check in one turn: a slice of entries (two each: record and credential), and a few of its own. */
const SLICE_SIGNATURES = 2 * MAIN_THREAD_SLICE_ENTRIES + 8;

/** A description of a value in which every byte array shows its class (Buffer or plain Uint8Array) and its bytes. */
function shape(value: unknown): unknown {
  if (value instanceof Uint8Array) return `${value.constructor.name}:${Buffer.from(value).toString('hex')}`;
  if (Array.isArray(value)) return value.map(shape);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, shape(field)]));
  return value;
}

/** What a call gave: its value's shape, or the error's class and message. */
function outcome(work: () => unknown): unknown {
  try {
    return {value: shape(work())};
  } catch (error) {
    return {error: `${(error as Error).name}: ${(error as Error).message}`};
  }
}

describe('join and restart check the snapshot in worker threads', () => {
  let fleet: MemoryFleet;
  afterEach(async () => {
    await fleet.dispose();
  });

  it('a join of a 400-node mesh, and a restart with its state, check it a slice per event-loop turn, with the workers', async () => {
    fleet = new MemoryFleet();
    const meshId = testMeshId();
    const store = new TwoPhaseStore({meshId, clock: systemClock, logger: silentLogger(), gcHorizonMs: 24 * 3600_000, maxClockSkewMs: 300_000});
    const now = Date.now();
    const records = Array.from({length: 400}, (_, i) => makeTestNode(meshId, {now}).record({alias: `node-${i}`}));
    expect(store.merge(records.map(wireEntry)).accepted).toHaveLength(400);
    void fleet.network.transport('member:4000').listen({
      snapshot: async () => ({storeKind: 'twophase', snapshot: store.save()}),
      openSync: () => store.openSync('responder'),
      message: async () => encodeControlReply({t: 'jn', c: [], n: Date.now()}),
    });
    const admin = testMeshAdmin(meshId);
    const invite = issueInvite(admin, {role: 'peer', uses: 5, now, expiresAt: now + 3_600_000});
    const token = encodeInviteToken({chain: admin.chain, signed: invite.signed, key: invite.key, endpoints: ['member:4000']});
    const joiner = await fleet.add('joiner');

    const joined = await mainThreadVerifications(() => joiner.daemon.joinMesh(token, undefined, {}));
    expect(joined.result).toEqual({meshId, members: 401});
    // Never the 400 records and their 400 credentials in one go.
    expect(joined.mostInOneTurn).toBeLessThanOrEqual(SLICE_SIGNATURES);
    expect(joined.count).toBeGreaterThan(0);
    const held = joiner.daemon.mesh(meshId).store;
    for (const record of records) expect(Buffer.from(held.get(record.value.id)?.signature ?? []).equals(Buffer.from(record.signature))).toBe(true);

    await joiner.stop();
    const restarted = await mainThreadVerifications(() => joiner.restart());
    expect(restarted.mostInOneTurn).toBeLessThanOrEqual(SLICE_SIGNATURES);
    expect(joiner.daemon.mesh(meshId).store.size).toBe(401);
  }, 120_000);

  it('a join of a 400-node snapshot with one entry altered under its signature is refused whole, checked a slice per turn', async () => {
    fleet = new MemoryFleet();
    const meshId = testMeshId();
    const now = Date.now();
    const nodes = Array.from({length: 400}, () => makeTestNode(meshId, {now}));
    const entries = nodes.map((node, i) => wireEntry(node.record({alias: `node-${i}`})));
    const victim = nodes[123] as (typeof nodes)[0];
    entries[123] = {body: encode({...victim.recordBody({alias: 'node-123'}), alias: 'evil'}), signature: (entries[123] as SignedEntry).signature};
    const snapshot = encode({format: 'wgmesh-twophase-snapshot', version: 1, meshId, entries});
    void fleet.network.transport('member:4000').listen({
      snapshot: async () => ({storeKind: 'twophase', snapshot}),
      openSync: () => {
        throw new Error('this member does not sync');
      },
      message: async () => encodeControlReply({t: 'jn', c: [], n: Date.now(), e: entries.length}),
    });
    const admin = testMeshAdmin(meshId);
    const invite = issueInvite(admin, {role: 'peer', uses: 5, now, expiresAt: now + 3_600_000});
    const token = encodeInviteToken({chain: admin.chain, signed: invite.signed, key: invite.key, endpoints: ['member:4000']});
    const joiner = await fleet.add('joiner');

    const joined = await mainThreadVerifications(() => joiner.daemon.joinMesh(token, undefined, {}).then(() => 'joined', (error: unknown) => (error as Error).message));
    expect(joined.result).toBe('twophase snapshot: entry 123 does not verify: entry for node ' + victim.id + ' has a bad signature');
    expect(joined.mostInOneTurn).toBeLessThanOrEqual(SLICE_SIGNATURES);
    expect(() => joiner.daemon.mesh(meshId)).toThrow(UnknownMeshError);
  }, 120_000);
});

/** Verification workers running in a daemon now (its pool is internal: read for this test only). */
function poolWorkers(daemon: Daemon): number {
  return (daemon as unknown as {verifier: VerifyPool}).verifier.workers;
}

describe('a join starts the verification workers while the snapshot downloads', () => {
  let fleet: MemoryFleet;
  afterEach(async () => {
    await fleet.dispose();
  });

  /** Join a 300-node mesh through a member whose join answer says `entries`; the joiner's workers when the snapshot is asked for. */
  async function workersWhenSnapshotAsked(entries: number | undefined): Promise<number> {
    fleet = new MemoryFleet();
    const meshId = testMeshId();
    const store = new TwoPhaseStore({meshId, clock: systemClock, logger: silentLogger(), gcHorizonMs: 24 * 3600_000, maxClockSkewMs: 300_000});
    const now = Date.now();
    expect(store.merge(Array.from({length: 300}, (_, i) => wireEntry(makeTestNode(meshId, {now}).record({alias: `node-${i}`})))).accepted).toHaveLength(300);
    const joiner = await fleet.add('joiner');
    let seen: number | undefined;
    void fleet.network.transport('member:4000').listen({
      snapshot: async () => {
        seen = poolWorkers(joiner.daemon);
        return {storeKind: 'twophase', snapshot: store.save()};
      },
      openSync: () => store.openSync('responder'),
      message: async () => encodeControlReply({t: 'jn', c: [], n: Date.now(), ...(entries === undefined ? {} : {e: entries})}),
    });
    const admin = testMeshAdmin(meshId);
    const invite = issueInvite(admin, {role: 'peer', uses: 5, now, expiresAt: now + 3_600_000});
    const token = encodeInviteToken({chain: admin.chain, signed: invite.signed, key: invite.key, endpoints: ['member:4000']});
    expect(await joiner.daemon.joinMesh(token, undefined, {})).toEqual({meshId, members: 301});
    return seen ?? -1;
  }

  it('when the member says its mesh is big enough for them', async () => {
    expect(await workersWhenSnapshotAsked(300)).toBe(Math.min(4, Math.max(1, availableParallelism() - 1)));
  }, 60_000);

  it('not when it says the mesh is small, or says nothing (the workers start once the snapshot is in)', async () => {
    expect(await workersWhenSnapshotAsked(10)).toBe(0);
    await fleet.dispose();
    expect(await workersWhenSnapshotAsked(undefined)).toBe(0);
  }, 60_000);

  it('a member answers a join with the number of entries it holds', async () => {
    fleet = new MemoryFleet();
    const admin = await fleet.add('admin');
    const b = await fleet.add('b');
    const {meshId} = await admin.daemon.createMesh({});
    const first = await admin.daemon.administer((ops) => ops.invite(meshId, {role: 'peer', uses: 2, validForMs: 3_600_000}));
    await b.daemon.joinMesh(first.token, undefined, {});
    const token = decodeInviteToken(first.token);
    const identity = generateIdentity();
    const credential = redeemInvite(token.chain, token, identity.signingKey, Date.now());
    const probe = fleet.network.transport('probe:4000', identity.nodeId);
    // Listening: a memory transport answers only a caller it can reach back.
    await probe.listen({
      snapshot: async () => {
        throw new Error('the probe serves nothing');
      },
      openSync: () => {
        throw new Error('the probe serves nothing');
      },
      message: async () => {
        throw new Error('the probe serves nothing');
      },
    });
    const reply = decodeControlReply(await probe.message('admin:4000', meshId, encodeControlRequest({t: 'jn', f: identity.nodeId, k: identity.signingKey, c: credential})));
    expect(reply).toMatchObject({t: 'jn', e: 2});
  }, 60_000);
});

describe('the verification pool starts early only for a job worth it', () => {
  it('warm starts the workers for as many entries as a job needs to use them, and none for fewer', async () => {
    const pool = new VerifyPool({maxWorkers: 2, logger: silentLogger(), minEntries: 50});
    try {
      pool.warm(49);
      expect(pool.workers).toBe(0);
      pool.warm(50);
      expect(pool.workers).toBe(Math.min(2, Math.max(1, availableParallelism() - 1)));
    } finally {
      await pool.close();
    }
    const none = new VerifyPool({maxWorkers: 0, logger: silentLogger(), minEntries: 1});
    none.warm(1000);
    expect(none.workers).toBe(0);
  });
});

describe('verdicts from the workers give exactly what the main thread gives', () => {
  const meshId = testMeshId();
  const otherMesh = testMeshId();
  const now = FIXTURE_NOW + 60_000;
  const options = {meshId, now, maxClockSkewMs: 60_000};
  const storeOptions = {meshId, clock: new SimulatedClock(now), logger: silentLogger(), gcHorizonMs: 3_600_000, maxClockSkewMs: 60_000};
  let pool: VerifyPool;
  /** Every kind of entry a hostile or stale snapshot holds, by name. */
  const corpus = new Map<string, SignedEntry>();

  beforeAll(() => {
    pool = new VerifyPool({maxWorkers: 2, logger: silentLogger(), minEntries: 1});
    const nodes = Array.from({length: 4}, () => makeTestNode(meshId));
    const [a, b, c, d] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    const add = (name: string, entry: SignedEntry): void => {
      corpus.set(name, wireEntry(entry));
    };
    for (const [i, node] of nodes.entries()) {
      add(`record ${i} v1`, node.record({version: FIXTURE_NOW + 1, updatedAt: FIXTURE_NOW + 1, alias: `n${i}`, services: {ssh: '22'}}));
      add(`record ${i} v2`, node.record({version: FIXTURE_NOW + 2, updatedAt: FIXTURE_NOW + 2, description: `second ${i}`}));
    }
    add('tombstone', c.tombstone({version: FIXTURE_NOW + 3, updatedAt: FIXTURE_NOW + 3}));
    add('revocation', issueRevocation(testMeshAdmin(meshId), d.id, 'node', FIXTURE_NOW + 4, 'lost laptop'));
    add('client record', a.record({role: 'client', controlEndpoint: null, wgEndpoint: null, version: FIXTURE_NOW + 5, updatedAt: FIXTURE_NOW + 5}));
    // Forged.
    add('bad signature', corruptSignature(b.record({version: FIXTURE_NOW + 6, updatedAt: FIXTURE_NOW + 6})));
    const genuine = c.record({version: FIXTURE_NOW + 7, updatedAt: FIXTURE_NOW + 7});
    add('body swapped under a signature', {body: encode({...c.recordBody({version: FIXTURE_NOW + 7, updatedAt: FIXTURE_NOW + 7}), alias: 'evil'}), signature: genuine.signature});
    add('signed by another node', forgeEntry(a.recordBody({version: FIXTURE_NOW + 8, updatedAt: FIXTURE_NOW + 8}), b.identity));
    add("another node's address", a.record({address: nodeAddress(meshId, b.id, 0), version: FIXTURE_NOW + 9, updatedAt: FIXTURE_NOW + 9}));
    add("another node's credential", forgeEntry({...a.recordBody({version: FIXTURE_NOW + 10, updatedAt: FIXTURE_NOW + 10}), credential: b.recordBody().credential}, a.identity));
    add('client with endpoints', forgeEntry(a.recordBody({role: 'client', version: FIXTURE_NOW + 11, updatedAt: FIXTURE_NOW + 11}), a.identity));
    add('not MessagePack', {body: new Uint8Array([0xc1, 0xc1, 0xc1]), signature: new Uint8Array(64)});
    add('short signature', {body: genuine.body, signature: genuine.signature.subarray(0, 32)});
    // Never sent to a worker: refused on the main thread before it is decoded.
    add('oversized body', {body: new Uint8Array(MAX_ENTRY_BYTES + 1), signature: new Uint8Array(64).fill(7)});
    // Replayed from elsewhere or another time.
    add('from another mesh', makeTestNode(otherMesh).record());
    add('dated in the future', d.record({version: now + 3_600_000, updatedAt: now + 3_600_000}));
    add('expired', d.record({version: FIXTURE_NOW - 7_200_000, updatedAt: FIXTURE_NOW - 7_200_000, createdAt: FIXTURE_NOW - 7_200_000}));
  });
  afterAll(async () => {
    await pool.close();
  });

  /** Lists of corpus entries, repeats and any order included. */
  const lists = (): fc.Arbitrary<SignedEntry[]> => fc.array(fc.constantFrom(...corpus.values()), {minLength: 1, maxLength: 24});

  it('verifyEntry: the same entry or the same rejection for every entry', async () => {
    await fc.assert(
      fc.asyncProperty(lists(), async (entries) => {
        const verdicts = await pool.prepare(meshId, entries);
        const pooled = entries.filter((entry) => entry.body.byteLength <= MAX_ENTRY_BYTES);
        expect(verdicts.size).toBe(new Set(pooled.map((entry) => Buffer.from(entry.signature).toString('hex'))).size);
        for (const entry of entries) {
          const main = outcome(() => verifyEntry(entry, options));
          expect(withPreparedVerdicts(verdicts, () => outcome(() => verifyEntry(entry, options)))).toEqual(main);
          // A verdict answers for its own mesh only.
          expect(withPreparedVerdicts(verdicts, () => outcome(() => verifyEntry(entry, {...options, meshId: otherMesh})))).toEqual(outcome(() => verifyEntry(entry, {...options, meshId: otherMesh})));
        }
      }),
      {numRuns: 30},
    );
  }, 120_000);

  it('a store loading a snapshot: the same result, state and errors', async () => {
    const snapshotOf = (entries: readonly SignedEntry[]): Uint8Array => encode({format: 'wgmesh-twophase-snapshot', version: 1, meshId, entries: entries.map(wireEntry)});
    await fc.assert(
      fc.asyncProperty(lists(), fc.boolean(), async (entries, validOnly) => {
        const valid = [...corpus.entries()].filter(([name]) => name.startsWith('record') || ['tombstone', 'revocation', 'client record', 'from another mesh', 'dated in the future', 'expired'].includes(name)).map(([, entry]) => entry);
        const snapshot = snapshotOf(validOnly ? entries.filter((entry) => valid.includes(entry)) : entries);
        const plain = new TwoPhaseStore(storeOptions);
        const pooled = new TwoPhaseStore(storeOptions);
        const byMain = outcome(() => plain.load(snapshot));
        let byPool: unknown;
        try {
          byPool = {value: shape(await loadSnapshot(pooled, snapshot, pool))};
        } catch (error) {
          byPool = {error: `${(error as Error).name}: ${(error as Error).message}`};
        }
        expect(byPool).toEqual(byMain);
        expect(shape(pooled.entries())).toEqual(shape(plain.entries()));
        expect(Buffer.from(pooled.digest()).equals(Buffer.from(plain.digest()))).toBe(true);
      }),
      {numRuns: 30},
    );
  }, 120_000);
});

describe('the verification pool keeps its bounds', () => {
  const meshId = testMeshId();
  const entries: VerifiedEntry[] = Array.from({length: 300}, (_, i) => makeTestNode(meshId).record({alias: `n${i}`}));

  it('a small job, or one over the queue cap, is left to the main thread; the workers stop when idle', async () => {
    const pool = new VerifyPool({maxWorkers: 2, logger: silentLogger(), minEntries: 50, maxQueued: 200, idleMs: 50});
    try {
      expect((await pool.prepare(meshId, entries.slice(0, 49))).size).toBe(0);
      expect(pool.workers).toBe(0);
      expect((await pool.prepare(meshId, entries.slice(0, 201))).size).toBe(0);
      expect((await pool.prepare(meshId, entries.slice(0, 200))).size).toBe(200);
      expect(pool.workers).toBeGreaterThan(0);
      const deadline = Date.now() + 10_000;
      while (pool.workers > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(pool.workers).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('never runs more workers than it is allowed, and none with 0', async () => {
    const none = new VerifyPool({maxWorkers: 0, logger: silentLogger(), minEntries: 1});
    expect(none.enabled).toBe(false);
    expect((await none.prepare(meshId, entries)).size).toBe(0);
    const one = new VerifyPool({maxWorkers: 1, logger: silentLogger(), minEntries: 1});
    try {
      const prepared = one.prepare(meshId, entries);
      expect(one.workers).toBe(1);
      expect((await prepared).size).toBe(300);
    } finally {
      await one.close();
    }
  });

  it('a job whose every entry is too large for the workers resolves at once, with no verdict', async () => {
    const pool = new VerifyPool({maxWorkers: 1, logger: silentLogger(), minEntries: 1});
    const oversized = {body: new Uint8Array(MAX_ENTRY_BYTES + 1), signature: new Uint8Array(64).fill(7)};
    try {
      const answered = await Promise.race([pool.prepare(meshId, [oversized, oversized]), new Promise<'hung'>((resolve) => setTimeout(resolve, 5_000, 'hung'))]);
      expect(answered === 'hung' ? 'hung' : answered.size).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('a worker that dies leaves its entries to the main thread, and the pool gives up workers after a few', async () => {
    const script = new URL(`data:text/javascript,${encodeURIComponent("import {parentPort} from 'node:worker_threads'; parentPort.on('message', () => process.exit(3));")}`);
    const pool = new VerifyPool({maxWorkers: 2, logger: silentLogger(), minEntries: 1, workerUrl: script});
    try {
      // The event loop checked the batches no worker was given (one at least: it takes one at once), the dead workers' none.
      const prepared = await pool.prepare(meshId, entries);
      expect(prepared.size).toBeGreaterThan(0);
      expect(prepared.size).toBeLessThan(entries.length);
      // Each job loses a worker at least (one is given the first batch): by the third the pool has given them up.
      for (let job = 1; job < 3 && pool.enabled; job++) await pool.prepare(meshId, entries);
      expect(pool.enabled).toBe(false);
      const store = new TwoPhaseStore({meshId, clock: new SimulatedClock(FIXTURE_NOW + 1000), logger: silentLogger(), gcHorizonMs: 3_600_000, maxClockSkewMs: 60_000});
      const result = await loadSnapshot(store, encode({format: 'wgmesh-twophase-snapshot', version: 1, meshId, entries: entries.map(wireEntry)}), pool);
      expect(result.accepted).toHaveLength(300);
    } finally {
      await pool.close();
    }
  });

  it('an aborted job stops waiting at once', async () => {
    const pool = new VerifyPool({maxWorkers: 1, logger: silentLogger(), minEntries: 1});
    try {
      const abort = new AbortController();
      const prepared = pool.prepare(meshId, entries, abort.signal);
      abort.abort(new Error('join cancelled'));
      await expect(prepared).rejects.toThrow('join cancelled');
    } finally {
      await pool.close();
    }
  });
});
