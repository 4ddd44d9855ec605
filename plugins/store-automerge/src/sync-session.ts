/**
 * One reconciliation between two automerge replicas (messages in
 * `protocol.ts`). After a hello that short-cuts equal replicas, the two sides
 * run Automerge's own sync protocol, each with its own per-peer sync state,
 * until both have nothing to send. Every message is decoded and validated
 * before the store sees it; one that is malformed, foreign or out of turn
 * throws a DecodeError and the session fails; past a few entries that do not
 * verify it throws an InvalidEntriesError. A message too large for one wire
 * message goes in parts (see protocol.ts).
 */
import {DecodeError, SyncSessionBase} from '@wgmesh/core';
import type {Logger, MergeResult, SyncReplicaBase, SyncRole, SyncSession} from '@wgmesh/core';
import type {SyncStateHandle} from './automerge-api.js';
import {MAX_ASSEMBLED_MESSAGE_BYTES, MAX_SESSION_MESSAGES} from './limits.js';
import {
  decodeAssembledMessage,
  decodeWireMessage,
  encodeMessage,
  moreMessage,
  PROTOCOL_VERSION,
  toParts,
  type OutgoingMessage,
  type SessionMessage,
} from './protocol.js';

/**
 * How far above this replica's generation a peer may claim to be. Each
 * generation costs a compaction to follow, so a peer cannot make one session
 * burn through the whole number range.
 */
export const MAX_GENERATION_LEAP = 2 ** 20;

/** What a session needs of its store (kept narrow so the store's class API stays the MeshStore contract). */
export interface SyncReplica extends SyncReplicaBase {
  /** The current compaction generation of the store's document. */
  generation(): number;
  /** Compact the store's document to a higher generation. */
  compactTo(generation: number): void;
  /** A fresh per-peer Automerge sync state for the current document. */
  newSyncState(): SyncStateHandle;
  /** Automerge's next sync message for the peer, or null. */
  generateSyncMessage(state: SyncStateHandle): Uint8Array | null;
  /**
   * Apply the peer's Automerge sync message and take in what changed.
   * @throws DecodeError when it does not parse or Automerge refuses it.
   */
  receiveSyncMessage(state: SyncStateHandle, message: Uint8Array): MergeResult;
}

/** Where a session is. */
type State =
  | 'idle' // initiator before start()
  | 'await-hello' // responder
  | 'active' // expects the peer's next message
  | 'closing' // said "nothing to send": the peer may end the session, or send more
  | 'done'
  | 'failed';

