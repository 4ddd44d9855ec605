/**
 * Reconciliation planning: from a mesh's live records, compute the WireGuard
 * peers, interface addresses and routes this node should have. Pure functions,
 * so every rule is unit-testable and every node computes the same choices.
 */
import {createHash} from 'node:crypto';
import type {WgPeerConfig, WgRoute} from '../contracts/wg-driver.js';
import type {NodeRecord} from '../model/record.js';

/** The plan handed to the WgDriver. */
export interface WgPlan {
  peers: WgPeerConfig[];
  addresses: string[];
  routes: WgRoute[];
}

/** Rendezvous-hash score of (a, b): every node computes the same value. */
function score(a: string, b: string): Buffer {
  return createHash('sha256').update(`${a}\0${b}`).digest();
}

/**
 * The home peer of a client: the live peer with the highest rendezvous score
 * for the client's id. Stable: it only moves when that peer goes away (or a
 * better-scoring peer joins), and every node computes the same choice.
 */
export function homePeer(clientId: string, peers: readonly NodeRecord[]): NodeRecord | undefined {
  let best: {record: NodeRecord; value: Buffer} | undefined;
  for (const record of peers) {
    if (record.role !== 'peer') continue;
    const value = score(clientId, record.id);
    if (!best || Buffer.compare(value, best.value) > 0) best = {record, value};
  }
  return best?.record;
}

/** Inputs to {@link planWireGuard}. */
export interface PlanInput {
  /** This node's id. */
  selfId: string;
  /** This node's record in the mesh. */
  self: NodeRecord;
  /** Every live record of the mesh (self included or not). */
  live: readonly NodeRecord[];
  /** The mesh's /64. */
  prefix: string;
  /** Persistent keepalive for every peer (0: none). */
  keepaliveSeconds: number;
}

/**
 * The desired WireGuard state of this node in one mesh:
 * - a peer gets every other live peer (its /128 plus the /128 of each client
 *   homed on it) and each client homed on itself;
 * - a client gets exactly one peer, its home peer, with the whole mesh /64.
 * The node's own address goes on the interface as /64.
 */
export function planWireGuard(input: PlanInput): WgPlan {
  const others = input.live.filter((record) => record.id !== input.selfId);
  const peers = others.filter((record) => record.role === 'peer');
  const keepalive = input.keepaliveSeconds > 0 ? {keepaliveSeconds: input.keepaliveSeconds} : {};
  const addresses = [`${input.self.address}/64`];
  if (input.self.role === 'client') {
    const home = homePeer(input.selfId, peers);
    if (!home) return {peers: [], addresses, routes: []};
    return {peers: [{publicKey: home.wgPublicKey, endpoint: home.wgEndpoint, allowedIps: [input.prefix], ...keepalive}], addresses, routes: []};
  }
  const allPeers = [...peers, input.self];
  const clientsByHome = new Map<string, NodeRecord[]>();
  for (const client of others.filter((record) => record.role === 'client')) {
    const home = homePeer(client.id, allPeers);
    if (!home) continue;
    clientsByHome.set(home.id, [...(clientsByHome.get(home.id) ?? []), client]);
  }
  const plan: WgPeerConfig[] = peers.map((peer) => ({
    publicKey: peer.wgPublicKey,
    endpoint: peer.wgEndpoint,
    allowedIps: [peer.address, ...(clientsByHome.get(peer.id) ?? []).map((client) => client.address)].map((a) => `${a}/128`),
    ...keepalive,
  }));
  for (const client of clientsByHome.get(input.selfId) ?? []) {
    plan.push({publicKey: client.wgPublicKey, endpoint: null, allowedIps: [`${client.address}/128`], ...keepalive});
  }
  plan.sort((a, b) => a.publicKey.localeCompare(b.publicKey));
  return {peers: plan, addresses, routes: []};
}
