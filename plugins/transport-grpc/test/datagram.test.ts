/**
 * The UDP side of the control port: the framing and its validation, the
 * per-address rate limit, and the port itself on real loopback sockets (a
 * round trip, no amplification, silence for anything refused or malformed,
 * replies only from the address asked, the cap on requests in flight, host
 * names looked up once a minute, the fault injection file).
 */
import {createSocket, type Socket} from 'node:dgram';
import {once} from 'node:events';
import {rm, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {tmpdir} from 'node:os';
import {DatagramDeclinedError, LogLimiter, PeerUnreachableError, systemClock, type DatagramSource, type TransportHandlers} from '@wgmesh/core';
import {silentLogger} from '@wgmesh/testkit';
import {SetMeshDaemon, testMeshId} from '@wgmesh/testkit/compliance';
import {afterEach, describe, expect, it} from 'vitest';
import {decodeFrame, encodeFrame, FrameKind, MAX_DATAGRAM_BYTES, MAX_DATAGRAM_PAYLOAD_BYTES} from '../src/datagram-frame.js';
import {DatagramPort, RESOLVED_NAME_TTL_MS} from '../src/datagram-port.js';
import {resolveSettings} from '../src/settings.js';
import {Harness} from './helpers/harness.js';

const harness = new Harness();
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await harness.closeAll();
});

const meshId = testMeshId();
const ID = '0123456789abcdef';

describe('datagram frames', () => {
  it('round-trip a request with its id, mesh and payload', () => {
    const payload = new Uint8Array([1, 2, 3]);
    const frame = decodeFrame(encodeFrame({kind: FrameKind.request, id: ID, meshId, payload}));
    expect(frame).toMatchObject({kind: FrameKind.request, id: ID, meshId});
    expect([...(frame as {payload: Uint8Array}).payload]).toEqual([1, 2, 3]);
  });

  it('refuse anything that is not a whole frame of this version with a mesh id', () => {
    const good = encodeFrame({kind: FrameKind.request, id: ID, meshId, payload: new Uint8Array(4)});
    const patched = (at: number, value: number): Buffer => Buffer.from(good.map((byte, index) => (index === at ? value : byte)));
    expect(decodeFrame(patched(0, 2))).toBe('malformed'); // another version
    expect(decodeFrame(patched(1, 9))).toBe('malformed'); // unknown kind
    expect(decodeFrame(patched(1, FrameKind.reply))).toBe('malformed'); // a reply names no mesh
    expect(decodeFrame(encodeFrame({kind: FrameKind.reply, id: ID, meshId: '', payload: new Uint8Array(4)}))).toMatchObject({kind: FrameKind.reply, meshId: ''});
    expect(decodeFrame(patched(10, 60))).toBe('malformed'); // mesh id longer than the datagram
    expect(decodeFrame(patched(11, 0x41))).toBe('malformed'); // not a mesh id ('A')
    expect(decodeFrame(good.subarray(0, 5))).toBe('malformed');
    expect(decodeFrame(new Uint8Array(0))).toBe('malformed');
    expect(decodeFrame(encodeFrame({kind: FrameKind.request, id: ID, meshId: '0'.repeat(26), payload: new Uint8Array(0)}))).toBe('malformed');
  });

  it('refuse a payload over the cap, and a datagram over the largest frame', () => {
    expect(decodeFrame(encodeFrame({kind: FrameKind.request, id: ID, meshId, payload: new Uint8Array(MAX_DATAGRAM_PAYLOAD_BYTES)}))).not.toBeTypeOf('string');
    expect(decodeFrame(encodeFrame({kind: FrameKind.request, id: ID, meshId, payload: new Uint8Array(MAX_DATAGRAM_PAYLOAD_BYTES + 1)}))).toBe('too-large');
    expect(decodeFrame(new Uint8Array(MAX_DATAGRAM_BYTES + 1))).toBe('too-large');
  });
});

/** A listening transport whose datagram handler is `datagram`, and a second transport that sends. */
async function pair(datagram: TransportHandlers['datagram'], section: Record<string, unknown> = {}) {
  const server = await harness.create({section});
  const {port} = await server.transport.listen({...new SetMeshDaemon().handlers, datagram});
  const client = await harness.create({section});
  const {port: clientPort} = await client.transport.listen(new SetMeshDaemon().handlers);
  return {server, client, port, clientPort, endpoint: `127.0.0.1:${port}`};
}

