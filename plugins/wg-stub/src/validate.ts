/**
 * Input checks the stub applies to everything it is asked to configure. They
 * mirror what `ip` and `wg` refuse (and the contract's "no allowed IP on two
 * peers" rule), so a daemon bug shows up in CI with the stub rather than only
 * on a host with real WireGuard.
 */
import {isIP} from 'node:net';
import {WgDriverError, parseEndpoint, type WgInterfaceSpec, type WgPeerConfig, type WgRoute} from '@wgmesh/core';

/** Linux interface names: 1 to 15 bytes, no slash, colon or whitespace (we allow the safe subset `ip` users expect). */
const INTERFACE_NAME = /^[A-Za-z0-9_.=+-]{1,15}$/;

/** IPv6 needs an MTU of at least 1280; the mesh is IPv6, so anything lower would silently break it. */
export const MIN_MTU = 1280;

/** The largest MTU the stub accepts (the largest a Linux link takes). */
export const MAX_MTU = 65535;

/** @throws WgDriverError unless `name` is a valid Linux interface name. */
export function checkInterfaceName(name: string): void {
  if (!INTERFACE_NAME.test(name)) {
    throw new WgDriverError(`'${name}' is not a valid interface name (1-15 characters from A-Z a-z 0-9 _ . = + -)`);
  }
}

/** @throws WgDriverError unless `key` is the canonical base64 of 32 bytes, as `wg genkey`/`wg pubkey` print. */
export function checkKey(where: string, key: string): void {
  const bytes = Buffer.from(key, 'base64');
  if (bytes.length !== 32 || bytes.toString('base64') !== key) {
    throw new WgDriverError(`${where}: not a WireGuard key (expected 44 characters of base64 encoding 32 bytes)`);
  }
}

/** @throws WgDriverError unless `cidr` is `address/length` with a length that fits the family. */
export function checkCidr(where: string, cidr: string): void {
  const slash = cidr.indexOf('/');
  const family = slash > 0 ? isIP(cidr.slice(0, slash)) : 0;
  const lengthText = slash > 0 ? cidr.slice(slash + 1) : '';
  const length = /^\d{1,3}$/.test(lengthText) ? Number(lengthText) : NaN;
  if (family === 0 || !(length <= (family === 4 ? 32 : 128))) {
    throw new WgDriverError(`${where}: '${cidr}' is not a prefix in CIDR notation (ADDRESS/LENGTH)`);
  }
}

/** @throws WgDriverError on an invalid interface spec (the private key is checked but never echoed). */
export function checkSpec(spec: WgInterfaceSpec): void {
  checkInterfaceName(spec.name);
  checkKey(`interface ${spec.name}: private key`, spec.privateKey);
  if (!Number.isInteger(spec.listenPort) || spec.listenPort < 0 || spec.listenPort > 65535) {
    throw new WgDriverError(`interface ${spec.name}: listen port ${spec.listenPort} is not from 0 to 65535`);
  }
  if (!Number.isInteger(spec.mtu) || spec.mtu < MIN_MTU || spec.mtu > MAX_MTU) {
    throw new WgDriverError(`interface ${spec.name}: MTU ${spec.mtu} is not from ${MIN_MTU} (the IPv6 minimum) to ${MAX_MTU}`);
  }
}

/** @throws WgDriverError on an invalid peer set: bad keys or prefixes, a repeated key, or one allowed IP on two peers. */
export function checkPeers(name: string, peers: readonly WgPeerConfig[]): void {
  const keys = new Set<string>();
  const owners = new Map<string, string>();
  for (const peer of peers) {
    checkKey(`interface ${name}: peer public key`, peer.publicKey);
    if (keys.has(peer.publicKey)) throw new WgDriverError(`interface ${name}: peer ${peer.publicKey} appears twice`);
    keys.add(peer.publicKey);
    if (peer.endpoint !== null) {
      try {
        parseEndpoint(peer.endpoint);
      } catch (error) {
        throw new WgDriverError(`interface ${name}: peer ${peer.publicKey}: ${(error as Error).message}`);
      }
    }
    const keepalive = peer.keepaliveSeconds ?? 0;
    if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535) {
      throw new WgDriverError(`interface ${name}: peer ${peer.publicKey}: keepalive ${keepalive} is not from 0 to 65535 seconds`);
    }
    for (const cidr of peer.allowedIps) {
      checkCidr(`interface ${name}: peer ${peer.publicKey}`, cidr);
      const owner = owners.get(cidr);
      if (owner !== undefined && owner !== peer.publicKey) {
        throw new WgDriverError(`interface ${name}: allowed IP ${cidr} is given to two peers (${owner} and ${peer.publicKey})`);
      }
      owners.set(cidr, peer.publicKey);
    }
  }
}

/** @throws WgDriverError on an invalid address list. */
export function checkAddresses(name: string, cidrs: readonly string[]): void {
  for (const cidr of cidrs) checkCidr(`interface ${name}: address`, cidr);
}

/** @throws WgDriverError on an invalid route list. */
export function checkRoutes(name: string, routes: readonly WgRoute[]): void {
  for (const route of routes) {
    checkCidr(`interface ${name}: route`, route.destination);
    if (route.via !== undefined && isIP(route.via) === 0) {
      throw new WgDriverError(`interface ${name}: route to ${route.destination}: next hop '${route.via}' is not an IP address`);
    }
  }
}
