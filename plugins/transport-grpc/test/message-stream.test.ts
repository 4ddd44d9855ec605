/**
 * Membership messages ride one long-lived stream per member: many requests in
 * flight at once, answered in any order, each with its own deadline; a bad or
 * refused request costs only its own reply, never the stream.
 */
import {readFile} from 'node:fs/promises';
import {credentials, status as Status, type ClientDuplexStream, type ServiceError} from '@grpc/grpc-js';
import type {TransportHandlers} from '@wgmesh/core';
import {testMeshId, SetMeshDaemon} from '@wgmesh/testkit/compliance';
import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest';
import {ControlClient, type MessageEnvelope} from '../src/generated/wgmesh/v1/control.js';
import {SILENT_CONNECTION_MS} from '../src/message-stream.js';
import {MAX_MESSAGES_IN_FLIGHT} from '../src/service.js';
import {Harness} from './helpers/harness.js';
import {makePki, type Pki} from './helpers/pki.js';

let pki: Pki;
const harness = new Harness();
/** Handlers of the current test that never answer until released. */
const held: (() => void)[] = [];
const clients: ControlClient[] = [];

beforeAll(async () => {
  pki = await makePki();
});
afterEach(async () => {
  for (const release of held.splice(0)) release();
  for (const client of clients.splice(0)) client.close();
  await harness.closeAll();
});
afterAll(() => pki?.cleanup());

/**
 * A member whose message handler answers `[n]` with `[n, n]` after n ms; 255
 * is never answered (until the test ends).
 */
async function member(timeoutMs = 5_000, section: Record<string, unknown> = {}) {
  const base = new SetMeshDaemon();
  const handlers: TransportHandlers = {
    ...base.handlers,
    message: async (_meshId, payload) => {
      const n = payload[0] ?? 0;
      if (n === 255) await new Promise<void>((resolve) => held.push(resolve));
      else await new Promise((resolve) => setTimeout(resolve, n));
      return new Uint8Array([n, n]);
    },
  };
  const server = await harness.create({node: pki.alpha, timeoutMs, section});
  const {port} = await server.transport.listen(handlers);
  const client = await harness.create({node: pki.beta, timeoutMs});
  return {server: server.transport, serverLogger: server.logger, client: client.transport, endpoint: `127.0.0.1:${port}`, port, meshId: testMeshId()};
}

/** A raw Messages stream with beta's certificate, and the envelopes it receives. */
async function rawStream(port: number) {
  const [ca, key, cert] = await Promise.all([readFile(pki.caPath), readFile(pki.beta.privateKeyPath), readFile(pki.beta.certificatePath)]);
  const client = new ControlClient(`127.0.0.1:${port}`, credentials.createSsl(ca, key, cert), {'grpc.ssl_target_name_override': 'localhost'});
  clients.push(client);
  const call: ClientDuplexStream<MessageEnvelope, MessageEnvelope> = client.messages();
  const replies: MessageEnvelope[] = [];
  const ended = new Promise<ServiceError | null>((resolve) => {
    call.on('data', (envelope: MessageEnvelope) => replies.push(envelope));
    call.on('error', (error: ServiceError) => resolve(error));
    call.on('end', () => resolve(null));
  });
  const send = (envelope: Partial<MessageEnvelope>) => call.write({id: 0, meshId: '', payload: Buffer.alloc(0), errorCode: '', errorMessage: '', ...envelope});
  return {call, replies, ended, send};
}

