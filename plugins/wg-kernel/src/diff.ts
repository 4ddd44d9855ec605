/**
 * The difference between what the kernel holds and what the daemon wants,
 * as pure functions (unit-tested without root). Inputs are canonical (the
 * canonical forms of @wgmesh/core, see parse.ts), so plain string comparison
 * is exact.
 */
import type {WgPeerConfig, WgRoute} from '@wgmesh/core';
import type {DumpPeer, ListedRoute} from './parse.js';

/** One `peer KEY ...` clause of `wg set`. */
export type PeerChange =
  | {kind: 'remove'; publicKey: string}
  | {
      kind: 'add' | 'update';
      publicKey: string;
      /** Set the endpoint (absent: leave WireGuard's current one). */
      endpoint?: string;
      /** Replace the allowed IPs (absent: unchanged). */
      allowedIps?: string[];
      /** Set the persistent keepalive (absent: unchanged). */
      keepaliveSeconds?: number;
      /**
       * Start a handshake as soon as the peer is added (`add` only): it takes
       * over a session another peer had, or the interface is new and the
       * peer still holds a session with the device it replaced (see
       * {@link planPeers}).
       */
      handshakeNow?: boolean;
    };

/** Keepalive (seconds) set for a moment on an added peer to make WireGuard start a handshake at once (see {@link peerChangeArgs}). */
export const HANDSHAKE_NOW_KEEPALIVE_S = 25;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

/**
 * What to change so the interface has exactly `desired` peers.
 *
 * Endpoints follow WireGuard's roaming: a peer's endpoint is set only when the
 * *desired* endpoint changed since the last apply (`lastDesired`), never merely
 * because WireGuard now uses another one (the peer roamed there, and that is
 * the address that works). For a peer with no previous desire (a new peer, or
 * the first apply after a restart) it is set when it differs from WireGuard's.
 * A desired endpoint of null never clears one: WireGuard has no way to unset
 * an endpoint, and the one it learned from the peer's handshakes is right.
 *
 * A peer added in place of one removed in the same apply that had exactly
 * the same allowed IPs and a session (the same member under a new key after
 * a rotation; on a client, its new home peer) takes over that session's
 * traffic: it starts a handshake at once (`handshakeNow`), and without an
 * endpoint of its own (a client that rotated) it gets the removed peer's
 * current one, so the traffic that flowed stops only for a handshake, not
 * until the next packet's handshake attempt and its 5 s retry.
 *
 * On a `fresh` interface (just created: a daemon's start, a join, a rebuilt
 * userspace process) every peer added with an endpoint starts a handshake at
 * once: the members still hold a session with the device that was there
 * before and would send into it until their own timers give up (up to 15 s),
 * and a client's home peer learns the client's endpoint only from it.
 *
 * A peer added again after this interface removed it (`returning`: a member
 * that left and joined again, or that was taken for dead and is back) starts
 * a handshake at once too: it may still hold its session with this device
 * and send into it, while this device's new peer entry has no session to
 * read it with, until its own timers give up (up to 15 s). A peer this
 * interface never had does not: a joiner starts its own handshakes, and a
 * whole mesh sending handshakes to each joiner at once would load it for
 * nothing.
 *
 * @param actual peers as `wg show dump` lists them
 * @param desired canonical desired peers (allowed IPs sorted)
 * @param lastDesired endpoint last desired per peer key, from earlier applies
 * @param handshakes `fresh`: the interface was created since its last apply of peers;
 *   `returning`: keys of peers this interface had and removed
 */
