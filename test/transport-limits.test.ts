/**
 * What a peer can make a real daemon spend on its control port: memory (a
 * member sending the largest frames it can, concurrently) and log (clients
 * without a certificate, a member's refused sync sessions). Daemon A (stub
 * driver, metrics on) shares a mesh with an honest daemon B; the attacker is
 * this test process, with a certificate of the mesh's CA or without one. A's
 * memory is read from /proc/PID/status, its log from its stderr.
 */
import {randomBytes} from 'node:crypto';
import {readFile} from 'node:fs/promises';
import {connect as tlsConnect} from 'node:tls';
import {credentials, type ServiceError} from '@grpc/grpc-js';
import {generateIdentity, MAX_CONTROL_MESSAGE_BYTES, MAX_SYNC_MESSAGE_BYTES, selfIssueTlsIdentity, type TlsIdentity} from '@wgmesh/core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {ControlClient} from '../plugins/transport-grpc/src/generated/wgmesh/v1/control.js';
import {samplesOf} from '../src/core/test/metrics-text.js';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {LOG_LEVEL, MeshCluster, type MeshNode} from './helpers/mesh-cluster.js';

const MIB = 1024 * 1024;
/** RSS the attacked daemon must stay under during the attack (the issue's bound). */
const RSS_BOUND_BYTES = 300 * MIB;
/** Lines per (cause, remote) and window the daemon's log limiter lets through. */
const LINES_PER_REMOTE = 5;

/** Resident set size of process `pid`, from /proc/PID/status (bytes). */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

