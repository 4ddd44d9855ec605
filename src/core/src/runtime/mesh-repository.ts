/**
 * On-disk state of the meshes a node is in: `<dataDir>/meshes/<meshId>/`
 * holds `settings.json` (the node's choices for that mesh) and `state.bin`
 * (the store's last saved state). Every write is atomic, so a crash leaves
 * either the old or the new file, never half of one.
 */
import {readdir, rm} from 'node:fs/promises';
import {join} from 'node:path';
import {isMeshId} from '../addressing/mesh-id.js';
import {z} from 'zod';
import type {AliasClaimLine} from '../model/alias-claims.js';
import {readJsonFile, readOptionalFile, writeFileAtomic} from '../util/files.js';
import {meshSettingsFileSchema, type MeshSettings} from './mesh-settings.js';

const aliasClaimLinesSchema = z.array(z.tuple([z.string().regex(/^[0-9a-f]{32}$/), z.string().max(63), z.number().int().nonnegative()]));

/** Reads and writes the per-mesh files under a data dir. */
export class MeshRepository {
  private readonly root: string;

  /** @param dataDir the daemon's data directory */
  constructor(dataDir: string) {
    this.root = join(dataDir, 'meshes');
  }

  /** Mesh ids that have a settings file, sorted. */
  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names.filter(isMeshId).sort();
  }

  /** The saved settings and state of a mesh; `settings` is undefined when there are none. */
  async load(meshId: string): Promise<{settings: MeshSettings | undefined; state: Uint8Array | undefined}> {
    const settings = await readJsonFile(join(this.root, meshId, 'settings.json'), meshSettingsFileSchema, 'mesh settings');
    const state = await readOptionalFile(join(this.root, meshId, 'state.bin'));
    return {settings, state};
  }

  /** Save a mesh's settings (0600: they may name hook commands). */
  async saveSettings(settings: MeshSettings): Promise<void> {
    await writeFileAtomic(join(this.root, settings.meshId, 'settings.json'), JSON.stringify(settings, null, 2) + '\n', 0o600);
  }

  /** Save a mesh's store state. */
  async saveState(meshId: string, state: Uint8Array): Promise<void> {
    await writeFileAtomic(join(this.root, meshId, 'state.bin'), state, 0o600);
  }

  /** Save when this node first saw each alias claim of a mesh (`aliases.json`). */
  async saveAliasClaims(meshId: string, lines: readonly AliasClaimLine[]): Promise<void> {
    await writeFileAtomic(join(this.root, meshId, 'aliases.json'), JSON.stringify(lines) + '\n', 0o600);
  }

  /** The alias claim times saved for a mesh; undefined when none were saved. */
  async loadAliasClaims(meshId: string): Promise<AliasClaimLine[] | undefined> {
    return readJsonFile(join(this.root, meshId, 'aliases.json'), aliasClaimLinesSchema, 'alias claim times');
  }

  /** Forget a mesh. */
  async remove(meshId: string): Promise<void> {
    await rm(join(this.root, meshId), {recursive: true, force: true});
  }
}
