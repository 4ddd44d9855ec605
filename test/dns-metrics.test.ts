/**
 * DNS and metrics of real daemons: three daemons on loopback (real gRPC with
 * mutual TLS, stub WireGuard), each with its DNS server and metrics endpoint on
 * ephemeral ports (read back from `status --json`). An alias set with
 * `wgmesh node alias` on one node is answered to `dig` on the others; unknown
 * names get NXDOMAIN, other types an empty answer, garbage is survived; the
 * metrics page is accepted by `promtool check metrics`. A taken port stops a
 * daemon at start with one error line.
 */
import {spawn} from 'node:child_process';
import {createSocket, type Socket} from 'node:dgram';
import {writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import ipaddr from 'ipaddr.js';
import {commandAvailable, skipWithout} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {promtoolCheck, samplesOf} from '../src/core/test/metrics-text.js';
import {killAllDaemons, startDaemon, waitFor} from './helpers/cli.js';
import {MeshCluster, type MeshNode} from './helpers/mesh-cluster.js';

/** When this file was loaded: every daemon of it starts later. */
const FILE_LOADED_MS = Date.now();
const HAVE_DIG = !skipWithout('the dig checks', commandAvailable('dig', ['-v'], 'dnsutils'));
const HAVE_PROMTOOL = !skipWithout('the promtool check', commandAvailable('promtool', ['--version'], 'prometheus'));

/** One `dig` answer, parsed from its output. */
interface DigResult {
  status: string;
  flags: string[];
  answers: {name: string; ttl: number; type: string; data: string}[];
  raw: string;
}

/** Run `dig @HOST -p PORT NAME TYPE` once (2 s, one try) and parse the header and answer section. */
function dig(address: string, name: string, type = 'AAAA'): Promise<DigResult> {
  const [, host, port] = /^\[?([^\]]+)\]?:(\d+)$/.exec(address)!;
  return new Promise((resolve, reject) => {
    const child = spawn('dig', [`@${host}`, '-p', port!, '+tries=1', '+time=2', '+noall', '+comments', '+answer', name, type]);
    let raw = '';
    child.stdout.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const status = /status: ([A-Z]+)/.exec(raw)?.[1] ?? 'NO-REPLY';
      const flags = (/;; flags: ([a-z ]+);/.exec(raw)?.[1] ?? '').trim().split(/\s+/);
      const answers = raw
        .split('\n')
        .filter((line) => line.trim() !== '' && !line.startsWith(';'))
        .map((line) => {
          const [owner, ttl, , rtype, data] = line.trim().split(/\s+/);
          return {name: owner!, ttl: Number(ttl), type: rtype!, data: data!};
        });
      resolve({status, flags, answers, raw});
    });
  });
}

/** The addresses of the AAAA answers, normalised (dig prints them compressed). */
function aaaa(result: DigResult): string[] {
  return result.answers.filter((answer) => answer.type === 'AAAA').map((answer) => ipaddr.parse(answer.data).toNormalizedString());
}

async function fetchText(url: string): Promise<{status: number; body: string}> {
  const response = await fetch(url);
  return {status: response.status, body: await response.text()};
}

