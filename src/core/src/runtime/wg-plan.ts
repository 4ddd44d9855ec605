/**
 * Reconciliation planning: from a mesh's live records, compute the WireGuard
 * peers, interface addresses and routes this node should have. Pure functions,
 * so every rule is unit-testable and every node computes the same choices.
 */
import type {WgPeerConfig, WgRoute} from '../contracts/wg-driver.js';
import type {NodeRecord} from '../model/record.js';
import type {PunchEntry} from '../nat/punch.js';
import {pickByRendezvous} from '../routing/rendezvous.js';
import type {SelectedRoute} from '../routing/select.js';

/** The plan handed to the WgDriver. */
export interface WgPlan {
  peers: WgPeerConfig[];
  addresses: string[];
  routes: WgRoute[];
  /**
   * True when this node forwards packets for others in this mesh: it
   * advertises routes here (a bridge or an exit), or it is a peer with
   * clients homed on it. The host then needs IPv6 forwarding.
   */
  forwarding: boolean;
}

/**
 * The home peer of a client: the live peer with the highest rendezvous score
 * for the client's id. Stable: it only moves when that peer goes away (or a
 * better-scoring peer joins), and every node computes the same choice.
 */
export function homePeer(clientId: string, peers: readonly NodeRecord[]): NodeRecord | undefined {
  return pickByRendezvous(
    peers.filter((record) => record.role === 'peer'),
    (record) => record.id,
    clientId,
  );
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
  /**
   * Routes to other meshes (and the default route) that this node's route
   * selection sends through this mesh: their gateways are members of it.
   * Routes whose gateway is not live here are skipped.
   */
  routes?: readonly SelectedRoute[];
  /**
   * Direct paths between clients and public peers (NAT traversal on here):
   * a client gets an entry for every live peer with an endpoint, and a peer
   * an entry for every client (at its published reflexive endpoint, else
   * wherever the client's packets come from). An entry carries the other
   * end's /128 (more specific than the home peer's /64) only once the client
   * lists the peer in its record's `nat.direct`: its WireGuard completed a
   * handshake with that peer on this entry (nat/agent.ts). Until then the
   * entry carries nothing and their traffic goes through the client's home
   * peer. Only between peers and clients that take direct paths (NAT
   * traversal on, seen as a `nat` field in the record; a client's home peer
   * too; a peer with an endpoint), so both ends of a path agree on it.
   */
  directToPeers?: boolean;
  /** On a client: the entries of hole punching towards other clients, by their node id (see nat/punch.ts). */
  punched?: ReadonlyMap<string, PunchEntry>;
}

/** A peer that takes direct paths: NAT traversal on (its record has a `nat` field) and a WireGuard endpoint clients can reach. */
function directPeer(peer: NodeRecord): boolean {
  return peer.role === 'peer' && peer.nat !== undefined && peer.wgEndpoint !== null;
}

/** A client that takes direct paths: NAT traversal on, and its home peer takes them too. */
function directClient(client: NodeRecord, home: NodeRecord | undefined): boolean {
  return client.nat !== undefined && home !== undefined && directPeer(home);
}

/** True when `client` says its WireGuard completed a handshake with peer `peerId` on a direct entry (its `nat.direct`). */
function handshaken(client: NodeRecord, peerId: string): boolean {
  return client.nat?.direct?.includes(peerId) === true;
}

/** Keepalive (s) of a client's direct entries when it has none of its own: without one an entry that carries nothing never handshakes. */
export const DIRECT_ENTRY_KEEPALIVE_S = 25;

/**
 * The peers a client has direct entries for: every live peer that takes
 * direct paths other than its home, when the client takes them (none
 * otherwise). Its WireGuard handshakes with each; those that complete go
 * into its `nat.direct`.
 */
export function directPeersOf(self: NodeRecord, live: readonly NodeRecord[]): NodeRecord[] {
  const peers = live.filter((record) => record.role === 'peer' && record.id !== self.id);
  const home = homePeer(self.id, peers);
  if (self.role !== 'client' || !directClient(self, home)) return [];
  return peers.filter((peer) => peer.id !== home!.id && directPeer(peer));
}

