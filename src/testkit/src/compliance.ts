/**
 * @wgmesh/testkit/compliance: the reusable vitest suites every store and
 * transport implementation runs, third-party ones included (they need vitest),
 * plus everything in `@wgmesh/testkit`.
 */
export * from './index.js';
export * from './store-compliance.js';
export * from './transport-compliance.js';
