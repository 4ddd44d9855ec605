/**
 * Key-space buckets for reconciliation. Node ids are the hex of a SHA-256
 * prefix, so they are uniform: the first `bits` bits of an id split the state
 * into 2^bits buckets of about equal size. Two replicas compare one short sum
 * per bucket and then look inside the buckets that differ only.
 *
 * A store keeps its entries in a {@link BucketIndex} at a fixed fine
 * resolution, updated on every change, so a sync session never walks the
 * whole state: the digests of coarser buckets are sums of fine ones, and the
 * entries of a bucket are the members of its fine buckets.
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

/** The fine bucket of a node id (its first three hex digits), or -1 when they are not lower-case hex. */
function fineBucketOf(id: string): number {
  let fine = 0;
  for (let i = 0; i < 3; i++) {
    const c = id.charCodeAt(i);
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (digit < 0) return -1;
    fine = (fine << 4) | digit;
  }
  return fine;
}

/**
 * The entries a store holds, one per node id, grouped by fine bucket, with
 * each bucket's running 128-bit hash sum. It is the store's only container
 * (lookup by id scans the id's fine bucket: a few entries), because every
 * replica holds the whole mesh and a simulation holds thousands of replicas
 * in one process: ~8 bytes per entry plus 80 KiB per store, where a map by id,
 * a map by signature and 4,096 small arrays cost ~170 bytes per entry at
 * 10,000 entries.
 *
 * Layout: one array of all entries ordered by fine bucket, plus where each
 * bucket starts. Within a bucket, entries keep the order they arrived in and a
 * replaced entry moves to the bucket's end (the order sessions list entries
 * in, as when each bucket was a list it pushed to). Entries of new node ids
 * wait in a small map until {@link flush} merges them in, in one O(n) pass:
 * the store flushes after each batch it applies, so a snapshot or a full mesh
 * costs O(n), not O(n²) moves.
 */
export class BucketIndex {
  private readonly sums = new Uint32Array(FINE_COUNT * LIMBS);
  /** Entries ordered by fine bucket: bucket `f` is `ordered[starts[f] .. starts[f + 1])`. */
  private ordered: VerifiedEntry[] = [];
  private readonly starts = new Uint32Array(FINE_COUNT + 1);
  /** Entries of node ids not in {@link ordered} yet, by id, in arrival order. */
  private pending = new Map<string, VerifiedEntry>();

  /** Number of entries held. */
  get size(): number {
    return this.ordered.length + this.pending.size;
  }

  /** The entry held for node `id`, if any. */
  get(id: string): VerifiedEntry | undefined {
    if (this.pending.size > 0) {
      const waiting = this.pending.get(id);
      if (waiting !== undefined) return waiting;
    }
    const fine = fineBucketOf(id);
    if (fine < 0) return undefined;
    const end = this.starts[fine + 1]!;
    for (let i = this.starts[fine]!; i < end; i++) if (this.ordered[i]!.value.id === id) return this.ordered[i];
    return undefined;
  }

  /** Every entry held, in bucket order. */
  all(): VerifiedEntry[] {
    this.flush();
    return this.ordered.slice();
  }

  /**
   * Record that `entry` is now held, replacing `previous` (the same node's old
   * entry) if given. Call {@link flush} after a batch of puts.
   */
  put(entry: VerifiedEntry, previous?: VerifiedEntry): void {
    const fine = bucketOf(entry.value.id, MAX_BUCKET_BITS);
    if (previous !== undefined && previous.value.id === entry.value.id) {
      if (this.pending.get(previous.value.id) === previous) {
        // Re-inserted, so it moves to the end of the waiting ones, as a replaced entry moves to the end of its bucket.
        this.pending.delete(previous.value.id);
        this.pending.set(entry.value.id, entry);
        addInto(this.sums, fine * LIMBS, LIMBS, previous.hash, true);
        addInto(this.sums, fine * LIMBS, LIMBS, entry.hash, false);
        return;
      }
      this.flush();
      const at = this.indexIn(fine, previous);
      if (at >= 0) {
        // The same node, so the same bucket: drop the old entry and append the new one at the bucket's end, in place.
        addInto(this.sums, fine * LIMBS, LIMBS, previous.hash, true);
        this.ordered.copyWithin(at, at + 1, this.starts[fine + 1]!);
        this.ordered[this.starts[fine + 1]! - 1] = entry;
        addInto(this.sums, fine * LIMBS, LIMBS, entry.hash, false);
        return;
      }
    } else if (previous !== undefined) this.delete(previous);
    addInto(this.sums, fine * LIMBS, LIMBS, entry.hash, false);
    // A node's entry is in one place only: one still held under this id (not passed as `previous`) is dropped first.
    const held = this.get(entry.value.id);
    if (held !== undefined) this.delete(held);
    this.pending.set(entry.value.id, entry);
  }

