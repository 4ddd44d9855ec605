/**
 * One reconciliation between two twophase replicas (the message flow is drawn
 * in `protocol.ts`). Equal replicas exchange one hello and one `equal`; others
 * compare bucket digests and then swap only the entries one side lacks or
 * holds older. Every message is fully decoded and checked before it touches
 * the store, so a malformed one throws a DecodeError and changes nothing.
 */
import {DecodeError, type Logger, type MergeResult, type SignedEntry, type SyncRole, type SyncSession, type SyncStats, type VerifiedEntry} from '@wgmesh/core';
import {bucketBitsFor, bucketOf, differingBuckets} from './buckets.js';
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
export interface SyncReplica {
  /** The mesh the store holds. */
  readonly meshId: string;
  /** The store kind (both ends must use the same). */
  readonly kind: string;
  /** Entries held. */
  size(): number;
  /** The store digest (see `TwoPhaseStore.digest`). */
  digest(): Uint8Array;
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
  | 'await-entries' // initiator: `entries`
  | 'await-hello' // responder
  | 'await-summaries' // responder
  | 'await-final' // responder: `final`
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

/** A twophase {@link SyncSession}; made by `TwoPhaseStore.openSync`. */
export class TwoPhaseSyncSession implements SyncSession {
  private state: State;
  private readonly counters: SyncStats = {messagesSent: 0, bytesSent: 0, bytesReceived: 0, entriesMerged: 0, entriesRejected: 0};
  /** Responder: the bucket bits it chose. */
  private bits = 0;
  /** Initiator: ids it summarised (the only ones the responder may ask for). */
  private offered = new Set<string>();
  /** Responder: how many entries it asked for (the most the final message may carry). */
  private wantedCount = 0;

  /** @param role which end this is; @param replica the local store; @param logger for the outcome. */
  constructor(
    readonly role: SyncRole,
    private readonly replica: SyncReplica,
    private readonly logger: Logger,
  ) {
    this.state = role === 'initiator' ? 'idle' : 'await-hello';
  }

  /** True once this side expects no more messages (finished, or failed on a bad message). */
  get done(): boolean {
    return this.state === 'done' || this.state === 'failed';
  }

  /** Counters so far (a copy). */
  stats(): SyncStats {
    return {...this.counters};
  }

  /** Initiator only: the hello carrying this replica's digest. */
  start(): Uint8Array {
    if (this.role !== 'initiator') throw new Error('start() is for the initiator of a sync session');
    if (this.state !== 'idle') throw new Error('start() was already called on this sync session');
    this.state = 'await-reply';
    return this.send({
      t: 'hello',
      v: PROTOCOL_VERSION,
      mesh: this.replica.meshId,
      kind: this.replica.kind,
      digest: this.replica.digest(),
      count: this.replica.size(),
    });
  }

