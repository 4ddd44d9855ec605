/**
 * NAT traversal end to end with real WireGuard: two public peers on the
 * shared bridge (IPv4 endpoints), and three clients, each behind a NAT
 * router of its own (core test kit NAT sites): two endpoint-independent
 * ones and a symmetric one. Every daemon runs with `natTraversal: true`.
 *
 * - The two clients behind endpoint-independent NATs get a direct path (the
 *   other's /128 on an entry at the other's NAT address) within 5 s of both
 *   being in the mesh, and their traffic then leaves their home peers'
 *   transfer counters alone.
 * - The client behind the symmetric NAT is seen at different ports by the two
 *   peers, publishes `varies`, stays relayed, and every pair of members pings.
 * - NAT routers that forget their mappings (conntrack flushed on both
 *   clients' routers) while one client pings the other leave no gap in the
 *   answers longer than 5 s: the direct path recovers or falls back to the relay.
 *
 * Measured times are printed at the end.
 */
import type {NodeView} from '@wgmesh/core/client';
import {netnsAvailable, skipWithout} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {createNatMesh, hasDirectPath, joinClient, meshAddress, PING_BOUND_MS, wgEntry, type NatMesh} from './helpers/nat-cluster.js';
import {startPinger, waitForPing, type NetnsNode} from './helpers/netns-cluster.js';

const SKIP = skipWithout('the NAT traversal end-to-end tests in network namespaces', netnsAvailable({nat: true}));

/** What the issue asks: a direct path within 5 s of both clients being in the mesh. */
const DIRECT_BOUND_MS = 5_000;
/** Longest gap in ping answers the issue allows when a NAT forgets its mappings. */
const GAP_BOUND_MS = 5_000;

