/**
 * The transport compliance suite: every {@link Transport} (bundled or
 * third-party) calls {@link describeTransportCompliance} from its own vitest
 * file with a way to make a connected pair, and the suite checks the
 * transport-agnostic rules of the contract: snapshots arrive byte for byte
 * (large ones too), sync sessions of several round trips converge, membership
 * messages round-trip, the member learns which node called (for transports
 * that prove nodes), a member's wgmesh errors reach the caller with their
 * code and message, a session whose message does not decode fails without
 * hurting the next one, and a member that is down or closed is reported
 * unreachable.
 *
 * It also exports {@link SetSyncSession}, a toy store protocol (a set of
 * strings swapped over a fixed number of rounds) for transport tests that do
 * not want a real store.
 */
import {afterEach, describe, expect, it} from 'vitest';
import {decode, encode, generateMeshId, InvalidInputError, UnknownMeshError} from '@wgmesh/core';
import type {RemotePeer, SyncSession, SyncStats, Transport, TransportHandlers} from '@wgmesh/core';
import {z} from 'zod';

const setMessageSchema = z.strictObject({round: z.number().int().min(0), items: z.array(z.string())});

/** The store kind {@link SetMeshDaemon} answers for. */
export const SET_STORE_KIND = 'set';

/**
 * One side of a toy reconciliation: each message carries the sender's whole
 * set and a round number; after `rounds` messages in all, both sides hold the
 * union. Malformed bytes make `receive` throw a DecodeError, as a real store's
 * session does.
 */
export class SetSyncSession implements SyncSession {
  private readonly items: Set<string>;
  private readonly rounds: number;
  private readonly counters: SyncStats = {messagesSent: 0, bytesSent: 0, bytesReceived: 0, entriesMerged: 0, entriesRejected: 0};
  /** True once this side expects no more messages. */
  done = false;

  /** `items` is updated in place as the session merges; `rounds` >= 2 for both sides to learn everything. */
  constructor(items: Set<string>, rounds: number) {
    this.items = items;
    this.rounds = rounds;
  }

  start(): Uint8Array {
    return this.send(0);
  }

  receive(message: Uint8Array): Uint8Array | null {
    this.counters.bytesReceived += message.byteLength;
    const {round, items} = decode(message, setMessageSchema, 'set sync message');
    for (const item of items) {
      if (!this.items.has(item)) {
        this.items.add(item);
        this.counters.entriesMerged++;
      }
    }
    if (round + 1 >= this.rounds) {
      this.done = true;
      return null;
    }
    // The side that sends the last round expects nothing back.
    if (round + 2 >= this.rounds) this.done = true;
    return this.send(round + 1);
  }

  stats(): SyncStats {
    return {...this.counters};
  }

  private send(round: number): Uint8Array {
    const bytes = encode({round, items: [...this.items].sort()});
    this.counters.messagesSent++;
    this.counters.bytesSent += bytes.byteLength;
    return bytes;
  }
}

/** One toy mesh held by a {@link SetMeshDaemon}. */
export interface SetReplica {
  /** The replica's items (sync sessions change it in place). */
  items: Set<string>;
  /** Bytes served as its join snapshot. */
  snapshot: Uint8Array;
}

/** TransportHandlers over toy meshes, recording every caller. */
export class SetMeshDaemon {
  /** The meshes this daemon is a member of. */
  readonly meshes = new Map<string, SetReplica>();
  /** Every caller, oldest first. */
  readonly peers: RemotePeer[] = [];
  /** Responder sessions opened, oldest first. */
  readonly sessions: SetSyncSession[] = [];
  /** Rounds of the sessions it answers. */
  rounds = 4;
  /** Replaces the default (echo) membership handler when set. */
  onMessage: ((meshId: string, payload: Uint8Array) => Promise<Uint8Array>) | undefined;

  /** The handlers to pass to `Transport.listen`. */
  readonly handlers: TransportHandlers = {
    snapshot: async (meshId, peer) => {
      this.peers.push(peer);
      return {storeKind: SET_STORE_KIND, snapshot: this.replica(meshId).snapshot};
    },
    openSync: (meshId, storeKind, peer) => {
      this.peers.push(peer);
      const replica = this.replica(meshId);
      if (storeKind !== SET_STORE_KIND) throw new InvalidInputError(`mesh ${meshId} uses store ${SET_STORE_KIND}, not ${storeKind}`);
      const session = new SetSyncSession(replica.items, this.rounds);
      this.sessions.push(session);
      return session;
    },
    message: async (meshId, payload, peer) => {
      this.peers.push(peer);
      if (this.onMessage) return this.onMessage(meshId, payload);
      this.replica(meshId);
      return Uint8Array.from([...new TextEncoder().encode('echo:'), ...payload]);
    },
  };

