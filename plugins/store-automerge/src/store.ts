/**
 * The automerge store: a mesh as an Automerge document (node id -> signed
 * entry as immutable bytes), synced with Automerge's own sync protocol.
 *
 * The document is what replicas exchange; what the store *holds* is a view of
 * it that only ever contains verified entries. Automerge settles concurrent
 * writes to one key by operation order, which says nothing about which entry
 * should win, so the store never takes Automerge's pick: for every node id
 * whose values changed it verifies each value exactly as the two-phase store
 * verifies an incoming entry (signature, owner id, address, mesh, not expired,
 * not too far in the future) and keeps the winner by core's `compareEntries`.
 * Both stores therefore agree on the winning entry of every node.
 *
 * A value that fails verification is reported as rejected and changes
 * nothing the store holds. When the document no longer shows the held winner
 * (a peer overwrote it with an older entry or garbage, or deleted it before
 * it expired here) the store writes the winner back, so the document every
 * replica syncs keeps carrying it; garbage is overwritten the same way.
 *
 * History: every write adds to the document's history, and a replica that
 * learns an entry by gossip writes its own copy. Once the history holds more
 * than `max(historyLimit, HISTORY_PER_ENTRY × entries)` operations the store
 * starts a new document from a checkpoint of the entries it holds, one
 * generation up. Documents of different generations never exchange history:
 * a replica that meets a higher generation (in a sync session or a snapshot)
 * compacts to it first, so old history cannot flow back into a compacted one.
 */
import {claimedEntryId, compareEntries, DecodeError, EntryRejectedError, expiryReason, futureTimestampReason, InvalidInputError, isExpired, MAX_INVALID_SYNC_ENTRIES, MultisetHash, recordsOf, reportMerge, storeDigest, verifyEntry} from '@wgmesh/core';
import type {Logger, MergeResult, MeshStore, MeshStoreOptions, NodeRecord, SignedEntry, StoreChange, SyncRole, SyncSession, VerifiedEntry} from '@wgmesh/core';
import type {AutomergeApi, SyncStateHandle} from './automerge-api.js';
import {valueHolds, valueToEntry} from './entry-value.js';
import {MAX_DOCUMENT_KEYS} from './limits.js';
import {MeshDocument} from './mesh-document.js';
import {HISTORY_PER_ENTRY, type AutomergeStoreSettings} from './settings.js';
import {decodeSnapshot, encodeSnapshot, MAX_GENERATION} from './snapshot.js';
import {AutomergeSyncSession, type SyncReplica} from './sync-session.js';

/** The backend name of this store. */
export const AUTOMERGE_KIND = 'automerge';

/** Local writes between two looks at the history size (a look costs a call into Automerge). */
const WRITES_PER_HISTORY_CHECK = 64;

const NODE_ID = /^[0-9a-f]{32}$/;

/** What checking one value found. */
type Checked =
  | {status: 'verified'; entry: VerifiedEntry}
  | {status: 'rejected'; id: string | undefined; reason: string; kind: 'invalid' | 'expired' | 'future'; entry?: VerifiedEntry};


/** One rejection, as a MergeResult reports it. */
type Rejection = MergeResult['rejected'][number];

/** What one document value is, whatever the time (see `inspect`). */
type Inspected = {status: 'held'} | {status: 'verified'; entry: VerifiedEntry} | {status: 'invalid'; rejection: Rejection};

/** What screening a peer's changes found: too many invalid values, or the entries verified on the way. */
type Screened = {refused: true; invalid: Rejection[]} | {refused: false; verified: Map<string, VerifiedEntry>};

/** The rejection of a document key that is not a node id. */
function notNodeId(key: string): Rejection {
  return {id: undefined, reason: `document key ${JSON.stringify(key.slice(0, 40))} is not a node id`, invalid: true};
}