  /** Record that `entry` is no longer held (nothing happens when it is not). */
  delete(entry: VerifiedEntry): void {
    if (this.pending.get(entry.value.id) === entry) {
      this.pending.delete(entry.value.id);
      this.subtract(entry);
      return;
    }
    this.flush();
    const fine = bucketOf(entry.value.id, MAX_BUCKET_BITS);
    const at = this.indexIn(fine, entry);
    if (at < 0) return;
    this.ordered.splice(at, 1);
    for (let f = fine + 1; f <= FINE_COUNT; f++) this.starts[f]!--;
    this.subtract(entry);
  }

  /** Drop every entry `drop` says to, in one pass; returns them. */
  deleteWhere(drop: (entry: VerifiedEntry) => boolean): VerifiedEntry[] {
    this.flush();
    const dropped: VerifiedEntry[] = [];
    const kept: VerifiedEntry[] = [];
    for (let f = 0; f < FINE_COUNT; f++) {
      const start = this.starts[f]!;
      const end = this.starts[f + 1]!;
      this.starts[f] = kept.length;
      for (let i = start; i < end; i++) {
        const entry = this.ordered[i]!;
        if (drop(entry)) {
          dropped.push(entry);
          this.subtract(entry);
        } else kept.push(entry);
      }
    }
    this.starts[FINE_COUNT] = kept.length;
    if (dropped.length > 0) this.ordered = kept;
    return dropped;
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
    this.flush();
    const span = FINE_COUNT / 2 ** bits;
    const out: VerifiedEntry[] = [];
    for (const bucket of buckets) {
      const end = this.starts[(bucket + 1) * span]!;
      for (let i = this.starts[bucket * span]!; i < end; i++) out.push(this.ordered[i]!);
    }
    return out;
  }

  /** Merge the waiting entries of new node ids in, each at the end of its bucket: one O(n + buckets) pass. */
  flush(): void {
    if (this.pending.size === 0) return;
    const added = [...this.pending.values()];
    this.pending = new Map();
    const fines = new Uint16Array(added.length);
    const addedStarts = new Uint32Array(FINE_COUNT + 1);
    added.forEach((entry, i) => {
      fines[i] = bucketOf(entry.value.id, MAX_BUCKET_BITS);
      addedStarts[fines[i]! + 1]!++;
    });
    // Group the new entries by bucket (a counting sort, stable: arrival order within a bucket).
    for (let f = 0; f < FINE_COUNT; f++) addedStarts[f + 1]! += addedStarts[f]!;
    const grouped: VerifiedEntry[] = new Array(added.length);
    const fill = addedStarts.slice(0, FINE_COUNT);
    added.forEach((entry, i) => (grouped[fill[fines[i]!]!++] = entry));
    // Interleave: each bucket's held entries, then its new ones.
    const old = this.ordered;
    const merged: VerifiedEntry[] = new Array(old.length + added.length);
    let out = 0;
    for (let f = 0; f < FINE_COUNT; f++) {
      const oldEnd = this.starts[f + 1]!;
      const from = this.starts[f]!;
      this.starts[f] = out;
      for (let i = from; i < oldEnd; i++) merged[out++] = old[i]!;
      for (let i = addedStarts[f]!; i < addedStarts[f + 1]!; i++) merged[out++] = grouped[i]!;
    }
    this.starts[FINE_COUNT] = out;
    this.ordered = merged;
  }

  /** Where `entry` (that very object) is in fine bucket `fine` of {@link ordered}, or -1. */
  private indexIn(fine: number, entry: VerifiedEntry): number {
    for (let i = this.starts[fine]!; i < this.starts[fine + 1]!; i++) if (this.ordered[i] === entry) return i;
    return -1;
  }

  private subtract(entry: VerifiedEntry): void {
    addInto(this.sums, bucketOf(entry.value.id, MAX_BUCKET_BITS) * LIMBS, LIMBS, entry.hash, true);
  }
}
