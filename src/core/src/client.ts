/**
 * @wgmesh/core/client: the small part of core a CLI command needs to talk to a
 * running daemon. Kept apart from the main entry so that commands like
 * `wgmesh mesh list` load no store, runtime or crypto code and start fast.
 */
import type {ResolveSocketOptions} from './config/load.js';
import {socketPathWithoutConfig} from './config/paths.js';

export type {ResolveSocketOptions} from './config/load.js';
export * from './errors.js';
// Types only: the zod schemas of the IPC parameters are the daemon's (it validates
// what it receives), and building them would cost every CLI start.
export type * from './ipc/methods.js';
export {IpcClient} from './ipc/client.js';
export {socketPathWithoutConfig} from './config/paths.js';
export {assertMeshId, isMeshId} from './addressing/mesh-id.js';
export {isValidAlias, normaliseAlias} from './model/aliases.js';
export {RECORD_LIMITS} from './model/limits.js';
export {ipcResultProblem} from './ipc/results.js';

/**
 * The IPC socket the CLI should dial, without a daemon: `--socket` >
 * `WGMESH_SOCKET` > the config file's `socket` > its `dataDir`/wgmesh.sock >
 * the default data directory/wgmesh.sock. The same function as core's
 * `resolveSocketPath` (config/load.ts), except that the config schema and the
 * YAML parser are loaded only when a config file has to be read.
 * @throws ConfigError when the file cannot be read or its `socket`/`dataDir` are invalid.
 */
export async function resolveSocketPath(options: ResolveSocketOptions = {}): Promise<string> {
  return socketPathWithoutConfig(options) ?? (await import('./config/load.js')).resolveSocketPath(options);
}
export {parseDurationMs, formatDurationMs} from './config/duration.js';
export {truncate} from './util/text.js';
export {HANDSHAKE_FRESH_MS, handshakeState, type HandshakeState} from './views/handshake.js';
