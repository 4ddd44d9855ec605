/**
 * What the checks share: the daemon's configuration, the mesh settings on
 * disk, a bounded command runner, and what the running daemon says about
 * itself (status and `mesh show` of each mesh). Each is fetched at most once,
 * on first use, so checks that need the same fact do not ask twice, and every
 * daemon call is bounded in time.
 */
import {readFile} from 'node:fs/promises';
import {join} from 'node:path';
import {MeshRepository, loadConfig, meshSettingsFileSchema, readJsonFile, type ConfigOverrides, type DaemonConfig, type MeshSettings} from '@wgmesh/core';
import {IpcClient, type MeshShowView, type StatusView} from '@wgmesh/core/client';
import {ExecRunner, type CommandRunner} from '@wgmesh/wg-kernel';
import {checkedCall} from '../base-command.js';

/** Time one daemon call or one tool run may take. */
export const PROBE_TIMEOUT_MS = 3_000;

/** The daemon's configuration, or why it could not be read. */
export type ConfigFacts = {config: DaemonConfig; error?: undefined} | {config?: undefined; error: string};

/** What the running daemon says, or why it could not be asked. */
export type DaemonFacts =
  | {reachable: true; socket: string; status: StatusView; meshes: MeshShowView[]; meshErrors: {meshId: string; error: string}[]}
  | {reachable: false; socket: string | null; error: string; cause: unknown};

/** The meshes this node is in, as saved in the data dir. */
export interface StoredMeshes {
  settings: MeshSettings[];
  /** Meshes whose settings.json could not be read (and why). */
  unreadable: {meshId: string; error: string}[];
}

/** Options of {@link DoctorContext}. */
export interface DoctorContextOptions {
  /** `--config`. */
  configFile?: string | undefined;
  /** `--socket`, `--data-dir`. */
  overrides?: ConfigOverrides;
  /** Environment (PATH decides which tools are found). */
  env?: NodeJS.ProcessEnv;
  /** Time limit of each daemon call and tool run (default {@link PROBE_TIMEOUT_MS}). */
  probeTimeoutMs?: number;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The facts the checks share, each computed once. */
export class DoctorContext {
  /** The environment the checks look at (PATH, WG_* variables). */
  readonly env: NodeJS.ProcessEnv;
  /** Runs `ip`, `wg` and the other tools: argument arrays, bounded time. */
  readonly runner: CommandRunner;
  /** Time limit of each daemon call and tool run. */
  readonly probeTimeoutMs: number;
  private readonly options: DoctorContextOptions;
  private configPromise: Promise<ConfigFacts> | undefined;
  private daemonPromise: Promise<DaemonFacts> | undefined;
  private daemonPidPromise: Promise<number | undefined> | undefined;
  private meshesPromise: Promise<StoredMeshes> | undefined;

  constructor(options: DoctorContextOptions = {}) {
    this.options = options;
    this.env = options.env ?? process.env;
    this.probeTimeoutMs = options.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
    this.runner = new ExecRunner({env: this.env, timeoutMs: this.probeTimeoutMs});
  }

  /** The configuration the daemon would load with the same `--config`, `--socket` and `--data-dir`. */
  config(): Promise<ConfigFacts> {
    this.configPromise ??= loadConfig({file: this.options.configFile, overrides: this.options.overrides ?? {}, env: this.env}).then(
      (config) => ({config}),
      (error: unknown) => ({error: message(error)}),
    );
    return this.configPromise;
  }

  /** The meshes saved in the data dir (empty when the config cannot be read). */
  storedMeshes(): Promise<StoredMeshes> {
    this.meshesPromise ??= (async () => {
      const {config} = await this.config();
      const result: StoredMeshes = {settings: [], unreadable: []};
      if (!config) return result;
      const repository = new MeshRepository(config.dataDir);
      for (const meshId of await repository.list()) {
        try {
          const settings = await readJsonFile(join(repository.directory(meshId), 'settings.json'), meshSettingsFileSchema, 'mesh settings file');
          if (settings?.meshId === meshId) result.settings.push(settings);
        } catch (error) {
          result.unreadable.push({meshId, error: message(error)});
        }
      }
      return result;
    })();
    return this.meshesPromise;
  }

  /** What the daemon on the configured socket says: status, then `mesh show` of each of its meshes. */
  daemon(): Promise<DaemonFacts> {
    this.daemonPromise ??= (async (): Promise<DaemonFacts> => {
      const {config, error} = await this.config();
      if (!config) return {reachable: false, socket: null, error: `the config cannot be read, so the socket is unknown: ${error}`, cause: undefined};
      const client = new IpcClient(config.socket, {timeoutMs: this.probeTimeoutMs});
      try {
        const status = await checkedCall(client, 'status', {});
        // All at once on the one connection: the whole takes at most one probe time.
        const shown = await Promise.allSettled(status.meshes.map((mesh) => checkedCall(client, 'mesh.show', {meshId: mesh.meshId})));
        const meshes: MeshShowView[] = [];
        const meshErrors: {meshId: string; error: string}[] = [];
        shown.forEach((result, index) => {
          if (result.status === 'fulfilled') meshes.push(result.value);
          else meshErrors.push({meshId: status.meshes[index]!.meshId, error: message(result.reason)});
        });
        return {reachable: true, socket: config.socket, status, meshes, meshErrors};
      } catch (callError) {
        return {reachable: false, socket: config.socket, error: message(callError), cause: callError};
      } finally {
        client.close();
      }
    })();
    return this.daemonPromise;
  }

  /**
   * The daemon's pid as this process sees it: the pid `status` gave, when
   * /proc shows a `wgmesh daemon` there (a daemon in another pid namespace,
   * e.g. a container, reports a pid that means another process here).
   */
  daemonPid(): Promise<number | undefined> {
    this.daemonPidPromise ??= (async () => {
      const daemon = await this.daemon();
      if (!daemon.reachable) return undefined;
      const argv = (await readFile(`/proc/${daemon.status.pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
      return argv.includes('daemon') ? daemon.status.pid : undefined;
    })();
    return this.daemonPidPromise;
  }
}
