/**
 * The answering side: the `wgmesh.v1.Control` service, calling the daemon's
 * TransportHandlers with the node each caller proved. Every call comes over a
 * connection whose client certificate was accepted (see listener.ts). Whatever a peer sends, the
 * worst outcome is that its call ends with an error status and a log line:
 * malformed fields, a store message the session cannot decode, a frame for
 * another mesh, an idle or endless stream, one session too many, more bytes
 * of requests than this daemon holds at once. Refusal lines are rate-limited
 * per cause and remote address (a peer can repeat them at will).
 */
import type {EventEmitter} from 'node:events';
import {
  status as Status,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type StatusObject,
} from '@grpc/grpc-js';
import {DecodeError, MAX_CONTROL_MESSAGE_BYTES, MAX_SYNC_MESSAGE_BYTES, UnknownMeshError, type LimitedLevel, type Logger, type LogLimiter, type RemotePeer, type SyncSession, type TransportHandlers} from '@wgmesh/core';
import {ByteBudget} from './byte-budget.js';
import {MessagesBusyError, OverloadedError, SnapshotBusyError, SnapshotTooLargeError, SyncBusyError, TransportFailureError} from './errors.js';
import {canonicalAddress, peerEndpoint} from './address.js';
import type {FaultInjector} from './fault-injection.js';
import type {ControlServer, MessageEnvelope, SnapshotChunk, SnapshotRequest, SyncFrame} from './generated/wgmesh/v1/control.js';
import {MESSAGE_STREAM_IDLE_MS} from './message-stream.js';
import type {GrpcTransportSettings} from './settings.js';
import {asWgmeshError, envelopeErrorOf, statusOfError} from './status.js';
import type {ProvenPeers} from './proven-peers.js';
import {StreamWatchdog} from './watchdog.js';
import {checkMeshId, checkStoreKind} from './wire.js';

/** Requests one message stream may have in flight; more are refused until some are answered. */
export const MAX_MESSAGES_IN_FLIGHT = 64;

/** What the service needs. */
export interface ServiceOptions {
  handlers: TransportHandlers;
  settings: GrpcTransportSettings;
  logger: Logger;
  /** Rate-limits the refusal lines. */
  limiter: LogLimiter;
  faults: FaultInjector | null;
  /** The node proven on each connection (recorded by the listener). */
  proven: ProvenPeers;
}

/** Any server-side call: enough to learn who is calling. */
type AnyServerCall = Pick<ServerUnaryCall<unknown, unknown>, 'getPeer'>;

/** A peer admitted to make a call, or the status to refuse it with. */
type Admission = {peer: RemotePeer; ip: string} | {refusal: Partial<StatusObject>; address: string};

/** The service implementation plus a view of its load (for tests and status output). */
export interface ControlService {
  /** The handlers to register with the gRPC server. */
  implementation: ControlServer;
  /** Sync sessions being answered now. */
  activeSyncs(): number;
  /** Message streams open now. */
  openMessageStreams(): number;
  /** Bytes of requests received and not yet handled, over all connections. */
  bytesInFlight(): number;
  /** End every open message stream (shutting down: a long-lived stream would otherwise hold the grace period). */
  endMessageStreams(): void;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Resolve when a writable call can take more, or is over. */
function drained(call: EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const events = ['drain', 'cancelled', 'close', 'finish', 'error'] as const;
    const done = () => {
      for (const event of events) call.off(event, done);
      resolve();
    };
    for (const event of events) call.once(event, done);
  });
}

