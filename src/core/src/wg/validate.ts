/**
 * Checks and canonical forms for everything a WireGuard driver is asked to
 * configure, one set of rules for every driver (a driver takes no more than
 * another). Peer keys, endpoints and prefixes come from records other nodes
 * wrote, so each one is checked before a driver uses it (before it becomes a
 * command argument: none can start with `-` or smuggle a keyword such as
 * `remove`), and a driver's view of the kernel is normalised the same way, so
 * "same" means the same thing on both sides of a difference.
 */
import {isIP} from 'node:net';
import type {WgInterfaceSpec, WgPeerConfig, WgRoute} from '../contracts/wg-driver.js';
import {WgDriverError} from '../errors.js';
import {parseEndpoint} from '../runtime/endpoint.js';
import {BoundedMemo} from '../util/bounded-memo.js';
import ipaddr from 'ipaddr.js';

/** Linux interface names: 1 to 15 bytes; the subset that is safe in a path (a UAPI socket's) and as an argument. */
const INTERFACE_NAME = /^[A-Za-z0-9_=+][A-Za-z0-9_.=+-]{0,14}$/;

/** Canonical base64 of 32 bytes: what `wg genkey` and `wg pubkey` print. */
const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** IPv6 needs at least 1280; below that the mesh (IPv6) would silently break. */
export const MIN_MTU = 1280;
/** The largest MTU a Linux link takes. */
export const MAX_MTU = 65535;

/** @throws WgDriverError unless `name` is a valid interface name. */
export function checkInterfaceName(name: string): void {
  if (!INTERFACE_NAME.test(name) || name === '.' || name === '..') {
    throw new WgDriverError(`'${name}' is not a valid interface name (1-15 characters from A-Z a-z 0-9 _ . = + -, not starting with '-' or '.')`);
  }
}

/** @throws WgDriverError unless `key` is a WireGuard key in canonical base64 (never echoes the key). */
export function checkWgKey(where: string, key: string): void {
  if (!WG_KEY.test(key)) throw new WgDriverError(`${where}: not a WireGuard key (expected 44 characters of base64 encoding 32 bytes)`);
}

/** @throws WgDriverError on an invalid interface spec; the private key is checked but never echoed. */
export function checkInterfaceSpec(spec: WgInterfaceSpec): void {
  checkInterfaceName(spec.name);
  checkWgKey(`interface ${spec.name}: private key`, spec.privateKey);
  if (!Number.isInteger(spec.listenPort) || spec.listenPort < 0 || spec.listenPort > 65535) {
    throw new WgDriverError(`interface ${spec.name}: listen port ${spec.listenPort} is not from 0 to 65535`);
  }
  if (!Number.isInteger(spec.mtu) || spec.mtu < MIN_MTU || spec.mtu > MAX_MTU) {
    throw new WgDriverError(`interface ${spec.name}: MTU ${spec.mtu} is not from ${MIN_MTU} (the IPv6 minimum) to ${MAX_MTU}`);
  }
}

/** Parse `address/length` strictly (node's parser for the address: no `1.2.3` or `0x` forms). */
function parseCidr(where: string, cidr: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  const slash = cidr.indexOf('/');
  const address = slash > 0 ? cidr.slice(0, slash) : '';
  const lengthText = slash > 0 ? cidr.slice(slash + 1) : '';
  const family = isIP(address);
  const length = /^\d{1,3}$/.test(lengthText) ? Number(lengthText) : NaN;
  if (family === 0 || !(length <= (family === 4 ? 32 : 128))) {
    throw new WgDriverError(`${where}: '${cidr}' is not a prefix in CIDR notation (ADDRESS/LENGTH)`);
  }
  return [ipaddr.parse(address), length];
}

/** The canonical text of an IP address (IPv6 compressed, lower case). */
export function canonicalIp(where: string, address: string): string {
  if (isIP(address) === 0) throw new WgDriverError(`${where}: '${address}' is not an IP address`);
  return ipaddr.parse(address).toString();
}

/** An interface address in canonical form, host bits kept (`fd00::1/64`). */
export function canonicalAddress(where: string, cidr: string): string {
  const [address, length] = parseCidr(where, cidr);
  return `${address.toString()}/${length}`;
}

/**
 * Canonical prefixes and endpoints by the text given: every apply checks a
 * whole peer set, whose prefixes and endpoints rarely change, and parsing
 * them was most of what an apply cost the stub driver.
 */
const canonicalPrefixes = new BoundedMemo<string>(16_384);
const canonicalEndpoints = new BoundedMemo<string>(16_384);