/** Sample the RSS of `pid` every 50 ms while `work` runs; resolves with the peak. */
async function peakRssDuring(pid: number, work: Promise<unknown>): Promise<number> {
  let peak = await rssOf(pid);
  let done = false;
  const sampler = (async () => {
    while (!done) {
      peak = Math.max(peak, await rssOf(pid));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  try {
    await work;
  } finally {
    done = true;
    await sampler;
  }
  return Math.max(peak, await rssOf(pid));
}

describe('limits of one daemon under attack', () => {
  let cluster: MeshCluster | undefined;
  let a: MeshNode, b: MeshNode;
  let meshId = '';
  let metricsUrl = '';
  let mallory: TlsIdentity;
  const clients: ControlClient[] = [];

  /** A grpc-js client of A with mallory's node key (its self-issued certificate, as a daemon's), sending frames of any size. */
  async function attackerClient(): Promise<ControlClient> {
    const creds = credentials.createSsl(null, Buffer.from(mallory.privateKeyPem), Buffer.from(mallory.certificatePem), {rejectUnauthorized: false});
    const client = new ControlClient(a.endpoint, creds, {'grpc.ssl_target_name_override': 'wgmesh.invalid', 'grpc.max_send_message_length': -1});
    clients.push(client);
    return client;
  }

  /** Send `count` envelopes of `bytes` random bytes on one Messages stream; resolves when the stream is over or every one is answered. */
  function messages(client: ControlClient, count: number, bytes: number): Promise<void> {
    return new Promise((resolve) => {
      const call = client.messages({deadline: Date.now() + 30_000});
      let answered = 0;
      call.on('data', () => {
        if (++answered === count) call.end();
      });
      call.on('error', () => resolve());
      call.on('end', () => resolve());
      call.on('status', () => resolve());
      for (let id = 1; id <= count; id++) call.write({id, meshId, payload: randomBytes(bytes), errorCode: '', errorMessage: ''});
    });
  }

  /** Open a sync session whose first frame carries `bytes` random bytes; resolves with its status. */
  function syncFrame(client: ControlClient, bytes: number): Promise<ServiceError | null> {
    return new Promise((resolve) => {
      const call = client.sync({deadline: Date.now() + 30_000});
      call.on('data', () => undefined);
      call.on('error', (error: ServiceError) => resolve(error));
      call.on('end', () => resolve(null));
      call.write({meshId, storeKind: 'twophase', payload: randomBytes(bytes)});
    });
  }

  /** An honest change on B reaches A. */
  async function honestChangeArrives(value: string): Promise<void> {
    const bId = (await b.call('status', {})).nodeId;
    await b.call('service.set', {meshId, key: 'probe', value});
    await waitFor(async () => (await a.call('mesh.show', {meshId})).nodes.find((node) => node.id === bId)?.services.probe === value, 10_000, `B's change ${value} to reach A`);
  }

  async function suppressed(cause: string): Promise<number> {
    const page = await (await fetch(metricsUrl)).text();
    return samplesOf(page, 'wgmesh_log_lines_suppressed_total', {cause})[0]?.value ?? 0;
  }

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-limits-');
    [a, b] = (await cluster.addNodes([{name: 'a', config: {metricsEnabled: true, metricsListen: '127.0.0.1:0'}}, {name: 'b'}])) as [MeshNode, MeshNode];
    ({meshId} = await a.call('mesh.create', {}));
    await b.call('mesh.join', {meshId, invite: await a.invite(meshId), via: a.endpoint});
    await waitFor(async () => (await a.view(meshId)).length === 2, 10_000, 'A to see B');
    metricsUrl = (await a.cliJson<{metrics?: {url: string}}>(['status'])).metrics?.url ?? '';
    expect(metricsUrl).toMatch(/^http:/);
    mallory = await selfIssueTlsIdentity(generateIdentity());
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await cluster?.close();
    await killAllDaemons();
  });

  it('a member sending huge and maximal frames concurrently keeps A under the memory bound, and B still syncs', async () => {
    const pid = a.daemon.child.pid!;
    const before = await rssOf(pid);
    const client = await attackerClient();
    // What took a daemon to 1.3 GB: 8 messages and 4 sync frames of 60 MiB, each on its own stream.
    const huge = Promise.all([...Array.from({length: 8}, () => messages(client, 1, 60 * MIB)), ...Array.from({length: 4}, () => syncFrame(client, 60 * MIB))]);
    const hugePeak = await peakRssDuring(pid, huge);
    // The largest frames A accepts, as many as fit in flight: 4 streams of 64 control messages and 16 sync frames.
    const maximal = Promise.all([
      ...Array.from({length: 4}, () => messages(client, 64, MAX_CONTROL_MESSAGE_BYTES)),
      ...Array.from({length: 16}, () => syncFrame(client, MAX_SYNC_MESSAGE_BYTES)),
    ]);
    const maximalPeak = await peakRssDuring(pid, maximal);
    console.log(`A's RSS: ${(before / MIB).toFixed(0)} MiB before, peak ${(hugePeak / MIB).toFixed(0)} MiB under 60 MiB frames, ${(maximalPeak / MIB).toFixed(0)} MiB under maximal frames, ${((await rssOf(pid)) / MIB).toFixed(0)} MiB after`);
    expect(hugePeak).toBeLessThan(RSS_BOUND_BYTES);
    expect(maximalPeak).toBeLessThan(RSS_BOUND_BYTES);
    await honestChangeArrives('after-frames');
  }, 120_000);

  it('refused connections and refused sync sessions write a bounded log, and the metrics count the rest', async () => {
    const count = 300;
    // The earlier test's refusals may fall in the same window: count from here.
    const suppressedBefore = {tls: await suppressed('certificate-refused'), sync: await suppressed('sync-refused')};
    const mark = a.logMark();
    const bytesBefore = Buffer.byteLength(a.logs());
    // Clients without a certificate, 10 at a time: each completes TLS and is refused.
    let started = 0;
    const handshake = () =>
      new Promise<void>((resolve) => {
        const socket = tlsConnect({host: '127.0.0.1', port: a.port, rejectUnauthorized: false, ALPNProtocols: ['h2']});
        socket.on('error', () => undefined);
        socket.once('close', () => resolve());
        socket.setTimeout(10_000, () => socket.destroy());
      });
    await Promise.all(
      Array.from({length: 10}, async () => {
        while (started < count) {
          started++;
          await handshake();
        }
      }),
    );
    // A member's sync sessions that A refuses (payloads that are not the store's messages).
    const client = await attackerClient();
    for (let i = 0; i < count; i++) expect((await syncFrame(client, 64))?.code).toBeDefined();

    const refusedTls = () => a.logLinesSince(mark).filter((line) => line.msg === 'refused a connection: client certificate not accepted').length;
    const refusedSync = () => a.logLinesSince(mark).filter((line) => line.msg === 'sync: refused').length;
    const counted = async (cause: string, before: number) => (await suppressed(cause)) - before;
    await waitFor(async () => refusedTls() + (await counted('certificate-refused', suppressedBefore.tls)) === count, 10_000, 'every refused connection to be logged or counted');
    await waitFor(async () => refusedSync() + (await counted('sync-refused', suppressedBefore.sync)) === count, 10_000, 'every refused sync to be logged or counted');
    expect(refusedTls()).toBeLessThanOrEqual(LINES_PER_REMOTE);
    expect(refusedSync()).toBeLessThanOrEqual(LINES_PER_REMOTE);
    const written = Buffer.byteLength(a.logs()) - bytesBefore;
    console.log(`A's log: ${written} bytes for ${count} refused connections and ${count} refused sync sessions`);
    expect(written).toBeLessThan(8 * 1024);
    expect(a.logLinesSince(mark).filter((line) => line.level >= LOG_LEVEL.error)).toEqual([]);
    await honestChangeArrives('after-refusals');
  }, 120_000);
});
