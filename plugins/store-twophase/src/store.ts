/**
 * The twophase store: a map from node id to the one entry (record,
 * tombstone or revocation) that wins for that node. The merge rule is core's
 * `compareEntries` (a revocation first, then higher version, then larger
 * content hash), so merging is
 * commutative, associative and idempotent, and replicas that have seen the same
 * entries hold the same state whatever order they saw them in.
 */
import {compareEntries, decode, DecodeError, EntryRejectedError, expiryReason, InvalidInputError, isExpired, MultisetHash, recordsOf, reportMerge, storeDigest, verifyEntry} from '@wgmesh/core';
import type {Logger, MergeResult, MeshStore, MeshStoreOptions, NodeRecord, SignedEntry, StoreChange, SyncRole, SyncSession, VerifiedEntry} from '@wgmesh/core';
import {z} from 'zod';
import {BucketIndex} from './buckets.js';
import {idHint, sameEntry} from './entry-identity.js';
import {decodeSnapshot, encodeSnapshot} from './snapshot.js';
import {TwoPhaseSyncSession, type SyncReplica} from './sync-session.js';

/** The backend name of this store. */
export const TWOPHASE_KIND = 'twophase';

/** What checking one incoming entry found. */
type Checked =
  | {status: 'held'}
  | {status: 'verified'; entry: VerifiedEntry}
  | {status: 'rejected'; id: string | undefined; reason: string; invalid: boolean; entry: SignedEntry};

const claimSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{32}$/).optional().catch(undefined),
  version: z.number().optional().catch(undefined),
  updatedAt: z.number().optional().catch(undefined),
  createdAt: z.number().optional().catch(undefined),
});

/** What a rejected entry claims: its node id, for reporting, and whether any of its times is later than `limit`. */
function claimed(entry: SignedEntry, limit: number): {id?: string; future: boolean} {
  try {
    const {id, version, updatedAt, createdAt} = decode(entry.body, claimSchema, 'entry');
    return {id, future: [version, updatedAt, createdAt].some((at) => at !== undefined && at > limit)};
  } catch {
    return {future: false};
  }
}

/** The default store: a two-phase map of signed node records with versions and tombstones. */
export class TwoPhaseStore implements MeshStore {
  /** Always `twophase`. */
  readonly kind = TWOPHASE_KIND;
  /** The mesh this store holds. */
  readonly meshId: string;
  private readonly options: MeshStoreOptions;
  private readonly logger: Logger;
  /**
   * The held entries, by key-space bucket (so a sync session looks only at the
   * buckets that differ) and by node id. Also how an entry already held is
   * recognised for the cost of a lookup and a byte comparison instead of an
   * Ed25519 verification (~200 µs), since most entries a replica receives it
   * already has: the id is read from the entry's bytes ({@link idHint}), so no
   * index by signature is needed.
   */
  private readonly held = new BucketIndex();
  /** Sum of the held entries' hashes, kept current on every change. */
  private readonly hashSum = new MultisetHash(32);
  private readonly listeners = new Set<(change: StoreChange) => void>();

  /** Open an empty store; see {@link MeshStoreOptions}. */
  constructor(options: MeshStoreOptions) {
    if (!(options.gcHorizonMs > 0)) throw new InvalidInputError(`gcHorizonMs must be positive, got ${options.gcHorizonMs}`);
    if (!(options.maxClockSkewMs >= 0)) throw new InvalidInputError(`maxClockSkewMs must not be negative, got ${options.maxClockSkewMs}`);
    this.options = options;
    this.meshId = options.meshId;
    this.logger = options.logger;
  }

  /** Number of entries held, tombstones included. */
  get size(): number {
    return this.held.size;
  }

  /** Verify and merge entries; an entry identical to one held is a no-op that costs a lookup, not a verification. */
  merge(entries: readonly SignedEntry[]): MergeResult {
    const now = this.options.clock.now();
    const result: MergeResult = {accepted: [], rejected: []};
    const changes: StoreChange[] = [];
    for (const entry of entries) {
      const checked = this.check(entry, now);
      if (checked.status === 'rejected') result.rejected.push({id: checked.id, reason: checked.reason, ...(checked.invalid ? {invalid: true} : {})});
      else if (checked.status === 'verified') this.apply(checked.entry, result, changes);
    }
    this.held.flush();
    reportMerge(this.logger, this.meshId, result.rejected, changes, this.listeners);
    return result;
  }

  /** The entry held for a node (record, tombstone or revocation), if any. */
  get(id: string): VerifiedEntry | undefined {
    return this.held.get(id);
  }

  /** All entries held, tombstones included, sorted by node id. */
  entries(): VerifiedEntry[] {
    return this.held.all().sort((a, b) => (a.value.id < b.value.id ? -1 : a.value.id > b.value.id ? 1 : 0));
  }

  /** The live node records, sorted by id. */
  records(): NodeRecord[] {
    return recordsOf(this.entries());
  }

  /** 40 bytes: the entry count (8 bytes, big-endian) then the 256-bit sum of entry hashes. O(1). */
  digest(): Uint8Array {
    return storeDigest(this.held.size, this.hashSum);
  }

  /** Begin a reconciliation; see `protocol.ts` for the messages. */
  openSync(role: SyncRole): SyncSession {
    const replica: SyncReplica = {
      meshId: this.meshId,
      kind: this.kind,
      size: () => this.held.size,
      digest: () => this.digest(),
      get: (id) => this.held.get(id),
      bucketDigests: (bits) => this.held.digests(bits),
      entriesIn: (bits, buckets) => this.held.entriesIn(bits, buckets),
      isExpired: (entry) => isExpired(entry, this.options.clock.now(), this.options.gcHorizonMs),
      merge: (entries) => this.merge(entries),
    };
    return new TwoPhaseSyncSession(role, replica, this.logger);
  }

