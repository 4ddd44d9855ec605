/**
 * The calling side of the `Messages` stream: one long-lived bidirectional
 * stream per member carries every membership request to it and every reply,
 * matched by id. Heartbeats, probes and anti-entropy digests are small and
 * frequent; as unary calls each cost four packets and ~520 bytes on the wire
 * for ~120 bytes of payload, on a stream two packets and ~300 bytes
 * (BENCHMARKS.md, "Idle traffic").
 *
 * The stream keeps the failure semantics of one call per message: each
 * request has its own deadline and abort signal. A connection is declared
 * bad (the stream and the cached channel are dropped, as a unary
 * DEADLINE_EXCEEDED does) when a request times out, or is given up on by its
 * caller, and nothing at all came back on the stream since it was sent for
 * longer than the stream's silence limit. Callers' deadlines are often
 * shorter than the stream's own: without this a connection whose packets go
 * nowhere, say while the underlay is down, would be kept and written to
 * until TCP's retransmission backoff gives up, long after the path is back.
 * The limit tells a dead path from a slow member: it follows the stream's
 * own round trips ({@link RoundTripEstimate}), at least
 * {@link SILENT_CONNECTION_MS}; and the verdict waits for the I/O already
 * received to be read: a process whose own event loop was late runs its
 * timers before it reads its sockets, and must not blame a member whose reply
 * is waiting there.
 * A stream that fails fails every request in flight on it with the same
 * mapped error. An idle stream is ended so members do not hold streams
 * for callers that moved on.
 */
import {status as Status, type ClientDuplexStream, type ServiceError} from '@grpc/grpc-js';
import {PeerUnreachableError} from '@wgmesh/core';
import type {MessageEnvelope} from './generated/wgmesh/v1/control.js';
import {RoundTripEstimate} from './round-trip.js';
import {errorOfEnvelope, errorOfStatus, isConnectionFailure, type CallContext} from './status.js';

/** An outbound stream ends after this long with no request in flight and none sent. */
export const MESSAGE_STREAM_IDLE_MS = 60_000;
/** The least silence (ms) after which a request given up on, with nothing received on the stream since it was sent, declares the connection bad. */
export const SILENT_CONNECTION_MS = 500;
/** Ids wrap below 2^32 (the envelope's uint32) and skip 0, which marks "no id". */
const MAX_ID = 0xffff_ffff;

/** A request waiting for its reply. */
interface Pending {
  resolve: (reply: Uint8Array) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
  /** `received` of the stream when the request was written. */
  receivedAtSend: number;
  /** When it was written (ms since the epoch). */
  sentAt: number;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** What a {@link MessageStream} reports to its dialler. */
export interface MessageStreamEvents {
  /** The stream is over (failed, ended or closed): forget it. `connectionBad` asks to drop the cached channel too. */
  closed(connectionBad: boolean): void;
}

/** One `Messages` stream to one member. */
export class MessageStream {
  private readonly call: ClientDuplexStream<MessageEnvelope, MessageEnvelope>;
  private readonly context: CallContext;
  private readonly events: MessageStreamEvents;
  private readonly roundTrip = new RoundTripEstimate();
  private readonly pending = new Map<number, Pending>();
  private readonly idleTimer: NodeJS.Timeout;
  private nextId = 1;
  /** Replies received so far: a timed-out request on a stream that received nothing since tells the connection is bad. */
  private received = 0;
  private lastUsedAt = Date.now();
  private over = false;

  constructor(call: ClientDuplexStream<MessageEnvelope, MessageEnvelope>, context: CallContext, events: MessageStreamEvents) {
    this.call = call;
    this.context = context;
    this.events = events;
    call.on('data', (envelope: MessageEnvelope) => this.onReply(envelope));
    call.on('error', (error: ServiceError) => {
      // Our own cancel() ends in fail() first; a CANCELLED from elsewhere is the member going away.
      if (error.code === Status.CANCELLED) this.fail(new PeerUnreachableError(context.endpoint, 'the member closed the connection'), true);
      else this.fail(errorOfStatus(error, context), isConnectionFailure(error));
    });
    call.on('end', () => this.fail(new PeerUnreachableError(context.endpoint, 'the member ended the message stream'), false));
    this.idleTimer = setInterval(() => {
      if (this.pending.size === 0 && Date.now() - this.lastUsedAt >= MESSAGE_STREAM_IDLE_MS) this.close();
    }, MESSAGE_STREAM_IDLE_MS / 4);
    this.idleTimer.unref();
  }

