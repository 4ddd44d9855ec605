/**
 * What every MeshStore implementation does the same way: the digest's byte
 * layout, the records among its entries, and how a merge's outcome is
 * reported (rejections logged with a bound a hostile peer cannot lift,
 * listeners told of each change).
 */
import type {Logger} from '../contracts/logger.js';
import type {MergeResult, StoreChange} from '../contracts/store.js';
import type {MultisetHash} from '../util/multiset-hash.js';
import {isRecord, type NodeRecord, type VerifiedEntry} from './record.js';

/** Rejections of one merge logged one by one; the rest are summed up in one line. */
export const MAX_REJECTIONS_LOGGED = 10;

/** A store's digest: 40 bytes, the entry count (8 bytes, big-endian) then the 256-bit sum of the entry hashes. */
export function storeDigest(entryCount: number, hashSum: MultisetHash): Uint8Array {
  const out = new Uint8Array(40);
  new DataView(out.buffer).setBigUint64(0, BigInt(entryCount));
  out.set(hashSum.bytes(), 8);
  return out;
}

/** The node records among `entries` (tombstones and revocations left out). */
export function recordsOf(entries: Iterable<VerifiedEntry>): NodeRecord[] {
  const out: NodeRecord[] = [];
  for (const entry of entries) if (isRecord(entry)) out.push(entry.value);
  return out;
}

/**
 * Report what a merge did: log its rejections (at most
 * {@link MAX_REJECTIONS_LOGGED} one by one) and tell every listener of every
 * change; a listener that throws is logged and stops neither the others nor
 * the merge.
 */
export function reportMerge(
  logger: Logger,
  meshId: string,
  rejected: MergeResult['rejected'],
  changes: readonly StoreChange[],
  listeners: Iterable<(change: StoreChange) => void>,
): void {
  for (const rejection of rejected.slice(0, MAX_REJECTIONS_LOGGED)) {
    logger.warn({meshId, nodeId: rejection.id, reason: rejection.reason}, 'rejected an entry');
  }
  if (rejected.length > MAX_REJECTIONS_LOGGED) {
    logger.warn({meshId, count: rejected.length - MAX_REJECTIONS_LOGGED}, 'rejected more entries (not logged one by one)');
  }
  for (const change of changes) {
    for (const listener of listeners) {
      try {
        listener(change);
      } catch (error) {
        logger.error({meshId, nodeId: change.id, err: error}, 'a store change listener failed');
      }
    }
  }
}