  /** Join a toy mesh with some items and a snapshot. */
  add(meshId: string, items: readonly string[], snapshot: Uint8Array = new Uint8Array()): SetReplica {
    const replica = {items: new Set(items), snapshot};
    this.meshes.set(meshId, replica);
    return replica;
  }

  private replica(meshId: string): SetReplica {
    const replica = this.meshes.get(meshId);
    if (!replica) throw new UnknownMeshError(meshId);
    return replica;
  }
}

/** A connected pair of transports, made fresh for every test. */
export interface TransportPair {
  /** The transport that answers (the suite calls `listen` on it). */
  server: Transport;
  /** The transport that calls (the suite makes it listen too, as every daemon does). */
  client: Transport;
  /** The endpoint the client dials to reach `server`, given the port `listen` returned. */
  endpointOf(port: number): string;
  /** An endpoint where nothing answers (a closed port). */
  unreachableEndpoint: string;
  /**
   * The node the client proves (its identity's node id and Ed25519 signing
   * key), for a transport that authenticates nodes; the member must then see
   * exactly it on every call. Leave it out for a transport that proves no node.
   */
  clientNode?: {nodeId: string; signingKey: string};
  /** Release everything; called after each test, failed or not. */
  close(): Promise<void>;
}

/** Tuning for implementations with tighter limits. */
export interface TransportComplianceOptions {
  /** Size of the "large" snapshot (default 3 MiB, over gRPC's customary 4 MiB message limit once framed with the rest). */
  largeSnapshotBytes?: number;
}

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65_536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(size, offset + 65_536)));
  }
  return bytes;
}

/**
 * Define the suite for one transport implementation.
 * @param name shown in the test report.
 * @param makePair builds a fresh, not yet listening, pair for each test.
 */
