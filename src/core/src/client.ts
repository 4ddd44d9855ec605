/**
 * @wgmesh/core/client: the small part of core a CLI command needs to talk to a
 * running daemon. Kept apart from the main entry so that commands like
 * `wgmesh mesh list` load no store, runtime or crypto code and start fast.
 */
export * from './errors.js';
export * from './ipc/methods.js';
export {IpcClient} from './ipc/client.js';
export {resolveSocketPath} from './config/load.js';
export {assertMeshId, isMeshId} from './addressing/mesh-id.js';
export {isValidAlias, normaliseAlias} from './model/aliases.js';
export {RECORD_LIMITS} from './model/record.js';