/** Build the service for one transport. */
export function createControlService(options: ServiceOptions): ControlService {
  const {handlers, settings, logger, limiter, faults, proven} = options;
  let activeSyncs = 0;
  let activeSnapshots = 0;
  const budget = new ByteBudget({perConnection: settings.maxBytesInFlightPerConnection, total: settings.maxBytesInFlight});

  /** One refusal line, rate-limited per cause and remote address. */
  const refusalLog = (level: LimitedLevel, cause: string, ip: string, fields: object, msg: string) => limiter.log(logger, level, cause, ip, fields, msg);

  /**
   * Reserve `bytes` of a request from `peer` until it is handled.
   * @returns the release function, or the error to refuse the request with (already logged).
   */
  function reserve(peer: {address: string; ip: string}, bytes: number, what: string): {release: () => void} | {error: OverloadedError} {
    const reserved = budget.acquire(peer.address, bytes);
    if ('release' in reserved) return reserved;
    const scope = reserved.refused;
    const limit = scope === 'connection' ? settings.maxBytesInFlightPerConnection : settings.maxBytesInFlight;
    refusalLog('warn', 'bytes-in-flight', peer.ip, {peer: peer.address, bytes, limit, scope}, `${what}: refused, too many bytes of requests in flight`);
    return {error: new OverloadedError(scope, limit)};
  }
  /** How to end each open message stream. */
  const messageStreams = new Set<() => void>();

  function admit(call: AnyServerCall): Admission {
    const remote = call.getPeer();
    const split = /^(.*):(\d+)$/.exec(remote);
    const ip = canonicalAddress(split?.[1] ?? remote);
    const address = peerEndpoint(ip, split?.[2] ? Number(split[2]) : undefined);
    if (faults?.blocksInbound(ip)) {
      return {refusal: {code: Status.UNAVAILABLE, details: 'call dropped by the fault injection file (a simulated network failure)'}, address};
    }
    const node = proven.get(address);
    // Unreachable by construction (the listener injects only connections it recorded); kept as a second lock.
    if (node === undefined) return {refusal: {code: Status.UNAUTHENTICATED, details: 'no verified client certificate'}, address};
    return {peer: {address, authenticatedAs: node.authenticatedAs, nodeId: node.nodeId, signingKey: node.signingKey}, ip};
  }

  /** The status for a handler's or a peer's error, logged (rate-limited) at a level that fits. */
  function refusalOf(error: unknown, peer: {address: string; ip: string}, what: string): Partial<StatusObject> {
    const {status, internal} = statusOfError(error);
    const known = asWgmeshError(error);
    if (internal) {
      refusalLog('error', `${what}-failed`, peer.ip, {peer: peer.address, err: error}, `${what}: handler failed`);
    } else if (error instanceof UnknownMeshError) {
      refusalLog('info', `${what}-refused`, peer.ip, {peer: peer.address, err: error.message}, `${what}: refused`);
    } else {
      refusalLog('warn', `${what}-refused`, peer.ip, {peer: peer.address, code: known?.code, err: known?.message}, `${what}: refused`);
    }
    return status;
  }

  async function fetchSnapshot(call: ServerWritableStream<SnapshotRequest, SnapshotChunk>): Promise<void> {
    const admission = admit(call);
    if ('refusal' in admission) {
      call.emit('error', admission.refusal);
      return;
    }
    const {peer, ip} = admission;
    const from = {address: peer.address, ip};
    if (activeSnapshots >= settings.maxConcurrentSnapshots) {
      call.emit('error', refusalOf(new SnapshotBusyError(settings.maxConcurrentSnapshots), from, 'snapshot'));
      return;
    }
    activeSnapshots++;
    try {
      await sendSnapshot(call, peer, from);
    } finally {
      activeSnapshots--;
    }
  }

  /** Make the snapshot and stream it in chunks (one of at most `maxConcurrentSnapshots` at a time). */
  async function sendSnapshot(call: ServerWritableStream<SnapshotRequest, SnapshotChunk>, peer: RemotePeer, from: {address: string; ip: string}): Promise<void> {
    let result: {storeKind: string; snapshot: Uint8Array};
    try {
      const meshId = checkMeshId(call.request.meshId, 'snapshot request');
      result = await handlers.snapshot(meshId, peer);
      checkStoreKind(result.storeKind, 'snapshot handler');
    } catch (error) {
      call.emit('error', refusalOf(error, from, 'snapshot'));
      return;
    }
    const {storeKind, snapshot} = result;
    const total = snapshot.byteLength;
    if (total > settings.maxSnapshotBytes) {
      refusalLog('warn', 'snapshot-too-large', from.ip, {peer: peer.address, bytes: total, limit: settings.maxSnapshotBytes}, 'snapshot: too large to send');
      call.emit('error', statusOfError(new SnapshotTooLargeError(total, settings.maxSnapshotBytes)).status);
      return;
    }
    const bytes = toBuffer(snapshot);
    let offset = 0;
    do {
      const size = Math.min(settings.snapshotChunkBytes, total - offset);
      const first = offset === 0;
      const more = call.write({storeKind: first ? storeKind : '', totalBytes: first ? total : 0, data: bytes.subarray(offset, offset + size)});
      offset += size;
      if (!more) await drained(call);
      if (call.cancelled) return;
    } while (offset < total);
    call.end();
  }

  function sync(call: ServerDuplexStream<SyncFrame, SyncFrame>): void {
    const admission = admit(call);
    if ('refusal' in admission) {
      call.emit('error', admission.refusal);
      return;
    }
    const {peer, ip} = admission;
    const from = {address: peer.address, ip};
    if (activeSyncs >= settings.maxConcurrentSyncs) {
      const busy = new SyncBusyError(settings.maxConcurrentSyncs);
      refusalLog('warn', 'sync-busy', ip, {peer: peer.address, limit: settings.maxConcurrentSyncs}, 'sync: refused, too many sessions');
      call.emit('error', statusOfError(busy).status);
      return;
    }
    activeSyncs++;
    let over = false;
    let meshId: string | undefined;
    let session: SyncSession | undefined;
    const watchdog = new StreamWatchdog(settings.timeoutMs, settings.maxStreamDurationMs, (reason) => {
      refusalLog('warn', 'sync-timeout', ip, {peer: peer.address, meshId, reason}, 'sync: stream timed out');
      finish({
        code: Status.DEADLINE_EXCEEDED,
        details: reason === 'idle' ? `no sync frame within ${settings.timeoutMs} ms` : `sync session longer than ${settings.maxStreamDurationMs} ms`,
      });
    });
    /** End the session once: free its slot, then close the stream with OK or `status`. */
    const finish = (status?: Partial<StatusObject>) => {
      if (over) return;
      over = true;
      activeSyncs--;
      watchdog.stop();
      if (status) call.emit('error', status);
      else call.end();
    };
    call.on('data', (frame: SyncFrame) => {
      if (over) return;
      watchdog.touch();
      const reserved = reserve(from, frame.payload.byteLength, 'sync');
      if ('error' in reserved) {
        finish(statusOfError(reserved.error).status);
        return;
      }
      try {
        if (frame.payload.byteLength > MAX_SYNC_MESSAGE_BYTES) {
          throw new DecodeError(`sync frame: ${frame.payload.byteLength} bytes is over the limit of ${MAX_SYNC_MESSAGE_BYTES} bytes for a sync message`);
        }
        if (session === undefined) {
          meshId = checkMeshId(frame.meshId, 'sync frame');
          session = handlers.openSync(meshId, checkStoreKind(frame.storeKind, 'sync frame'), peer);
        } else if (frame.meshId !== '' && frame.meshId !== meshId) {
          throw new DecodeError('sync frame: a later frame names another mesh');
        }
        const reply = session.receive(frame.payload);
        if (reply === null) finish();
        else if (reply.byteLength > MAX_SYNC_MESSAGE_BYTES) throw new TransportFailureError(`the store made a sync message of ${reply.byteLength} bytes, over the limit of ${MAX_SYNC_MESSAGE_BYTES}`);
        else call.write({meshId: '', storeKind: '', payload: toBuffer(reply)});
      } catch (error) {
        finish(refusalOf(error, from, 'sync'));
      } finally {
        reserved.release();
      }
    });
    call.on('end', () => {
      // The initiator half-closed: it has nothing more to say.
      if (session === undefined) finish({code: Status.INVALID_ARGUMENT, details: 'sync stream ended before its first frame'});
      else finish();
    });
    const abandoned = () => {
      if (over) return;
      logger.debug({peer: peer.address, meshId}, 'sync: stream abandoned by the peer');
      over = true;
      activeSyncs--;
      watchdog.stop();
    };
    call.on('cancelled', abandoned);
    call.on('close', abandoned);
  }

  /**
   * A caller's message stream: each request is answered on the stream with
   * its id, concurrently and in any order. A malformed request or a refused
   * one is answered with an error for its id and the stream goes on; only a
   * simulated network failure (fault injection) or a silent stream ends it.
   */
  function messages(call: ServerDuplexStream<MessageEnvelope, MessageEnvelope>): void {
    const admission = admit(call);
    if ('refusal' in admission) {
      call.emit('error', admission.refusal);
      return;
    }
    const {peer, ip} = admission;
    const from = {address: peer.address, ip};
    let over = false;
    let inFlight = 0;
    const end = (status?: Partial<StatusObject>) => {
      if (over) return;
      over = true;
      messageStreams.delete(endClean);
      watchdog.stop();
      if (status) call.emit('error', status);
      else call.end();
    };
    // A caller that went away without ending its stream frees it after this long (it ends its own after MESSAGE_STREAM_IDLE_MS).
    const watchdog = new StreamWatchdog(2 * MESSAGE_STREAM_IDLE_MS, null, () => {
      logger.debug({peer: peer.address}, 'messages: idle stream closed');
      end();
    });
    const endClean = () => end();
    messageStreams.add(endClean);
    const reply = (envelope: MessageEnvelope) => {
      if (!over && !call.cancelled) call.write(envelope);
    };
    const refuse = (id: number, error: unknown) => {
      const {errorCode, errorMessage} = envelopeErrorOf(error);
      // Logged once, at the level refusalOf picks (an internal failure is an error with its stack here, not on the caller).
      refusalOf(error, from, 'message');
      reply({id, meshId: '', payload: Buffer.alloc(0), errorCode, errorMessage});
    };
    call.on('data', (envelope: MessageEnvelope) => {
      if (over) return;
      watchdog.touch();
      if (faults?.blocksInbound(admission.ip)) {
        end({code: Status.UNAVAILABLE, details: 'stream dropped by the fault injection file (a simulated network failure)'});
        return;
      }
      const {id} = envelope;
      if (id === 0) {
        // Nothing to answer to: the caller broke the protocol, so the stream goes.
        refusalLog('warn', 'message-no-id', ip, {peer: peer.address}, 'messages: a request without an id; stream closed');
        end({code: Status.INVALID_ARGUMENT, details: 'a message request needs an id other than 0'});
        return;
      }
      if (inFlight >= MAX_MESSAGES_IN_FLIGHT) {
        refuse(id, new MessagesBusyError(MAX_MESSAGES_IN_FLIGHT));
        return;
      }
      let meshId: string;
      try {
        meshId = checkMeshId(envelope.meshId, 'membership message');
        if (envelope.payload.byteLength > MAX_CONTROL_MESSAGE_BYTES) {
          throw new DecodeError(`membership message: ${envelope.payload.byteLength} bytes is over the limit of ${MAX_CONTROL_MESSAGE_BYTES} bytes for a control message`);
        }
      } catch (error) {
        refuse(id, error);
        return;
      }
      const reserved = reserve(from, envelope.payload.byteLength, 'message');
      if ('error' in reserved) {
        refuse(id, reserved.error);
        return;
      }
      inFlight++;
      handlers
        .message(meshId, envelope.payload, peer)
        .then(
          (payload) => {
            if (payload.byteLength <= MAX_CONTROL_MESSAGE_BYTES) reply({id, meshId: '', payload: toBuffer(payload), errorCode: '', errorMessage: ''});
            else refuse(id, new TransportFailureError(`the reply of ${payload.byteLength} bytes is over the limit of ${MAX_CONTROL_MESSAGE_BYTES} bytes for a control message`));
          },
          (error: unknown) => refuse(id, error),
        )
        .finally(() => {
          inFlight--;
          reserved.release();
        })
        .catch(guard('message'));
    });
    call.on('end', endClean);
    const abandoned = () => {
      over = true;
      messageStreams.delete(endClean);
      watchdog.stop();
    };
    call.on('cancelled', abandoned);
    call.on('close', abandoned);
  }

  /** Last line of defence: a bug in an async handler is logged, never an unhandled rejection. */
  const guard = (what: string) => (error: unknown) => logger.error({err: error}, `${what}: unexpected failure`);
  return {
    implementation: {
      fetchSnapshot: (call) => {
        fetchSnapshot(call).catch(guard('snapshot'));
      },
      sync: (call) => {
        try {
          sync(call);
        } catch (error) {
          guard('sync')(error);
        }
      },
      messages: (call) => {
        try {
          messages(call);
        } catch (error) {
          guard('messages')(error);
        }
      },
    },
    activeSyncs: () => activeSyncs,
    openMessageStreams: () => messageStreams.size,
    bytesInFlight: () => budget.inFlight(),
    endMessageStreams: () => {
      for (const end of [...messageStreams]) end();
    },
  };
}
