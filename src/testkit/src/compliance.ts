/**
 * @wgmesh/testkit/compliance: the reusable vitest suites every store,
 * transport and WireGuard driver runs, third-party ones included (they need
 * vitest),
 * plus everything in `@wgmesh/testkit`.
 */
export * from './index.js';
export * from './store-compliance/index.js';
export * from './transport-compliance.js';
export * from './wg-driver-compliance/index.js';
