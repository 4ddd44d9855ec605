/** @wgmesh/store-twophase: the default store, a two-phase map of signed node records with versions and tombstones. */
export {twophaseStoreFactory} from './factory.js';
export {TwoPhaseStore, TWOPHASE_KIND} from './store.js';
export {TwoPhaseSyncSession} from './sync-session.js';
export {PROTOCOL_VERSION as TWOPHASE_SYNC_PROTOCOL_VERSION} from './protocol.js';
export {SNAPSHOT_FORMAT as TWOPHASE_SNAPSHOT_FORMAT, SNAPSHOT_VERSION as TWOPHASE_SNAPSHOT_VERSION} from './snapshot.js';
export {MAX_ENTRIES, MAX_SNAPSHOT_BYTES, MAX_SYNC_MESSAGE_BYTES} from './limits.js';
