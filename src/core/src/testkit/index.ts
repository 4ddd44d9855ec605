/** @wgmesh/core/testkit: helpers and compliance suites for testing wgmesh and third-party plugins. */
export * from './simulated-clock.js';
export * from './memory-transport.js';
export * from './signed-fixtures.js';
export * from './store-compliance.js';
export * from './transport-compliance.js';
export * from './netns.js';