  /**
   * Handle the peer's message; returns the reply or null when this side is done.
   * @throws DecodeError on a malformed, foreign or out-of-turn message (the session is then failed).
   */
  receive(message: Uint8Array): Uint8Array | null {
    this.counters.bytesReceived += message.byteLength;
    try {
      const expected = EXPECTED[this.state];
      if (expected === undefined) throw protocolError(`unexpected message: the session is ${this.state === 'idle' ? 'not started' : 'over'}`);
      const decoded = decodeMessage(message);
      if (!expected.includes(decoded.t)) throw protocolError(`unexpected '${decoded.t}' (expected ${expected.join(' or ')})`);
      const reply = this.handle(decoded);
      const bytes = reply === null ? null : this.send(reply);
      if (this.state === 'done') {
        this.logger.debug({meshId: this.replica.meshId, role: this.role, ...this.counters}, 'twophase sync session finished');
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
    // The smaller size bounds the work a peer can ask for with a made-up count,
    // and bucketing only pays when the two states are close anyway.
    this.bits = bucketBitsFor(Math.min(hello.count, this.replica.size()));
    this.state = 'await-summaries';
    return {t: 'buckets', bits: this.bits, digests: this.replica.bucketDigests(this.bits)};
  }

  /** Initiator: summarise its entries in the buckets that differ. */
  private onBuckets(buckets: SyncMessageOf<'buckets'>): OutgoingMessage {
    const diff = differingBuckets(this.replica.bucketDigests(buckets.bits), buckets.digests);
    const mine = this.replica.entriesIn(buckets.bits, diff);
    this.offered = new Set(mine.map((entry) => entry.value.id));
    this.state = 'await-entries';
    return {t: 'summaries', buckets: diff, items: packSummaries(mine)};
  }

  /** Responder: send what the initiator lacks or holds older, ask for what it holds newer. */
  private onSummaries(message: SyncMessageOf<'summaries'>): OutgoingMessage {
    const flagged = new Uint8Array(2 ** this.bits);
    let last = -1;
    for (const bucket of message.buckets) {
      if (bucket >= flagged.length || bucket <= last) throw protocolError('bucket list is not ascending within the bucket range');
      flagged[bucket] = 1;
      last = bucket;
    }
    const theirs = new Map<string, EntrySummary>();
    for (const summary of unpackSummaries(message.items)) {
      if (flagged[bucketOf(summary.id, this.bits)] !== 1) throw protocolError(`summary of node ${summary.id} is outside the listed buckets`);
      if (theirs.has(summary.id)) throw protocolError(`node ${summary.id} is summarised twice`);
      theirs.set(summary.id, summary);
    }
    const send: SignedEntry[] = [];
    const want: string[] = [];
    for (const entry of this.replica.entriesIn(this.bits, message.buckets)) {
      const summary = theirs.get(entry.value.id);
      theirs.delete(entry.value.id);
      const order = summary === undefined ? 1 : compareWithSummary(entry, summary);
      if (order > 0 && !this.replica.isExpired(entry)) send.push(toWire(entry));
      else if (order < 0) want.push(entry.value.id);
    }
    // What is left in `theirs` is what this side lacks altogether.
    for (const id of theirs.keys()) want.push(id);
    this.wantedCount = want.length;
    if (want.length === 0) this.finish();
    else this.state = 'await-final';
    return {t: 'entries', entries: send, want: packIds(want)};
  }

  /** Initiator: merge what came, send what was asked for. */
  private onEntries(message: SyncMessageOf<'entries'>): OutgoingMessage | null {
    const want = unpackIds(message.want);
    const asked = new Set<string>();
    for (const id of want) {
      if (!this.offered.has(id)) throw protocolError(`peer asks for node ${id}, which was not offered`);
      if (asked.has(id)) throw protocolError(`peer asks for node ${id} twice`);
      asked.add(id);
    }
    this.mergeIn(message.entries);
    if (want.length === 0) {
      this.finish();
      return null;
    }
    const entries: SignedEntry[] = [];
    for (const id of want) {
      // An entry collected since it was offered, or now past the horizon, is simply not sent.
      const entry = this.replica.get(id);
      if (entry !== undefined && !this.replica.isExpired(entry)) entries.push(toWire(entry));
    }
    this.finish();
    return {t: 'final', entries};
  }

  /** Responder: merge what was asked for. */
  private onFinal(message: SyncMessageOf<'final'>): null {
    if (message.entries.length > this.wantedCount) {
      throw protocolError(`peer sent ${message.entries.length} entries, ${this.wantedCount} were asked for`);
    }
    this.mergeIn(message.entries);
    this.finish();
    return null;
  }

  private mergeIn(entries: readonly SignedEntry[]): void {
    if (entries.length === 0) return;
    const result = this.replica.merge(entries);
    this.counters.entriesMerged += result.accepted.length;
    this.counters.entriesRejected += result.rejected.length;
  }

  private send(message: OutgoingMessage): Uint8Array {
    const bytes = encodeMessage(message);
    this.counters.messagesSent++;
    this.counters.bytesSent += bytes.byteLength;
    return bytes;
  }

  private finish(): void {
    this.state = 'done';
  }
}
