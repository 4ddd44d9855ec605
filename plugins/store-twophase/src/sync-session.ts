/**
 * One reconciliation between two twophase replicas (the message flow is drawn
 * in `protocol.ts`). Equal replicas exchange one hello and one `equal`; others
 * compare bucket digests and then, batch by batch of differing buckets, swap
 * only the entries one side lacks or holds older, a part per message. Every
 * message is fully decoded and checked before it touches the store, so a
 * malformed one throws a DecodeError and changes nothing; entries that do
 * not verify are rejected, and past a few of them the session throws an
 * InvalidEntriesError.
 */
import {DecodeError, SyncSessionBase} from '@wgmesh/core';
import type {Logger, MergeResult, SignedEntry, SyncReplicaBase, SyncRole, SyncSession, VerifiedEntry} from '@wgmesh/core';
import {bucketBitsFor, bucketOf, differingBuckets} from './buckets.js';
import {MAX_ENTRIES, MAX_ENTRIES_PER_MESSAGE, MAX_ENTRY_BYTES_PER_MESSAGE, MAX_SUMMARIES_PER_MESSAGE} from './limits.js';
import {
  compareWithSummary,
  decodeMessage,
  encodeMessage,
  packIds,
  packSummaries,
  PROTOCOL_VERSION,
  unpackIds,
  unpackSummaries,
  type EntrySummary,
  type SyncMessage,
  type SyncMessageOf,
  type OutgoingMessage,
} from './protocol.js';

/** What a session needs of its store (kept narrow so the store's class API stays the MeshStore contract). */
export interface SyncReplica extends SyncReplicaBase {
  /** Entries held. */
  size(): number;
  /** The entry held for a node. */
  get(id: string): VerifiedEntry | undefined;
  /** The digest of every bucket at `bits` bits (see `BucketIndex.digests`). */
  bucketDigests(bits: number): Uint8Array;
  /** The held entries in the given buckets at `bits` bits. */
  entriesIn(bits: number, buckets: readonly number[]): VerifiedEntry[];
  /** True when an entry is past the GC horizon (the peer would refuse it, so it is not sent). */
  isExpired(entry: VerifiedEntry): boolean;
  /** Verify and merge received entries (the store's `merge`). */
  merge(entries: readonly SignedEntry[]): MergeResult;
}

/** Where a session is: what it expects next. */
type State =
  | 'idle' // initiator before start()
  | 'await-reply' // initiator: `equal` or `buckets`
  | 'await-entries' // initiator: `entries` of the current batch
  | 'await-hello' // responder
  | 'await-summaries' // responder: the next batch
  | 'await-final' // responder: `final` of the current batch
  | 'done'
  | 'failed';

const EXPECTED: Partial<Record<State, readonly SyncMessage['t'][]>> = {
  'await-reply': ['equal', 'buckets'],
  'await-entries': ['entries'],
  'await-hello': ['hello'],
  'await-summaries': ['summaries'],
  'await-final': ['final'],
};

