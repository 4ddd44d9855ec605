/**
 * One mesh as an Automerge document: the root map holds, under each node id,
 * that node's signed entry as one immutable bytes value (see entry-value.ts).
 * This class is the only place that speaks to Automerge's document handle;
 * what the values mean (verification, the winner rule) is the store's job.
 */
import {createHash, randomBytes} from 'node:crypto';
import {DecodeError, type VerifiedEntry} from '@wgmesh/core';
import type {AutomergeApi, DocHandle, FullValue, SyncStateHandle} from './automerge-api.js';
import {entryToValue} from './entry-value.js';

/** Automerge's id of the root map. */
const ROOT = '_root';

/**
 * Above this many new operations, {@link MeshDocument.changedIds} reports
 * every node id instead of decoding the changes: decoding copies every value
 * into JavaScript (about 1.7 s for a 10,000-entry checkpoint), re-examining an
 * unchanged id costs a lookup.
 */
const DECODE_LIMIT_OPS = 2048;

/**
 * A fresh actor id. Automerge is only correct when no two replicas ever write
 * as the same actor, so these come from the OS CSPRNG, not from the daemon's
 * injected random source (tests inject a deterministic one).
 */
function randomActor(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The actor of a checkpoint: derived from what the checkpoint holds, so two
 * replicas that compact the same entries into the same generation write the
 * very same change (same hash) and share it instead of holding two copies.
 */
function checkpointActor(meshId: string, generation: number, digest: Uint8Array): string {
  return createHash('sha256').update('wgmesh-automerge-checkpoint\0').update(meshId).update(`\0${generation}\0`).update(digest).digest('hex').slice(0, 32);
}

/** A mesh's Automerge document and its compaction generation. */
export class MeshDocument {
  /** Heads as of the last {@link changedIds} or {@link skipChanges}. */
  private seen: string[];

  private constructor(
    private readonly api: AutomergeApi,
    private readonly handle: DocHandle,
    /** Compaction generation: 0 for a document that was never compacted. */
    readonly generation: number,
  ) {
    this.seen = handle.getHeads();
  }

  /** An empty document of generation `generation`. */
  static empty(api: AutomergeApi, generation = 0): MeshDocument {
    return new MeshDocument(api, api.create(randomActor()), generation);
  }

  /**
   * A document that starts from a checkpoint: one reproducible change putting
   * `entries` (the held winners), and nothing of the history before it.
   * @param digest the store digest of `entries` (names the checkpoint's actor)
   */
  static checkpoint(api: AutomergeApi, meshId: string, generation: number, entries: readonly VerifiedEntry[], digest: Uint8Array): MeshDocument {
    const scratch = api.create(checkpointActor(meshId, generation, digest));
    let change: Uint8Array | null = null;
    try {
      const sorted = [...entries].sort((a, b) => (a.value.id < b.value.id ? -1 : a.value.id > b.value.id ? 1 : 0));
      for (const entry of sorted) scratch.put(ROOT, entry.value.id, entryToValue(entry));
      // Time 0 and no message: the change's bytes depend on the entries alone.
      scratch.commit(null, 0);
      change = sorted.length > 0 ? scratch.getLastLocalChange() : null;
    } finally {
      scratch.free();
    }
    const handle = api.create(randomActor());
    if (change !== null) handle.applyChanges([change]);
    // The store already holds these entries: nothing to re-examine (the constructor starts from the heads).
    return new MeshDocument(api, handle, generation);
  }

  /**
   * A document from `save` bytes, to be checked by the caller before it is
   * merged anywhere.
   * @throws DecodeError when Automerge cannot load the bytes.
   */
  static load(api: AutomergeApi, bytes: Uint8Array, generation: number): MeshDocument {
    try {
      return new MeshDocument(api, api.load(bytes, randomActor()), generation);
    } catch (error) {
      throw new DecodeError(`automerge snapshot: the document does not load (${(error as Error).message})`, {cause: error});
    }
  }

  /**
   * A copy to try a peer's message on: same history, generation, actor and
   * changes not yet examined. Exactly one of the two goes on being used; the
   * caller frees the other.
   */
  copy(): MeshDocument {
    const copy = new MeshDocument(this.api, this.handle.clone(), this.generation);
    copy.seen = this.seen;
    return copy;
  }

  /** Every value held for node `id` (several when concurrent writes conflict). */
  values(id: string): FullValue[] {
    return this.handle.getAll(ROOT, id);
  }

  /** Every node id with a value. */
  ids(): string[] {
    return this.handle.keys(ROOT);
  }

  /** Write `entry` under its node id (replacing every value held there); call {@link commit} after. */
  put(entry: VerifiedEntry): void {
    this.handle.put(ROOT, entry.value.id, entryToValue(entry));
  }

  /** Delete every value held for `id`; call {@link commit} after. */
  remove(id: string): void {
    this.handle.delete(ROOT, id);
  }

  /** Seal pending writes into one change. */
  commit(): void {
    this.handle.commit();
  }

  /**
   * The node ids whose values changed since the last call (or since
   * {@link skipChanges}), whoever changed them: every applied sync message,
   * merge and local write is seen exactly once. Read from the new changes
   * themselves, not from Automerge's patches: a patch shows only the value
   * Automerge itself would pick, so a new conflicting value that Automerge
   * ranks lower (but the store's winner rule may not) would go unseen.
   */
  changedIds(): {ids: Set<string>; all: boolean} {
    const since = this.seen;
    this.seen = this.handle.getHeads();
    const ids = new Set<string>();
    let ops = 0;
    for (const meta of this.handle.getChangesMeta(since)) ops += meta.maxOp - meta.startOp + 1;
    if (ops === 0) return {ids, all: false};
    if (ops > DECODE_LIMIT_OPS) {
      // Every id with a value; ids deleted meanwhile are not among them, so `all` tells the caller to add what it holds.
      for (const id of this.handle.keys(ROOT)) ids.add(id);
      return {ids, all: true};
    }
    for (const change of this.handle.getChanges(since)) {
      for (const id of this.api.rootKeysOf(change)) ids.add(id);
    }
    return {ids, all: false};
  }

  /** Forget changes made so far (the caller has accounted for them). */
  skipChanges(): void {
    this.seen = this.handle.getHeads();
  }

  /** Operations in the document's history. */
  historyOps(): number {
    return this.handle.stats().numOps;
  }

  /** The whole document with its history, compressed. */
  save(): Uint8Array {
    return this.handle.save();
  }

  /** Merge in every change of `other` (of the same generation). */
  mergeFrom(other: MeshDocument): void {
    this.handle.merge(other.handle);
  }

  /** A fresh per-peer Automerge sync state. */
  newSyncState(): SyncStateHandle {
    return this.api.initSyncState();
  }

  /** Automerge's next sync message for the peer, or null when it has nothing to send. */
  generateSyncMessage(state: SyncStateHandle): Uint8Array | null {
    return this.handle.generateSyncMessage(state);
  }

  /**
   * Parse an Automerge sync message from the peer without applying it.
   * @returns how many changes (or documents) it carries: none means it changes no value
   * @throws DecodeError when it does not parse.
   */
  changesIn(message: Uint8Array): number {
    try {
      return this.api.changesInSyncMessage(message);
    } catch (error) {
      throw new DecodeError(`automerge sync message: ${(error as Error).message}`, {cause: error});
    }
  }

  /**
   * Apply an Automerge sync message from the peer (parsed by {@link changesIn} first).
   * @throws DecodeError when Automerge refuses it.
   */
  receiveSyncMessage(state: SyncStateHandle, message: Uint8Array): void {
    try {
      this.handle.receiveSyncMessage(state, message);
    } catch (error) {
      throw new DecodeError(`automerge sync message: ${(error as Error).message}`, {cause: error});
    }
  }

  /** Release the document's WebAssembly memory now; the object is unusable afterwards. */
  free(): void {
    this.handle.free();
  }
}
