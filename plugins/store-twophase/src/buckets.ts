/**
 * Key-space buckets for reconciliation. Node ids are the hex of a SHA-256
 * prefix, so they are uniform: the first `bits` bits of an id split the state
 * into 2^bits buckets of about equal size. Two replicas compare one short sum
 * per bucket and then look inside the buckets that differ only.
 *
 * A store keeps a {@link BucketIndex} at a fixed fine resolution, updated on
 * every change, so a sync session never walks the whole state: the digests of
 * coarser buckets are sums of fine ones, and the entries of a bucket are the
 * members of its fine buckets.
 */
import type {VerifiedEntry} from '@wgmesh/core';
import {addInto, addLimbs, limbsToBytes} from '@wgmesh/core';

/** Resolution the index keeps (4,096 buckets), and so the most bits a session may use. */
export const MAX_BUCKET_BITS = 12;
/** Bytes of one bucket digest: a 128-bit sum (collision odds 2^-128 by accident). */
export const BUCKET_DIGEST_BYTES = 16;
/**
 * Entries per bucket the bucket count aims at. Fewer buckets mean a smaller
 * digest list but longer summaries per differing bucket; about 16 balances the
 * two for the typical anti-entropy case of a few dozen changed records in
 * thousands (see bench/store-merge-sync.md).
 */
const TARGET_ENTRIES_PER_BUCKET = 16;
const LIMBS = BUCKET_DIGEST_BYTES / 4;
const FINE_COUNT = 2 ** MAX_BUCKET_BITS;

/** The bucket count (as bits) for reconciling states of about `size` entries. */
export function bucketBitsFor(size: number): number {
  const bits = Math.ceil(Math.log2(Math.max(size, 1) / TARGET_ENTRIES_PER_BUCKET));
  return Math.min(MAX_BUCKET_BITS, Math.max(0, bits));
}

/** The bucket of a node id (32 hex digits) at `bits` bits (at most {@link MAX_BUCKET_BITS}). */
export function bucketOf(id: string, bits: number): number {
  // 12 bits are the first 3 hex digits.
  return Number.parseInt(id.slice(0, 3), 16) >>> (MAX_BUCKET_BITS - bits);
}

/** The indices (ascending) of buckets whose digests differ between two digest lists of equal length. */
export function differingBuckets(ours: Uint8Array, theirs: Uint8Array): number[] {
  const out: number[] = [];
  const count = ours.byteLength / BUCKET_DIGEST_BYTES;
  for (let bucket = 0; bucket < count; bucket++) {
    const start = bucket * BUCKET_DIGEST_BYTES;
    for (let i = start; i < start + BUCKET_DIGEST_BYTES; i++) {
      if (ours[i] !== theirs[i]) {
        out.push(bucket);
        break;
      }
    }
  }
  return out;
}

/** Held entries grouped by fine bucket, with each bucket's running 128-bit hash sum. */
export class BucketIndex {
  private readonly sums = new Uint32Array(FINE_COUNT * LIMBS);
  /** Members per fine bucket; a few entries each even in large meshes, so plain arrays. */
  private readonly members: (VerifiedEntry[] | undefined)[] = new Array(FINE_COUNT);

  /** Record that `entry` is now held, replacing `previous` (the same node's old entry) if given. */
  put(entry: VerifiedEntry, previous?: VerifiedEntry): void {
    if (previous !== undefined) this.delete(previous);
    const fine = bucketOf(entry.value.id, MAX_BUCKET_BITS);
    addInto(this.sums, fine * LIMBS, LIMBS, entry.hash, false);
    (this.members[fine] ??= []).push(entry);
  }

  /** Record that `entry` is no longer held. */
  delete(entry: VerifiedEntry): void {
    const fine = bucketOf(entry.value.id, MAX_BUCKET_BITS);
    const list = this.members[fine];
    const at = list?.indexOf(entry) ?? -1;
    if (list === undefined || at < 0) return;
    list.splice(at, 1);
    addInto(this.sums, fine * LIMBS, LIMBS, entry.hash, true);
  }

  /**
   * The digest of every bucket at `bits` bits, concatenated: bucket `i`
   * occupies bytes `[i·16, (i+1)·16)`, the sum of its fine buckets' sums.
   */
  digests(bits: number): Uint8Array {
    const count = 2 ** bits;
    const span = FINE_COUNT / count;
    const coarse = new Uint32Array(count * LIMBS);
    for (let fine = 0; fine < FINE_COUNT; fine++) addLimbs(coarse, Math.floor(fine / span) * LIMBS, this.sums, fine * LIMBS, LIMBS);
    return limbsToBytes(coarse, 0, coarse.length);
  }

  /** The entries in the given buckets at `bits` bits. */
  entriesIn(bits: number, buckets: Iterable<number>): VerifiedEntry[] {
    const span = FINE_COUNT / 2 ** bits;
    const out: VerifiedEntry[] = [];
    for (const bucket of buckets) {
      for (let fine = bucket * span; fine < (bucket + 1) * span; fine++) {
        const list = this.members[fine];
        if (list !== undefined) out.push(...list);
      }
    }
    return out;
  }
}
