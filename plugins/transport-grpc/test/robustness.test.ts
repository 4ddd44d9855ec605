/**
 * Hostile and broken networks: garbage, truncated and oversized frames on the
 * sync stream, one sync session too many, members that are down or never
 * answer, a cancelled call, partitions made with the fault injection file, and
 * a clean shutdown. After every bad call the member must still serve the next
 * good one.
 */
import {randomBytes} from 'node:crypto';
import {readFile, rm, writeFile} from 'node:fs/promises';
import {connect as http2Connect, type IncomingHttpHeaders} from 'node:http2';
import {createServer, type Server, type Socket} from 'node:net';
import {join} from 'node:path';
import {credentials, makeGenericClientConstructor, status as Status, type Client, type ClientDuplexStream, type ServiceError} from '@grpc/grpc-js';
import {MAX_CONTROL_MESSAGE_BYTES, MAX_SYNC_MESSAGE_BYTES, type SyncSession, type SyncStats} from '@wgmesh/core';
import {MAX_FRAME_BYTES} from '../src/channel-options.js';
import {testMeshId, SetMeshDaemon, SetSyncSession, SET_STORE_KIND} from '@wgmesh/testkit/compliance';
import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest';
import {ControlClient, type SyncFrame} from '../src/generated/wgmesh/v1/control.js';
import type {GrpcTransport} from '../src/transport.js';
import {Harness, logged} from './helpers/harness.js';
import {makePki, type Pki} from './helpers/pki.js';

let pki: Pki;
const harness = new Harness();
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  pki = await makePki();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await harness.closeAll();
});
afterAll(() => pki?.cleanup());

async function member(section: Record<string, unknown> = {}, timeoutMs?: number) {
  const daemon = new SetMeshDaemon();
  const built = await harness.create({node: pki.alpha, section, ...(timeoutMs === undefined ? {} : {timeoutMs})});
  const {port} = await built.transport.listen(daemon.handlers);
  const meshId = testMeshId();
  daemon.add(meshId, ['remote']);
  return {...built, daemon, port, meshId, endpoint: `127.0.0.1:${port}`};
}

async function tlsFiles() {
  const [ca, key, cert] = await Promise.all([readFile(pki.caPath), readFile(pki.beta.privateKeyPath), readFile(pki.beta.certificatePath)]);
  return {ca, key, cert};
}

/** A grpc-js client for the Control service, with beta's certificate. */
async function rawClient(port: number): Promise<ControlClient> {
  const {ca, key, cert} = await tlsFiles();
  const client = new ControlClient(`127.0.0.1:${port}`, credentials.createSsl(ca, key, cert), {'grpc.ssl_target_name_override': 'localhost'});
  cleanups.push(() => client.close());
  return client;
}

/** The final status of a stream call (its frames are collected too). */
function outcome<T>(call: ClientDuplexStream<T, T>): Promise<{status: ServiceError | null; frames: T[]}> {
  return new Promise((resolve) => {
    const frames: T[] = [];
    call.on('data', (frame: T) => frames.push(frame));
    call.on('error', (error: ServiceError) => resolve({status: error, frames}));
    call.on('status', (status: {code: number}) => {
      if (status.code === Status.OK) resolve({status: null, frames});
    });
  });
}

/** One complete, well-formed sync against the member: proof that it still serves. */
async function goodSync(endpoint: string, meshId: string): Promise<void> {
  const {transport} = await harness.create({node: pki.beta});
  const local = new Set(['local']);
  await transport.sync(endpoint, meshId, SET_STORE_KIND, new SetSyncSession(local, 4));
  expect(local.has('remote')).toBe(true);
}

/** The member's answer to the one-byte message 1, as text: the test daemon echoes it after `echo:`. */
async function echoOf(transport: Pick<GrpcTransport, 'message'>, endpoint: string, meshId: string): Promise<string> {
  return new TextDecoder().decode(await transport.message(endpoint, meshId, new Uint8Array([1])));
}

