/**
 * On-disk state of the meshes a node is in: `<dataDir>/meshes/<meshId>/`
 * holds `settings.json` (the node's choices for that mesh) and `state.bin`
 * (the store's last saved state). Every write is atomic, so a crash leaves
 * either the old or the new file, never half of one. A file found damaged is
 * renamed aside (`<name>.unreadable-<time>`), never deleted; so is the
 * directory of a mesh that cannot be restored at all. The one exception is
 * `endpoints.json`, a hint written at a clean stop and deleted when the next
 * start reads it, readable or not.
 */
import {readdir, rename, rm} from 'node:fs/promises';
import {join} from 'node:path';
import {isMeshId} from '../addressing/mesh-id.js';
import {z} from 'zod';
import type {AliasClaimLine} from '../model/alias-claims.js';
import {parseJson, readJsonFile, readOptionalFile, writeFileAtomic} from '../util/files.js';
import {learnedEndpointsSchema} from './learned-endpoints.js';
import {meshSettingsFileSchema, type MeshSettings} from './mesh-settings.js';

const aliasClaimLinesSchema = z.array(z.tuple([z.string().regex(/^[0-9a-f]{32}$/), z.string().max(63), z.number().int().nonnegative()]));

/** The files of one mesh that may be set aside. */
export type MeshFile = 'settings.json' | 'state.bin';

/** What was found on disk for one mesh. */
export interface StoredMesh {
  /** The settings; undefined when missing or unreadable. */
  settings: MeshSettings | undefined;
  /** Why `settings.json` could not be used, when it exists but is unreadable. */
  settingsError: string | undefined;
  /** The saved store state, when there is a file. */
  state: Uint8Array | undefined;
}

/** A mesh directory set aside because the mesh could not be restored. */
export interface SetAsideMesh {
  meshId: string;
  path: string;
}

const SET_ASIDE = /^([a-z2-7]{26})\.unreadable-[0-9TZ-]+$/;

/** The suffix of a set-aside file or directory: when it was set aside, safe in a file name. */
function asideSuffix(now: number): string {
  return `.unreadable-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
}

/** Reads and writes the per-mesh files under a data dir. */
export class MeshRepository {
  private readonly root: string;

  /** @param dataDir the daemon's data directory */
  constructor(dataDir: string) {
    this.root = join(dataDir, 'meshes');
  }

  /** The directory of a mesh's files. */
  directory(meshId: string): string {
    return join(this.root, meshId);
  }

  /** Mesh ids that have a directory, sorted. */
  async list(): Promise<string[]> {
    return (await this.names()).filter(isMeshId).sort();
  }

  /** Directories of meshes that could not be restored, set aside by {@link setAsideMesh}, sorted. */
  async listSetAside(): Promise<SetAsideMesh[]> {
    return (await this.names())
      .sort()
      .flatMap((name) => {
        const meshId = SET_ASIDE.exec(name)?.[1];
        return meshId === undefined ? [] : [{meshId, path: join(this.root, name)}];
      });
  }

  private async names(): Promise<string[]> {
    try {
      return await readdir(this.root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /**
   * The saved settings and state of a mesh. An unreadable settings file is
   * reported in `settingsError`, not thrown: the caller decides what to
   * rebuild from the rest.
   */
  async load(meshId: string): Promise<StoredMesh> {
    let settings: MeshSettings | undefined;
    let settingsError: string | undefined;
    const bytes = await readOptionalFile(join(this.root, meshId, 'settings.json'));
    if (bytes !== undefined) {
      const parsed = parseJson(bytes, meshSettingsFileSchema);
      if (!parsed.ok) settingsError = `settings.json is ${parsed.problem}`;
      else if (parsed.value.meshId !== meshId) settingsError = `settings.json names another mesh (${parsed.value.meshId})`;
      else settings = parsed.value;
    }
    const state = await readOptionalFile(join(this.root, meshId, 'state.bin'));
    return {settings, settingsError, state};
  }

  /** Save a mesh's settings (0600: they may name hook commands). */
  async saveSettings(settings: MeshSettings): Promise<void> {
    await writeFileAtomic(join(this.root, settings.meshId, 'settings.json'), JSON.stringify(settings, null, 2) + '\n', 0o600);
  }

  /** Save a mesh's store state. */
  async saveState(meshId: string, state: Uint8Array): Promise<void> {
    await writeFileAtomic(join(this.root, meshId, 'state.bin'), state, 0o600);
  }

  /** Rename a damaged file of a mesh aside (kept for inspection); returns its new path. */
  async setAside(meshId: string, file: MeshFile, now: number): Promise<string> {
    const from = join(this.root, meshId, file);
    const to = from + asideSuffix(now);
    await rename(from, to);
    return to;
  }

  /** Rename the directory of a mesh that cannot be restored aside (kept, no longer restored); returns its new path. */
  async setAsideMesh(meshId: string, now: number): Promise<string> {
    const from = join(this.root, meshId);
    const to = from + asideSuffix(now);
    await rename(from, to);
    return to;
  }

  /** Save when this node first saw each alias claim of a mesh (`aliases.json`). */
  async saveAliasClaims(meshId: string, lines: readonly AliasClaimLine[]): Promise<void> {
    await writeFileAtomic(join(this.root, meshId, 'aliases.json'), JSON.stringify(lines) + '\n', 0o600);
  }

  /** The alias claim times saved for a mesh; undefined when none were saved. */
  async loadAliasClaims(meshId: string): Promise<AliasClaimLine[] | undefined> {
    return readJsonFile(join(this.root, meshId, 'aliases.json'), aliasClaimLinesSchema, 'alias claim times');
  }

  /** Save the endpoints WireGuard learned for peers that advertise none (`endpoints.json`; see learned-endpoints.ts). */
  async saveLearnedEndpoints(meshId: string, entries: ReadonlyArray<readonly [string, string]>): Promise<void> {
    await writeFileAtomic(join(this.root, meshId, 'endpoints.json'), JSON.stringify(entries) + '\n', 0o600);
  }

  /**
   * Take the saved learned endpoints of a mesh: read and delete the file
   * (they are a hint for the next start only).
   * @returns them, or undefined when none were saved
   * @throws DecodeError when the file is not a valid list (it is deleted all the same)
   */
  async takeLearnedEndpoints(meshId: string): Promise<Map<string, string> | undefined> {
    const file = join(this.root, meshId, 'endpoints.json');
    try {
      const entries = await readJsonFile(file, learnedEndpointsSchema, 'learned WireGuard endpoints');
      return entries === undefined ? undefined : new Map(entries);
    } finally {
      await rm(file, {force: true});
    }
  }

  /** Forget a mesh. */
  async remove(meshId: string): Promise<void> {
    await rm(join(this.root, meshId), {recursive: true, force: true});
  }
}