export function describeTransportCompliance(name: string, makePair: () => Promise<TransportPair>, options: TransportComplianceOptions = {}): void {
  const largeSnapshotBytes = options.largeSnapshotBytes ?? 3 * 1024 * 1024;

  describe(`transport compliance: ${name}`, () => {
    let current: TransportPair | undefined;
    afterEach(async () => {
      await current?.close();
      current = undefined;
    });

    /** A listening pair, a daemon and one mesh it serves. */
    async function setUp(items: readonly string[] = ['remote'], snapshot?: Uint8Array) {
      current = await makePair();
      const daemon = new SetMeshDaemon();
      const meshId = generateMeshId();
      daemon.add(meshId, items, snapshot);
      const {port} = await current.server.listen(daemon.handlers);
      await current.client.listen(new SetMeshDaemon().handlers);
      return {pair: current, daemon, meshId, endpoint: current.endpointOf(port)};
    }

    it('fetches a snapshot byte for byte, with its store kind, and the member sees who asked', async () => {
      const snapshot = randomBytes(1000);
      const {pair, daemon, meshId, endpoint} = await setUp([], snapshot);
      const result = await pair.client.fetchSnapshot(endpoint, meshId);
      expect(result.storeKind).toBe(SET_STORE_KIND);
      expect([...result.snapshot]).toEqual([...snapshot]);
      expect(daemon.peers).toHaveLength(1);
      expect(typeof daemon.peers[0]?.address).toBe('string');
    });

    it('tells the member which node called, on every kind of call', async () => {
      const {pair, daemon, meshId, endpoint} = await setUp();
      await pair.client.fetchSnapshot(endpoint, meshId);
      await pair.client.sync(endpoint, meshId, SET_STORE_KIND, new SetSyncSession(new Set(), 4));
      await pair.client.message(endpoint, meshId, new Uint8Array([1]));
      const seen = daemon.peers.map((peer) => ({nodeId: peer.nodeId, signingKey: peer.signingKey}));
      const expected = {nodeId: pair.clientNode?.nodeId, signingKey: pair.clientNode?.signingKey};
      expect(seen).toEqual([expected, expected, expected]);
    });

    it('fetches a large snapshot intact', async () => {
      const snapshot = randomBytes(largeSnapshotBytes);
      const {pair, meshId, endpoint} = await setUp([], snapshot);
      const result = await pair.client.fetchSnapshot(endpoint, meshId);
      expect(result.snapshot.byteLength).toBe(snapshot.byteLength);
      expect(Buffer.from(result.snapshot).equals(Buffer.from(snapshot))).toBe(true);
    });

    // With 5 rounds the responder says the last word; with 4 the initiator does.
    it.each([5, 4])('carries a sync session of %i messages until both replicas hold the union', async (rounds) => {
      const {pair, daemon, meshId, endpoint} = await setUp(['a', 'b']);
      daemon.rounds = rounds;
      const local = new Set(['b', 'c']);
      const session = new SetSyncSession(local, rounds);
      const stats = await pair.client.sync(endpoint, meshId, SET_STORE_KIND, session);
      expect([...local].sort()).toEqual(['a', 'b', 'c']);
      expect([...(daemon.meshes.get(meshId)?.items ?? [])].sort()).toEqual(['a', 'b', 'c']);
      expect(session.done).toBe(true);
      expect(daemon.sessions[0]?.done).toBe(true);
      expect(stats.messagesSent).toBe(Math.ceil(rounds / 2));
      expect(stats.entriesMerged).toBe(1);
    });

    it('carries concurrent sync sessions of different meshes without mixing them', async () => {
      const {pair, daemon, endpoint} = await setUp();
      const meshIds = Array.from({length: 6}, () => generateMeshId());
      meshIds.forEach((meshId, i) => daemon.add(meshId, [`remote-${i}`]));
      const locals = meshIds.map((_, i) => new Set([`local-${i}`]));
      await Promise.all(meshIds.map((meshId, i) => pair.client.sync(endpoint, meshId, SET_STORE_KIND, new SetSyncSession(locals[i] ?? new Set(), 4))));
      meshIds.forEach((meshId, i) => {
        expect([...(locals[i] ?? [])].sort()).toEqual([`local-${i}`, `remote-${i}`]);
        expect([...(daemon.meshes.get(meshId)?.items ?? [])].sort()).toEqual([`local-${i}`, `remote-${i}`]);
      });
    });

    it('round-trips a membership message', async () => {
      const {pair, meshId, endpoint} = await setUp();
      const reply = await pair.client.message(endpoint, meshId, Uint8Array.from([1, 2, 3]));
      expect(new TextDecoder().decode(reply)).toBe('echo:\u0001\u0002\u0003');
    });

    it('reports an unknown mesh as UNKNOWN_MESH with the member\'s message, on every call', async () => {
      const {pair, endpoint} = await setUp();
      const unknown = generateMeshId();
      const expected = {code: 'UNKNOWN_MESH', message: new UnknownMeshError(unknown).message};
      await expect(pair.client.fetchSnapshot(endpoint, unknown)).rejects.toMatchObject(expected);
      await expect(pair.client.sync(endpoint, unknown, SET_STORE_KIND, new SetSyncSession(new Set(), 4))).rejects.toMatchObject(expected);
      await expect(pair.client.message(endpoint, unknown, new Uint8Array())).rejects.toMatchObject(expected);
    });

    it('passes any wgmesh error of the member to the caller with its code and message', async () => {
      const {pair, daemon, meshId, endpoint} = await setUp();
      daemon.onMessage = async () => {
        throw new InvalidInputError('not a probe this node understands');
      };
      await expect(pair.client.message(endpoint, meshId, new Uint8Array())).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        message: 'not a probe this node understands',
      });
    });

    it('fails a session whose message does not decode with DECODE, and serves the next one', async () => {
      const {pair, meshId, endpoint} = await setUp();
      const broken: SyncSession = {
        start: () => Uint8Array.from([0xc1, 0xff, 0x00]),
        receive: () => null,
        done: false,
        stats: () => ({messagesSent: 1, bytesSent: 3, bytesReceived: 0, entriesMerged: 0, entriesRejected: 0}),
      };
      await expect(pair.client.sync(endpoint, meshId, SET_STORE_KIND, broken)).rejects.toMatchObject({code: 'DECODE'});
      const local = new Set(['local']);
      await pair.client.sync(endpoint, meshId, SET_STORE_KIND, new SetSyncSession(local, 4));
      expect(local.has('remote')).toBe(true);
    });

    it('reports a member where nothing listens as PEER_UNREACHABLE', async () => {
      const {pair, meshId} = await setUp();
      await expect(pair.client.message(pair.unreachableEndpoint, meshId, new Uint8Array())).rejects.toMatchObject({code: 'PEER_UNREACHABLE'});
    });

    it('reports a member that closed its transport as PEER_UNREACHABLE', async () => {
      const {pair, meshId, endpoint} = await setUp();
      await pair.client.message(endpoint, meshId, new Uint8Array());
      await pair.server.close();
      await expect(pair.client.message(endpoint, meshId, new Uint8Array())).rejects.toMatchObject({code: 'PEER_UNREACHABLE'});
    });
  });
}
