/**
 * The gRPC-specific behaviour on real sockets (the contract itself is checked
 * by compliance.test.ts): chunked snapshots and their size limits, the caller's
 * certificate name reaching the handlers, a real twophase store syncing over
 * the wire, IPv6 endpoints, and what an internal handler failure looks like.
 */
import {randomBytes} from 'node:crypto';
import {existsSync} from 'node:fs';
import {InvalidInputError, UnknownMeshError, type MeshStore} from '@wgmesh/core';
import {makeEntryPool, recordingLogger, SimulatedClock, testMeshId, wireEntry, FIXTURE_NOW, SetMeshDaemon, SetSyncSession, SET_STORE_KIND, skipWithout} from '@wgmesh/testkit/compliance';
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';
import {ControlPortError, SnapshotBusyError, SnapshotTooLargeError} from '../src/errors.js';
import {Harness, logged} from './helpers/harness.js';
import {makePki, type Pki} from './helpers/pki.js';

let pki: Pki;
const harness = new Harness();

beforeAll(async () => {
  pki = await makePki();
});
afterEach(() => harness.closeAll());
afterAll(() => pki?.cleanup());

/** Poll `check` every 20 ms until it holds; fail after 5 s. */
async function waitUntil(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out after 5 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A listening daemon (alpha) and a calling one (beta). */
async function pair(section: Record<string, unknown> = {}) {
  const daemon = new SetMeshDaemon();
  const server = await harness.create({node: pki.alpha, section});
  const {port} = await server.transport.listen(daemon.handlers);
  const client = await harness.create({node: pki.beta, section});
  return {daemon, server, client, endpoint: `127.0.0.1:${port}`, port};
}

describe('listen', () => {
  it('binds a free port when asked for port 0 and reports it', async () => {
    const {port} = await pair();
    expect(port).toBeGreaterThan(0);
  });

  it('says clearly when the port is taken', async () => {
    const {port} = await pair();
    const second = await harness.create({node: pki.beta, port});
    const error = await second.transport.listen(new SetMeshDaemon().handlers).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ControlPortError);
    expect(error).toMatchObject({
      code: 'CONTROL_PORT',
      message: `cannot open the control port 127.0.0.1:${port}: the port is in use (another wgmesh daemon?); stop that process or set another gRPCPort`,
    });
  });
});