function protocolError(detail: string): DecodeError {
  return new DecodeError(`automerge sync message: ${detail}`);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/** An automerge {@link SyncSession}; made by `AutomergeStore.openSync`. */
export class AutomergeSyncSession extends SyncSessionBase<SyncReplica> implements SyncSession {
  private state: State;
  /** The Automerge sync state for the peer, and the generation of the document it belongs to. */
  private sync: {state: SyncStateHandle; generation: number} | undefined;
  /** Highest generation the peer has claimed so far. */
  private peerGeneration = -1;
  private messagesReceived = 0;
  /** Parts of this side's last message still to send, each when the peer asks for `more`. */
  private outgoing: Uint8Array[] = [];
  /** Parts of the peer's message received so far, and their bytes. */
  private incoming: Uint8Array[] = [];
  private incomingBytes = 0;

  /** @param role which end this is; @param replica the local store; @param logger for the outcome. */
  constructor(role: SyncRole, replica: SyncReplica, logger: Logger) {
    super(role, replica, logger);
    this.state = role === 'initiator' ? 'idle' : 'await-hello';
  }

  /** True once this side expects no more messages (finished, failed, or said its last word, all parts of it sent). */
  get done(): boolean {
    if (this.state === 'failed') return true;
    return this.outgoing.length === 0 && (this.state === 'done' || this.state === 'closing');
  }

  /** Initiator only: the hello, with this replica's digest and first Automerge message. */
  start(): Uint8Array {
    const hello = this.startHello(this.state, PROTOCOL_VERSION);
    this.state = 'active';
    // A fresh sync state always has something to say: at least this side's heads.
    return this.send({...hello, gen: this.replica.generation(), am: this.replica.generateSyncMessage(this.syncState()) ?? new Uint8Array(0)});
  }

  /**
   * Handle the peer's message; returns the reply, or null when this side is done.
   * @throws DecodeError on a malformed, foreign or out-of-turn message (the session is then failed).
   */
  receive(message: Uint8Array): Uint8Array | null {
    this.countReceived(message);
    try {
      if (this.state === 'failed') throw protocolError('unexpected message: the session is over');
      if (this.state === 'idle') throw protocolError('unexpected message: the session is not started');
      const wire = decodeWireMessage(message);
      if (this.outgoing.length > 0) {
        if (wire.t !== 'more') throw protocolError(`unexpected '${wire.t}' (expected more, for the next part)`);
        return this.sendPart();
      }
      if (this.state === 'done') throw protocolError('unexpected message: the session is over');
      if (wire.t === 'more') throw protocolError("unexpected 'more': no message is in parts");
      let decoded: SessionMessage;
      if (wire.t === 'part') {
        this.incomingBytes += wire.data.byteLength;
        if (this.incomingBytes > MAX_ASSEMBLED_MESSAGE_BYTES) throw protocolError(`a message in parts is over ${MAX_ASSEMBLED_MESSAGE_BYTES} bytes`);
        this.incoming.push(wire.data);
        if (!wire.last) return this.countSent(moreMessage());
        decoded = decodeAssembledMessage(Buffer.concat(this.incoming));
        this.incoming = [];
        this.incomingBytes = 0;
      } else {
        if (this.incoming.length > 0) throw protocolError(`unexpected '${wire.t}' (expected the next part)`);
        decoded = wire;
      }
      if (++this.messagesReceived > MAX_SESSION_MESSAGES) throw protocolError(`the session went past ${MAX_SESSION_MESSAGES} messages`);
      const reply = this.handle(decoded);
      if ((this.state as State) === 'done') this.logger.debug({meshId: this.replica.meshId, role: this.role, ...this.stats()}, 'automerge sync session finished');
      return reply;
    } catch (error) {
      this.state = 'failed';
      throw error;
    }
  }

  private handle(message: SessionMessage): Uint8Array | null {
    if (this.state === 'await-hello') {
      if (message.t !== 'hello') throw protocolError(`unexpected '${message.t}' (expected hello)`);
      if (message.v !== PROTOCOL_VERSION) throw protocolError(`peer speaks protocol version ${message.v}, this node speaks ${PROTOCOL_VERSION}`);
      if (message.mesh !== this.replica.meshId) throw protocolError(`peer is syncing mesh ${message.mesh}, not ${this.replica.meshId}`);
      if (message.kind !== this.replica.kind) throw protocolError(`peer uses store '${message.kind}', this mesh uses '${this.replica.kind}'`);
      if (sameBytes(message.digest, this.replica.digest())) {
        // Same entries: nothing to reconcile, whatever the two histories look like.
        this.state = 'done';
        return this.send({t: 'equal'});
      }
      this.state = 'active';
      return this.exchange(message.gen, message.am.byteLength === 0 ? null : message.am);
    }
    if (message.t === 'equal') {
      if (this.role !== 'initiator' || this.messagesReceived !== 1) throw protocolError("unexpected 'equal'");
      this.state = 'done';
      return null;
    }
    if (message.t !== 'sync') throw protocolError(`unexpected '${message.t}' (expected sync)`);
    return this.exchange(message.gen, message.am);
  }

  /**
   * One turn of Automerge's protocol: catch up with the peer's generation (or
   * ignore a message of an older one, which the peer will redo once it has
   * caught up with ours), apply its message, and answer.
   */
  private exchange(peerGeneration: number, peerMessage: Uint8Array | null): Uint8Array | null {
    if (peerGeneration < this.peerGeneration) throw protocolError(`peer went back from generation ${this.peerGeneration} to ${peerGeneration}`);
    this.peerGeneration = peerGeneration;
    const ours = this.replica.generation();
    if (peerGeneration > ours) {
      if (peerGeneration - ours > MAX_GENERATION_LEAP) {
        throw protocolError(`peer claims generation ${peerGeneration}, more than ${MAX_GENERATION_LEAP} above this replica's ${ours}`);
      }
      this.replica.compactTo(peerGeneration);
    }
    const state = this.syncState();
    const sameGeneration = peerGeneration === this.replica.generation();
    if (sameGeneration && peerMessage !== null) this.countMerge(this.replica.receiveSyncMessage(state, peerMessage));
    const next = this.replica.generateSyncMessage(state);
    if (sameGeneration && peerMessage === null && next === null) {
      // Neither side has anything left: the peer said so, and so does this side.
      this.state = 'done';
      return null;
    }
    this.state = next === null ? 'closing' : 'active';
    return this.send({t: 'sync', gen: this.replica.generation(), am: next});
  }

  /** The sync state for the store's current document (a new one after the store compacted). */
  private syncState(): SyncStateHandle {
    const generation = this.replica.generation();
    if (this.sync === undefined || this.sync.generation !== generation) {
      this.sync?.state.free();
      this.sync = {state: this.replica.newSyncState(), generation};
    }
    return this.sync.state;
  }

  /** Send a whole message: itself, or its first part when it is too large for one. */
  private send(message: OutgoingMessage): Uint8Array {
    this.outgoing = toParts(encodeMessage(message));
    return this.sendPart();
  }

  private sendPart(): Uint8Array {
    return this.countSent(this.outgoing.shift()!);
  }
}
