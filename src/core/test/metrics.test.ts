/** The daemon's Prometheus metrics: values read at scrape time, bounded labels, promtool, and the HTTP endpoint. */
import {request} from 'node:http';
import {afterEach, describe, expect, it} from 'vitest';
import {emptyControlStats, type ControlStats} from '../src/control/stats.js';
import type {DnsCounters} from '../src/dns/server.js';
import {ListenError} from '../src/errors.js';
import type {MeshView, NodeView} from '../src/ipc/methods.js';
import {DaemonMetrics, type MeshMetricsSource} from '../src/metrics/daemon-metrics.js';
import {MetricsServer} from '../src/metrics/server.js';
import {commandAvailable, nodeView, SimulatedClock, silentLogger, skipWithout, testMeshId} from '@wgmesh/testkit';
import {promtoolCheck, samplesOf} from './metrics-text.js';

const HAVE_PROMTOOL = !skipWithout('the promtool checks', commandAvailable('promtool', ['--version'], 'prometheus'));

/** A mesh whose state the test changes between scrapes. */
class FakeMesh implements MeshMetricsSource {
  readonly meshId = testMeshId();
  readonly inbound = {snapshots: 0, syncs: 0, messages: 0};
  nodes: NodeView[] = [];
  stats: ControlStats = emptyControlStats();
  dead: string[] = [];
  failView = false;
  readonly controlPlane = {stats: (): ControlStats => ({...this.stats}), deadMembers: (): string[] => [...this.dead]};
  async view(): Promise<MeshView> {
    if (this.failView) throw new Error('mesh closed');
    return {meshId: this.meshId, prefix: 'fd00::/64', nodes: this.nodes, inbound: {...this.inbound}};
  }
}

const ID = (n: number): string => n.toString(16).padStart(32, '0');