function protocolError(detail: string): DecodeError {
  return new DecodeError(`twophase sync message: ${detail}`);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

function toWire(entry: SignedEntry): SignedEntry {
  return {body: entry.body, signature: entry.signature};
}

/**
 * The next part of `queue` to send, taken off it: at most
 * {@link MAX_ENTRIES_PER_MESSAGE} entries and {@link MAX_ENTRY_BYTES_PER_MESSAGE}
 * bytes (always at least one entry when the queue has one to send). Entries
 * gone or past the horizon by now are skipped: the peer would refuse them.
 */
function takePart(queue: (VerifiedEntry | undefined)[], replica: SyncReplica): SignedEntry[] {
  const part: SignedEntry[] = [];
  let bytes = 0;
  while (queue.length > 0 && part.length < MAX_ENTRIES_PER_MESSAGE) {
    const entry = queue[0];
    if (entry === undefined || replica.isExpired(entry)) {
      queue.shift();
      continue;
    }
    const size = entry.body.byteLength + entry.signature.byteLength;
    if (part.length > 0 && bytes + size > MAX_ENTRY_BYTES_PER_MESSAGE) break;
    queue.shift();
    part.push(toWire(entry));
    bytes += size;
  }
  return part;
}

/** A twophase {@link SyncSession}; made by `TwoPhaseStore.openSync`. */
export class TwoPhaseSyncSession extends SyncSessionBase<SyncReplica> implements SyncSession {
  private state: State;
  /** The bucket bits the responder chose. */
  private bits = 0;
  /** Entries this side still has to send in the current batch (a queue; sent a part per message). */
  private outbox: (VerifiedEntry | undefined)[] = [];
  /** Entries received from the peer in this session (at most {@link MAX_ENTRIES}). */
  private received = 0;
  /** Initiator: differing buckets not sent in a batch yet, ascending. */
  private pendingBuckets: number[] = [];
  /** Initiator: ids summarised in the current batch (the only ones the responder may ask for). */
  private offered = new Set<string>();
  /** Initiator: whether the current batch's first `entries` (the one with `want`) came. */
  private wantSeen = false;
  /** Responder: highest bucket of the batches so far (batches are ascending and disjoint). */
  private lastBucket = -1;
  /** Responder: whether the current batch is the initiator's last. */
  private lastBatch = false;
  /** Responder: entries of the current batch the initiator may still send (it asked for no more). */
  private owed = 0;
  /** Responder: whether the initiator said it has nothing more for the current batch. */
  private peerDone = true;
  /** Responder: whether its last `entries` said it has nothing more for the current batch. */
  private saidDone = false;

  /** @param role which end this is; @param replica the local store; @param logger for the outcome. */
  constructor(role: SyncRole, replica: SyncReplica, logger: Logger) {
    super(role, replica, logger);
    this.state = role === 'initiator' ? 'idle' : 'await-hello';
  }

  /** True once this side expects no more messages (finished, or failed on a bad message). */
  get done(): boolean {
    return this.state === 'done' || this.state === 'failed';
  }

  /** Initiator only: the hello carrying this replica's digest. */
  start(): Uint8Array {
    const hello = this.startHello(this.state, PROTOCOL_VERSION);
    this.state = 'await-reply';
    return this.send({...hello, count: this.replica.size()});
  }

  /**
   * Handle the peer's message; returns the reply or null when this side is done.
   * @throws DecodeError on a malformed, foreign or out-of-turn message (the session is then failed).
   * @throws InvalidEntriesError once the peer sent more than a few entries that do not verify (the session is then failed).
   */
  receive(message: Uint8Array): Uint8Array | null {
    this.countReceived(message);
    try {
      const expected = EXPECTED[this.state];
      if (expected === undefined) throw protocolError(`unexpected message: the session is ${this.state === 'idle' ? 'not started' : 'over'}`);
      const decoded = decodeMessage(message);
      if (!expected.includes(decoded.t)) throw protocolError(`unexpected '${decoded.t}' (expected ${expected.join(' or ')})`);
      const reply = this.handle(decoded);
      const bytes = reply === null ? null : this.send(reply);
      if (this.state === 'done') {
        this.logger.debug({meshId: this.replica.meshId, role: this.role, ...this.stats()}, 'twophase sync session finished');
      }
      return bytes;
    } catch (error) {
      this.state = 'failed';
      throw error;
    }
  }

  private handle(message: SyncMessage): OutgoingMessage | null {
    switch (message.t) {
      case 'hello':
        return this.onHello(message);
      case 'equal':
        this.finish();
        return null;
      case 'buckets':
        return this.onBuckets(message);
      case 'summaries':
        return this.onSummaries(message);
      case 'entries':
        return this.onEntries(message);
      case 'final':
        return this.onFinal(message);
    }
  }

  /** Responder: compare digests; equal ends the session, otherwise send bucket digests. */
  private onHello(hello: SyncMessageOf<'hello'>): OutgoingMessage {
    if (hello.v !== PROTOCOL_VERSION) throw protocolError(`peer speaks protocol version ${hello.v}, this node speaks ${PROTOCOL_VERSION}`);
    if (hello.mesh !== this.replica.meshId) throw protocolError(`peer is syncing mesh ${hello.mesh}, not ${this.replica.meshId}`);
    if (hello.kind !== this.replica.kind) throw protocolError(`peer uses store '${hello.kind}', this mesh uses '${this.replica.kind}'`);
    if (sameBytes(hello.digest, this.replica.digest())) {
      this.finish();
      return {t: 'equal'};
    }
    // Sized for the larger state, so no bucket holds more summaries than a message carries. A
    // made-up count costs little: the most bits are 4,096 digests (64 KiB), read off the index.
    this.bits = bucketBitsFor(Math.max(hello.count, this.replica.size()));
    this.state = 'await-summaries';
    return {t: 'buckets', bits: this.bits, digests: this.replica.bucketDigests(this.bits)};
  }

  /** Initiator: note the buckets that differ and send the first batch. */
  private onBuckets(buckets: SyncMessageOf<'buckets'>): OutgoingMessage {
    this.bits = buckets.bits;
    this.pendingBuckets = differingBuckets(this.replica.bucketDigests(buckets.bits), buckets.digests);
    // Digests differ, yet no bucket does: nothing to reconcile at this resolution (a hash collision, or a racing change).
    if (this.pendingBuckets.length === 0) this.pendingBuckets = [0];
    return this.nextBatch();
  }

  /**
   * Initiator: summaries of its entries in the next buckets, as many whole
   * buckets as fit in one message. A bucket too large for one message is cut,
   * and the entries left out are not offered; that takes more than 4,096
   * node ids sharing their first 12 bits, where ids spread by SHA-256 put
   * about 25 in a bucket at 100,000 nodes.
   */
  private nextBatch(): OutgoingMessage {
    const batch: number[] = [];
    const mine: VerifiedEntry[] = [];
    while (this.pendingBuckets.length > 0) {
      const inBucket = this.replica.entriesIn(this.bits, [this.pendingBuckets[0]!]);
      if (batch.length > 0 && mine.length + inBucket.length > MAX_SUMMARIES_PER_MESSAGE) break;
      batch.push(this.pendingBuckets.shift()!);
      mine.push(...inBucket.slice(0, MAX_SUMMARIES_PER_MESSAGE - mine.length));
    }
    this.offered = new Set(mine.map((entry) => entry.value.id));
    this.wantSeen = false;
    this.outbox = [];
    this.state = 'await-entries';
    return {t: 'summaries', buckets: batch, items: packSummaries(mine), last: this.pendingBuckets.length === 0};
  }

  /** Responder: queue what the initiator lacks or holds older, ask for what it holds newer, send the first part. */
  private onSummaries(message: SyncMessageOf<'summaries'>): OutgoingMessage {
    const flagged = new Uint8Array(2 ** this.bits);
    for (const bucket of message.buckets) {
      if (bucket >= flagged.length || bucket <= this.lastBucket) throw protocolError('bucket list is not ascending within the bucket range, after the buckets of earlier batches');
      flagged[bucket] = 1;
      this.lastBucket = bucket;
    }
    const theirs = new Map<string, EntrySummary>();
    for (const summary of unpackSummaries(message.items)) {
      if (flagged[bucketOf(summary.id, this.bits)] !== 1) throw protocolError(`summary of node ${summary.id} is outside the listed buckets`);
      if (theirs.has(summary.id)) throw protocolError(`node ${summary.id} is summarised twice`);
      theirs.set(summary.id, summary);
    }
    const send: VerifiedEntry[] = [];
    const want: string[] = [];
    for (const entry of this.replica.entriesIn(this.bits, message.buckets)) {
      const summary = theirs.get(entry.value.id);
      theirs.delete(entry.value.id);
      const order = summary === undefined ? 1 : compareWithSummary(entry, summary);
      if (order > 0 && !this.replica.isExpired(entry)) send.push(entry);
      else if (order < 0) want.push(entry.value.id);
    }
    // What is left in `theirs` is what this side lacks altogether.
    for (const id of theirs.keys()) want.push(id);
    this.outbox = send;
    this.owed = want.length;
    this.peerDone = want.length === 0;
    this.lastBatch = message.last;
    return this.responderPart(want);
  }

  /** Responder: merge a part of what was asked for, and send the next part of its own. */
  private onFinal(message: SyncMessageOf<'final'>): OutgoingMessage | null {
    if (message.entries.length > this.owed) throw protocolError(`peer sent ${message.entries.length} entries, ${this.owed} more were asked for`);
    if (!message.done && message.entries.length === 0) throw protocolError("a 'final' that is not done carries no entry");
    this.owed -= message.entries.length;
    this.peerDone = message.done || this.owed === 0;
    this.mergeIn(message.entries);
    if (this.peerDone && this.saidDone && this.lastBatch) {
      // The initiator's last word (it ends the session after it too).
      this.finish();
      return null;
    }
    return this.responderPart([]);
  }

  /** Responder: the next `entries` message; the batch (and after the last one, the session) is over once both sides are done. */
  private responderPart(want: readonly string[]): OutgoingMessage {
    const entries = takePart(this.outbox, this.replica);
    const done = this.outbox.length === 0;
    this.saidDone = done;
    if (done && this.peerDone) {
      if (this.lastBatch) this.finish();
      else this.state = 'await-summaries';
    } else {
      this.state = 'await-final';
    }
    return {t: 'entries', entries, want: packIds(want), done};
  }

  /** Initiator: merge a part, queue what was asked for, and send the next part, the next batch, or nothing (the end). */
  private onEntries(message: SyncMessageOf<'entries'>): OutgoingMessage | null {
    const want = unpackIds(message.want);
    if (want.length > 0 && this.wantSeen) throw protocolError("only the first 'entries' of a batch may ask for entries");
    if (!message.done && message.entries.length === 0) throw protocolError("an 'entries' that is not done carries no entry");
    this.wantSeen = true;
    const asked = new Set<string>();
    for (const id of want) {
      if (!this.offered.has(id)) throw protocolError(`peer asks for node ${id}, which was not offered`);
      if (asked.has(id)) throw protocolError(`peer asks for node ${id} twice`);
      asked.add(id);
    }
    this.mergeIn(message.entries);
    // An entry collected since it was offered is simply not sent.
    for (const id of want) this.outbox.push(this.replica.get(id));
    if (this.outbox.length > 0 || !message.done) {
      const entries = takePart(this.outbox, this.replica);
      const done = this.outbox.length === 0;
      // The last part of the last batch, with the responder done: nothing is to follow, either way.
      if (done && message.done && this.pendingBuckets.length === 0) this.finish();
      return {t: 'final', entries, done};
    }
    if (this.pendingBuckets.length > 0) return this.nextBatch();
    this.finish();
    return null;
  }

  private mergeIn(entries: readonly SignedEntry[]): void {
    if (entries.length === 0) return;
    this.received += entries.length;
    if (this.received > MAX_ENTRIES) throw protocolError(`peer sent more than ${MAX_ENTRIES} entries in one session`);
    const result = this.replica.merge(entries);
    this.countMerge(result);
  }

  private send(message: OutgoingMessage): Uint8Array {
    return this.countSent(encodeMessage(message));
  }

  private finish(): void {
    this.state = 'done';
  }
}
