/**
 * The answering side: the `wgmesh.v1.Control` service, calling the daemon's
 * TransportHandlers. Every call comes over a connection whose client
 * certificate was verified (see listener.ts). Whatever a peer sends, the
 * worst outcome is that its call ends with an error status and a log line:
 * malformed fields, a store message the session cannot decode, a frame for
 * another mesh, an idle or endless stream, one session too many.
 */
import type {EventEmitter} from 'node:events';
import {
  status as Status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type StatusObject,
} from '@grpc/grpc-js';
import {DecodeError, type Logger, type RemotePeer, type SyncSession, type TransportHandlers} from '@wgmesh/core';
import {SyncBusyError, SYNC_BUSY} from './errors.js';
import {canonicalAddress, peerEndpoint} from './address.js';
import type {FaultInjector} from './fault-injection.js';
import type {ControlServer, MessageReply, MessageRequest, SnapshotChunk, SnapshotRequest, SyncFrame} from './generated/wgmesh/v1/control.js';
import type {GrpcTransportSettings} from './settings.js';
import {asWgmeshError, statusOfError, statusWithCode} from './status.js';
import {peerIdentity} from './tls.js';
import {StreamWatchdog} from './watchdog.js';
import {checkMeshId, checkStoreKind} from './wire.js';

/** What the service needs. */
export interface ServiceOptions {
  handlers: TransportHandlers;
  settings: GrpcTransportSettings;
  logger: Logger;
  faults: FaultInjector | null;
}

/** Any server-side call: enough to learn who is calling. */
type AnyServerCall = Pick<ServerUnaryCall<unknown, unknown>, 'getPeer' | 'getAuthContext'>;

/** A peer admitted to make a call, or the status to refuse it with. */
type Admission = {peer: RemotePeer} | {refusal: Partial<StatusObject>; address: string};

/** The service implementation plus a view of its load (for tests and status output). */
export interface ControlService {
  /** The handlers to register with the gRPC server. */
  implementation: ControlServer;
  /** Sync sessions being answered now. */
  activeSyncs(): number;
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
  const {handlers, settings, logger, faults} = options;
  let activeSyncs = 0;

  function admit(call: AnyServerCall): Admission {
    const remote = call.getPeer();
    const split = /^(.*):(\d+)$/.exec(remote);
    const ip = canonicalAddress(split?.[1] ?? remote);
    const address = peerEndpoint(ip, split?.[2] ? Number(split[2]) : undefined);
    if (faults?.blocksInbound(ip)) {
      return {refusal: {code: Status.UNAVAILABLE, details: 'call dropped by the fault injection file (a simulated network failure)'}, address};
    }
    const authenticatedAs = peerIdentity(call.getAuthContext()?.sslPeerCertificate);
    // Unreachable by construction (the listener admits only verified certificates); kept as a second lock.
    if (authenticatedAs === undefined) return {refusal: {code: Status.UNAUTHENTICATED, details: 'no verified client certificate'}, address};
    return {peer: {address, authenticatedAs}};
  }

  /** The status for a handler's or a peer's error, logged at a level that fits. */
  function refusalOf(error: unknown, peer: string, what: string): Partial<StatusObject> {
    const {status, internal} = statusOfError(error);
    const known = asWgmeshError(error);
    if (internal) {
      logger.error({peer, err: error}, `${what}: handler failed`);
    } else if (known?.code === 'UNKNOWN_MESH') {
      logger.info({peer, err: known.message}, `${what}: refused`);
    } else {
      logger.warn({peer, code: known?.code, err: known?.message}, `${what}: refused`);
    }
    return status;
  }

  async function fetchSnapshot(call: ServerWritableStream<SnapshotRequest, SnapshotChunk>): Promise<void> {
    const admission = admit(call);
    if ('refusal' in admission) {
      call.emit('error', admission.refusal);
      return;
    }
    const {peer} = admission;
    let result: {storeKind: string; snapshot: Uint8Array};
    try {
      const meshId = checkMeshId(call.request.meshId, 'snapshot request');
      result = await handlers.snapshot(meshId, peer);
      checkStoreKind(result.storeKind, 'snapshot handler');
    } catch (error) {
      call.emit('error', refusalOf(error, peer.address, 'snapshot'));
      return;
    }
    const {storeKind, snapshot} = result;
    const total = snapshot.byteLength;
    if (total > settings.maxMessageBytes) {
      logger.warn({peer: peer.address, bytes: total, limit: settings.maxMessageBytes}, 'snapshot: too large to send');
      call.emit(
        'error',
        statusWithCode(
          Status.RESOURCE_EXHAUSTED,
          'SNAPSHOT_TOO_LARGE',
          `the snapshot is ${total} bytes, over the member's limit of ${settings.maxMessageBytes} bytes (grpc.maxMessageBytes)`,
        ),
      );
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
    const {peer} = admission;
    if (activeSyncs >= settings.maxConcurrentSyncs) {
      const busy = new SyncBusyError(settings.maxConcurrentSyncs);
      logger.warn({peer: peer.address, limit: settings.maxConcurrentSyncs}, 'sync: refused, too many sessions');
      call.emit('error', statusWithCode(Status.RESOURCE_EXHAUSTED, SYNC_BUSY, busy.message));
      return;
    }
    activeSyncs++;
    let over = false;
    let meshId: string | undefined;
    let session: SyncSession | undefined;
    const watchdog = new StreamWatchdog(settings.timeoutMs, settings.maxStreamDurationMs, (reason) => {
      logger.warn({peer: peer.address, meshId, reason}, 'sync: stream timed out');
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
      try {
        if (session === undefined) {
          meshId = checkMeshId(frame.meshId, 'sync frame');
          session = handlers.openSync(meshId, checkStoreKind(frame.storeKind, 'sync frame'), peer);
        } else if (frame.meshId !== '' && frame.meshId !== meshId) {
          throw new DecodeError('sync frame: a later frame names another mesh');
        }
        const reply = session.receive(frame.payload);
        if (reply === null) finish();
        else call.write({meshId: '', storeKind: '', payload: toBuffer(reply)});
      } catch (error) {
        finish(refusalOf(error, peer.address, 'sync'));
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

  async function message(call: ServerUnaryCall<MessageRequest, MessageReply>, callback: sendUnaryData<MessageReply>): Promise<void> {
    const admission = admit(call);
    if ('refusal' in admission) {
      callback(admission.refusal);
      return;
    }
    const {peer} = admission;
    try {
      const meshId = checkMeshId(call.request.meshId, 'membership message');
      const reply = await handlers.message(meshId, call.request.payload, peer);
      callback(null, {payload: toBuffer(reply)});
    } catch (error) {
      callback(refusalOf(error, peer.address, 'message'));
    }
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
      message: (call, callback) => {
        message(call, callback).catch(guard('message'));
      },
    },
    activeSyncs: () => activeSyncs,
  };
}