/**
 * Whether `other`, a client homed on peer `at` (not `home`, this client's
 * home), is reached by this client through `at`. WireGuard accepts a packet
 * only from the peer its source routes to, so two clients must send each
 * other's traffic through the same relay, decided from records alone (every
 * node computes the same): through `at` only when this client has a direct
 * path to `at` (in its `nat.direct`); then, when `other` also has one to
 * `home`, through the home of the one with the lower id; when neither has
 * one, through both homes.
 */
function reachedThrough(self: NodeRecord, home: NodeRecord, other: NodeRecord, at: NodeRecord): boolean {
  if (!handshaken(self, at.id)) return false;
  return !(directClient(other, at) && handshaken(other, home.id)) || other.id < self.id;
}

/** The endpoint a peer dials a client at: its published reflexive endpoint when its NAT maps alike for everyone. */
function clientEndpoint(client: NodeRecord): string | null {
  const nat = client.nat;
  return nat && (nat.mapping === 'endpoint-independent' || nat.mapping === 'none') ? nat.endpoint : null;
}

/**
 * A client's WireGuard peers besides its home peer. When it takes direct
 * paths: every other peer P that takes them, with P's /128 and the /128s of
 * the clients homed on P that it reaches through P ({@link reachedThrough});
 * the rest of the mesh stays behind the home peer's /64. Then the punched
 * entries of live clients: an attempt carries no allowed IPs (traffic stays
 * relayed until it has a handshake), a direct path carries the other
 * client's /128, which then leaves every relay's entry.
 */
function clientDirectPeers(input: PlanInput, peers: readonly NodeRecord[], home: NodeRecord, keepalive: {keepaliveSeconds?: number}): WgPeerConfig[] {
  const out: WgPeerConfig[] = [];
  const clients = new Map(input.live.filter((record) => record.role === 'client' && record.id !== input.selfId).map((record) => [record.id, record]));
  const punched = [...(input.punched ?? [])].filter(([id, entry]) => clients.get(id)?.wgPublicKey === entry.wgPublicKey);
  if (input.directToPeers && directClient(input.self, home)) {
    const carried = new Set(punched.filter(([, entry]) => entry.carries).map(([id]) => id));
    const reached = new Map<string, string[]>();
    for (const client of clients.values()) {
      const at = homePeer(client.id, peers);
      if (!at || at.id === home.id || carried.has(client.id) || !reachedThrough(input.self, home, client, at)) continue;
      reached.set(at.id, [...(reached.get(at.id) ?? []), `${client.address}/128`]);
    }
    const keepaliveSeconds = keepalive.keepaliveSeconds ?? DIRECT_ENTRY_KEEPALIVE_S;
    for (const peer of directPeersOf(input.self, input.live)) {
      const allowedIps = handshaken(input.self, peer.id) ? [`${peer.address}/128`, ...(reached.get(peer.id) ?? [])] : [];
      out.push({publicKey: peer.wgPublicKey, endpoint: peer.wgEndpoint, allowedIps, keepaliveSeconds});
    }
  }
  for (const [id, entry] of punched) {
    out.push({publicKey: entry.wgPublicKey, endpoint: entry.endpoint, allowedIps: entry.carries ? [`${clients.get(id)!.address}/128`] : [], keepaliveSeconds: entry.keepaliveSeconds});
  }
  return out;
}

/**
 * The desired WireGuard state of this node in one mesh:
 * - a peer gets every other live peer (its /128 plus the /128 of each client
 *   homed on it) and each client homed on itself;
 * - a client gets exactly one peer, its home peer, with the whole mesh /64.
 * With `directToPeers`, a client also gets every other peer, and a peer
 * every client; once the client has handshaken with the peer (its
 * `nat.direct`) their entries carry each other's /128 (and on the client
 * those of the peer's clients it reaches there) instead of the client's
 * home peer; a client also gets its punched entries (see
 * {@link clientDirectPeers}).
 * The node's own address goes on the interface as /64.
 *
 * Each selected route adds its destination to the allowed IPs of exactly one
 * WireGuard peer (WireGuard routes by allowed IPs, and would silently move a
 * prefix given to two peers) and a kernel route via that peer's mesh address:
 * the gateway itself when it is a peer or a client homed here, the
 * gateway's home peer when it is a client homed elsewhere, and on a client
 * always its home peer (which forwards by its own selection).
 */