describe('DNS and metrics of three real daemons', () => {
  let cluster: MeshCluster | undefined;
  let a: MeshNode, b: MeshNode, c: MeshNode;
  let meshId = '';
  /** DNS and metrics addresses of each node, from `status --json`. */
  const dnsOf = new Map<MeshNode, string>();
  const metricsOf = new Map<MeshNode, string>();
  /** b's mesh address, normalised. */
  let bAddress = '';

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-dns-');
    const servers = {dnsEnabled: true, dnsListen: '127.0.0.1:0', metricsEnabled: true, metricsListen: '127.0.0.1:0'};
    [a, b, c] = (await cluster.addNodes(['a', 'b', 'c'].map((name) => ({name, config: servers})))) as [MeshNode, MeshNode, MeshNode];
    for (const node of cluster.nodes) {
      const status = await node.cliJson<{dns?: {address: string}; metrics?: {address: string; url: string}}>(['status']);
      // Absent when the daemon command does not pass dnsEnabled/metricsEnabled on to the Daemon.
      expect(status.dns?.address ?? 'no dns in status', `${node.name} status --json has the DNS address`).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
      expect(status.metrics?.url ?? 'no metrics in status', `${node.name} status --json has the metrics URL`).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*\/metrics$/);
      dnsOf.set(node, status.dns!.address);
      metricsOf.set(node, status.metrics!.url);
    }
    ({meshId} = await a.cliJson<{meshId: string}>(['mesh', 'create']));
    await b.cliJson(['mesh', 'join', meshId, '--invite', await a.invite(meshId), '--via', a.endpoint]);
    await c.cliJson(['mesh', 'join', meshId, '--invite', await a.invite(meshId), '--via', b.endpoint]);
    const self = (await b.call('mesh.show', {meshId})).nodes.find((node) => node.self)!;
    bAddress = ipaddr.parse(self.address).toNormalizedString();
    const set = await b.cli(['node', 'alias', 'Db-1']);
    expect(set.code, set.stderr).toBe(0);
  });

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
  });

  it.skipIf(!HAVE_DIG)('answers dig on every node with the address of the node that set the alias', async () => {
    for (const node of [a, b, c]) {
      const name = `db-1.${meshId}.wgmesh`;
      let result: DigResult | undefined;
      await waitFor(
        async () => {
          result = await dig(dnsOf.get(node)!, name);
          return result.status === 'NOERROR' && result.answers.length > 0;
        },
        15_000,
        `${node.name} to answer ${name}`,
      );
      expect(aaaa(result!), `${node.name}:\n${result!.raw}`).toEqual([bAddress]);
      expect(result!.answers[0]).toMatchObject({name: `${name}.`, ttl: 5, type: 'AAAA'});
      expect(result!.flags).toContain('aa');
    }
  });

  it.skipIf(!HAVE_DIG)('answers the short name and any spelling of it', async () => {
    expect(aaaa(await dig(dnsOf.get(a)!, 'db-1.wgmesh'))).toEqual([bAddress]);
    const shouted = await dig(dnsOf.get(c)!, `DB-1.${meshId.toUpperCase()}.WgMesh.`);
    expect(aaaa(shouted)).toEqual([bAddress]);
    expect(shouted.answers[0]?.name).toBe(`DB-1.${meshId.toUpperCase()}.WgMesh.`);
  });

  it.skipIf(!HAVE_DIG)('gives NXDOMAIN for unknown names and an empty NOERROR for other types', async () => {
    for (const name of [`nobody.${meshId}.wgmesh`, 'nobody.wgmesh', `db-1.${'a'.repeat(26)}.wgmesh`]) {
      const result = await dig(dnsOf.get(a)!, name);
      expect(result.status, `${name}:\n${result.raw}`).toBe('NXDOMAIN');
      expect(result.answers).toEqual([]);
    }
    const txt = await dig(dnsOf.get(a)!, `db-1.${meshId}.wgmesh`, 'TXT');
    expect([txt.status, txt.answers]).toEqual(['NOERROR', []]);
    expect((await dig(dnsOf.get(a)!, 'example.com')).status).toBe('REFUSED');
  });

  it.skipIf(!HAVE_DIG)('survives garbage: the next query is answered and the daemon still runs', async () => {
    const [, host, port] = /^([^:]+):(\d+)$/.exec(dnsOf.get(a)!)!;
    const socket: Socket = createSocket('udp4');
    try {
      const sends = [Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(512, 0xff), Buffer.from('GET / HTTP/1.0\r\n\r\n')];
      for (let i = 0; i < 50; i++) sends.push(Buffer.from(Array.from({length: 12 + i * 7}, (_, j) => (i * 31 + j * 17) & 0xff)));
      for (const bytes of sends) await new Promise<void>((resolve) => socket.send(bytes, Number(port), host!, () => resolve()));
    } finally {
      socket.close();
    }
    expect(aaaa(await dig(dnsOf.get(a)!, `db-1.${meshId}.wgmesh`))).toEqual([bAddress]);
    expect(a.running).toBe(true);
    const page = await fetchText(metricsOf.get(a)!);
    expect(samplesOf(page.body, 'wgmesh_dns_dropped_total')[0]?.value).toBeGreaterThanOrEqual(50);
  });

  it('serves metrics that describe the mesh', async () => {
    const url = metricsOf.get(a)!;
    await waitFor(async () => samplesOf((await fetchText(url)).body, 'wgmesh_mesh_members', {mesh: meshId})[0]?.value === 3, 15_000, 'a to count 3 members');
    const servedBefore = (await a.call('mesh.show', {meshId})).inbound.syncs;
    const page = await fetchText(url);
    const servedAfter = (await a.call('mesh.show', {meshId})).inbound.syncs;
    expect(page.status).toBe(200);
    const value = (name: string, labels: Record<string, string> = {}): number | undefined => samplesOf(page.body, name, labels)[0]?.value;
    expect(value('wgmesh_meshes')).toBe(1);
    expect(value('wgmesh_reconcile_duration_seconds_count', {mesh: meshId})).toBeGreaterThan(0);
    expect(value('wgmesh_control_bytes_total', {mesh: meshId, direction: 'sent'})).toBeGreaterThan(0);
    // The sync sessions the daemon counted as served (IPC) just before and just after the scrape.
    expect(value('wgmesh_sync_sessions_total', {mesh: meshId, direction: 'served'})).toBeGreaterThanOrEqual(servedBefore);
    expect(value('wgmesh_sync_sessions_total', {mesh: meshId, direction: 'served'})).toBeLessThanOrEqual(servedAfter);
    expect(value('wgmesh_failures_detected_total', {mesh: meshId})).toBe(0);
    // The daemon started after this file was loaded, and before the scrape.
    expect(value('process_start_time_seconds')).toBeGreaterThanOrEqual(Math.floor(FILE_LOADED_MS / 1000));
    expect(value('process_start_time_seconds')).toBeLessThanOrEqual(Date.now() / 1000);
    expect((await fetchText(url.replace(/\/metrics$/, '/'))).status).toBe(404);
    if (HAVE_PROMTOOL) {
      const check = await promtoolCheck(page.body);
      expect(check.output).toBe('');
      expect(check.code).toBe(0);
    }
  });

  it.skipIf(!HAVE_DIG)('stops answering for a node that left the mesh', async () => {
    await b.cliJson(['mesh', 'leave', meshId]);
    await waitFor(async () => (await dig(dnsOf.get(a)!, `db-1.${meshId}.wgmesh`)).status === 'NXDOMAIN', 15_000, 'a to forget db-1');
    await waitFor(async () => (await dig(dnsOf.get(c)!, 'db-1.wgmesh')).status === 'NXDOMAIN', 15_000, 'c to forget db-1');
  });

  it('refuses to start, with one error line, when the DNS port is taken', async () => {
    const holder = createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', () => resolve()));
    const port = holder.address().port;
    try {
      const configFile = join(cluster!.sandbox.dir, 'taken.yaml');
      // The control port is a's, also taken: the DNS server binds first, so its error is the one reported.
      await writeFile(configFile, `wgDriver: stub\ndnsEnabled: true\ndnsListen: "127.0.0.1:${port}"\ngRPCPort: ${a.port}\n`);
      const daemon = await startDaemon({sandbox: cluster!.sandbox, name: 'taken', config: configFile, waitReady: false, logLevel: 'warn'});
      const code = await daemon.exited;
      expect(code).not.toBe(0);
      const errors = daemon.logs().split('\n').filter((line) => line.startsWith('Error:'));
      expect(errors).toEqual([
        `Error: cannot serve DNS on 127.0.0.1:${port}: the address is already in use (another program, or another wgmesh daemon?); set dnsListen to a free address, or stop the other program`,
      ]);
      expect(daemon.logs()).not.toMatch(/^\s+at /m);
    } finally {
      holder.close();
    }
  });
});
