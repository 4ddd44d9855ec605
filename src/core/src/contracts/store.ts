import type {Clock} from './clock.js';
import type {Logger} from './logger.js';
import type {NodeRecord, SignedEntry, VerifiedEntry} from '../model/record.js';

/**
 * Largest sync message a store may send and a transport carries: 1 MiB. A
 * session carries more state in more messages; transports refuse a bigger one
 * before buffering it.
 */
export const MAX_SYNC_MESSAGE_BYTES = 1024 * 1024;

/**
 * Invalid entries (see {@link MergeResult.rejected}) one sync session takes
 * before it gives up on the peer. A replica sends only entries it verified
 * itself, so an honest peer sends none; the few allowed cost a few Ed25519
 * verifications, and the session then throws an {@link InvalidEntriesError}.
 */
export const MAX_INVALID_SYNC_ENTRIES = 4;

/** Which end of a reconciliation a {@link SyncSession} plays. */
export type SyncRole = 'initiator' | 'responder';

/** Counters of one finished (or aborted) sync session. */
export interface SyncStats {
  /** Messages this side sent. */
  messagesSent: number;
  /** Bytes this side sent. */
  bytesSent: number;
  /** Bytes this side received. */
  bytesReceived: number;
  /** Entries this side accepted into its store. */
  entriesMerged: number;
  /** Entries this side received and rejected (bad signature, wrong mesh ...). */
  entriesRejected: number;
}

/**
 * One reconciliation between two replicas, as a sequence of opaque byte
 * messages. The store defines the messages; a transport only carries them:
 *
 * ```
 * initiator: msg = session.start()        -> send msg
 * responder: reply = session.receive(msg)  -> send reply if not null
 * initiator: next = session.receive(reply) -> ... until both are done
 * ```
 * Both sides end holding the merge of both states. A malformed message makes
 * `receive` throw a DecodeError; the transport then drops the session, and the
 * store is left as it was before that message.
 *
 * Bounds every store keeps, so one peer cannot stall the daemon: no message
 * it produces or accepts is over {@link MAX_SYNC_MESSAGE_BYTES} (a bigger one
 * is refused before it is decoded), one message carries only as many entries
 * as take a few ms to verify (large differences take several messages, each
 * handled in its own turn of the event loop), and a session that receives
 * more than {@link MAX_INVALID_SYNC_ENTRIES} invalid entries throws an
 * {@link InvalidEntriesError}, which the transport turns into a refusal.
 */
export interface SyncSession {
  /** Initiator only: the first message. */
  start(): Uint8Array;
  /**
   * Handle the peer's message. Returns the reply to send, or `null` when this
   * side has nothing more to say.
   */
  receive(message: Uint8Array): Uint8Array | null;
  /** True once this side expects no more messages. */
  readonly done: boolean;
  /** Counters so far. */
  stats(): SyncStats;
}

/** What a merge of entries did. */
export interface MergeResult {
  /** Entries that changed the state (new or newer). */
  accepted: VerifiedEntry[];
  /**
   * Entries refused, with the reason (verification failure, expired).
   * `invalid` marks an entry that no honest replica holds (bad encoding,
   * signature, owner id, address or mesh); one refused only for its time
   * (expired, or dated beyond the allowed clock skew) may come from an honest
   * peer whose clock differs, and is not marked.
   */
  rejected: {id?: string; reason: string; invalid?: boolean}[];
}

/** A change notification: `current` replaced `previous` for node `id`. */
export interface StoreChange {
  /** The node whose entry changed. */
  id: string;
  /** The winning entry now held. */
  current: VerifiedEntry;
  /** The entry it replaced, if any. */
  previous: VerifiedEntry | undefined;
}

/**
 * The replicated state of one mesh on one node (the original's MeshProvider): a
 * map from node id to that node's signed entry (a record or a tombstone).
 * Stores know nothing of WireGuard. Implementations must pass the store
 * compliance suite in @wgmesh/testkit.
 */
export interface MeshStore {
  /** The backend name that made it, e.g. `twophase`; a mesh has one store kind. */
  readonly kind: string;
  /** The mesh this store holds. */
  readonly meshId: string;
  /**
   * Merge entries from anywhere (local writes included). Each is verified;
   * invalid or expired ones are rejected and reported, never merged.
   */
  merge(entries: readonly SignedEntry[]): MergeResult;
  /** The entry held for a node (record or tombstone), if any. */
  get(id: string): VerifiedEntry | undefined;
  /** All entries held, tombstones included. */
  entries(): VerifiedEntry[];
  /** The live node records (tombstoned nodes left out), sorted by id. */
  records(): NodeRecord[];
  /** Number of entries held, tombstones included. */
  readonly size: number;
  /** A small value equal on two replicas exactly when they hold the same entries; O(1). */
  digest(): Uint8Array;
  /** Begin a reconciliation with another replica of the same mesh. */
  openSync(role: SyncRole): SyncSession;
  /** Serialize the whole state (for persistence and join snapshots). */
  save(): Uint8Array;
  /** Merge a serialized state produced by `save` (of any replica); returns what changed. */
  load(snapshot: Uint8Array): MergeResult;
  /**
   * Optional: the signed entries a snapshot holds, decoded but not verified,
   * so the daemon can check them in worker threads before it calls `load`
   * (which then verifies nothing twice; see runtime/snapshot-load.ts). A
   * store without it has its snapshots checked on the main thread by `load`.
   * @throws DecodeError when the snapshot is malformed or of another mesh, as `load` would
   */
  snapshotEntries?(snapshot: Uint8Array): SignedEntry[];
  /**
   * Optional, with `snapshotEntries`: merge the entries it returned for a
   * snapshot, exactly as `load` of that snapshot would, so that a big
   * snapshot is decoded once. Without it the daemon merges with `load`.
   * @throws DecodeError when an entry does not verify, as `load` would
   */
  loadEntries?(entries: readonly SignedEntry[]): MergeResult;
  /** Drop entries older than the garbage-collection horizon; returns how many were dropped. */
  collectGarbage(): number;
  /** Subscribe to changes; returns the unsubscribe function. */
  onChange(listener: (change: StoreChange) => void): () => void;
}

/** Options every store receives when a mesh is opened. */
export interface MeshStoreOptions {
  /** The mesh id. */
  meshId: string;
  /** Time source for verification and garbage collection. */
  clock: Clock;
  /** Logger for rejected entries. */
  logger: Logger;
  /** Entries older than this are collected (ms). */
  gcHorizonMs: number;
  /** Allowed future skew of an entry's timestamp (ms). */
  maxClockSkewMs: number;
}

/** What a `store` backend creates: a maker of per-mesh stores. */
export interface StoreBackend {
  /** Backend name, equal to the factory's name. */
  readonly kind: string;
  /** Open an empty store for one mesh. */
  open(options: MeshStoreOptions): MeshStore;
}