/** A prefix in canonical form with the host bits cleared (`fd00::/64`), as WireGuard and the routing table hold it. */
export function canonicalPrefix(where: string, cidr: string): string {
  return canonicalPrefixes.get(cidr, () => {
    const [address, length] = parseCidr(where, cidr);
    const bytes = address.toByteArray();
    for (let i = 0; i < bytes.length; i++) {
      const kept = Math.max(0, Math.min(8, length - 8 * i));
      bytes[i] = (bytes[i] as number) & ((0xff << (8 - kept)) & 0xff);
    }
    return `${ipaddr.fromByteArray(bytes).toString()}/${length}`;
  });
}

/**
 * An endpoint in canonical form: IPv6 literals compressed and bracketed, host
 * names lower-cased. Host names must be plain DNS names (`wg` resolves them).
 */
export function canonicalEndpoint(where: string, endpoint: string): string {
  return canonicalEndpoints.get(endpoint, () => parseCanonicalEndpoint(where, endpoint));
}

function parseCanonicalEndpoint(where: string, endpoint: string): string {
  let parts: {host: string; port: number};
  try {
    parts = parseEndpoint(endpoint);
  } catch (error) {
    throw new WgDriverError(`${where}: ${(error as Error).message}`);
  }
  if (isIP(parts.host) !== 0) {
    const host = ipaddr.parse(parts.host).toString();
    return isIP(host) === 6 ? `[${host}]:${parts.port}` : `${host}:${parts.port}`;
  }
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/.test(parts.host)) {
    throw new WgDriverError(`${where}: '${parts.host}' is neither an IP address nor a DNS name`);
  }
  return `${parts.host.toLowerCase()}:${parts.port}`;
}

/**
 * Check a peer set and return it in canonical form (allowed IPs masked,
 * deduplicated and sorted). Refuses bad keys, a key given twice, bad
 * endpoints or prefixes, and one allowed IP given to two peers.
 * @throws WgDriverError naming the interface and the peer.
 */
export function canonicalPeers(name: string, peers: readonly WgPeerConfig[]): WgPeerConfig[] {
  const keys = new Set<string>();
  const owners = new Map<string, string>();
  return peers.map((peer) => {
    checkWgKey(`interface ${name}: peer public key`, peer.publicKey);
    const where = `interface ${name}: peer ${peer.publicKey}`;
    if (keys.has(peer.publicKey)) throw new WgDriverError(`${where} appears twice`);
    keys.add(peer.publicKey);
    const keepalive = peer.keepaliveSeconds ?? 0;
    if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535) {
      throw new WgDriverError(`${where}: keepalive ${keepalive} is not from 0 to 65535 seconds`);
    }
    const allowedIps = [...new Set(peer.allowedIps.map((cidr) => canonicalPrefix(where, cidr)))].sort();
    for (const cidr of allowedIps) {
      const owner = owners.get(cidr);
      if (owner !== undefined) throw new WgDriverError(`interface ${name}: allowed IP ${cidr} is given to two peers (${owner} and ${peer.publicKey})`);
      owners.set(cidr, peer.publicKey);
    }
    return {
      publicKey: peer.publicKey,
      endpoint: peer.endpoint === null ? null : canonicalEndpoint(where, peer.endpoint),
      allowedIps,
      keepaliveSeconds: keepalive,
    };
  });
}

/** Check an address list and return it canonical and deduplicated. */
export function canonicalAddresses(name: string, cidrs: readonly string[]): string[] {
  return [...new Set(cidrs.map((cidr) => canonicalAddress(`interface ${name}: address`, cidr)))];
}

/** Check a route list and return it canonical (destination masked, next hop compressed) and deduplicated. */
export function canonicalRoutes(name: string, routes: readonly WgRoute[]): WgRoute[] {
  const seen = new Map<string, WgRoute>();
  for (const route of routes) {
    const destination = canonicalPrefix(`interface ${name}: route`, route.destination);
    const where = `interface ${name}: route to ${destination}`;
    const via = route.via === undefined ? undefined : canonicalIp(`${where}: next hop`, route.via);
    if (via !== undefined && isIP(via) !== isIP(destination.slice(0, destination.indexOf('/')))) {
      throw new WgDriverError(`${where}: next hop ${via} is not of the destination's address family`);
    }
    const previous = seen.get(destination);
    if (previous && previous.via !== via) throw new WgDriverError(`${where} is given twice with different next hops`);
    seen.set(destination, via === undefined ? {destination} : {destination, via});
  }
  return [...seen.values()];
}
