/**
 * The store compliance suite: every {@link StoreBackend} (bundled or
 * third-party) calls {@link describeStoreCompliance} from its own vitest file,
 * and the suite checks the store-agnostic rules of the MeshStore contract, one
 * file a concern: local writes and reads, verification, membership
 * credentials, revocations, versions, tombstones and re-adds, garbage
 * collection without resurrection, digests, snapshots, sync sessions, and
 * that sync sessions converge under any interleaving (property tests with
 * fast-check).
 */
import {describe} from 'vitest';
import type {StoreBackend} from '@wgmesh/core';
import {describeCredentials} from './credentials.js';
import {describeDigest} from './digest.js';
import {describeGarbageCollection} from './garbage-collection.js';
import {describeLocal} from './local.js';
import {describeProperties} from './properties.js';
import {describeRevocations} from './revocations.js';
import {describeSnapshots} from './snapshots.js';
import {StoreSuite} from './suite.js';
import {describeSync} from './sync.js';
import {describeVerification} from './verification.js';
import {describeVersions} from './versions.js';

export {COMPLIANCE_CLOCK_SKEW_MS, COMPLIANCE_GC_HORIZON_MS, expectedState, runSync, storeState, type SyncRun} from './helpers.js';

/**
 * Register the store compliance suite for a backend. Stores are opened with
 * {@link COMPLIANCE_GC_HORIZON_MS} and {@link COMPLIANCE_CLOCK_SKEW_MS} on a
 * simulated clock. Rejection reasons are matched loosely: core's `verifyEntry`
 * messages as they are, and a reason mentioning "expire" for an entry past the
 * horizon. Malformed sync messages and snapshots must throw core's DecodeError.
 * @param name shown in the test names, e.g. `twophase`
 * @param makeBackend builds the backend under test (called once)
 */
export function describeStoreCompliance(name: string, makeBackend: () => StoreBackend | Promise<StoreBackend>): void {
  describe(`store compliance: ${name}`, () => {
    const suite = new StoreSuite(makeBackend);
    describeLocal(suite);
    describeVerification(suite);
    describeCredentials(suite);
    describeRevocations(suite);
    describeVersions(suite);
    describeGarbageCollection(suite);
    describeDigest(suite);
    describeSnapshots(suite);
    describeSync(suite);
    describeProperties(suite);
  });
}
