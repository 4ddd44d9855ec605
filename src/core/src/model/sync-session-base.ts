/**
 * The bookkeeping every store's {@link SyncSession} shares, whatever its
 * protocol: which end it is, its counters, the bound on invalid entries a
 * peer may send, and the rule that only the initiator starts, once.
 */
import type {Logger} from '../contracts/logger.js';
import type {MergeResult, SyncRole, SyncStats} from '../contracts/store.js';
import {InvalidEntryCount} from './invalid-entries.js';

/** What every sync session needs of its store, whatever else its protocol needs. */
export interface SyncReplicaBase {
  readonly meshId: string;
  readonly kind: string;
  /** The store digest: equal digests mean equal stores, so a hello that carries it can end a sync at once. */
  digest(): Uint8Array;
}

/** A store's sync session without its protocol; `Replica` is what it needs of its store. */
export abstract class SyncSessionBase<Replica extends SyncReplicaBase> {
  private readonly counters: SyncStats = {messagesSent: 0, bytesSent: 0, bytesReceived: 0, entriesMerged: 0, entriesRejected: 0};
  private readonly invalid: InvalidEntryCount;

  /** @param role which end this is; @param replica the local store; @param logger for the outcome. */
  constructor(
    readonly role: SyncRole,
    protected readonly replica: Replica,
    protected readonly logger: Logger,
  ) {
    this.invalid = new InvalidEntryCount(replica.meshId);
  }

  /** Counters so far (a copy). */
  stats(): SyncStats {
    return {...this.counters};
  }

  /** @throws Error unless this end is the initiator and has not started yet (`idle` is the state it starts in). */
  private assertStartable(state: string): void {
    if (this.role !== 'initiator') throw new Error('start() is for the initiator of a sync session');
    if (state !== 'idle') throw new Error('start() was already called on this sync session');
  }

  /**
   * Start the session: the envelope of the initiator's hello (the protocol's
   * version, this mesh and store kind, and the store's digest), to which the
   * protocol adds its own fields.
   * @throws Error unless this end is the initiator and has not started yet (`state` is `idle`)
   */
  protected startHello(state: string, version: number): {t: 'hello'; v: number; mesh: string; kind: string; digest: Uint8Array} {
    this.assertStartable(state);
    return {t: 'hello', v: version, mesh: this.replica.meshId, kind: this.replica.kind, digest: this.replica.digest()};
  }

  /** Count a message this end sends; returns it. */
  protected countSent(bytes: Uint8Array): Uint8Array {
    this.counters.messagesSent++;
    this.counters.bytesSent += bytes.byteLength;
    return bytes;
  }

  /** Count a message this end received. */
  protected countReceived(bytes: Uint8Array): void {
    this.counters.bytesReceived += bytes.byteLength;
  }

  /**
   * Count what merging the peer's entries did.
   * @throws InvalidEntriesError once the peer sent more invalid entries than a session allows
   */
  protected countMerge(result: MergeResult): void {
    this.counters.entriesMerged += result.accepted.length;
    this.counters.entriesRejected += result.rejected.length;
    this.invalid.add(result);
  }
}
