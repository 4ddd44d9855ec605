/**
 * Loading a whole snapshot into a store (a join, a restart) with its entries
 * checked in worker threads first, so the store's synchronous merge spends
 * no Ed25519 time on the main thread and heartbeats keep being answered.
 */
import type {MergeResult, MeshStore} from '../contracts/store.js';
import {withPreparedVerdicts} from '../model/prepared-verdicts.js';
import type {VerifyPool} from './verify-pool.js';

/**
 * `store.load(snapshot)`, with the snapshot's entries checked by `pool`
 * beforehand when the store can list them (and then merged from that list
 * when the store can); the result is the same either way.
 * @throws what `store.load` throws; the signal's reason when it aborts
 */
export async function loadSnapshot(store: MeshStore, snapshot: Uint8Array, pool: VerifyPool | undefined, signal?: AbortSignal): Promise<MergeResult> {
  const {snapshotEntries, loadEntries} = store;
  if (pool === undefined || !pool.enabled || snapshotEntries === undefined) return store.load(snapshot);
  const entries = snapshotEntries.call(store, snapshot);
  const verdicts = await pool.prepare(store.meshId, entries, signal);
  // A store that merges the list it gave has the snapshot decoded once; any other decodes it again in `load`.
  return withPreparedVerdicts(verdicts, () => (loadEntries === undefined ? store.load(snapshot) : loadEntries.call(store, entries)));
}
