/**
 * WireGuard interface names. Linux limits names to 15 bytes, and wireguard-go's
 * UAPI sockets live in one directory shared by every network namespace, so a
 * name must be unique per host even across namespaces: it is derived from both
 * the mesh and the node (two nodes in two namespaces of one host in the same
 * mesh still get different names).
 */
import {createHash} from 'node:crypto';
import {base32} from '../addressing/mesh-id.js';

/** `wgm` + 10 base32 characters of SHA-256(mesh id, node id, attempt): 13 characters. */
export function interfaceName(meshId: string, nodeId: string, attempt = 0): string {
  const hash = createHash('sha256').update(`wgmesh-ifname\0${meshId}\0${nodeId}\0${attempt}`).digest();
  return `wgm${base32(hash.subarray(0, 7)).slice(0, 10)}`;
}
