/**
 * Loading a whole snapshot into a store (a join, a restart) with its entries
 * checked in worker threads first, so the store's synchronous merge spends
 * no Ed25519 time on the main thread and heartbeats keep being answered.
 */
import type {MergeResult, MeshStore} from '../contracts/store.js';
import {withPreparedVerdicts} from '../model/prepared-verdicts.js';
import type {VerifyPool} from './verify-pool.js';

/**
 * `store.load(snapshot)`, or, when the store can list a snapshot's entries
 * and merge that list, the list checked by `pool` beforehand and then merged;
 * the result is the same either way.
 * @throws what `store.load` throws; the signal's reason when it aborts
 */
export async function loadSnapshot(store: MeshStore, snapshot: Uint8Array, pool: VerifyPool | undefined, signal?: AbortSignal): Promise<MergeResult> {
  const {snapshotEntries, loadEntries} = store;
  if (pool === undefined || !pool.enabled || snapshotEntries === undefined || loadEntries === undefined) return store.load(snapshot);
  // Decoded once: the workers check these entries and the store merges them.
  const entries = snapshotEntries.call(store, snapshot);
  const verdicts = await pool.prepare(store.meshId, entries, signal);
  return withPreparedVerdicts(verdicts, () => loadEntries.call(store, entries));
}