describe('DaemonMetrics', () => {
  function setup() {
    const clock = new SimulatedClock();
    const meshes: FakeMesh[] = [new FakeMesh(), new FakeMesh()];
    let dns: DnsCounters | undefined;
    const metrics = new DaemonMetrics({
      source: {meshes: () => meshes, dns: () => dns},
      nodeId: ID(1),
      backends: {store: 'twophase', transport: 'grpc', wg: 'stub'},
      clock,
      logger: silentLogger(),
      processMetrics: false,
    });
    return {clock, meshes, metrics, setDns: (value: DnsCounters | undefined) => (dns = value)};
  }

  it('reads members, control-plane counters and handshake ages at scrape time', async () => {
    const {clock, meshes, metrics} = setup();
    const [a, b] = meshes as [FakeMesh, FakeMesh];
    const now = clock.now();
    a.nodes = [
      nodeView(ID(1), {self: true, stats: {latestHandshakeMs: now - 1000, rxBytes: 0, txBytes: 0}}),
      nodeView(ID(2), {alias: 'db', stats: {latestHandshakeMs: now - 42_500, rxBytes: 10, txBytes: 20}}),
      nodeView(ID(3), {stats: {latestHandshakeMs: null, rxBytes: 0, txBytes: 0}}),
      nodeView(ID(4), {alias: 'Bad"alias\n', stats: {latestHandshakeMs: now - 3000, rxBytes: 0, txBytes: 0}}),
    ];
    a.dead = [ID(9)];
    a.stats = {...emptyControlStats(), storeSyncs: 7, bytesSent: 1234, bytesReceived: 5678, deathsObserved: 2, revivalsObserved: 1, antiEntropyRounds: 30, messagesSent: 40, messagesReceived: 41, messagesFailed: 3, messagesRejected: 4};
    a.inbound.syncs = 5;
    b.nodes = [nodeView(ID(1), {self: true})];

    const {body, contentType} = await metrics.render();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const one = (name: string, labels: Record<string, string>): number | undefined => {
      const found = samplesOf(body, name, labels);
      expect(found.length, `${name} ${JSON.stringify(labels)}`).toBeLessThanOrEqual(1);
      return found[0]?.value;
    };
    expect(one('wgmesh_node_info', {node_id: ID(1), store: 'twophase', transport: 'grpc', wg: 'stub'})).toBe(1);
    expect(one('wgmesh_meshes', {})).toBe(2);
    expect(one('wgmesh_mesh_members', {mesh: a.meshId})).toBe(4);
    expect(one('wgmesh_mesh_members', {mesh: b.meshId})).toBe(1);
    expect(one('wgmesh_mesh_members_dead', {mesh: a.meshId})).toBe(1);
    expect(one('wgmesh_failures_detected_total', {mesh: a.meshId})).toBe(2);
    expect(one('wgmesh_member_revivals_total', {mesh: a.meshId})).toBe(1);
    expect(one('wgmesh_sync_sessions_total', {mesh: a.meshId, direction: 'started'})).toBe(7);
    expect(one('wgmesh_sync_sessions_total', {mesh: a.meshId, direction: 'served'})).toBe(5);
    expect(one('wgmesh_control_bytes_total', {mesh: a.meshId, direction: 'sent'})).toBe(1234);
    expect(one('wgmesh_control_bytes_total', {mesh: a.meshId, direction: 'received'})).toBe(5678);
    expect(one('wgmesh_control_messages_total', {mesh: a.meshId, direction: 'received'})).toBe(41);
    expect(one('wgmesh_control_messages_failed_total', {mesh: a.meshId})).toBe(3);
    expect(one('wgmesh_control_messages_rejected_total', {mesh: a.meshId})).toBe(4);
    expect(one('wgmesh_anti_entropy_rounds_total', {mesh: a.meshId})).toBe(30);
    // Handshake ages: other members only, only those with a handshake; a hostile alias is not a label.
    const ages = samplesOf(body, 'wgmesh_wireguard_handshake_age_seconds');
    expect(ages.map((s) => [s.labels.mesh, s.labels.peer, s.labels.alias, s.value])).toEqual([
      [a.meshId, ID(2), 'db', 42.5],
      [a.meshId, ID(4), '', 3],
    ]);

    // The next scrape reads the new state: time passed, a member left.
    clock.advance(10_000);
    a.nodes = a.nodes.filter((n) => n.id !== ID(4));
    a.stats = {...a.stats, storeSyncs: 8};
    const later = (await metrics.render()).body;
    expect(samplesOf(later, 'wgmesh_wireguard_handshake_age_seconds').map((s) => [s.labels.peer, s.value])).toEqual([[ID(2), 52.5]]);
    expect(samplesOf(later, 'wgmesh_sync_sessions_total', {mesh: a.meshId, direction: 'started'})[0]?.value).toBe(8);
    expect(samplesOf(later, 'wgmesh_mesh_members', {mesh: a.meshId})[0]?.value).toBe(3);
  });

  it('keeps a reconciliation histogram and forgets meshes the node left', async () => {
    const {meshes, metrics} = setup();
    const [a, b] = meshes as [FakeMesh, FakeMesh];
    metrics.observeReconcile(a.meshId, {seconds: 0.002, ok: true});
    metrics.observeReconcile(a.meshId, {seconds: 0.2, ok: true});
    metrics.observeReconcile(a.meshId, {seconds: 1, ok: false});
    metrics.observeReconcile(b.meshId, {seconds: 0.0001, ok: true});
    let body = (await metrics.render()).body;
    expect(samplesOf(body, 'wgmesh_reconcile_duration_seconds_count', {mesh: a.meshId})[0]?.value).toBe(2);
    expect(samplesOf(body, 'wgmesh_reconcile_duration_seconds_sum', {mesh: a.meshId})[0]?.value).toBeCloseTo(0.202);
    expect(samplesOf(body, 'wgmesh_reconcile_duration_seconds_bucket', {mesh: a.meshId, le: '0.0025'})[0]?.value).toBe(1);
    expect(samplesOf(body, 'wgmesh_reconcile_failures_total', {mesh: a.meshId})[0]?.value).toBe(1);
    expect(samplesOf(body, 'wgmesh_reconcile_failures_total', {mesh: b.meshId})[0]?.value).toBe(0);

    meshes.splice(1, 1); // left mesh b
    body = (await metrics.render()).body;
    for (const name of ['wgmesh_reconcile_duration_seconds_count', 'wgmesh_reconcile_failures_total', 'wgmesh_mesh_members']) {
      expect(samplesOf(body, name, {mesh: b.meshId}), name).toEqual([]);
    }
    expect(samplesOf(body, 'wgmesh_reconcile_duration_seconds_count', {mesh: a.meshId})[0]?.value).toBe(2);
  });

  it('skips a mesh that cannot be read and reports DNS counters when DNS runs', async () => {
    const {meshes, metrics, setDns} = setup();
    meshes[0]!.failView = true;
    let body = (await metrics.render()).body;
    expect(samplesOf(body, 'wgmesh_meshes')[0]?.value).toBe(1);
    expect(samplesOf(body, 'wgmesh_dns_replies_total')).toEqual([]);
    setDns({replies: {NOERROR: 3, FORMERR: 0, SERVFAIL: 0, NXDOMAIN: 2, NOTIMP: 0, REFUSED: 1}, truncated: 0, dropped: 9});
    body = (await metrics.render()).body;
    expect(samplesOf(body, 'wgmesh_dns_replies_total', {rcode: 'NXDOMAIN'})[0]?.value).toBe(2);
    expect(samplesOf(body, 'wgmesh_dns_dropped_total')[0]?.value).toBe(9);
  });

  it.skipIf(!HAVE_PROMTOOL)('produces output promtool accepts (with process metrics and every wgmesh metric present)', async () => {
    const {clock, meshes, metrics, setDns} = setup();
    const withProcess = new DaemonMetrics({source: {meshes: () => meshes, dns: () => undefined}, nodeId: ID(1), backends: {store: 's', transport: 't', wg: 'w'}, clock, logger: silentLogger()});
    meshes[0]!.nodes = [nodeView(ID(1), {self: true}), nodeView(ID(2), {alias: 'x', stats: {latestHandshakeMs: clock.now() - 5, rxBytes: 1, txBytes: 1}})];
    metrics.observeReconcile(meshes[0]!.meshId, {seconds: 0.01, ok: true});
    setDns({replies: {NOERROR: 1, FORMERR: 0, SERVFAIL: 0, NXDOMAIN: 0, NOTIMP: 0, REFUSED: 0}, truncated: 0, dropped: 0});
    for (const page of [(await metrics.render()).body, (await withProcess.render()).body]) {
      const result = await promtoolCheck(page);
      expect(result.output).toBe('');
      expect(result.code).toBe(0);
    }
    expect((await withProcess.render()).body).toContain('process_cpu_user_seconds_total');
  });
});