function signatureKey(entry: SignedEntry): string {
  return Buffer.from(entry.signature.buffer, entry.signature.byteOffset, entry.signature.byteLength).toString('base64');
}

function sameEntry(a: SignedEntry, b: SignedEntry): boolean {
  return Buffer.compare(a.signature, b.signature) === 0 && Buffer.compare(a.body, b.body) === 0;
}

function byId(a: VerifiedEntry, b: VerifiedEntry): number {
  return a.value.id < b.value.id ? -1 : a.value.id > b.value.id ? 1 : 0;
}

/** Collects what one call did, to report, log and announce at its end. */
interface Outcome {
  result: MergeResult;
  changes: StoreChange[];
}

function newOutcome(): Outcome {
  return {result: {accepted: [], rejected: []}, changes: []};
}

/** The `store:automerge` MeshStore. */
export class AutomergeStore implements MeshStore {
  /** Always `automerge`. */
  readonly kind = AUTOMERGE_KIND;
  /** The mesh this store holds. */
  readonly meshId: string;
  private readonly logger: Logger;
  private document: MeshDocument;
  /** The view: the verified winner per node id. */
  private readonly held = new Map<string, VerifiedEntry>();
  /** Held entries by signature, so a value already held is recognised without an Ed25519 verification. */
  private readonly bySignature = new Map<string, VerifiedEntry>();
  /** Order-independent sum of the held entries' hashes (256 bits), so the digest is O(1). */
  private readonly hashSum = new MultisetHash(32);
  /** Node ids whose document values include a newer entry dated too far in the future to accept yet. */
  private readonly deferred = new Set<string>();
  private readonly listeners = new Set<(change: StoreChange) => void>();
  private writesSinceHistoryCheck = 0;

  /**
   * Open an empty store.
   * @param api Automerge, loaded by the factory
   * @param options the MeshStore options
   * @param settings the `automerge:` config section
   */
  constructor(
    private readonly api: AutomergeApi,
    private readonly options: MeshStoreOptions,
    private readonly settings: AutomergeStoreSettings,
  ) {
    if (!(options.gcHorizonMs > 0)) throw new InvalidInputError(`gcHorizonMs must be positive, got ${options.gcHorizonMs}`);
    if (!(options.maxClockSkewMs >= 0)) throw new InvalidInputError(`maxClockSkewMs must not be negative, got ${options.maxClockSkewMs}`);
    this.meshId = options.meshId;
    this.logger = options.logger;
    this.document = MeshDocument.empty(api);
  }

  /** Number of entries held, tombstones included. */
  get size(): number {
    return this.held.size;
  }

  /** The document's compaction generation (0 until it is first compacted). */
  get generation(): number {
    return this.document.generation;
  }

  /** Operations in the current document's history (what compaction bounds). */
  historyOps(): number {
    return this.document.historyOps();
  }

  /** The history size above which the document is compacted. */
  historyBound(): number {
    return Math.max(this.settings.historyLimit, HISTORY_PER_ENTRY * this.held.size);
  }

  /** Verify entries and write the winners into the document; an entry identical to one held costs a lookup, not a verification. */
  merge(entries: readonly SignedEntry[]): MergeResult {
    const now = this.options.clock.now();
    const outcome = newOutcome();
    // Anything a failed sync message left applied but unexamined first, then this call's own writes,
    // which are known by id: no need to decode the change just made.
    this.absorb(now, outcome);
    const known = this.write(entries, now, outcome);
    this.settle(new Set([...known.values()].map((entry) => entry.value.id)), now, outcome, known);
    this.finish(outcome);
    if (this.writesSinceHistoryCheck >= WRITES_PER_HISTORY_CHECK) this.compactIfLong();
    return outcome.result;
  }

  /** The entry held for a node (record, tombstone or revocation), if any. */
  get(id: string): VerifiedEntry | undefined {
    return this.held.get(id);
  }