describe('fetchSnapshot', () => {
  it('fetches a small snapshot with its store kind, and the member sees the caller by certificate', async () => {
    const {daemon, client, endpoint} = await pair();
    const meshId = testMeshId();
    const bytes = new Uint8Array(randomBytes(1000));
    daemon.add(meshId, [], bytes);
    const result = await client.transport.fetchSnapshot(endpoint, meshId);
    expect(result.storeKind).toBe(SET_STORE_KIND);
    expect(Buffer.from(result.snapshot).equals(Buffer.from(bytes))).toBe(true);
    expect(daemon.peers.at(-1)?.authenticatedAs).toBe('beta');
    expect(daemon.peers.at(-1)?.address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('fetches an empty snapshot', async () => {
    const {daemon, client, endpoint} = await pair();
    const meshId = testMeshId();
    daemon.add(meshId, []);
    const result = await client.transport.fetchSnapshot(endpoint, meshId);
    expect(result.snapshot.byteLength).toBe(0);
  });

  it('streams a large snapshot in many chunks and reassembles it exactly', async () => {
    const chunk = 64 * 1024;
    const {daemon, client, endpoint} = await pair({snapshotChunkBytes: chunk});
    const meshId = testMeshId();
    const bytes = new Uint8Array(randomBytes(5 * 1024 * 1024 + 123));
    daemon.add(meshId, [], bytes);
    const result = await client.transport.fetchSnapshot(endpoint, meshId);
    expect(result.snapshot.byteLength).toBe(bytes.byteLength);
    expect(Buffer.from(result.snapshot).equals(Buffer.from(bytes))).toBe(true);
    expect(Math.ceil(bytes.byteLength / chunk)).toBeGreaterThan(80);
  });

  it('refuses a snapshot over the member\'s own limit with a clear remote error', async () => {
    const {daemon, client, endpoint} = await pair({maxSnapshotBytes: 128 * 1024, snapshotChunkBytes: 16 * 1024});
    const meshId = testMeshId();
    daemon.add(meshId, [], new Uint8Array(200 * 1024));
    await expect(client.transport.fetchSnapshot(endpoint, meshId)).rejects.toBeInstanceOf(SnapshotTooLargeError);
    await expect(client.transport.fetchSnapshot(endpoint, meshId)).rejects.toMatchObject({
      code: 'SNAPSHOT_TOO_LARGE',
      message: expect.stringContaining('over the member\'s limit of 131072 bytes'),
    });
  });

  it('sends at most maxConcurrentSnapshots at once; one more is refused with SNAPSHOT_BUSY until one finishes', async () => {
    const daemon = new SetMeshDaemon();
    const meshId = testMeshId();
    daemon.add(meshId, [], new Uint8Array([7]));
    const gates: (() => void)[] = [];
    const server = await harness.create({node: pki.alpha, section: {maxConcurrentSnapshots: 2}});
    const {port} = await server.transport.listen({
      ...daemon.handlers,
      snapshot: async (id, peer) => {
        await new Promise<void>((resolve) => gates.push(resolve));
        return daemon.handlers.snapshot(id, peer);
      },
    });
    const client = await harness.create({node: pki.beta});
    const endpoint = `127.0.0.1:${port}`;
    const slow = [client.transport.fetchSnapshot(endpoint, meshId), client.transport.fetchSnapshot(endpoint, meshId)];
    await waitUntil(() => gates.length === 2);
    const busy = await client.transport.fetchSnapshot(endpoint, meshId).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(SnapshotBusyError);
    expect(busy).toMatchObject({code: 'SNAPSHOT_BUSY', message: expect.stringContaining('grpc.maxConcurrentSnapshots')});
    for (const open of gates.splice(0)) open();
    for (const result of await Promise.all(slow)) expect([...result.snapshot]).toEqual([7]);
    const third = client.transport.fetchSnapshot(endpoint, meshId);
    await waitUntil(() => gates.length === 1);
    gates.splice(0)[0]?.();
    expect([...(await third).snapshot]).toEqual([7]);
  });

  it('refuses a snapshot announced over the caller\'s limit, and the caller keeps working', async () => {
    const daemon = new SetMeshDaemon();
    const server = await harness.create({node: pki.alpha, section: {maxSnapshotBytes: 4 * 1024 * 1024}});
    const {port} = await server.transport.listen(daemon.handlers);
    const client = await harness.create({node: pki.beta, section: {maxSnapshotBytes: 1024 * 1024}});
    const big = testMeshId();
    const small = testMeshId();
    daemon.add(big, [], new Uint8Array(2 * 1024 * 1024));
    daemon.add(small, [], new Uint8Array([1, 2, 3]));
    await expect(client.transport.fetchSnapshot(`127.0.0.1:${port}`, big)).rejects.toMatchObject({
      code: 'DECODE',
      message: expect.stringContaining("over this node's limit of 1048576 bytes"),
    });
    expect(logged(client.logger, 'warn').join('\n')).toContain('malformed frame');
    const again = await client.transport.fetchSnapshot(`127.0.0.1:${port}`, small);
    expect([...again.snapshot]).toEqual([1, 2, 3]);
  });
});

describe('sync', () => {
  const twophaseBuilt = existsSync(new URL('../../store-twophase/dist/index.js', import.meta.url));
  const skip = skipWithout('the twophase sync over gRPC', twophaseBuilt ? {ok: true} : {ok: false, reason: '@wgmesh/store-twophase is not built (npm run build)'});
  it.skipIf(skip)('carries a real twophase sync between two stores until their digests agree', async () => {
    const {TwoPhaseStore} = await import('@wgmesh/store-twophase');
    const meshId = testMeshId();
    const clock = new SimulatedClock(FIXTURE_NOW + 10_000);
    const open = (): MeshStore => new TwoPhaseStore({meshId, clock, logger: recordingLogger(), gcHorizonMs: 3_600_000, maxClockSkewMs: 60_000});
    const pool = makeEntryPool(meshId, 40);
    const [left, right] = [open(), open()];
    // Six entries per node: the left replica knows nodes 0-29, the right nodes 10-39.
    left.merge(pool.entries.filter((_, i) => i < 30 * 6).map(wireEntry));
    right.merge(pool.entries.filter((_, i) => i >= 10 * 6).map(wireEntry));
    expect(Buffer.from(left.digest()).equals(Buffer.from(right.digest()))).toBe(false);
    const server = await harness.create({node: pki.alpha});
    const {port} = await server.transport.listen({
      snapshot: async () => ({storeKind: right.kind, snapshot: right.save()}),
      openSync: (id) => {
        if (id !== meshId) throw new UnknownMeshError(id);
        return right.openSync('responder');
      },
      message: async () => new Uint8Array(),
    });
    const client = await harness.create({node: pki.beta});
    const stats = await client.transport.sync(`127.0.0.1:${port}`, meshId, left.kind, left.openSync('initiator'));
    expect(stats.messagesSent).toBeGreaterThan(0);
    expect(Buffer.from(left.digest()).equals(Buffer.from(right.digest()))).toBe(true);
    // And a join snapshot of it loads into an empty replica with the same digest.
    const joined = open();
    const {snapshot, storeKind} = await client.transport.fetchSnapshot(`127.0.0.1:${port}`, meshId);
    expect(storeKind).toBe(right.kind);
    joined.load(snapshot);
    expect(Buffer.from(joined.digest()).equals(Buffer.from(right.digest()))).toBe(true);
  });
});

describe('message', () => {
  it('reaches a member over IPv6 with a bracketed endpoint', async (context) => {
    const daemon = new SetMeshDaemon();
    const server = await harness.create({node: pki.alpha, section: {listenAddress: '::'}});
    let port: number;
    try {
      ({port} = await server.transport.listen(daemon.handlers));
    } catch (error) {
      if (skipWithout('the IPv6 message test', {ok: false, reason: `no IPv6 on this host: ${(error as Error).message}`})) context.skip();
      throw error;
    }
    const client = await harness.create({node: pki.beta});
    const meshId = testMeshId();
    daemon.add(meshId, []);
    const reply = await client.transport.message(`[::1]:${port}`, meshId, new Uint8Array([9]));
    expect([...reply]).toEqual([...Buffer.from('echo:'), 9]);
    // The dual-stack socket also answers IPv4, and reports that peer as plain IPv4.
    await client.transport.message(`127.0.0.1:${port}`, meshId, new Uint8Array([9]));
    expect(daemon.peers.map((peer) => peer.address.replace(/:\d+$/, ''))).toEqual(['[::1]', '127.0.0.1']);
  });
});

describe('errors a member reports', () => {
  it('an unexpected handler failure is logged by the member and reported without its details', async () => {
    const {daemon, server, client, endpoint} = await pair();
    daemon.onMessage = async () => {
      throw new Error('secret internal detail');
    };
    const error = await client.transport.message(endpoint, testMeshId(), new Uint8Array()).catch((caught: unknown) => caught);
    expect(error).toMatchObject({code: 'TRANSPORT', message: expect.stringContaining('internal error')});
    expect((error as Error).message).not.toContain('secret');
    expect(logged(server.logger, 'error').join('\n')).toContain('handler failed');
  });

  it('a malformed mesh id is refused before dialling', async () => {
    const {client, endpoint} = await pair();
    await expect(client.transport.message(endpoint, 'NOT-A-MESH', new Uint8Array())).rejects.toMatchObject({code: 'INVALID_INPUT'});
    await expect(client.transport.message('no-port-here', testMeshId(), new Uint8Array())).rejects.toMatchObject({code: 'INVALID_INPUT'});
  });
});
