/**
 * Liveness messages over UDP, with real daemons (real gRPC with mutual TLS
 * beside the UDP side of the control port, stub WireGuard):
 *
 * - on loopback, heartbeats travel by datagram (the daemons' datagram
 *   counters grow, none falls back to the stream);
 * - datagrams that are forged, replayed, oversized, malformed, for an unknown
 *   mesh or not a liveness request get no reply and are counted as dropped;
 *   an authentic, fresh heartbeat of a member is answered with its ack;
 * - in network namespaces, with an nftables rule dropping UDP to one
 *   daemon's control port: every member stays alive in every view, nobody is
 *   declared dead, changes still spread both ways, and the others fall back
 *   to TCP for that daemon.
 */
import {createHmac, createSecretKey, randomBytes} from 'node:crypto';
import {createSocket, type Socket} from 'node:dgram';
import {once} from 'node:events';
import {encode, encodeControlRequest, type NodeIdentity} from '@wgmesh/core';
import {makeTestNode, netnsAvailable, skipWithout, wireEntry} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {decodeFrame, encodeFrame, FrameKind, MAX_DATAGRAM_PAYLOAD_BYTES} from '../plugins/transport-grpc/src/datagram-frame.js';
import {samplesOf} from '../src/core/test/metrics-text.js';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {joinAsMember, memberClient, MeshCluster, writeNodeFiles, type MemberClient, type MeshNode} from './helpers/mesh-cluster.js';
import {NETNS_CONTROL_PORT, NetnsCluster, NetnsNode} from './helpers/netns-cluster.js';

const METRICS = {metricsEnabled: true, metricsListen: '127.0.0.1:0'};
const HEARTBEAT_INTERVAL_MS = 2_000;

/** The sum of a counter's samples matching `labels` on a metrics page. */
function counter(page: string, name: string, labels: Record<string, string> = {}): number {
  return samplesOf(page, name, labels).reduce((sum, sample) => sum + sample.value, 0);
}

/** The metrics URL of a node, from `status --json`. */
async function metricsUrl(node: MeshNode): Promise<string> {
  const status = await node.cliJson<{metrics?: {url: string}}>(['status']);
  expect(status.metrics?.url, `${node.name} has a metrics URL`).toBeDefined();
  return status.metrics!.url;
}

/** A mesh created on the first node, joined by the others, every one seeing all alive. */
async function meshOf(nodes: readonly MeshNode[]): Promise<string> {
  const [first, ...rest] = nodes as [MeshNode, ...MeshNode[]];
  const {meshId} = await first.cliJson<{meshId: string}>(['mesh', 'create']);
  for (const node of rest) await node.cliJson(['mesh', 'join', meshId, '--invite', await first.invite(meshId), '--via', first.endpoint]);
  await waitFor(async () => (await Promise.all(nodes.map((node) => node.view(meshId)))).every((view) => view.length === nodes.length), 20_000, 'every node to see every member');
  return meshId;
}

