/**
 * Module resolution hooks (registered by index.js before anything loads the
 * store or the control plane) that give signature verification a
 * process-wide cache.
 *
 * Why: N replicas in one process each verify every entry they receive, so a
 * mesh of N nodes costs N x N Ed25519 verifications (100 million, ~7 CPU hours,
 * at 10,000 nodes) and N x N copies of every entry in memory. Real daemons run
 * on N machines and do this work in parallel; it does not move the simulated
 * clock at all. So inside the simulation, and only there, each distinct entry
 * is verified once (by the real `verifyEntry`) and every store gets the same
 * immutable VerifiedEntry back. Everything else in the store (merge rule,
 * digests, bucket index, sync sessions, snapshots) runs unchanged. The same
 * goes for the membership statements (signed claims and refutations) the
 * control plane verifies: each distinct statement is verified once.
 *
 * Redirected imports: in `@wgmesh/store-twophase`'s files, `@wgmesh/core` to
 * verify-cache-core.js (core with a caching `verifyEntry`); in core's
 * `control/membership-view.js`, `./statements.js` to statement-cache.js and
 * `./ring.js` to ring-cache.js (identical immutable rings shared between
 * nodes instead of each node sorting and holding its own copy).
 * When a file is renamed the redirect simply does not apply: the run is
 * slower, not wrong (the report counts what the caches served).
 */
const STORE_DIST = '/plugins/store-twophase/dist/';
const VIEW = '/src/core/dist/control/membership-view.js';
const CORE_SHIM = new URL('./verify-cache-core.js', import.meta.url).href;
const STATEMENT_SHIM = new URL('./statement-cache.js', import.meta.url).href;
const RING_SHIM = new URL('./ring-cache.js', import.meta.url).href;

/**
 * Node's `resolve` hook.
 * @param {string} specifier
 * @param {{parentURL?: string}} context
 * @param {Function} next
 */
export async function resolve(specifier, context, next) {
  if (context.parentURL?.includes(STORE_DIST) && specifier === '@wgmesh/core') return {url: CORE_SHIM, shortCircuit: true};
  if (context.parentURL?.endsWith(VIEW)) {
    if (specifier === './statements.js') return {url: STATEMENT_SHIM, shortCircuit: true};
    if (specifier === './ring.js') return {url: RING_SHIM, shortCircuit: true};
  }
  return next(specifier, context);
}