describe('the message stream', () => {
  it('carries concurrent requests on one stream and matches replies answered out of order', async () => {
    const {client, server, endpoint, meshId} = await member();
    const delays = [60, 5, 30, 0, 45, 15];
    const replies = await Promise.all(delays.map((n) => client.message(endpoint, meshId, new Uint8Array([n]))));
    expect(replies.map((reply) => [...reply])).toEqual(delays.map((n) => [n, n]));
    expect(server.openMessageStreams()).toBe(1);
  });

  it('times out one request without dropping the stream while the member answers others', async () => {
    const {client, server, endpoint, meshId} = await member(400);
    const hung = client.message(endpoint, meshId, new Uint8Array([255]));
    const answered = await client.message(endpoint, meshId, new Uint8Array([1]));
    expect([...answered]).toEqual([1, 1]);
    await expect(hung).rejects.toMatchObject({code: 'PEER_UNREACHABLE', message: expect.stringContaining('deadline exceeded after 400 ms')});
    expect([...(await client.message(endpoint, meshId, new Uint8Array([2])))]).toEqual([2, 2]);
    expect(server.openMessageStreams()).toBe(1);
  });

  it('stops an aborted request at once and still answers the next one', async () => {
    const {client, endpoint, meshId} = await member();
    const controller = new AbortController();
    const pending = client.message(endpoint, meshId, new Uint8Array([255]), controller.signal);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect([...(await client.message(endpoint, meshId, new Uint8Array([3])))]).toEqual([3, 3]);
  });

  it(`drops a connection silent for ${SILENT_CONNECTION_MS} ms when a caller gives up on a request (its own deadline, shorter than the stream's), and keeps it after a quick abort`, async () => {
    const {client, server, endpoint, meshId} = await member();
    // Aborted at once: says nothing about the connection.
    const quick = new AbortController();
    const first = client.message(endpoint, meshId, new Uint8Array([255]), quick.signal);
    await vi.waitFor(() => expect(server.openMessageStreams()).toBe(1));
    quick.abort();
    await expect(first).rejects.toThrow();
    expect(server.openMessageStreams()).toBe(1);
    // Given up on after a silence: the stream (and its connection) goes, the next request opens a new one.
    const abandoned = client.message(endpoint, meshId, new Uint8Array([255]), AbortSignal.timeout(SILENT_CONNECTION_MS + 100));
    await expect(abandoned).rejects.toMatchObject({name: 'TimeoutError'});
    await vi.waitFor(() => expect(server.openMessageStreams()).toBe(0), {timeout: 5_000});
    expect([...(await client.message(endpoint, meshId, new Uint8Array([5])))]).toEqual([5, 5]);
    expect(server.openMessageStreams()).toBe(1);
  });

  it('keeps the connection of a member that answers slowly and unevenly through a silence within its own round trips', async () => {
    const {client, server, endpoint, meshId} = await member();
    // Round trips of 50-450 ms: the silence limit grows past SILENT_CONNECTION_MS, as TCP's retransmission timeout does.
    for (const n of [50, 450, 50, 450, 50, 450]) await client.message(endpoint, meshId, new Uint8Array([n]));
    const abandoned = client.message(endpoint, meshId, new Uint8Array([255]), AbortSignal.timeout(SILENT_CONNECTION_MS + 200));
    await expect(abandoned).rejects.toMatchObject({name: 'TimeoutError'});
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.openMessageStreams()).toBe(1);
    expect([...(await client.message(endpoint, meshId, new Uint8Array([6])))]).toEqual([6, 6]);
    expect(server.openMessageStreams()).toBe(1);
  });

  it(`refuses requests beyond ${MAX_MESSAGES_IN_FLIGHT} in flight with MESSAGES_BUSY, and answers again once they finish`, async () => {
    const {client, endpoint, meshId} = await member();
    const hung = Array.from({length: MAX_MESSAGES_IN_FLIGHT}, () => client.message(endpoint, meshId, new Uint8Array([255])));
    await expect(client.message(endpoint, meshId, new Uint8Array([1]))).rejects.toMatchObject({code: 'MESSAGES_BUSY'});
    for (const release of held.splice(0)) release();
    await Promise.all(hung);
    expect([...(await client.message(endpoint, meshId, new Uint8Array([4])))]).toEqual([4, 4]);
  });

  it('refuses requests beyond the bytes in flight of a connection or of the daemon with OVERLOADED, logs it rate-limited, and answers again once they finish', async () => {
    const MIB = 1024 * 1024;
    const {server, serverLogger, client, endpoint, meshId} = await member(5_000, {maxBytesInFlightPerConnection: MIB, maxBytesInFlight: MIB});
    const built = await harness.create({node: pki.beta});
    const other = built.transport;
    const held400k = () => {
      const payload = new Uint8Array(400 * 1024);
      payload[0] = 255;
      return payload;
    };
    const hung = [client.message(endpoint, meshId, held400k()), client.message(endpoint, meshId, held400k())];
    await vi.waitFor(() => expect(server.bytesInFlight()).toBe(800 * 1024));
    await expect(client.message(endpoint, meshId, held400k())).rejects.toMatchObject({code: 'OVERLOADED', message: expect.stringContaining('grpc.maxBytesInFlightPerConnection')});
    await expect(other.message(endpoint, meshId, held400k())).rejects.toMatchObject({code: 'OVERLOADED', message: expect.stringContaining('grpc.maxBytesInFlight)')});
    for (let i = 0; i < 10; i++) await expect(other.message(endpoint, meshId, held400k())).rejects.toMatchObject({code: 'OVERLOADED'});
    for (const release of held.splice(0)) release();
    await Promise.all(hung);
    expect(server.bytesInFlight()).toBe(0);
    expect([...(await other.message(endpoint, meshId, new Uint8Array([4])))]).toEqual([4, 4]);
    expect([...(await client.message(endpoint, meshId, new Uint8Array([4])))]).toEqual([4, 4]);
    expect(serverLogger.lines.filter((line) => line.msg === 'message: refused, too many bytes of requests in flight')).toHaveLength(5);
  });

  it('answers a request for a malformed mesh id with an error for that id, and keeps the stream', async () => {
    const {port, meshId} = await member();
    const stream = await rawStream(port);
    stream.send({id: 7, meshId: 'not a mesh id', payload: Buffer.from([1])});
    stream.send({id: 8, meshId, payload: Buffer.from([2])});
    await vi.waitFor(() => expect(stream.replies).toHaveLength(2), {timeout: 5_000});
    const byId = new Map(stream.replies.map((reply) => [reply.id, reply]));
    expect(byId.get(7)).toMatchObject({errorCode: 'DECODE'});
    expect(byId.get(8)).toMatchObject({errorCode: '', payload: Buffer.from([2, 2])});
    stream.call.end();
    expect(await stream.ended).toBeNull();
  });

  it('ends a stream whose request has no id with INVALID_ARGUMENT, and serves other callers', async () => {
    const {port, client, endpoint, meshId} = await member();
    const stream = await rawStream(port);
    stream.send({id: 0, meshId, payload: Buffer.from([1])});
    expect((await stream.ended)?.code).toBe(Status.INVALID_ARGUMENT);
    expect([...(await client.message(endpoint, meshId, new Uint8Array([5])))]).toEqual([5, 5]);
  });

  it('is ended by a member that closes, without waiting for the grace period, and the caller sees the member gone', async () => {
    const {server, client, endpoint, meshId} = await member();
    await client.message(endpoint, meshId, new Uint8Array([1]));
    const started = performance.now();
    await server.close();
    // The listener's grace period is `timeout` (5 s here): ending the streams first makes the close prompt.
    expect(performance.now() - started).toBeLessThan(2_500);
    await expect(client.message(endpoint, meshId, new Uint8Array([1]))).rejects.toMatchObject({code: 'PEER_UNREACHABLE'});
  });
});