/** A bare UDP socket on loopback (closed after the test). */
async function rawSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

/** Every datagram `socket` receives within `ms`. */
async function receivedWithin(socket: Socket, ms: number, send: () => void): Promise<Buffer[]> {
  const got: Buffer[] = [];
  const onMessage = (message: Buffer): void => void got.push(message);
  socket.on('message', onMessage);
  send();
  await new Promise((resolve) => setTimeout(resolve, ms));
  socket.off('message', onMessage);
  return got;
}

const deadline = (ms: number): AbortSignal => AbortSignal.timeout(ms);

describe('the datagram port', () => {
  it('carries a request and its reply, and tells the handler only the source address', async () => {
    const sources: DatagramSource[] = [];
    const {client, endpoint} = await pair(async (mesh, payload, source) => {
      sources.push(source);
      return mesh === meshId ? payload.subarray(0, 2) : undefined;
    });
    const reply = await client.transport.datagram(endpoint, meshId, new Uint8Array([7, 8, 9]), deadline(2_000));
    expect([...reply]).toEqual([7, 8]);
    expect(sources).toEqual([{address: expect.stringMatching(/^127\.0\.0\.1:\d+$/)}]);
    expect(Object.keys(sources[0]!)).toEqual(['address']);
  });

  it('serves IPv4 and IPv6 on one dual-stack port (listenAddress ::), and takes replies from mapped addresses', async () => {
    const {client, port} = await pair(async (_mesh, payload) => payload, {listenAddress: '::'});
    for (const endpoint of [`127.0.0.1:${port}`, `[::1]:${port}`]) {
      expect([...(await client.transport.datagram(endpoint, meshId, new Uint8Array([5]), deadline(2_000)))], endpoint).toEqual([5]);
    }
  });

  it('answers a reply larger than its request with "declined", and the requester gets DatagramDeclinedError', async () => {
    const {client, server, endpoint} = await pair(async () => new Uint8Array(100));
    const error = await client.transport.datagram(endpoint, meshId, new Uint8Array(10), deadline(2_000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatagramDeclinedError);
    // The same reply to a request as large goes out as it is.
    expect((await client.transport.datagram(endpoint, meshId, new Uint8Array(100), deadline(2_000))).byteLength).toBe(100);
    expect(server.transport.datagramDrops()).toMatchObject({refused: 0});
  });

  it('sends nothing back for a refused, malformed, oversized or unknown-kind datagram, and counts each', async () => {
    const {server, port} = await pair(async () => undefined);
    const socket = await rawSocket();
    const request = encodeFrame({kind: FrameKind.request, id: ID, meshId, payload: new Uint8Array(20)});
    const oversized = encodeFrame({kind: FrameKind.request, id: ID, meshId, payload: new Uint8Array(MAX_DATAGRAM_PAYLOAD_BYTES + 1)});
    const got = await receivedWithin(socket, 500, () => {
      for (const datagram of [request, oversized, Buffer.from('not a frame at all'), Buffer.from([1, 9, ...request.subarray(2)])]) socket.send(datagram, port, '127.0.0.1');
    });
    expect(got).toEqual([]);
    expect(server.transport.datagramDrops()).toMatchObject({refused: 1, 'too-large': 1, malformed: 2});
  });

  it('rate-limits each source address (grpc.datagramsPerAddressPerSecond)', async () => {
    let handled = 0;
    const {server, port} = await pair(
      async (_mesh, payload) => {
        handled++;
        return payload;
      },
      {datagramsPerAddressPerSecond: 5},
    );
    const socket = await rawSocket();
    const got = await receivedWithin(socket, 500, () => {
      for (let i = 0; i < 12; i++) socket.send(encodeFrame({kind: FrameKind.request, id: ID, meshId, payload: new Uint8Array(8)}), port, '127.0.0.1');
    });
    // Five tokens, plus at most two refilled while the twelve arrive.
    expect(handled).toBeGreaterThanOrEqual(5);
    expect(handled).toBeLessThanOrEqual(7);
    expect(got.length).toBe(handled);
    expect(server.transport.datagramDrops()['rate-limited']).toBe(12 - handled);
  });

  it('takes a reply only from the address and port the request went to, with its id', async () => {
    const {client, clientPort} = await pair(async () => undefined);
    const member = await rawSocket();
    const impostor = await rawSocket();
    const memberPort = member.address().port;
    const asked = once(member, 'message') as Promise<[Buffer]>;
    const pending = client.transport.datagram(`127.0.0.1:${memberPort}`, meshId, new Uint8Array([1]), deadline(3_000));
    const [request] = await asked;
    const frame = decodeFrame(request);
    if (typeof frame === 'string') throw new Error(`the request is not a frame: ${frame}`);
    // The right id from another port, then a wrong id from the right one: both ignored.
    impostor.send(encodeFrame({...frame, kind: FrameKind.reply, meshId: '', payload: new Uint8Array([6, 6, 6])}), clientPort, '127.0.0.1');
    member.send(encodeFrame({...frame, id: 'ffffffffffffffff', kind: FrameKind.reply, meshId: '', payload: new Uint8Array([6])}), clientPort, '127.0.0.1');
    await waitUntil(() => client.transport.datagramDrops().unmatched === 2);
    member.send(encodeFrame({...frame, kind: FrameKind.reply, meshId: '', payload: new Uint8Array([4, 2])}), clientPort, '127.0.0.1');
    expect([...(await pending)]).toEqual([4, 2]);
  });

  it('fails a request when its signal aborts, and refuses more than grpc.maxDatagramsInFlight at once', async () => {
    const {client} = await pair(async () => undefined, {maxDatagramsInFlight: 1});
    const silent = await rawSocket();
    const endpoint = `127.0.0.1:${silent.address().port}`;
    const first = client.transport.datagram(endpoint, meshId, new Uint8Array([1]), deadline(300));
    await expect(client.transport.datagram(endpoint, meshId, new Uint8Array([1]), deadline(300))).rejects.toThrow(/grpc\.maxDatagramsInFlight/);
    await expect(first).rejects.toBeInstanceOf(PeerUnreachableError);
    await expect(first).rejects.toThrow(/no datagram reply in time/);
  });

  it('looks a member\'s host name up once a RESOLVED_NAME_TTL_MS, not once a datagram', async () => {
    let now = 0;
    const lookups: string[] = [];
    const {port} = await pair(async (_mesh, payload) => payload);
    const options = {settings: resolveSettings({listenAddress: '127.0.0.1'}, {}), logger: silentLogger, limiter: new LogLimiter({clock: systemClock}), faults: null, now: () => now};
    const client = await DatagramPort.open({...options, lookup: async (host) => (lookups.push(host), '127.0.0.1')}, 0, new SetMeshDaemon().handlers);
    try {
      const endpoint = `member.example:${port}`;
      for (let i = 0; i < 3; i++) expect([...(await client.request(endpoint, meshId, new Uint8Array([i]), deadline(2_000)))]).toEqual([i]);
      expect(lookups).toEqual(['member.example']);
      now += RESOLVED_NAME_TTL_MS;
      await client.request(endpoint, meshId, new Uint8Array([3]), deadline(2_000));
      expect(lookups).toEqual(['member.example', 'member.example']);
    } finally {
      client.close();
    }
  });

  it('honours the fault injection file both ways', async () => {
    const faultFile = join(tmpdir(), `wgmesh-datagram-faults-${process.pid}.json`);
    try {
      await writeFile(faultFile, JSON.stringify({blockInbound: ['127.0.0.1']}));
      const {client, endpoint} = await pair(async (_mesh, payload) => payload, {faultInjectionFile: faultFile});
      await expect(client.transport.datagram(endpoint, meshId, new Uint8Array([1]), deadline(300))).rejects.toBeInstanceOf(PeerUnreachableError);
      await writeFile(faultFile, JSON.stringify({blockOutbound: [endpoint]}));
      await expect(client.transport.datagram(endpoint, meshId, new Uint8Array([1]), deadline(300))).rejects.toThrow(/fault injection/);
      await writeFile(faultFile, '{}');
      expect([...(await client.transport.datagram(endpoint, meshId, new Uint8Array([1]), deadline(2_000)))]).toEqual([1]);
    } finally {
      await rm(faultFile, {force: true});
    }
  });
});

/** Poll `check` every 10 ms until it holds; fail after 3 s. */
async function waitUntil(check: () => boolean): Promise<void> {
  const end = Date.now() + 3_000;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out after 3 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
