/**
 * @wgmesh/core/backends: what a plugin needs to declare backends (contracts,
 * `defineBackend`, errors) and what the CLI needs to collect them (the
 * registry). Kept apart from the main entry so that plugin hooks and
 * `wgmesh backends` load no runtime, store or crypto code.
 */
export * from './errors.js';
export * from './contracts/clock.js';
export * from './contracts/logger.js';
export * from './contracts/store.js';
export * from './contracts/transport.js';
export * from './contracts/wg-driver.js';
export * from './contracts/backend.js';
export * from './registry/index.js';