  /** True once the stream can carry no more requests. */
  get closed(): boolean {
    return this.over;
  }

  /** Send one request and wait for its reply, at most `context.timeoutMs`. */
  request(meshId: string, payload: Uint8Array, signal: AbortSignal | undefined): Promise<Uint8Array> {
    if (this.over) return Promise.reject(new PeerUnreachableError(this.context.endpoint, 'the message stream is closed'));
    const id = this.allocateId();
    this.lastUsedAt = Date.now();
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => this.abandoned(id, signal?.reason ?? new Error('aborted'));
      const timer = setTimeout(() => this.timedOut(id), this.context.timeoutMs);
      this.pending.set(id, {resolve, reject, timer, receivedAtSend: this.received, sentAt: Date.now(), signal, onAbort});
      signal?.addEventListener('abort', onAbort, {once: true});
      this.call.write({id, meshId, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), errorCode: '', errorMessage: ''});
    });
  }

  /** End the stream; requests still in flight fail as unreachable. */
  close(): void {
    if (this.over) return;
    this.fail(new PeerUnreachableError(this.context.endpoint, 'the message stream was closed'), false);
  }

  private allocateId(): number {
    // Skip ids still in flight (a wrap-around after 2^32 requests on one stream).
    do {
      this.nextId = this.nextId >= MAX_ID ? 1 : this.nextId + 1;
    } while (this.pending.has(this.nextId));
    return this.nextId;
  }

  private onReply(envelope: MessageEnvelope): void {
    this.received++;
    this.lastUsedAt = Date.now();
    const pending = this.pending.get(envelope.id);
    // A reply to a request that timed out or was aborted is late, not an error.
    if (pending === undefined) return;
    this.roundTrip.sample(this.lastUsedAt - pending.sentAt);
    if (envelope.errorCode !== '') this.settle(envelope.id, errorOfEnvelope(envelope.errorCode, envelope.errorMessage, this.context));
    else this.settle(envelope.id, undefined, new Uint8Array(envelope.payload));
  }

  private timedOut(id: number): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.settle(id, new PeerUnreachableError(this.context.endpoint, `deadline exceeded after ${this.context.timeoutMs} ms (no answer in time)`));
    this.judgeSilence(pending);
  }

  /** The caller gave up on a request: it fails with `reason`, and the connection too when it stayed silent too long. */
  private abandoned(id: number, reason: unknown): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.settle(id, reason);
    this.judgeSilence(pending);
  }

  /**
   * Declare the connection bad if nothing came back since `pending` was sent
   * for longer than the silence limit, once the I/O already received has been
   * read (`setImmediate` runs after this turn's poll phase).
   */
  private judgeSilence(pending: Pending): void {
    const silentSince = (): boolean => this.received === pending.receivedAtSend;
    const limitMs = Math.min(this.context.timeoutMs, this.roundTrip.silenceLimitMs(SILENT_CONNECTION_MS));
    if (this.over || !silentSince() || Date.now() - pending.sentAt < limitMs) return;
    setImmediate(() => {
      if (!silentSince()) return;
      this.fail(new PeerUnreachableError(this.context.endpoint, `no answer on the connection for ${Date.now() - pending.sentAt} ms`), true);
    });
  }

  /** Finish one request with `error`, or with `reply` when `error` is undefined. */
  private settle(id: number, error: unknown, reply?: Uint8Array): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.signal?.removeEventListener('abort', pending.onAbort);
    if (error === undefined) pending.resolve(reply as Uint8Array);
    else pending.reject(error);
  }

  /** The stream is over: fail everything in flight with `error` and tell the dialler. */
  private fail(error: Error, connectionBad: boolean): void {
    if (this.over) return;
    this.over = true;
    clearInterval(this.idleTimer);
    for (const id of [...this.pending.keys()]) this.settle(id, error);
    this.call.cancel();
    this.events.closed(connectionBad);
  }
}