  /** A snapshot of every entry held, in node id order (so equal states give equal snapshots). */
  save(): Uint8Array {
    return encodeSnapshot(this.meshId, this.entries());
  }

  /**
   * Merge a snapshot. Every entry is verified before any is merged: one that
   * does not verify (bad bytes, signature, id, address, mesh) makes the whole
   * snapshot corrupt, and nothing changes. Entries refused only for their time
   * (expired, or dated beyond the allowed clock skew) are legitimate in an old
   * or foreign snapshot: they are reported as rejected and the rest is merged.
   * @throws DecodeError when the snapshot is malformed, of another mesh, or holds an entry that does not verify.
   */
  load(snapshot: Uint8Array): MergeResult {
    return this.loadEntries(decodeSnapshot(snapshot, this.meshId));
  }

  /** Merge the entries {@link snapshotEntries} returned, as {@link load} of their snapshot does. @throws DecodeError as `load` does */
  loadEntries(signed: readonly SignedEntry[]): MergeResult {
    const now = this.options.clock.now();
    const verified: VerifiedEntry[] = [];
    const rejected: MergeResult['rejected'] = [];
    signed.forEach((entry, index) => {
      const checked = this.check(entry, now);
      if (checked.status === 'verified') verified.push(checked.entry);
      else if (checked.status === 'rejected') {
        if (checked.invalid) throw new DecodeError(`twophase snapshot: entry ${index} does not verify: ${checked.reason}`);
        rejected.push({id: checked.id, reason: checked.reason});
      }
    });
    const result: MergeResult = {accepted: [], rejected};
    const changes: StoreChange[] = [];
    for (const entry of verified) this.apply(entry, result, changes);
    this.held.flush();
    reportMerge(this.logger, this.meshId, rejected, changes, this.listeners);
    return result;
  }

  /** The entries of a snapshot, shape-checked only (see MeshStore). @throws DecodeError as `load` does */
  snapshotEntries(snapshot: Uint8Array): SignedEntry[] {
    return decodeSnapshot(snapshot, this.meshId);
  }

  /** Drop every expired entry (core's `isExpired`: past the horizon or its credential's end; never a revocation). No change event: nothing replaces them. */
  collectGarbage(): number {
    const now = this.options.clock.now();
    const dropped = this.held.deleteWhere((entry) => isExpired(entry, now, this.options.gcHorizonMs));
    for (const entry of dropped) this.hashSum.remove(entry.hash);
    return dropped.length;
  }

  /** Subscribe to changes; returns the unsubscribe function. */
  onChange(listener: (change: StoreChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Classify an incoming entry: already held (byte-identical to the held
   * entry, whatever the clock says now), verified and fresh, or rejected with
   * the reason. When the id hint misses a held entry, the id the entry turns
   * out to claim is checked again, so the answer never depends on the hint.
   * A rejection is `invalid` unless the entry failed for its time only
   * (expired, or dated beyond the clock skew yet valid at a later time).
   */
  private check(entry: SignedEntry, now: number): Checked {
    if (this.holds(idHint(entry.body), entry)) return {status: 'held'};
    let verified: VerifiedEntry;
    try {
      verified = verifyEntry(entry, {meshId: this.meshId, now, maxClockSkewMs: this.options.maxClockSkewMs});
    } catch (error) {
      if (!(error instanceof EntryRejectedError)) throw error;
      const claim = claimed(entry, now + this.options.maxClockSkewMs);
      if (this.holds(claim.id, entry)) return {status: 'held'};
      // Verified again only when the entry claims a future time: a bad signature costs one verification, not two.
      const invalid = !(claim.future && this.verifiesAtAnyTime(entry));
      return {status: 'rejected', id: claim.id, reason: error.message, invalid, entry};
    }
    if (this.holds(verified.value.id, entry)) return {status: 'held'};
    const expired = expiryReason(verified, now, this.options.gcHorizonMs);
    if (expired !== undefined) return {status: 'rejected', id: verified.value.id, reason: expired, invalid: false, entry};
    return {status: 'verified', entry: verified};
  }

  /** True when the entry held for node `id` is byte for byte `entry`. */
  private holds(id: string | undefined, entry: SignedEntry): boolean {
    const held = id === undefined ? undefined : this.held.get(id);
    return held !== undefined && sameEntry(held, entry);
  }

  /** True when an entry would verify were it not for its timestamp (used to tell stale snapshots from corrupt ones). */
  private verifiesAtAnyTime(entry: SignedEntry): boolean {
    try {
      verifyEntry(entry, {meshId: this.meshId, now: Number.MAX_SAFE_INTEGER, maxClockSkewMs: 0});
      return true;
    } catch {
      return false;
    }
  }

  /** Make `entry` the held one if it wins over what is held. */
  private apply(entry: VerifiedEntry, result: MergeResult, changes: StoreChange[]): void {
    const id = entry.value.id;
    const previous = this.held.get(id);
    if (previous !== undefined) {
      if (compareEntries(entry, previous) <= 0) return;
      this.hashSum.remove(previous.hash);
    }
    this.held.put(entry, previous);
    this.hashSum.add(entry.hash);
    result.accepted.push(entry);
    changes.push({id, current: entry, previous});
  }
}