export function planPeers(
  actual: readonly DumpPeer[],
  desired: readonly WgPeerConfig[],
  lastDesired: ReadonlyMap<string, string | null>,
  handshakes: {fresh?: boolean; returning?: ReadonlySet<string>} = {},
): PeerChange[] {
  const {fresh = false, returning} = handshakes;
  const current = new Map(actual.map((peer) => [peer.publicKey, peer]));
  const wanted = new Set(desired.map((peer) => peer.publicKey));
  const removed = actual.filter((peer) => !wanted.has(peer.publicKey));
  const changes: PeerChange[] = removed.map((peer) => ({kind: 'remove', publicKey: peer.publicKey}));
  /** Allowed IPs (joined) -> a removed peer that had exactly those and a session. */
  const sessions = new Map(removed.filter((peer) => peer.latestHandshake > 0 && peer.allowedIps.length > 0).map((peer) => [peer.allowedIps.join(','), peer] as const));
  for (const peer of desired) {
    const keepalive = peer.keepaliveSeconds ?? 0;
    const existing = current.get(peer.publicKey);
    if (!existing) {
      const replaced = sessions.get(peer.allowedIps.join(','));
      const endpoint = peer.endpoint ?? replaced?.endpoint ?? null;
      changes.push({
        kind: 'add',
        publicKey: peer.publicKey,
        ...(endpoint === null ? {} : {endpoint}),
        allowedIps: [...peer.allowedIps],
        ...(keepalive > 0 ? {keepaliveSeconds: keepalive} : {}),
        ...((replaced || fresh || returning?.has(peer.publicKey)) && endpoint !== null ? {handshakeNow: true} : {}),
      });
      continue;
    }
    const change: PeerChange = {kind: 'update', publicKey: peer.publicKey};
    const previous = lastDesired.get(peer.publicKey);
    const endpointChanged = previous === undefined ? peer.endpoint !== existing.endpoint : peer.endpoint !== previous;
    if (peer.endpoint !== null && endpointChanged) change.endpoint = peer.endpoint;
    if (!sameList(peer.allowedIps, existing.allowedIps)) change.allowedIps = [...peer.allowedIps];
    if (keepalive !== existing.keepaliveSeconds) change.keepaliveSeconds = keepalive;
    if (change.endpoint !== undefined || change.allowedIps !== undefined || change.keepaliveSeconds !== undefined) changes.push(change);
  }
  return changes;
}

/**
 * The `wg set IFACE ...` arguments for `changes` (removals first, so a moved
 * allowed IP is never briefly on two peers' lists). An added peer with
 * `handshakeNow` and no keepalive of its own gets
 * {@link HANDSHAKE_NOW_KEEPALIVE_S}: WireGuard (kernel and wireguard-go)
 * sends a keepalive, and so starts a handshake, the moment a persistent
 * keepalive goes from off to on; {@link keepaliveResetArgs} turns it off again.
 */
export function peerChangeArgs(changes: readonly PeerChange[]): string[] {
  const ordered = [...changes.filter((change) => change.kind === 'remove'), ...changes.filter((change) => change.kind !== 'remove')];
  const args: string[] = [];
  for (const change of ordered) {
    args.push('peer', change.publicKey);
    if (change.kind === 'remove') {
      args.push('remove');
      continue;
    }
    if (change.endpoint !== undefined) args.push('endpoint', change.endpoint);
    // An empty string is how `wg set` clears the list.
    if (change.allowedIps !== undefined) args.push('allowed-ips', change.allowedIps.join(','));
    if (change.keepaliveSeconds !== undefined) args.push('persistent-keepalive', change.keepaliveSeconds === 0 ? 'off' : String(change.keepaliveSeconds));
    else if (change.kind === 'add' && change.handshakeNow) args.push('persistent-keepalive', String(HANDSHAKE_NOW_KEEPALIVE_S));
  }
  return args;
}

/**
 * The `wg set IFACE ...` arguments that make WireGuard start a handshake at
 * once with each of `peers` that has an endpoint: its persistent keepalive
 * off, on for a moment (WireGuard sends a keepalive, and so starts a
 * handshake, the moment it goes from off to on), then back to what it was.
 * Empty when no peer has an endpoint.
 */