describe('MetricsServer', () => {
  const servers: MetricsServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  function metrics(): DaemonMetrics {
    const mesh = new FakeMesh();
    mesh.nodes = [nodeView(ID(1), {self: true})];
    return new DaemonMetrics({source: {meshes: () => [mesh], dns: () => undefined}, nodeId: ID(1), backends: {store: 's', transport: 't', wg: 'w'}, clock: new SimulatedClock(), logger: silentLogger(), processMetrics: false});
  }

  async function start(listen = '127.0.0.1:0'): Promise<{server: MetricsServer; address: string}> {
    const server = new MetricsServer({listen, metrics: metrics(), logger: silentLogger()});
    servers.push(server);
    return {server, address: await server.start()};
  }

  function get(address: string, path: string, method = 'GET'): Promise<{status: number; type: string | undefined; body: string}> {
    const match = /^\[?([^\]]+)\]?:(\d+)$/.exec(address)!;
    return new Promise((resolve, reject) => {
      const req = request({host: match[1], port: Number(match[2]), path, method}, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({status: res.statusCode ?? 0, type: res.headers['content-type'], body}));
      });
      req.on('error', reject);
      req.end(method === 'POST' ? 'x'.repeat(100_000) : undefined);
    });
  }

  it('serves GET /metrics, 404 elsewhere, 405 for other methods', async () => {
    const {address} = await start();
    const page = await get(address, '/metrics');
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(samplesOf(page.body, 'wgmesh_meshes')[0]?.value).toBe(1);
    expect((await get(address, '/metrics?name[]=up')).status).toBe(200);
    const head = await get(address, '/metrics', 'HEAD');
    expect([head.status, head.body]).toEqual([200, '']);
    expect((await get(address, '/')).status).toBe(404);
    expect((await get(address, '/metricsx')).status).toBe(404);
    expect((await get(address, '/metrics', 'POST')).status).toBe(405);
  });

  it('listens on a bracketed IPv6 address', async () => {
    const {address} = await start('[::1]:0');
    expect(address).toMatch(/^\[::1\]:\d+$/);
    expect((await get(address, '/metrics')).status).toBe(200);
  });

  it('fails to start with one clear ListenError when the port is taken', async () => {
    const {address} = await start();
    const second = new MetricsServer({listen: address, metrics: metrics(), logger: silentLogger()});
    servers.push(second);
    const error = await second.start().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ListenError);
    expect((error as Error).message).toBe(
      `cannot serve metrics on ${address}: the address is already in use (another program, or another wgmesh daemon?); set metricsListen to a free address, or stop the other program`,
    );
  });
});