describe('bad frames on the Sync stream', () => {
  it('a payload the store cannot decode ends that stream with DECODE, and is logged', async () => {
    const {port, endpoint, meshId, logger} = await member();
    const client = await rawClient(port);
    const call = client.sync({deadline: Date.now() + 5_000});
    const done = outcome(call);
    call.write({meshId, storeKind: SET_STORE_KIND, payload: randomBytes(64)});
    const {status} = await done;
    expect(status?.code).toBe(Status.INVALID_ARGUMENT);
    expect(status?.metadata.get('wgmesh-error-code')).toEqual(['DECODE']);
    expect(status?.details).toContain('set sync message');
    expect(logged(logger, 'warn').join('\n')).toContain('sync: refused');
    await goodSync(endpoint, meshId);
  });

  it('a first frame with no valid mesh id, or a later frame for another mesh, is refused', async () => {
    const {port, endpoint, meshId, daemon} = await member();
    const client = await rawClient(port);
    const first = client.sync({deadline: Date.now() + 5_000});
    const firstDone = outcome(first);
    first.write({meshId: '../../etc', storeKind: SET_STORE_KIND, payload: Buffer.alloc(0)});
    expect((await firstDone).status?.details).toContain("'../../etc' is not a mesh id");

    daemon.rounds = 6;
    const second = client.sync({deadline: Date.now() + 5_000});
    const secondDone = outcome(second);
    const opening = new SetSyncSession(new Set(['a']), 6);
    second.write({meshId, storeKind: SET_STORE_KIND, payload: Buffer.from(opening.start())});
    second.once('data', (frame: SyncFrame) => {
      const next = opening.receive(frame.payload);
      second.write({meshId: testMeshId(), storeKind: '', payload: Buffer.from(next ?? [])});
    });
    const {status, frames} = await secondDone;
    expect(frames).toHaveLength(1);
    expect(status?.details).toContain('a later frame names another mesh');
    await goodSync(endpoint, meshId);
  });

  it('bytes that are not protobuf are refused by the member, logged, and the member keeps serving', async () => {
    const {port, endpoint, meshId, logger} = await member();
    const identity = (value: Buffer) => value;
    const Raw = makeGenericClientConstructor(
      {
        sync: {
          path: '/wgmesh.v1.Control/Sync',
          requestStream: true,
          responseStream: true,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      'Raw',
    );
    const {ca, key, cert} = await tlsFiles();
    const raw = new Raw(`127.0.0.1:${port}`, credentials.createSsl(ca, key, cert), {'grpc.ssl_target_name_override': 'localhost'}) as unknown as Client & {
      sync(options: {deadline: number}): ClientDuplexStream<Buffer, Buffer>;
    };
    cleanups.push(() => raw.close());
    // Field 1, length-delimited, announcing 2^28 bytes that never come; then a wire type that does not exist.
    for (const garbage of [Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x01, 0x41]), Buffer.from([0x0f, 0xff, 0xff])]) {
      const call = raw.sync({deadline: Date.now() + 5_000});
      const done = outcome(call);
      call.write(garbage);
      const {status} = await done;
      expect(status?.code).toBe(Status.INTERNAL);
    }
    await vi.waitFor(() => expect(logged(logger, 'warn').join('\n')).toContain('call ended without an answer'), {timeout: 5_000});
    await goodSync(endpoint, meshId);
  });

  it('a truncated gRPC frame ends the stream with an error status, and the member keeps serving', async () => {
    const {port, endpoint, meshId} = await member();
    const {ca, key, cert} = await tlsFiles();
    const session = http2Connect(`https://127.0.0.1:${port}`, {ca, key, cert, servername: 'localhost'});
    cleanups.push(() => new Promise<void>((resolve) => session.close(() => resolve())));
    const stream = session.request({
      ':method': 'POST',
      ':path': '/wgmesh.v1.Control/Sync',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const headers: IncomingHttpHeaders[] = [];
    stream.on('response', (response) => headers.push(response));
    stream.on('trailers', (trailers) => headers.push(trailers));
    stream.resume();
    const closed = new Promise<void>((resolve) => stream.on('close', () => resolve()));
    // A frame header announcing 100 bytes, then 10 bytes and the end of the stream.
    const header = Buffer.alloc(5);
    header.writeUInt32BE(100, 1);
    stream.end(Buffer.concat([header, randomBytes(10)]));
    await closed;
    const grpcStatus = headers.map((h) => h['grpc-status']).find((value) => value !== undefined);
    expect(Number(grpcStatus)).toBe(Status.INVALID_ARGUMENT);
    await goodSync(endpoint, meshId);
  });

  it('a frame over the largest one a member accepts is refused with RESOURCE_EXHAUSTED from its length, and the member keeps serving', async () => {
    const {port, endpoint, meshId, logger} = await member();
    const client = await rawClient(port);
    const call = client.sync({deadline: Date.now() + 5_000});
    const result = outcome(call);
    call.write({meshId, storeKind: SET_STORE_KIND, payload: Buffer.alloc(MAX_FRAME_BYTES + 1)});
    const {status} = await result;
    expect(status?.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(status?.details).toMatch(/larger than max/);
    await vi.waitFor(() => expect(logged(logger, 'warn').join('\n')).toContain('call ended without an answer'), {timeout: 5_000});
    // Our own transport refuses to send what a member would refuse, with the limit in words.
    const {transport} = await harness.create({node: pki.beta});
    const huge: SyncSession = {
      start: () => new Uint8Array(MAX_SYNC_MESSAGE_BYTES + 1),
      receive: () => null,
      done: false,
      stats: (): SyncStats => ({messagesSent: 1, bytesSent: 0, bytesReceived: 0, entriesMerged: 0, entriesRejected: 0}),
    };
    await expect(transport.sync(endpoint, meshId, SET_STORE_KIND, huge)).rejects.toMatchObject({code: 'TRANSPORT', message: expect.stringContaining('over the limit of 1048576 bytes')});
    await expect(transport.message(endpoint, meshId, new Uint8Array(MAX_CONTROL_MESSAGE_BYTES + 1))).rejects.toMatchObject({code: 'TRANSPORT'});
    await goodSync(endpoint, meshId);
  });

  it('a stream that goes silent is cut after `timeout` and its slot freed', async () => {
    const {port, transport, meshId} = await member({}, 300);
    const client = await rawClient(port);
    const call = client.sync({deadline: Date.now() + 10_000});
    const done = outcome(call);
    call.write({meshId, storeKind: SET_STORE_KIND, payload: Buffer.from(new SetSyncSession(new Set(), 4).start())});
    const {status} = await done;
    expect(status?.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(status?.details).toContain('no sync frame within 300 ms');
    expect(transport.activeSyncs()).toBe(0);
  });
});

describe('the cap on concurrent sync sessions', () => {
  it('refuses one session over the cap with RESOURCE_EXHAUSTED and a clear message, then admits again', async () => {
    const {port, endpoint, meshId, transport, daemon} = await member({maxConcurrentSyncs: 2});
    daemon.rounds = 10;
    const client = await rawClient(port);
    // Two sessions that the member has answered once and that then wait for us.
    const open = await Promise.all(
      [0, 1].map(async () => {
        const call = client.sync({deadline: Date.now() + 10_000});
        // We cancel these ourselves below; their CANCELLED status is expected.
        call.on('error', () => undefined);
        const replied = new Promise((resolve) => call.once('data', resolve));
        call.write({meshId, storeKind: SET_STORE_KIND, payload: Buffer.from(new SetSyncSession(new Set(), 10).start())});
        await replied;
        return call;
      }),
    );
    expect(transport.activeSyncs()).toBe(2);
    const third = client.sync({deadline: Date.now() + 5_000});
    const thirdDone = outcome(third);
    third.write({meshId, storeKind: SET_STORE_KIND, payload: Buffer.from(new SetSyncSession(new Set(), 10).start())});
    const {status} = await thirdDone;
    expect(status?.code).toBe(Status.RESOURCE_EXHAUSTED);
    const other = await harness.create({node: pki.beta});
    await expect(other.transport.sync(endpoint, meshId, SET_STORE_KIND, new SetSyncSession(new Set(), 10))).rejects.toMatchObject({
      code: 'SYNC_BUSY',
      message: expect.stringContaining('maximum of 2 concurrent sync sessions'),
    });
    open[0]?.cancel();
    await vi.waitFor(() => expect(transport.activeSyncs()).toBe(1), {timeout: 5_000});
    daemon.rounds = 4;
    await goodSync(endpoint, meshId);
    open[1]?.cancel();
    await vi.waitFor(() => expect(transport.activeSyncs()).toBe(0), {timeout: 5_000});
  });
});

describe('members that cannot be reached', () => {
  it('a closed port is reported as connection refused', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const {port} = probe.address() as {port: number};
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const {transport} = await harness.create({node: pki.beta});
    await expect(transport.message(`127.0.0.1:${port}`, testMeshId(), new Uint8Array())).rejects.toMatchObject({
      code: 'PEER_UNREACHABLE',
      message: `could not reach 127.0.0.1:${port}: connection refused (nothing listens on that port)`,
    });
  });

  it('a port that accepts but never answers TLS fails by the deadline, for every call', async () => {
    const sockets = new Set<Socket>();
    const blackhole: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          blackhole.close(() => resolve());
        }),
    );
    const endpoint = `127.0.0.1:${(blackhole.address() as {port: number}).port}`;
    const {transport} = await harness.create({node: pki.beta, timeoutMs: 300});
    const started = Date.now();
    const expected = {code: 'PEER_UNREACHABLE', message: `could not reach ${endpoint}: deadline exceeded after 300 ms (no answer in time)`};
    await expect(transport.message(endpoint, testMeshId(), new Uint8Array())).rejects.toMatchObject(expected);
    // The stream gives its verdict on the connection once this turn's I/O is read; then the next call dials again.
    await new Promise((resolve) => setImmediate(resolve));
    await expect(transport.sync(endpoint, testMeshId(), SET_STORE_KIND, new SetSyncSession(new Set(), 4))).rejects.toMatchObject(expected);
    await expect(transport.fetchSnapshot(endpoint, testMeshId())).rejects.toMatchObject(expected);
    // Far below grpc-js's 20 s connect timeout: the 300 ms deadline is what ended each call.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('an aborted call stops at once with the abort reason', async () => {
    const blackhole = createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => blackhole.close(() => resolve())));
    blackhole.unref();
    const endpoint = `127.0.0.1:${(blackhole.address() as {port: number}).port}`;
    const {transport} = await harness.create({node: pki.beta, timeoutMs: 10_000});
    const controller = new AbortController();
    const reason = new Error('daemon stopping');
    const calls = [
      transport.message(endpoint, testMeshId(), new Uint8Array(), controller.signal),
      transport.sync(endpoint, testMeshId(), SET_STORE_KIND, new SetSyncSession(new Set(), 4), controller.signal),
    ];
    controller.abort(reason);
    for (const call of calls) await expect(call).rejects.toBe(reason);
    await expect(transport.message(endpoint, testMeshId(), new Uint8Array(), controller.signal)).rejects.toBe(reason);
  });
});