export function handshakeNowArgs(peers: readonly DumpPeer[]): string[] {
  return peers
    .filter((peer) => peer.endpoint !== null)
    .flatMap((peer) => [
      ...['peer', peer.publicKey, 'persistent-keepalive', 'off'],
      ...['peer', peer.publicKey, 'persistent-keepalive', String(peer.keepaliveSeconds > 0 ? peer.keepaliveSeconds : HANDSHAKE_NOW_KEEPALIVE_S)],
      ...(peer.keepaliveSeconds > 0 ? [] : ['peer', peer.publicKey, 'persistent-keepalive', 'off']),
    ]);
}

/**
 * The `wg set IFACE ...` arguments that add each of `peers` afresh (removed,
 * then added again with its endpoint, allowed IPs and keepalive) and start a
 * handshake with it. WireGuard starts at most one handshake with a peer per
 * REKEY_TIMEOUT (5 s), whatever asks it to, and a first one can fail (two
 * that cross, or one that reached the peer before the peer knew this key);
 * a peer added afresh may start one at once. Only for peers with an
 * endpoint and no session yet: removing a peer drops its session.
 */
export function reinitiateArgs(peers: readonly DumpPeer[]): string[] {
  const withEndpoint = peers.filter((peer) => peer.endpoint !== null);
  const readded = withEndpoint.flatMap((peer) => [
    ...['peer', peer.publicKey, 'remove'],
    ...['peer', peer.publicKey, 'endpoint', peer.endpoint as string],
    ...(peer.allowedIps.length > 0 ? ['allowed-ips', peer.allowedIps.join(',')] : []),
  ]);
  // A peer added afresh has no keepalive: the handshake starts as for any other peer.
  return [...readded, ...handshakeNowArgs(withEndpoint)];
}

/** The `wg set IFACE ...` arguments that turn off again the keepalive {@link peerChangeArgs} set only to start a handshake; empty when there is none. */
export function keepaliveResetArgs(changes: readonly PeerChange[]): string[] {
  return changes.flatMap((change) => (change.kind === 'add' && change.handshakeNow && change.keepaliveSeconds === undefined ? ['peer', change.publicKey, 'persistent-keepalive', 'off'] : []));
}

/** Addresses to add and remove so the managed set becomes `desired`. */
export function planAddresses(actual: readonly string[], desired: readonly string[]): {add: string[]; remove: string[]} {
  const have = new Set(actual);
  const want = new Set(desired);
  return {add: desired.filter((cidr) => !have.has(cidr)), remove: actual.filter((cidr) => !want.has(cidr))};
}

/** Where the driver puts a route: its metric and its routing table (`main`, or the number of the exit table). */
export interface RoutePlacement {
  metric: number;
  table: string;
}

/** A route wgmesh installed, as listed from the table it was found in. */
export type InstalledRoute = ListedRoute & {table: string};

function routeKey(route: {destination: string; via?: string | undefined}, placement: RoutePlacement): string {
  return `${route.destination}|${route.via ?? ''}|${placement.metric}|${placement.table}`;
}

/**
 * Routes to add and remove among the ones wgmesh installed (the listing is
 * already restricted to wgmesh's protocol mark), so that exactly `desired`
 * is installed, each where `placeOf(route)` says (default routes go into
 * another table, with another metric, than the rest). A route with another
 * metric or in another table (the config changed) is replaced.
 */
export function planRoutes(actual: readonly InstalledRoute[], desired: readonly WgRoute[], placeOf: (route: WgRoute) => RoutePlacement): {add: WgRoute[]; remove: InstalledRoute[]} {
  const have = new Set(actual.map((route) => routeKey(route, route)));
  const want = new Set(desired.map((route) => routeKey(route, placeOf(route))));
  return {
    add: desired.filter((route) => !have.has(routeKey(route, placeOf(route)))),
    remove: actual.filter((route) => !want.has(routeKey(route, route))),
  };
}