  /** All entries held, tombstones included, sorted by node id. */
  entries(): VerifiedEntry[] {
    return [...this.held.values()].sort(byId);
  }

  /** The live node records, sorted by id. */
  records(): NodeRecord[] {
    return recordsOf(this.entries());
  }

  /** 40 bytes: the entry count (8 bytes, big-endian) then the 256-bit sum of entry hashes. O(1). */
  digest(): Uint8Array {
    return storeDigest(this.held.size, this.hashSum);
  }

  /** Begin a reconciliation over Automerge's sync protocol; see `protocol.ts`. */
  openSync(role: SyncRole): SyncSession {
    this.reconsiderDeferred();
    this.compactIfLong();
    const replica: SyncReplica = {
      meshId: this.meshId,
      kind: this.kind,
      generation: () => this.document.generation,
      digest: () => this.digest(),
      compactTo: (generation) => this.compact(generation),
      newSyncState: () => this.document.newSyncState(),
      generateSyncMessage: (state) => this.document.generateSyncMessage(state),
      receiveSyncMessage: (state, message) => this.receiveSyncMessage(state, message),
    };
    return new AutomergeSyncSession(role, replica, this.logger);
  }

  /** The document (history included) in a snapshot envelope. */
  save(): Uint8Array {
    return encodeSnapshot(this.meshId, this.document.generation, this.document.save());
  }

  /**
   * Merge a snapshot. Every value in its document is verified before anything
   * is merged: one that is not a valid entry of its node (bad bytes,
   * signature, id, address, mesh) makes the snapshot corrupt, and nothing
   * changes. Entries refused only for their time (expired, or dated beyond
   * the allowed clock skew) are legitimate in an old or foreign snapshot:
   * they are reported as rejected and the rest is merged.
   * @throws DecodeError when the snapshot is malformed, of another mesh, or holds a value that does not verify.
   */
  load(snapshot: Uint8Array): MergeResult {
    const {generation, document: bytes} = decodeSnapshot(snapshot, this.meshId);
    const incoming = MeshDocument.load(this.api, bytes, generation);
    try {
      const verified = this.checkDocument(incoming);
      const now = this.options.clock.now();
      const outcome = newOutcome();
      this.absorb(now, outcome);
      if (generation > this.document.generation) this.compact(generation);
      if (generation === this.document.generation) {
        this.document.mergeFrom(incoming);
      } else {
        // An older generation: take its entries, never its history (see the file comment).
        this.write([...verified.values()], now, outcome, verified);
      }
      // Whatever the merge touched is among the snapshot's ids and the ids held here.
      this.settle(new Set([...incoming.ids(), ...this.held.keys()]), now, outcome, verified);
      this.finish(outcome);
      this.compactIfLong();
      return outcome.result;
    } finally {
      incoming.free();
    }
  }

  /**
   * Drop every expired entry (core's `isExpired`: past the horizon or its
   * credential's end; never a revocation), from the view and from the
   * document. No change event: nothing replaces them.
   */
  collectGarbage(): number {
    const now = this.options.clock.now();
    const outcome = newOutcome();
    this.absorb(now, outcome);
    this.finish(outcome);
    let dropped = 0;
    for (const [id, entry] of this.held) {
      if (!isExpired(entry, now, this.options.gcHorizonMs)) continue;
      this.drop(id, entry);
      dropped++;
    }
    // Also values that were never held here (expired or superseded copies written by others).
    let deleted = 0;
    for (const id of this.document.ids()) {
      if (this.held.has(id) || this.deferred.has(id)) continue;
      this.document.remove(id);
      deleted++;
    }
    if (deleted > 0) this.document.commit();
    this.document.skipChanges();
    this.compactIfLong();
    return dropped;
  }

