/**
 * The control port under connection floods from clients without a
 * certificate: TCP connections that never start TLS, and TLS handshakes
 * without a client certificate. The attackers use their own loopback
 * addresses (127.0.0.2 ...), the honest member 127.0.0.1, as separate hosts would.
 */
import {execFile} from 'node:child_process';
import {connect as netConnect, type Socket} from 'node:net';
import {promisify} from 'node:util';
import {connect as tlsConnect} from 'node:tls';
import {testMeshId, SetMeshDaemon, SetSyncSession, SET_STORE_KIND} from '@wgmesh/testkit/compliance';
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';
import {Harness} from './helpers/harness.js';
import {makePki, type Pki} from './helpers/pki.js';

let pki: Pki;
const harness = new Harness();
const sockets: Socket[] = [];

beforeAll(async () => {
  pki = await makePki();
});
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await harness.closeAll();
});
afterAll(() => pki?.cleanup());

/** Poll `check` every 50 ms until it holds; fail after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function member(timeoutMs: number, section: Record<string, unknown> = {}) {
  const daemon = new SetMeshDaemon();
  const built = await harness.create({node: pki.alpha, timeoutMs, section});
  const {port} = await built.transport.listen(daemon.handlers);
  const meshId = testMeshId();
  daemon.add(meshId, ['remote']);
  return {...built, port, meshId, endpoint: `127.0.0.1:${port}`};
}

/**
 * Connections the member's kernel holds established from `from` to its port
 * (read with `ss`). The member's side is what counts: beyond the accept queue
 * a client may believe it is connected while the member never accepted it.
 */
async function heldFrom(port: number, from: string): Promise<number> {
  const {stdout} = await promisify(execFile)('ss', ['-Htn', 'state', 'established', `( sport = :${port} and dst ${from} )`]);
  return stdout.split('\n').filter((line) => line.trim() !== '').length;
}

/** Open `count` TCP connections from `from` that never send a byte; resolves once each is connected or refused. */
async function idleConnections(port: number, from: string, count: number): Promise<void> {
  await Promise.all(
    Array.from({length: count}, () => {
      const socket = netConnect({host: '127.0.0.1', port, localAddress: from});
      socket.on('error', () => undefined);
      sockets.push(socket);
      return new Promise<void>((resolve) => {
        socket.once('connect', () => resolve());
        socket.once('close', () => resolve());
      });
    }),
  );
}

/** `count` complete TLS handshakes from `from` without a client certificate, `parallel` at a time; resolves when every one is over. */
async function handshakesWithoutCertificate(port: number, from: string, count: number, parallel: number): Promise<void> {
  let started = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const tcp = netConnect({host: '127.0.0.1', port, localAddress: from});
      tcp.on('error', () => undefined);
      const socket = tlsConnect({socket: tcp, rejectUnauthorized: false, ALPNProtocols: ['h2']});
      socket.on('error', () => undefined);
      socket.once('close', () => resolve());
      // The member closes it after the handshake; this is only a backstop so the test cannot hang.
      socket.setTimeout(10_000, () => socket.destroy());
    });
  const worker = async () => {
    while (started < count) {
      started++;
      await one();
    }
  };
  await Promise.all(Array.from({length: parallel}, worker));
}

/** A complete sync from an honest member (beta, from 127.0.0.1). */
async function goodSync(endpoint: string, meshId: string): Promise<void> {
  const {transport} = await harness.create({node: pki.beta, timeoutMs: 3_000});
  const local = new Set(['local']);
  await transport.sync(endpoint, meshId, SET_STORE_KIND, new SetSyncSession(local, 4));
  expect(local.has('remote')).toBe(true);
}

describe('connections that do not finish TLS', () => {
  it('are closed by the member after `timeout`', async () => {
    const {port} = await member(1_000);
    await idleConnections(port, '127.0.0.4', 5);
    expect(await heldFrom(port, '127.0.0.4')).toBe(5);
    await until(async () => (await heldFrom(port, '127.0.0.4')) === 0, 4_000, 'the member to close idle connections');
  });

  it('are capped per remote address: the excess is closed at once', async () => {
    const {port} = await member(30_000, {maxHandshakesPerAddress: 8});
    await idleConnections(port, '127.0.0.5', 40);
    await until(async () => (await heldFrom(port, '127.0.0.5')) === 8, 3_000, 'the member to close all but 8 connections');
    // Another address is not affected by that one's cap.
    await idleConnections(port, '127.0.0.6', 3);
    expect(await heldFrom(port, '127.0.0.6')).toBe(3);
    expect(await heldFrom(port, '127.0.0.5')).toBe(8);
  });

  it(
    'a flood of 2,000 idle TCP connections and 2,000 handshakes without a certificate does not lock members out',
    async () => {
      const {port, endpoint, meshId} = await member(2_000);
      await idleConnections(port, '127.0.0.2', 2_000);
      await handshakesWithoutCertificate(port, '127.0.0.3', 2_000, 50);
      // The attacker still holds its connections open when the member syncs.
      await goodSync(endpoint, meshId);
      // None of them outlives `timeout` (2 s) on the member's side for long.
      await until(async () => (await heldFrom(port, '127.0.0.2')) === 0, 6_000, 'the member to close every idle connection');
      await goodSync(endpoint, meshId);
    },
    90_000,
  );
});