describe.skipIf(SKIP)('NAT traversal with real WireGuard behind NAT routers', {timeout: 60_000}, () => {
  let mesh: NatMesh | undefined;
  let p1: NetnsNode, p2: NetnsNode, c1: NetnsNode, c2: NetnsNode, c3: NetnsNode;
  let meshId = '';
  const measured: Record<string, number> = {};

  const address = (node: NetnsNode): Promise<string> => meshAddress(mesh!, node);
  const own = async (node: NetnsNode): Promise<NodeView> => (await node.call('mesh.show', {meshId})).nodes.find((view) => view.self)!;
  const entry = (from: NetnsNode, to: NetnsNode) => wgEntry(mesh!, from, to);
  const direct = (from: NetnsNode, to: NetnsNode, natAddress: string) => hasDirectPath(mesh!, from, to, natAddress);

  beforeAll(async () => {
    await killAllDaemons();
    mesh = await createNatMesh(
      2,
      [
        {behaviour: 'endpoint-independent', hosts: 1},
        {behaviour: 'endpoint-independent', hosts: 1},
        {behaviour: 'symmetric', hosts: 1},
      ],
      'wgmesh-nat-',
    );
    ({meshId} = mesh);
    [p1, p2] = mesh.peers as [NetnsNode, NetnsNode];
    [c1, c2, c3] = mesh.clients as [NetnsNode, NetnsNode, NetnsNode];
  }, 60_000);

  afterAll(async () => {
    await mesh?.cluster.close();
    console.log(`NAT traversal times in ms: ${JSON.stringify(measured)}`);
  });

  it('gives two clients behind endpoint-independent NATs a direct path within 5 s, and their traffic leaves the home peers', async () => {
    const [site1, site2] = mesh!.cluster.lab.natSites;
    await joinClient(mesh!, c1, p1);
    await joinClient(mesh!, c2, p2);
    const both = Date.now();
    await waitFor(async () => (await direct(c1, c2, site2!.publicAddress)) && (await direct(c2, c1, site1!.publicAddress)), 15_000, 'a direct path between c1 and c2');
    measured.directPath = Date.now() - both;
    // Each client published what the peers see: one public ip:port, the same for both; and that its WireGuard handshook directly with the peer that is not its home.
    const published = await own(c1);
    const [p1Id, p2Id] = await Promise.all([p1, p2].map(async (peer) => (await peer.call('status', {})).nodeId));
    expect(published.nat).toEqual({
      endpoint: expect.stringMatching(new RegExp(`^${site1!.publicAddress.replace(/\./g, '\\.')}:\\d+$`)),
      mapping: 'endpoint-independent',
      direct: [expect.stringMatching(new RegExp(`^(${p1Id}|${p2Id})$`))],
    });
    expect(measured.directPath).toBeLessThanOrEqual(DIRECT_BOUND_MS);

    const target = await address(c2);
    await waitForPing(c1, target, PING_BOUND_MS);
    const homesBefore = await Promise.all([p1, p2].flatMap((peer) => [c1, c2].map(async (client) => (await entry(peer, client))?.rxBytes ?? 0)));
    // 100 pings of 1000 bytes: 100 kB each way if they crossed a peer.
    await c1.exec('ping', ['-6', '-n', '-q', '-c', '100', '-i', '0.01', '-s', '1000', '-W', '1', target], {timeoutMs: 15_000});
    const homesAfter = await Promise.all([p1, p2].flatMap((peer) => [c1, c2].map(async (client) => (await entry(peer, client))?.rxBytes ?? 0)));
    const grown = homesAfter.map((after, i) => after - homesBefore[i]!);
    // Keepalives and heartbeat-free WireGuard: a few hundred bytes at most, never the pings' 100 kB.
    for (const bytes of grown) expect(bytes).toBeLessThan(5_000);
  });

  it('keeps a client behind a symmetric NAT relayed, and every pair of members pings', async () => {
    await joinClient(mesh!, c3, p2);
    // Both peers see it, each at a port of its own.
    await waitFor(async () => (await own(c3)).nat?.mapping === 'varies', 20_000, 'c3 to publish that its mapping varies');
    const nodes = [p1, p2, c1, c2, c3];
    const addresses = new Map(await Promise.all(nodes.map(async (node) => [node, await address(node)] as const)));
    const unanswered = await Promise.all(
      nodes.flatMap((from) => nodes.filter((to) => to !== from).map(async (to) => (await waitForPing(from, addresses.get(to)!, PING_BOUND_MS).then(() => '').catch(() => `${from.name}->${to.name}`)))),
    );
    expect(unanswered.filter(Boolean)).toEqual([]);
    // No direct entry between c3 and the other clients: their traffic is relayed, and mesh show says so.
    const seen = (await c3.call('mesh.show', {meshId})).nodes;
    for (const other of [c1, c2]) {
      expect(seen.find((view) => view.address === addresses.get(other))?.path).toBe('relayed');
      expect(await entry(c3, other)).toBeUndefined();
      expect(await entry(other, c3)).toBeUndefined();
    }
  });

  it('NAT routers that forget their mappings leave no gap in pings longer than 5 s', async () => {
    const target = await address(c2);
    const pinger = startPinger(c1, target, 16);
    try {
      await waitFor(() => pinger.answers.length >= 10, 10_000, 'c1 to get ping answers from c2');
      const flushedAt = Date.now();
      // Both ends' NATs: c2's packets to c1 are dropped at c1's router and c1's at c2's until each side sends again.
      await Promise.all(mesh!.cluster.lab.natSites.slice(0, 2).map((site) => mesh!.cluster.lab.forgetMappings(site)));
      // Longer than a direct path takes to be found dead (4 s) and its fallback to apply.
      await waitFor(() => pinger.answers.some((answer) => answer.sentMs > flushedAt + 8_000), 14_000, 'ping answers 8 s after the flush');
    } finally {
      await pinger.stop();
    }
    const times = pinger.answers.map((answer) => answer.receivedMs).sort((x, y) => x - y);
    const gap = Math.max(...times.slice(1).map((at, i) => at - times[i]!));
    measured.pingGapAfterFlush = Math.round(gap);
    const path = (await c1.call('mesh.show', {meshId})).nodes.find((view) => view.address === target)?.path;
    console.log(`c1 to c2 after the flush: ${path}`);
    expect(['direct', 'trying', 'relayed']).toContain(path);
    expect(gap).toBeLessThanOrEqual(GAP_BOUND_MS);
  });
});
