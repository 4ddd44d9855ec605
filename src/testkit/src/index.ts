/**
 * @wgmesh/testkit: helpers for testing and simulating wgmesh (simulated
 * clock, in-memory transport, signed fixtures, backend contexts, network
 * namespaces). The compliance suites, which need vitest, are in
 * `@wgmesh/testkit/compliance`.
 */
export * from './simulated-clock.js';
export * from './memory-transport.js';
export * from './signed-fixtures.js';
export * from './netns.js';
export * from './requirements.js';
export * from './seeded-random.js';
export * from './views.js';
export * from './backend-context.js';
