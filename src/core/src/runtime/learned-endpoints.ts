/**
 * Endpoints WireGuard learned for peers that advertise none (the clients
 * homed on this node), kept across a clean restart. A client advertises no
 * endpoint: its home peer knows it only from the client's own packets, and a
 * restarted daemon brings up a new device that has forgotten it. Saved on a
 * clean stop and given back to the new device once, so it can start a
 * handshake with each of its clients at once instead of waiting for them.
 * A hint only: a stale one costs a handshake sent nowhere, and the client's
 * next packet puts the right one in place (WireGuard's roaming).
 */
import {isIP} from 'node:net';
import {z} from 'zod';
import type {WgPeerConfig, WgPeerStats} from '../contracts/wg-driver.js';
import {parseEndpoint} from './endpoint.js';

/** Most endpoints saved for one mesh (a file holding more is refused). */
export const MAX_LEARNED_ENDPOINTS = 10_000;

/** An endpoint as WireGuard reports one: an IP literal and a port (never a host name, which would be resolved). */
const ipEndpoint = z
  .string()
  .max(64)
  .refine((text) => {
    try {
      return isIP(parseEndpoint(text).host) !== 0;
    } catch {
      return false;
    }
  }, 'must be IP:PORT or [IPv6]:PORT');

/** The saved file: `[[WireGuard public key, endpoint], ...]`. */
export const learnedEndpointsSchema = z.array(z.tuple([z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be a 32-byte key in base64'), ipEndpoint])).max(MAX_LEARNED_ENDPOINTS);

/** WireGuard public key -> endpoint. */
export type LearnedEndpoints = ReadonlyMap<string, string>;

/**
 * The endpoints worth keeping: those WireGuard uses now (`stats`) for the
 * desired peers that have no endpoint of their own, at most
 * {@link MAX_LEARNED_ENDPOINTS}.
 */
export function learnedEndpoints(desired: readonly WgPeerConfig[], stats: readonly WgPeerStats[]): Array<[string, string]> {
  const unadvertised = new Set(desired.filter((peer) => peer.endpoint === null).map((peer) => peer.publicKey));
  return stats
    .filter((peer) => unadvertised.has(peer.publicKey) && peer.endpoint !== null && learnedEndpointsSchema.element.safeParse([peer.publicKey, peer.endpoint]).success)
    .slice(0, MAX_LEARNED_ENDPOINTS)
    .map((peer) => [peer.publicKey, peer.endpoint!]);
}

/** `peers` with the saved endpoint filled in for each that has none of its own. */
export function withLearnedEndpoints(peers: readonly WgPeerConfig[], learned: LearnedEndpoints): WgPeerConfig[] {
  return peers.map((peer) => {
    const endpoint = peer.endpoint === null ? learned.get(peer.publicKey) : undefined;
    return endpoint === undefined ? peer : {...peer, endpoint};
  });
}