describe('liveness datagrams of real daemons on loopback', {timeout: 60_000}, () => {
  let cluster: MeshCluster | undefined;
  let a: MeshNode, b: MeshNode, c: MeshNode;
  let meshId = '';
  const urls = new Map<MeshNode, string>();
  const page = async (node: MeshNode): Promise<string> => (await fetch(urls.get(node)!)).text();

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-datagrams-');
    [a, b, c] = (await cluster.addNodes(['a', 'b', 'c'].map((name) => ({name, config: METRICS})))) as [MeshNode, MeshNode, MeshNode];
    for (const node of cluster.nodes) urls.set(node, await metricsUrl(node));
    meshId = await meshOf([a, b, c]);
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
  });

  it('sends heartbeats by datagram, answered by datagram, with no fallback to the stream', async () => {
    const received = (metrics: string): number => counter(metrics, 'wgmesh_control_datagrams_total', {direction: 'received'});
    const sent = (metrics: string): number => counter(metrics, 'wgmesh_control_datagrams_total', {direction: 'sent'});
    const fallbacks = (metrics: string): number => counter(metrics, 'wgmesh_control_datagram_fallbacks_total');
    /** The metrics pages once every node has answered `more` datagrams beyond `from`. */
    const afterAnswering = async (from: readonly string[], more: number): Promise<string[]> => {
      let pages: string[] = [];
      await waitFor(
        async () => {
          pages = await Promise.all([a, b, c].map(page));
          return pages.every((text, index) => received(text) >= received(from[index]!) + more);
        },
        6 * HEARTBEAT_INTERVAL_MS,
        `every node to answer ${more} more heartbeats by datagram`,
      );
      return pages;
    };
    // The steady state is measured from here on. Just after the joins a new member's first
    // heartbeat may reach a member that has not yet heard of it (gossip is still carrying its
    // record there): that one goes unanswered and is sent again over the stream, up to a probe
    // time (500 ms) later. Two answered round trips per node take longer than that.
    const settled = await afterAnswering(await Promise.all([a, b, c].map(page)), 2);
    // Each node sends one heartbeat per H/2 and gets about as many.
    const now = await afterAnswering(settled, 4);
    for (const [index, node] of [a, b, c].entries()) {
      expect(sent(now[index]!), node.name).toBeGreaterThan(sent(settled[index]!));
      expect(fallbacks(now[index]!) - fallbacks(settled[index]!), `${node.name} fell back to the stream`).toBe(0);
      expect(counter(now[index]!, 'wgmesh_failures_detected_total'), node.name).toBe(0);
    }
  });

  describe('hostile datagrams', () => {
    let socket: Socket;
    let member: MemberClient;
    let aId = '';
    let aKey = '';

    beforeAll(async () => {
      socket = createSocket('udp4');
      socket.bind(0, '127.0.0.1');
      await once(socket, 'listening');
      // The test process as a member (a client: never dialled), so that it can send authentic heartbeats.
      member = await memberClient(cluster!, 'prober');
      const credential = await joinAsMember(member, a, meshId, a, 'client');
      const own = makeTestNode(meshId, {identity: member.identity, now: Date.now(), credential}).record({role: 'client', controlEndpoint: null, wgEndpoint: null});
      await member.transport.message(a.endpoint, meshId, encode({t: 'push', f: member.identity.nodeId, e: [wireEntry(own)]}));
      const self = (await a.call('mesh.show', {meshId})).nodes.find((node) => node.self)!;
      aId = self.id;
      aKey = self.wgPublicKey;
      await waitFor(async () => (await a.view(meshId)).includes(member.identity.nodeId), 10_000, 'a to know the prober');
    });

    afterAll(async () => {
      socket?.close();
      await member?.close();
    });

    /** The datagrams a answers within `ms` after `payloads` are sent to it (one frame each, for `mesh`). */
    async function answers(payloads: readonly Uint8Array[], mesh = meshId, ms = 700): Promise<Buffer[]> {
      const got: Buffer[] = [];
      const onMessage = (message: Buffer): void => void got.push(message);
      socket.on('message', onMessage);
      for (const payload of payloads) socket.send(encodeFrame({kind: FrameKind.request, id: randomBytes(8).toString('hex'), meshId: mesh, payload}), a.port, '127.0.0.1');
      await new Promise((resolve) => setTimeout(resolve, ms));
      socket.off('message', onMessage);
      return got;
    }

    /** A heartbeat from `identity` to a, tagged with the pair key of `identity` and a. */
    function heartbeat(identity: NodeIdentity, ts: number): Uint8Array {
      const key = createSecretKey(identity.sharedKey(aKey, identity.wgPublicKey));
      const tag = createHmac('sha256', key).update(`wgmesh-liveness\n${meshId}\nhb\n${identity.nodeId}\n${aId}\n${ts}`).digest().subarray(0, 16);
      return encodeControlRequest({t: 'hb', f: identity.nodeId, i: 0, ts, a: new Uint8Array(tag)});
    }

    it('answers an authentic, fresh heartbeat of a member once, and a replay of it not at all', async () => {
      const hb = heartbeat(member.identity, Date.now());
      const [reply, ...more] = await answers([hb]);
      expect(more).toEqual([]);
      const frame = decodeFrame(reply ?? new Uint8Array(0));
      expect(frame).toMatchObject({kind: FrameKind.reply, meshId: ''});
      // Never more bytes back than came in.
      expect(reply!.byteLength).toBeLessThanOrEqual(hb.byteLength + 11 + meshId.length);
      expect(await answers([hb])).toEqual([]);
    });

    it('sends nothing back for forged, oversized, malformed, unknown-mesh or non-liveness datagrams, and counts each as dropped', async () => {
      const before = await page(a);
      const dropped = (text: string, reason: string): number => counter(text, 'wgmesh_control_datagrams_dropped_total', {reason});
      const forged = encodeControlRequest({t: 'hb', f: member.identity.nodeId, i: 0, ts: Date.now(), a: new Uint8Array(16).fill(9)});
      const notLiveness = encodeControlRequest({t: 'ae', f: member.identity.nodeId, sd: new Uint8Array(40), md: new Uint8Array(16)});
      const oversized = new Uint8Array(MAX_DATAGRAM_PAYLOAD_BYTES + 1);
      const got = [
        ...(await answers([forged, notLiveness, oversized, heartbeat(member.identity, Date.now() - 60_000)])),
        ...(await answers([heartbeat(member.identity, Date.now() + 1)], 'a'.repeat(26))),
      ];
      socket.send(Buffer.from('GET / HTTP/1.0\r\n\r\n'), a.port, '127.0.0.1');
      expect(got).toEqual([]);
      await waitFor(async () => dropped(await page(a), 'malformed') > dropped(before, 'malformed'), 5_000, 'a to count the malformed datagram');
      const after = await page(a);
      // Forged, not liveness, stale (a minute old), unknown mesh: refused after the check.
      expect(dropped(after, 'refused') - dropped(before, 'refused')).toBe(4);
      expect(dropped(after, 'too-large') - dropped(before, 'too-large')).toBe(1);
      expect(dropped(after, 'malformed') - dropped(before, 'malformed')).toBe(1);
      expect(a.running).toBe(true);
    });
  });
});

