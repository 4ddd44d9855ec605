/**
 * A direct path between a client and a public peer other than its home is
 * taken only once WireGuard completed a handshake on it, with real
 * WireGuard in network namespaces: two public peers on the shared bridge,
 * one client behind an endpoint-independent NAT whose router drops every
 * UDP packet to the peer that is not the client's home (a firewall that lets
 * the control plane through, TCP, but not WireGuard). Both daemons run with
 * `natTraversal: true` and each one's record says it takes direct paths, yet
 * no handshake can complete between them: their traffic must stay relayed
 * through the home peer, and they must ping each other.
 */
import {homePeer, type NodeRecord} from '@wgmesh/core';
import {netnsAvailable, skipWithout} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons} from './helpers/cli.js';
import {createNatMesh, joinClient, meshAddress, PING_BOUND_MS, wgEntry, type NatMesh} from './helpers/nat-cluster.js';
import {waitForPing, type NetnsNode} from './helpers/netns-cluster.js';

const SKIP = skipWithout('the NAT traversal end-to-end tests in network namespaces', netnsAvailable({nat: true}));

describe.skipIf(SKIP)('a direct path to a public peer waits for its handshake', {timeout: 90_000}, () => {
  let mesh: NatMesh | undefined;

  beforeAll(async () => {
    await killAllDaemons();
    mesh = await createNatMesh(2, [{behaviour: 'endpoint-independent', hosts: 1}], 'wgmesh-ndc-');
  }, 60_000);

  afterAll(async () => {
    await mesh?.cluster.close();
  });

  it('keeps a client relayed to a peer its WireGuard cannot reach, and both ping each other', async () => {
    const {cluster, peers} = mesh!;
    const client = mesh!.clients[0]!;
    const site = cluster.lab.natSites[0]!;
    const ids = await Promise.all(peers.map(async (peer) => (await peer.call('status', {})).nodeId));
    const clientId = (await client.call('status', {})).nodeId;
    const homeId = homePeer(clientId, ids.map((id) => ({id, role: 'peer'}) as NodeRecord))!.id;
    const other = peers[ids.indexOf(ids.find((id) => id !== homeId)!)] as NetnsNode;
    const otherHost = cluster.lab.hosts[peers.indexOf(other)]!;
    // The site's router forwards no UDP to the other peer: WireGuard cannot handshake with it, the control plane (TCP) still works.
    const rules = `table ip wgmesh_block {\n  chain forward {\n    type filter hook forward priority -10; policy accept;\n    ip daddr ${otherHost.ipv4} meta l4proto udp drop\n  }\n}\n`;
    await cluster.lab.exec({netns: site.router} as typeof otherHost, 'nft', ['-f', '-'], {input: rules});

    await joinClient(mesh!, client, peers[0]!);
    const [clientAddress, otherAddress] = await Promise.all([meshAddress(mesh!, client), meshAddress(mesh!, other)]);
    await waitForPing(client, otherAddress, PING_BOUND_MS);
    await waitForPing(other, clientAddress, PING_BOUND_MS);
    // Neither side routes the other's address to an entry that never handshook.
    const [towardsOther, towardsClient] = await Promise.all([wgEntry(mesh!, client, other), wgEntry(mesh!, other, client)]);
    expect(towardsOther?.allowedIps ?? []).not.toContain(`${otherAddress}/128`);
    expect(towardsClient?.allowedIps ?? []).not.toContain(`${clientAddress}/128`);
  });
});