  /** Subscribe to changes; returns the unsubscribe function. */
  onChange(listener: (change: StoreChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Start a new document from a checkpoint of the held entries, at
   * `generation` (default: one above the current one). The entries held do
   * not change; history and values that are not held are left behind.
   */
  compact(generation = this.document.generation + 1): void {
    if (!Number.isSafeInteger(generation) || generation <= this.document.generation || generation > MAX_GENERATION) {
      throw new InvalidInputError(`cannot compact generation ${this.document.generation} to generation ${generation}`);
    }
    const outcome = newOutcome();
    this.absorb(this.options.clock.now(), outcome);
    this.finish(outcome);
    const before = {generation: this.document.generation, ops: this.document.historyOps()};
    const next = MeshDocument.checkpoint(this.api, this.meshId, generation, [...this.held.values()], this.digest());
    this.document.free();
    this.document = next;
    this.deferred.clear();
    this.writesSinceHistoryCheck = 0;
    this.logger.info(
      {meshId: this.meshId, from: before.generation, to: generation, historyOps: before.ops, entries: this.held.size},
      'automerge store compacted its document',
    );
  }

  /** Compact when the history is over its bound. */
  private compactIfLong(): void {
    this.writesSinceHistoryCheck = 0;
    if (this.document.historyOps() > this.historyBound() && this.document.generation < MAX_GENERATION) this.compact();
  }

  /**
   * Apply a peer's Automerge sync message to a copy of the document and
   * screen the values it changed (see {@link screen}); a message that carries
   * no changes (only heads, needs and bloom filters) goes straight to the
   * document, since it changes no value. A message with more than
   * {@link MAX_INVALID_SYNC_ENTRIES} invalid values is refused: the copy is
   * dropped, so nothing of it reaches the document or the view, and the
   * rejections returned make the session give up on the peer. A hostile
   * message therefore costs Automerge's parsing of it and a few
   * verifications, not a verification and a write-back per value. Otherwise
   * the copy becomes the document and what changed is taken in.
   * @throws DecodeError when the message does not parse or Automerge refuses it (nothing changes).
   */
  private receiveSyncMessage(state: SyncStateHandle, message: Uint8Array): MergeResult {
    if (this.document.changesIn(message) === 0) {
      this.document.receiveSyncMessage(state, message);
      return {accepted: [], rejected: []};
    }
    const now = this.options.clock.now();
    const outcome = newOutcome();
    const trial = this.document.copy();
    let screened: Screened;
    let ids: Set<string>;
    try {
      trial.receiveSyncMessage(state, message);
      const changed = trial.changedIds();
      ids = changed.ids;
      if (changed.all) for (const id of this.held.keys()) ids.add(id);
      screened = this.screen(trial, ids, MAX_INVALID_SYNC_ENTRIES);
    } catch (error) {
      trial.free();
      throw error;
    }
    if (screened.refused) {
      trial.free();
      outcome.result.rejected.push(...screened.invalid);
    } else {
      this.document.free();
      this.document = trial;
      if (ids.size > 0) this.settle(ids, now, outcome, screened.verified);
    }
    this.finish(outcome);
    return outcome.result;
  }

  /**
   * Look at the values `document` holds under `ids` for what is invalid
   * whatever the time (see {@link inspect}), without changing anything.
   * Stops at the first value past `invalidLimit` invalid ones: the result is
   * then refused, with those rejections; otherwise it carries the entries
   * verified on the way, by signature, so deciding the ids verifies none twice.
   */
  private screen(document: MeshDocument, ids: ReadonlySet<string>, invalidLimit: number): Screened {
    const invalid: Rejection[] = [];
    const verified = new Map<string, VerifiedEntry>();
    for (const id of ids) {
      if (!NODE_ID.test(id)) {
        invalid.push(notNodeId(id));
      } else {
        const held = this.held.get(id);
        for (const [datatype, value] of document.values(id)) {
          const inspected = this.inspect(id, datatype, value, held, verified);
          if (inspected.status === 'invalid') invalid.push(inspected.rejection);
          else if (inspected.status === 'verified') verified.set(signatureKey(inspected.entry), inspected.entry);
          if (invalid.length > invalidLimit) break;
        }
      }
      if (invalid.length > invalidLimit) return {refused: true, invalid};
    }
    return {refused: false, verified};
  }

  /** Re-examine node ids held back by a future-dated entry, whose time may have come. */
  private reconsiderDeferred(): void {
    if (this.deferred.size === 0) return;
    const outcome = newOutcome();
    const now = this.options.clock.now();
    const ids = [...this.deferred];
    this.deferred.clear();
    let repaired = false;
    for (const id of ids) repaired = this.evaluate(id, now, outcome, undefined) || repaired;
    if (repaired) this.document.commit();
    this.absorb(now, outcome);
    this.finish(outcome);
  }

  /**
   * Bring the view up to date with every document change since the last
   * call: re-decide each changed node id, and write back what the document
   * must carry. `known` holds entries verified moments ago (by signature).
   */
  private absorb(now: number, outcome: Outcome, known?: ReadonlyMap<string, VerifiedEntry>): void {
    const {ids, all} = this.document.changedIds();
    if (all) for (const id of this.held.keys()) ids.add(id);
    if (ids.size > 0) this.settle(ids, now, outcome, known);
  }

  /**
   * Re-decide node ids the caller knows changed (every change since the last
   * look must be covered by them), write back what the document must carry,
   * and mark the document as examined.
   */
  private settle(ids: ReadonlySet<string>, now: number, outcome: Outcome, known?: ReadonlyMap<string, VerifiedEntry>): void {
    let repaired = false;
    for (const id of ids) repaired = this.evaluate(id, now, outcome, known) || repaired;
    // The write-backs are this store's own doing: nothing in them to re-decide.
    if (repaired) this.document.commit();
    this.document.skipChanges();
  }

  /**
   * Decide node `id` from the values the document holds for it and the entry
   * held before; returns true when it wrote the winner back (or removed
   * garbage) and a commit is due.
   */
  private evaluate(id: string, now: number, outcome: Outcome, known: ReadonlyMap<string, VerifiedEntry> | undefined): boolean {
    const held = this.held.get(id);
    let heldVisible = false;
    let best: VerifiedEntry | undefined;
    let garbage = false;
    let future: VerifiedEntry | undefined;
    const values = NODE_ID.test(id) ? this.document.values(id) : [];
    if (!NODE_ID.test(id)) {
      garbage = true;
      outcome.result.rejected.push(notNodeId(id));
    }
    for (const [datatype, value] of values) {
      const inspected = this.inspect(id, datatype, value, held, known);
      if (inspected.status === 'held') {
        heldVisible = true;
        continue;
      }
      if (inspected.status === 'invalid') {
        garbage = true;
        outcome.result.rejected.push(inspected.rejection);
        continue;
      }
      const checked = this.checkTime(inspected.entry, now);
      if (checked.status === 'rejected') {
        outcome.result.rejected.push({id: checked.id ?? id, reason: checked.reason, ...(checked.kind === 'invalid' ? {invalid: true} : {})});
        if (checked.kind === 'invalid') garbage = true;
        else if (checked.kind === 'future' && checked.entry && (future === undefined || compareEntries(checked.entry, future) > 0)) future = checked.entry;
        continue;
      }
      if (best === undefined || compareEntries(checked.entry, best) > 0) best = checked.entry;
    }
    // The held entry stays unless something better is visible; if the document
    // lost it, it stays only while it has not expired here (a peer that deleted
    // it has collected it as garbage, and so should this replica).
    let winner = best;
    if (held !== undefined && (heldVisible || !isExpired(held, now, this.options.gcHorizonMs))) {
      if (winner === undefined || compareEntries(held, winner) >= 0) winner = held;
    }
    const winnerVisible = winner === held ? heldVisible : winner !== undefined;
    if (winner !== held) {
      if (held !== undefined) this.drop(id, held);
      if (winner !== undefined) this.hold(winner, held, outcome);
    }
    const waiting = future !== undefined && (winner === undefined || compareEntries(future, winner) > 0);
    if (waiting) this.deferred.add(id);
    else this.deferred.delete(id);
    if (winner !== undefined && !winnerVisible && !waiting) {
      this.document.put(winner);
      return true;
    }
    if (garbage) {
      const keep = winner ?? future;
      if (keep !== undefined) this.document.put(keep);
      else this.document.remove(id);
      return true;
    }
    return false;
  }

  /**
   * Verify entries and write each one that beats what is held (and what this
   * call wrote before it) into the document, in one change. Rejections go to
   * `outcome`; the view is updated by the {@link absorb} that follows.
   * @returns the entries verified, by signature, for that absorb
   */
  private write(entries: readonly SignedEntry[], now: number, outcome: Outcome, known?: ReadonlyMap<string, VerifiedEntry>): Map<string, VerifiedEntry> {
    const verifiedNow = new Map<string, VerifiedEntry>();
    const written = new Map<string, VerifiedEntry>();
    for (const entry of entries) {
      const held = this.bySignature.get(signatureKey(entry));
      if (held !== undefined && sameEntry(held, entry)) continue;
      const checked = this.check(entry, now, known);
      if (checked.status === 'rejected') {
        outcome.result.rejected.push({id: checked.id, reason: checked.reason, ...(checked.kind === 'invalid' ? {invalid: true} : {})});
        continue;
      }
      const verified = checked.entry;
      const current = written.get(verified.value.id) ?? this.held.get(verified.value.id);
      if (current !== undefined && compareEntries(verified, current) <= 0) continue;
      verifiedNow.set(signatureKey(verified), verified);
      written.set(verified.value.id, verified);
      this.document.put(verified);
    }
    if (written.size > 0) {
      this.document.commit();
      this.writesSinceHistoryCheck += written.size;
    }
    return verifiedNow;
  }

  /**
   * Verify one entry of a local merge as of `now`.
   */
  private check(entry: SignedEntry, now: number, known?: ReadonlyMap<string, VerifiedEntry>): Checked {
    const verified = this.verifyAtAnyTime(entry, known, undefined);
    return verified.status === 'rejected' ? verified : this.checkTime(verified.entry, now);
  }

  /** Whether a verified entry may be taken as of `now`: not dated beyond the allowed clock skew, not expired. */
  private checkTime(entry: VerifiedEntry, now: number): Checked {
    const id = entry.value.id;
    const future = futureTimestampReason(entry.value, now, this.options.maxClockSkewMs);
    if (future !== undefined) return {status: 'rejected', id, reason: future, kind: 'future', entry};
    const expired = expiryReason(entry, now, this.options.gcHorizonMs);
    if (expired !== undefined) return {status: 'rejected', id, reason: expired, kind: 'expired', entry};
    return {status: 'verified', entry};
  }

  /**
   * What one document value under node id `id` is, whatever the time: the
   * held entry (recognised without a verification), a valid entry of that
   * node, or invalid (not bytes, not shaped like an entry, not verifying, or
   * an entry of another node: as invalid as a bad signature).
   */
  private inspect(id: string, datatype: string, value: unknown, held: VerifiedEntry | undefined, known: ReadonlyMap<string, VerifiedEntry> | undefined): Inspected {
    if (datatype !== 'bytes' || !(value instanceof Uint8Array)) {
      return {status: 'invalid', rejection: {id, reason: `document value for node ${id} is a ${datatype}, not a signed entry`, invalid: true}};
    }
    if (held !== undefined && valueHolds(value, held)) return {status: 'held'};
    const signed = valueToEntry(value);
    if (signed === undefined) {
      return {status: 'invalid', rejection: {id, reason: `document value for node ${id} is ${value.byteLength} bytes, not a signed entry`, invalid: true}};
    }
    const checked = this.verifyAtAnyTime(signed, known, id);
    if (checked.status === 'rejected') return {status: 'invalid', rejection: {id: checked.id ?? id, reason: checked.reason, invalid: true}};
    return checked;
  }

  /**
   * Everything about an entry that does not depend on the time: encoding,
   * schema, mesh, owner id, signature, address (core's `verifyEntry`), and
   * the key it is filed under. Held and `known` entries are recognised by
   * signature instead of verified again.
   */
  private verifyAtAnyTime(entry: SignedEntry, known: ReadonlyMap<string, VerifiedEntry> | undefined, expectedId: string | undefined): Checked {
    const key = signatureKey(entry);
    let verified = this.bySignature.get(key) ?? known?.get(key);
    if (verified !== undefined && !sameEntry(verified, entry)) verified = undefined;
    if (verified === undefined) {
      try {
        // Time is checked by the caller, with the reasons the two-phase store gives.
        verified = verifyEntry(entry, {meshId: this.meshId, now: Number.MAX_SAFE_INTEGER, maxClockSkewMs: 0});
      } catch (error) {
        if (!(error instanceof EntryRejectedError)) throw error;
        return {status: 'rejected', id: claimedEntryId(entry) ?? expectedId, reason: error.message, kind: 'invalid'};
      }
    }
    if (expectedId !== undefined && verified.value.id !== expectedId) {
      return {status: 'rejected', id: expectedId, reason: `document value for node ${expectedId} is an entry of node ${verified.value.id}`, kind: 'invalid'};
    }
    return {status: 'verified', entry: verified};
  }

  /**
   * Check every value of a document about to be merged: each must be a valid
   * entry of the node it is filed under, whatever its time.
   * @returns the verified entries by signature
   * @throws DecodeError naming the first value that is not
   */
  private checkDocument(document: MeshDocument): Map<string, VerifiedEntry> {
    const ids = document.ids();
    if (ids.length > MAX_DOCUMENT_KEYS) throw new DecodeError(`automerge snapshot: ${ids.length} node ids is over the ${MAX_DOCUMENT_KEYS} limit`);
    const verified = new Map<string, VerifiedEntry>();
    for (const id of ids) {
      if (!NODE_ID.test(id)) throw new DecodeError(`automerge snapshot: key ${JSON.stringify(id.slice(0, 40))} is not a node id`);
      for (const [datatype, value] of document.values(id)) {
        const signed = datatype === 'bytes' && value instanceof Uint8Array ? valueToEntry(value) : undefined;
        if (signed === undefined) throw new DecodeError(`automerge snapshot: the value for node ${id} is not a signed entry`);
        const checked = this.verifyAtAnyTime(signed, undefined, id);
        if (checked.status === 'rejected') throw new DecodeError(`automerge snapshot: the value for node ${id} does not verify: ${checked.reason}`);
        verified.set(signatureKey(checked.entry), checked.entry);
      }
    }
    return verified;
  }

  /** Make `entry` the held one for its node. */
  private hold(entry: VerifiedEntry, previous: VerifiedEntry | undefined, outcome: Outcome): void {
    const id = entry.value.id;
    this.held.set(id, entry);
    this.bySignature.set(signatureKey(entry), entry);
    this.hashSum.add(entry.hash);
    outcome.result.accepted.push(entry);
    outcome.changes.push({id, current: entry, previous});
  }

  /** Forget the held entry of `id` (replaced, or collected). */
  private drop(id: string, entry: VerifiedEntry): void {
    this.held.delete(id);
    this.bySignature.delete(signatureKey(entry));
    this.hashSum.remove(entry.hash);
  }

  /** Log rejections and tell listeners about changes. */
  private finish(outcome: Outcome): void {
    reportMerge(this.logger, this.meshId, outcome.result.rejected, outcome.changes, this.listeners);
  }
}
