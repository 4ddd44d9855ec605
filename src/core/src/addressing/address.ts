/**
 * Mesh addressing: every mesh gets a ULA /64 derived from its id, and every node
 * an address in it derived from (mesh id, node id, collision counter), so any
 * member can check that an address belongs to the record that claims it.
 */
import {createHash} from 'node:crypto';
import ipaddr from 'ipaddr.js';

/** Highest collision counter a record may carry. */
export const MAX_ADDRESS_COUNTER = 255;

function formatIpv6(bytes: Uint8Array): string {
  return ipaddr.fromByteArray(Array.from(bytes)).toString();
}

/** The mesh whose prefix was computed last, and that prefix: a node checks many addresses of one mesh in a row. */
let lastPrefix: {readonly meshId: string; readonly bytes: Uint8Array} | undefined;

/** The 8 network bytes of a mesh's /64: `fd`, SHA-1(mesh id)[0..6], `01`. */
function prefixBytes(meshId: string): Uint8Array {
  if (lastPrefix?.meshId === meshId) return lastPrefix.bytes;
  const sha = createHash('sha1').update(meshId, 'utf8').digest();
  const out = new Uint8Array(8);
  out[0] = 0xfd;
  out.set(sha.subarray(0, 6), 1);
  out[7] = 0x01;
  lastPrefix = {meshId, bytes: out};
  return out;
}

/** The mesh's ULA prefix in CIDR notation, e.g. `abc` -> `fda9:993e:3647:601::/64`. */
export function meshPrefix(meshId: string): string {
  const bytes = new Uint8Array(16);
  bytes.set(prefixBytes(meshId));
  return `${formatIpv6(bytes)}/64`;
}

/**
 * A node's address in a mesh: the mesh prefix plus 64 bits of
 * SHA-256("wgmesh-address", mesh id, node id, counter). When two nodes would get
 * the same address, the one that must move bumps `counter` by one.
 */
export function nodeAddress(meshId: string, nodeId: string, counter = 0): string {
  const hash = createHash('sha256').update(`wgmesh-address\0${meshId}\0${nodeId}\0${counter}`, 'utf8').digest();
  const bytes = new Uint8Array(16);
  bytes.set(prefixBytes(meshId));
  bytes.set(hash.subarray(0, 8), 8);
  return formatIpv6(bytes);
}

/** True when `address` is exactly the address (mesh, node, counter) derive to, in canonical form. */
export function isNodeAddress(meshId: string, nodeId: string, counter: number, address: string): boolean {
  if (!Number.isInteger(counter) || counter < 0 || counter > MAX_ADDRESS_COUNTER) return false;
  return nodeAddress(meshId, nodeId, counter) === address;
}

/**
 * The lowest counter whose address is not in `taken`.
 * Deterministic: every node computes the same counter from the same view.
 */
export function freeAddressCounter(meshId: string, nodeId: string, taken: ReadonlySet<string>): number {
  for (let counter = 0; counter <= MAX_ADDRESS_COUNTER; counter++) {
    if (!taken.has(nodeAddress(meshId, nodeId, counter))) return counter;
  }
  throw new Error('no free address counter (256 collisions in a 64-bit space cannot happen by chance)');
}
