/**
 * @wgmesh/store-automerge: the mesh as an Automerge document, synced with
 * Automerge's own sync protocol. Importing this module does not load
 * Automerge: `loadAutomerge()` (called by the factory) does.
 */
export {automergeStoreFactory} from './factory.js';
export {AutomergeStore, AUTOMERGE_KIND} from './store.js';
export {AutomergeSyncSession, MAX_GENERATION_LEAP} from './sync-session.js';
export {loadAutomerge, type AutomergeApi, type DocHandle, type SyncStateHandle} from './automerge-api.js';
export {resolveSettings, DEFAULT_HISTORY_LIMIT, HISTORY_PER_ENTRY, type AutomergeStoreSettings} from './settings.js';
export {PROTOCOL_VERSION as AUTOMERGE_SYNC_PROTOCOL_VERSION} from './protocol.js';
export {SNAPSHOT_FORMAT as AUTOMERGE_SNAPSHOT_FORMAT, SNAPSHOT_VERSION as AUTOMERGE_SNAPSHOT_VERSION} from './snapshot.js';
export {MAX_ASSEMBLED_MESSAGE_BYTES, MAX_SNAPSHOT_BYTES, MAX_SYNC_MESSAGE_BYTES, MAX_SESSION_MESSAGES} from './limits.js';
