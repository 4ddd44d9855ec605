/**
 * Opening a daemon's data dir at start: temporary files a killed daemon left
 * are removed, the format is checked (an older one migrated, a newer one
 * refused), then the node's identity is loaded. A new identity is made only
 * for a data dir without meshes: with meshes on disk, a missing identity file
 * would silently make a new node (new id, new addresses) and leave the old one
 * as a ghost in every mesh.
 */
import {join} from 'node:path';
import type {Logger} from '../contracts/logger.js';
import {IdentityMissingError} from '../errors.js';
import {createIdentity, loadIdentity, type NodeIdentity} from '../identity/identity.js';
import {removeStaleTempFiles} from '../util/files.js';
import {openDataDirFormat} from './data-dir-format.js';
import {MeshRepository} from './mesh-repository.js';

/** Where the identity of the node whose data dir is `dataDir` is stored. */
export function identityFile(dataDir: string): string {
  return join(dataDir, 'identity.json');
}

/**
 * Clean up and load (or, in a data dir without meshes, create) the identity.
 * Call with the data dir's pid lock held: no other process may be writing there.
 * @throws IdentityMissingError when `identity.json` is gone but meshes are on disk.
 * @throws DataDirFormatError when the data dir is of a newer format than this wgmesh reads.
 */
export async function openDataDir(dataDir: string, logger: Logger): Promise<NodeIdentity> {
  const stale = await removeStaleTempFiles(dataDir);
  if (stale.length > 0) logger.info({dataDir, files: stale}, 'removed temporary files left by a daemon that did not stop cleanly');
  await openDataDirFormat(dataDir, logger);
  const file = identityFile(dataDir);
  const identity = await loadIdentity(file);
  if (identity) return identity;
  const repository = new MeshRepository(dataDir);
  const meshes = [...(await repository.list()), ...(await repository.listSetAside()).map((aside) => aside.meshId)];
  if (meshes.length > 0) {
    throw new IdentityMissingError(
      `the identity file ${file} is missing, but ${join(dataDir, 'meshes')} holds meshes of the node it identified (${[...new Set(meshes)].join(', ')}): ` +
        `restore ${file} from a backup to start as that node; or, to start as a new node, move ${join(dataDir, 'meshes')} away and join the meshes again`,
    );
  }
  return createIdentity(file);
}