export function planWireGuard(input: PlanInput): WgPlan {
  const others = input.live.filter((record) => record.id !== input.selfId);
  const peers = others.filter((record) => record.role === 'peer');
  const keepalive = input.keepaliveSeconds > 0 ? {keepaliveSeconds: input.keepaliveSeconds} : {};
  const addresses = [`${input.self.address}/64`];
  const routes = input.routes ?? [];
  const advertises = input.self.routes.length > 0;
  if (input.self.role === 'client') {
    const home = homePeer(input.selfId, peers);
    if (!home) return {peers: [], addresses, routes: [], forwarding: advertises};
    const gateways = new Set(others.map((record) => record.id));
    const routed = routes.filter((route) => gateways.has(route.gatewayId));
    const direct = clientDirectPeers(input, peers, home, keepalive);
    return {
      peers: [{publicKey: home.wgPublicKey, endpoint: home.wgEndpoint, allowedIps: [input.prefix, ...routed.map((route) => route.destination)], ...keepalive}, ...direct],
      addresses,
      routes: routed.map((route) => ({destination: route.destination, via: home.address})),
      forwarding: advertises,
    };
  }
  const allPeers = [...peers, input.self];
  const homes = new Map<string, NodeRecord>();
  const clientsByHome = new Map<string, NodeRecord[]>();
  for (const client of others.filter((record) => record.role === 'client')) {
    const home = homePeer(client.id, allPeers);
    if (!home) continue;
    homes.set(client.id, home);
    clientsByHome.set(home.id, [...(clientsByHome.get(home.id) ?? []), client]);
  }
  /** Destinations routed through each WireGuard peer, by the peer's node id. */
  const routedVia = new Map<string, string[]>();
  const kernelRoutes: WgRoute[] = [];
  const byId = new Map(others.map((record) => [record.id, record]));
  for (const route of routes) {
    const gateway = byId.get(route.gatewayId);
    if (!gateway) continue;
    const home = gateway.role === 'client' ? homes.get(gateway.id) : undefined;
    // A client homed elsewhere is reached through its home peer, which has it as a WireGuard peer.
    const carrier = gateway.role === 'peer' || home?.id === input.selfId ? gateway : home;
    if (!carrier) continue;
    routedVia.set(carrier.id, [...(routedVia.get(carrier.id) ?? []), route.destination]);
    kernelRoutes.push({destination: route.destination, via: carrier.address});
  }
  // With direct paths a client homed elsewhere is a WireGuard peer here too; its /128 (on one peer only) moves to it once the client has handshaken here.
  const entered = (client: NodeRecord): boolean => input.directToPeers === true && directPeer(input.self) && directClient(client, homes.get(client.id));
  const direct = (client: NodeRecord): boolean => entered(client) && handshaken(client, input.selfId);
  const relayed = (peer: NodeRecord): NodeRecord[] => (clientsByHome.get(peer.id) ?? []).filter((client) => !direct(client));
  const plan: WgPeerConfig[] = peers.map((peer) => ({
    publicKey: peer.wgPublicKey,
    endpoint: peer.wgEndpoint,
    allowedIps: [...[peer, ...relayed(peer)].map((member) => `${member.address}/128`), ...(routedVia.get(peer.id) ?? [])],
    ...keepalive,
  }));
  const ownClients = clientsByHome.get(input.selfId) ?? [];
  for (const client of ownClients) {
    plan.push({publicKey: client.wgPublicKey, endpoint: null, allowedIps: [`${client.address}/128`, ...(routedVia.get(client.id) ?? [])], ...keepalive});
  }
  if (input.directToPeers) {
    for (const [homeId, clients] of clientsByHome) {
      if (homeId === input.selfId) continue;
      for (const client of clients.filter(entered)) {
        plan.push({publicKey: client.wgPublicKey, endpoint: clientEndpoint(client), allowedIps: direct(client) ? [`${client.address}/128`] : [], ...keepalive});
      }
    }
  }
  plan.sort((a, b) => a.publicKey.localeCompare(b.publicKey));
  return {peers: plan, addresses, routes: kernelRoutes, forwarding: advertises || ownClients.length > 0};
}
