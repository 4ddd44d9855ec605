/**
 * Rotation of this node's WireGuard key pair (`wgmesh node rotate-keys`).
 *
 * The key is per node, like the identity file that holds it: every mesh of
 * the node uses it, so a rotation changes it in all of them (a `--mesh` that
 * names one mesh is accepted only when it is the node's only mesh). The
 * Ed25519 key, and with it the node id, addresses and credentials, stays.
 *
 * Order, and what a crash at each point leaves:
 * 1. the new private key is stored in the identity file (atomically, 0600).
 *    A crash before leaves the old key everywhere; a crash after leaves a
 *    file with the new key, which the next start puts on every interface and
 *    publishes (start always does both from the file), so nothing is lost
 *    and file, interfaces and records agree again;
 * 2. the in-memory identity switches; everything that reads the key
 *    (records, liveness tags, `status`) follows at once, and liveness
 *    messages keep authenticating under the retired key for a grace period
 *    (liveness-auth.ts);
 * 3. per mesh: the record carrying the new public key is published and
 *    pushed to members, which replace the peer entry and answer once their
 *    WireGuard has the new key; then the interface takes the new key and
 *    starts a handshake with every peer. Traffic stops for about one push and
 *    one handshake, not for a handshake retry (5 s): the handshakes members
 *    start toward the new key (the kernel driver does so for a peer that
 *    replaces one it had a session with) reach an interface still on the old
 *    key and fail, so they cannot cross this node's own, which would make
 *    both fail. An interface that cannot take the key leaves that mesh's
 *    members on the new key and the interface on the old one until a
 *    restart applies the stored key (the error says so).
 */
import type {Clock} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import {InvalidInputError, KeyRotationError} from '../errors.js';
import {generateWgPrivateKey, storeWgPrivateKey, type NodeIdentity} from '../identity/identity.js';
import type {MeshRuntime} from './mesh-runtime.js';

/** What a rotation did (the `node.rotateKeys` IPC result). */
export interface KeyRotationResult {
  /** The WireGuard public key before. */
  oldPublicKey: string;
  /** The WireGuard public key now. */
  newPublicKey: string;
  /** The meshes whose record now carries the new key. */
  meshIds: string[];
}

/** Everything a rotation needs. */
export interface KeyRotationDeps {
  identity: NodeIdentity;
  /** The identity file the daemon loaded `identity` from. */
  identityFile: string;
  /** Every mesh this node is in. */
  meshes: readonly MeshRuntime[];
  clock: Clock;
  logger: Logger;
}

/**
 * Refuse a `--mesh` rotation that would change the key in other meshes too.
 * @throws InvalidInputError when `meshId` is not this node's only mesh
 */
export function checkRotationScope(meshId: string | undefined, meshes: readonly MeshRuntime[]): void {
  if (meshId === undefined) return;
  const others = meshes.filter((runtime) => runtime.meshId !== meshId).map((runtime) => runtime.meshId);
  if (others.length === 0) return;
  throw new InvalidInputError(
    `the WireGuard key is per node, and this node uses it in ${others.length + 1} meshes (${[meshId, ...others].sort().join(', ')}): a rotation changes it in all of them; run 'wgmesh node rotate-keys' without --mesh`,
  );
}

/**
 * Replace this node's WireGuard key pair (see the module comment for the
 * order). Call with no other mesh operation running (the daemon's queue).
 * @throws KeyRotationError naming the meshes whose interface kept the old key (a restart applies the new one)
 */
export async function rotateWgKey(deps: KeyRotationDeps): Promise<KeyRotationResult> {
  const {identity, logger} = deps;
  const oldPublicKey = identity.wgPublicKey;
  const privateKey = generateWgPrivateKey();
  await storeWgPrivateKey(deps.identityFile, identity, privateKey);
  identity.rotateWgKey(privateKey, deps.clock.now());
  const newPublicKey = identity.wgPublicKey;
  logger.info({oldPublicKey, newPublicKey}, 'WireGuard key rotated and stored; applying it to every mesh');
  const failed: string[] = [];
  for (const runtime of deps.meshes) {
    try {
      await runtime.rekey();
    } catch (error) {
      logger.error({err: error, meshId: runtime.meshId}, 'could not put the new WireGuard key on the interface of this mesh');
      failed.push(`${runtime.meshId} (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  if (failed.length > 0) {
    throw new KeyRotationError(
      `the new WireGuard key ${newPublicKey} is stored, but could not be applied in ${failed.join('; ')}: restart the daemon, which applies the stored key to every mesh`,
    );
  }
  return {oldPublicKey, newPublicKey, meshIds: deps.meshes.map((runtime) => runtime.meshId)};
}