describe('fault injection file', () => {
  it('blocks and unblocks outbound calls as the file changes', async () => {
    const {endpoint, meshId, daemon} = await member();
    const file = join(pki.dir, `faults-${process.pid}-out.json`);
    cleanups.push(() => rm(file, {force: true}));
    const {transport} = await harness.create({node: pki.beta, section: {faultInjectionFile: file}});
    expect(await echoOf(transport, endpoint, meshId)).toBe('echo:\u0001');
    await writeFile(file, JSON.stringify({blockOutbound: [endpoint]}));
    await expect(transport.message(endpoint, meshId, new Uint8Array([1]))).rejects.toMatchObject({
      code: 'PEER_UNREACHABLE',
      message: expect.stringContaining('blocked by the fault injection file'),
    });
    await expect(transport.sync(endpoint, meshId, SET_STORE_KIND, new SetSyncSession(new Set(), 4))).rejects.toMatchObject({code: 'PEER_UNREACHABLE'});
    const calls = daemon.peers.length;
    await writeFile(file, JSON.stringify({blockOutbound: []}));
    expect(await echoOf(transport, endpoint, meshId)).toBe('echo:\u0001');
    expect(daemon.peers.length).toBe(calls + 1);
    // A broken file blocks nothing and says so.
    await writeFile(file, '{"blockOutbound": [');
    expect(await echoOf(transport, endpoint, meshId)).toBe('echo:\u0001');
  });

  it('blocks and unblocks inbound calls by remote address', async () => {
    const file = join(pki.dir, `faults-${process.pid}-in.json`);
    cleanups.push(() => rm(file, {force: true}));
    const {endpoint, meshId, daemon} = await member({faultInjectionFile: file});
    const {transport} = await harness.create({node: pki.beta});
    await writeFile(file, JSON.stringify({blockInbound: ['127.0.0.1']}));
    await expect(transport.message(endpoint, meshId, new Uint8Array([1]))).rejects.toMatchObject({
      code: 'PEER_UNREACHABLE',
      message: expect.stringContaining('fault injection'),
    });
    await expect(transport.sync(endpoint, meshId, SET_STORE_KIND, new SetSyncSession(new Set(), 4))).rejects.toMatchObject({code: 'PEER_UNREACHABLE'});
    await expect(transport.fetchSnapshot(endpoint, meshId)).rejects.toMatchObject({code: 'PEER_UNREACHABLE'});
    expect(daemon.peers).toEqual([]);
    await rm(file);
    expect(await echoOf(transport, endpoint, meshId)).toBe('echo:\u0001');
  });
});

describe('close', () => {
  it('releases the port and refuses further calls', async () => {
    const {transport, port, endpoint, meshId} = await member();
    const {transport: client} = await harness.create({node: pki.beta});
    await client.message(endpoint, meshId, new Uint8Array());
    await transport.close();
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => again.close(() => resolve()));
    await client.close();
    await expect(client.message(endpoint, meshId, new Uint8Array())).rejects.toMatchObject({code: 'PEER_UNREACHABLE', message: expect.stringContaining('closed')});
  });
});