const SKIP_NETNS = skipWithout('the datagram firewall test in network namespaces', netnsAvailable());

describe.skipIf(SKIP_NETNS)('liveness with UDP to one daemon dropped by nftables', {timeout: 120_000}, () => {
  let cluster: NetnsCluster | undefined;
  let nodes: NetnsNode[] = [];
  let meshId = '';

  /** The metrics page of a daemon in its namespace. */
  async function page(node: NetnsNode, url: string): Promise<string> {
    return (await node.exec(process.execPath, ['-e', `fetch(${JSON.stringify(url)}).then((r) => r.text()).then((t) => process.stdout.write(t))`], {timeoutMs: 10_000})).stdout;
  }

  beforeAll(async () => {
    cluster = await NetnsCluster.create({hosts: 3, prefix: 'wgmesh-dgfw-'});
    // Stub WireGuard: this test is about the control plane.
    nodes = await Promise.all(
      ['fa', 'fb', 'fc'].map(async (name, index) => {
        const host = cluster!.lab.hosts[index]!;
        const options = await writeNodeFiles(cluster!.sandbox, null, {name, config: METRICS}, {port: NETNS_CONTROL_PORT, host: host.address, netns: host.netns, wgDriver: 'stub'});
        return new NetnsNode(cluster!.lab, host, options);
      }),
    );
    cluster.nodes.push(...nodes);
    await Promise.all(nodes.map((node) => node.start()));
    meshId = await meshOf(nodes);
  }, 90_000);

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
  });

  it('keeps every member alive and spreads changes, over TCP for the daemon whose UDP is dropped', async () => {
    const [fa, , fc] = nodes as [NetnsNode, NetnsNode, NetnsNode];
    const urls = await Promise.all(nodes.map(metricsUrl));
    const nft = (args: string[]) => fc.exec('nft', args);
    await nft(['add', 'table', 'inet', 'wgmesh_dgtest']);
    await nft(['add', 'chain', 'inet', 'wgmesh_dgtest', 'input', '{', 'type', 'filter', 'hook', 'input', 'priority', '0', ';', 'policy', 'accept', ';', '}']);
    await nft(['add', 'rule', 'inet', 'wgmesh_dgtest', 'input', 'udp', 'dport', String(NETNS_CONTROL_PORT), 'counter', 'drop']);
    const before = await Promise.all(nodes.map((node, index) => page(node, urls[index]!)));

    // Ten heartbeat periods: every view holds every member all along.
    const until = Date.now() + 10 * HEARTBEAT_INTERVAL_MS;
    while (Date.now() < until) {
      const views = await Promise.all(nodes.map((node) => node.view(meshId)));
      expect(views.map((view) => view.length), 'members alive in each view').toEqual([3, 3, 3]);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // A change from behind the firewall and one towards it both spread.
    const idOf = async (node: NetnsNode): Promise<string> => (await node.call('mesh.show', {meshId})).nodes.find((n) => n.self)!.id;
    for (const [from, to] of [
      [fc, fa],
      [fa, fc],
    ] as const) {
      const set = await from.cli(['service', 'set', 'probe', `[::1]:${from === fc ? 1 : 2}`, '--mesh', meshId]);
      expect(set.code, set.stderr).toBe(0);
      const id = await idOf(from);
      await waitFor(async () => (await to.call('mesh.show', {meshId})).nodes.find((n) => n.id === id)?.services.probe !== undefined, 5_000, `${from.name}'s change to reach ${to.name}`);
    }

    const after = await Promise.all(nodes.map((node, index) => page(node, urls[index]!)));
    const delta = (index: number, name: string, labels: Record<string, string> = {}): number => counter(after[index]!, name, labels) - counter(before[index]!, name, labels);
    for (const index of [0, 1, 2]) expect(counter(after[index]!, 'wgmesh_failures_detected_total'), `deaths seen by ${nodes[index]!.name}`).toBe(0);
    // The firewall did drop datagrams, and the daemons behind and towards it fell back to TCP.
    const {stdout} = await nft(['list', 'table', 'inet', 'wgmesh_dgtest']);
    expect(Number(/counter packets (\d+)/.exec(stdout)?.[1] ?? 0), stdout).toBeGreaterThan(0);
    expect(delta(2, 'wgmesh_control_datagram_fallbacks_total'), 'fc fell back').toBeGreaterThan(0);
    expect(delta(0, 'wgmesh_control_datagram_fallbacks_total') + delta(1, 'wgmesh_control_datagram_fallbacks_total'), 'fa and fb fell back towards fc').toBeGreaterThan(0);
    // ... and backed off: a handful of tries per pair, not one per heartbeat.
    expect(delta(2, 'wgmesh_control_datagram_fallbacks_total'), 'fc backed off').toBeLessThanOrEqual(8);
    // Between fa and fb datagrams still carry the heartbeats.
    expect(delta(0, 'wgmesh_control_datagrams_total', {direction: 'received'}) + delta(1, 'wgmesh_control_datagrams_total', {direction: 'received'})).toBeGreaterThan(5);
  });
});
