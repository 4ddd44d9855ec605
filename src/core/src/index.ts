/**
 * @wgmesh/core: what the CLI and plugins import: contracts, the signed model,
 * identity, addressing, trust, config, the daemon and what it is built from
 * that a plugin reuses. The daemon's internals (its mesh runtime, DNS,
 * metrics and HTTP servers, hooks, NAT agent, WireGuard plan) are not
 * exported; core's own tests import them by path.
 */
export * from './errors.js';
export * from './contracts/clock.js';
export * from './contracts/logger.js';
export * from './contracts/store.js';
export * from './contracts/transport.js';
export * from './contracts/wg-driver.js';
export * from './wg/validate.js';
export * from './contracts/backend.js';
export * from './model/record.js';
export * from './model/entries.js';
export * from './model/aliases.js';
export * from './model/alias-claims.js';
export * from './model/invalid-entries.js';
export * from './model/store-support.js';
export * from './model/sync-session-base.js';
export * from './addressing/mesh-id.js';
export * from './addressing/address.js';
export * from './identity/identity.js';
export * from './ipc/methods.js';
export * from './util/codec.js';
export * from './util/clock.js';
export * from './util/files.js';
export * from './runtime/daemon.js';
export * from './runtime/verify-pool.js';
export * from './runtime/snapshot-load.js';
export * from './model/prepared-verdicts.js';
export * from './runtime/mesh-settings.js';
export * from './runtime/mesh-repository.js';
export * from './runtime/data-dir.js';
export * from './runtime/data-dir-format.js';
export * from './runtime/endpoint.js';
export * from './runtime/interface-name.js';
export {natSettings, type NatConfig, type NatSettings} from './nat/agent.js';
export {homePeer} from './runtime/wg-plan.js';
export * from './routing/index.js';
export * from './util/serial-queue.js';
export * from './util/multiset-hash.js';
export * from './runtime/ipc-handlers.js';
export * from './util/pid-lock.js';
export * from './util/group.js';
export * from './registry/index.js';
export * from './config/index.js';
export * from './ipc/server.js';
export * from './util/logger.js';
export * from './certs/index.js';
export {MeshControl, deriveTimings, signStatement, statementToWire, type ControlSettings, type ControlStats, type LiveViewChange} from './control/index.js';
export * from './util/log-limiter.js';
export * from './util/rate-limiter.js';
export {MAX_CONTROL_MESSAGE_BYTES, encodeControlRequest, decodeControlReply, encodeControlReply, decodeControlRequest} from './control/index.js';
export * from './trust/index.js';
export {apiSettingsOf, type ApiSettings} from './api/settings.js';
