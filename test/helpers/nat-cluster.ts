/**
 * A mesh in the NAT lab for the NAT traversal end-to-end tests: public peers
 * on the shared bridge (advertising IPv4 endpoints, as the LANs behind NAT
 * reach them) and one client behind each NAT site, every daemon with
 * `natTraversal: true`. Clients are created but not joined: each test joins
 * them when it measures.
 */
import {nodeAddress} from '@wgmesh/core';
import type {NatSiteOptions} from '@wgmesh/testkit';
import type {DumpPeer} from '@wgmesh/wg-kernel';
import {interfaceOf} from './mesh-cluster.js';
import {NetnsCluster, type NetnsNode} from './netns-cluster.js';

/** Time for a first handshake and a few pings over the mesh (WireGuard retries a lost handshake after 5 s). */
export const PING_BOUND_MS = 15_000;

/** Client keepalive (seconds): NAT mappings towards the peers stay open, and the peers learn where the clients are. */
export const NAT_CLIENT_KEEPALIVE_S = 5;

/** The mesh and its nodes. */
export interface NatMesh {
  cluster: NetnsCluster;
  meshId: string;
  /** Peers `p1`, `p2`, ... on the bridge; the first created the mesh, the others joined. */
  peers: NetnsNode[];
  /** Clients `c1`, `c2`, ..., one behind each NAT site in order; not joined yet. */
  clients: NetnsNode[];
}

/** Start `peers` peers (in one mesh) and one client daemon behind each of `sites`. Whatever was made is removed on failure. */
export async function createNatMesh(peers: number, sites: readonly NatSiteOptions[], prefix: string): Promise<NatMesh> {
  const cluster = await NetnsCluster.create({hosts: peers, prefix, natSites: sites});
  try {
    const config = {natTraversal: true};
    const {lab} = cluster;
    const peerNodes = await cluster.addNodesOn(lab.hosts.map((host, k) => ({spec: {name: `p${k + 1}`, config}, host, address: host.ipv4!})));
    const clients = await cluster.addNodesOn(lab.natSites.map((site, k) => ({spec: {name: `c${k + 1}`, config}, host: site.hosts[0]!})));
    const [first, ...rest] = peerNodes as [NetnsNode, ...NetnsNode[]];
    const {meshId} = await first.cliJson<{meshId: string}>(['mesh', 'create']);
    for (const peer of rest) await peer.join(meshId, first, first);
    return {cluster, meshId, peers: peerNodes, clients};
  } catch (error) {
    await cluster.close();
    throw error;
  }
}

/** Join `client` to the mesh as a client through `via`, with an invite from the first peer. */
export async function joinClient(mesh: NatMesh, client: NetnsNode, via: NetnsNode): Promise<void> {
  await client.join(mesh.meshId, mesh.peers[0]!, via, ['--role', 'client', '--keepalive', String(NAT_CLIENT_KEEPALIVE_S)]);
}

/** A node's mesh address. */
export async function meshAddress(mesh: NatMesh, node: NetnsNode): Promise<string> {
  return nodeAddress(mesh.meshId, (await node.call('status', {})).nodeId);
}

/** `from`'s WireGuard entry for `to`, if it has one. */
export async function wgEntry(mesh: NatMesh, from: NetnsNode, to: NetnsNode): Promise<DumpPeer | undefined> {
  const key = (await to.call('status', {})).wgPublicKey;
  return (await from.wgShow(await interfaceOf(from, mesh.meshId)))?.peers.find((peer) => peer.publicKey === key);
}

/** True when `from` has a direct path to `to`: an entry carrying `to`'s /128 at `to`'s NAT address. */
export async function hasDirectPath(mesh: NatMesh, from: NetnsNode, to: NetnsNode, natAddress: string): Promise<boolean> {
  const found = await wgEntry(mesh, from, to);
  return found !== undefined && found.allowedIps.includes(`${await meshAddress(mesh, to)}/128`) && (found.endpoint ?? '').startsWith(`${natAddress}:`);
}
