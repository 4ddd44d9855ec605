/**
 * The calling side: dials members over mutual TLS (our node key as client
 * certificate; the member must prove an Ed25519 key, and in CA mode chain to
 * the CA) and runs the three calls
 * (membership messages over one stream per member, see message-stream.ts).
 * Channels are cached per endpoint (least recently used closed beyond a cap)
 * and dropped as soon as a call says the connection is bad, so a member that
 * comes back is redialled at once instead of being called over a dead connection.
 */
import {createSecureContext, checkServerIdentity, type PeerCertificate, type SecureContext} from 'node:tls';
import {isIP} from 'node:net';
import {credentials, status as Status, type ChannelOptions, type ClientDuplexStream, type ClientReadableStream, type ServiceError} from '@grpc/grpc-js';
import {
  assertMeshId,
  DecodeError,
  formatEndpoint,
  MAX_CONTROL_MESSAGE_BYTES,
  MAX_SYNC_MESSAGE_BYTES,
  parseEndpoint,
  PeerUnreachableError,
  type Logger,
  type LogLimiter,
  type SyncSession,
  type SyncStats,
} from '@wgmesh/core';
import {describeListedNames} from './advertised-host.js';
import {sharedChannelOptions} from './channel-options.js';
import {TransportFailureError} from './errors.js';
import type {FaultInjector} from './fault-injection.js';
import {ControlClient, type SnapshotChunk, type SyncFrame} from './generated/wgmesh/v1/control.js';
import {MessageStream} from './message-stream.js';
import type {GrpcTransportSettings} from './settings.js';
import {errorOfStatus, isConnectionFailure, type CallContext} from './status.js';
import {peerNode, type TlsMaterial} from './tls.js';
import {StreamWatchdog} from './watchdog.js';
import {checkStoreKind} from './wire.js';

/**
 * SNI name sent when dialling an IP address: TLS forbids IP literals in SNI
 * (RFC 6066) and Node warns about them. The certificate is still checked
 * against the dialled IP (see `checkServerIdentity` below).
 */
const SNI_FOR_IP = 'wgmesh.invalid';

/** Everything the dialler needs. */
export interface DialerOptions {
  settings: GrpcTransportSettings;
  material: TlsMaterial;
  logger: Logger;
  /** Rate-limits lines about members' malformed replies. */
  limiter: LogLimiter;
  faults: FaultInjector | null;
}

/** A call about to be made: the channel and what to say in errors. */
interface Target extends CallContext {
  client: ControlClient;
  key: string;
}

/**
 * A sync message our store made, checked against the limit members enforce.
 * @throws TransportFailureError when it is bigger (the member would refuse it).
 */
function checkSyncMessage(message: Uint8Array, endpoint: string): Uint8Array {
  if (message.byteLength > MAX_SYNC_MESSAGE_BYTES) {
    throw new TransportFailureError(`${endpoint}: the store made a sync message of ${message.byteLength} bytes, over the limit of ${MAX_SYNC_MESSAGE_BYTES} bytes`);
  }
  return message;
}

/**
 * The grpc-js target for an endpoint: an address literal names grpc-js's
 * address resolver (`ipv4:`/`ipv6:`), which uses it as it is. Its default DNS
 * resolver would set up a c-ares resolver for every connection, even to an
 * address, for nothing.
 */
function channelTarget(key: string, host: string): string {
  const family = isIP(host);
  return family === 0 ? key : `ipv${family}:${key}`;
}

/** Outbound side of the transport. */
export class ControlDialer {
  private readonly options: DialerOptions;
  private readonly secureContext: SecureContext;
  private readonly channels = new Map<string, ControlClient>();
  /** The open message stream to each endpoint, on that endpoint's channel. */
  private readonly streams = new Map<string, MessageStream>();
  private closed = false;

  constructor(options: DialerOptions) {
    this.options = options;
    const {material} = options;
    this.secureContext = createSecureContext({
      ...(material.ca ? {ca: material.ca} : {}),
      cert: material.certificate,
      key: material.privateKey,
      // Without a CA no chain is checked (the member's certificate is its own), so the handshake
      // itself must demand an Ed25519 signature: the member then proves it holds an Ed25519 key.
      ...(material.mode === 'self' ? {sigalgs: 'ed25519'} : {}),
    });
  }

  /** Stream a mesh snapshot from `endpoint` and reassemble it. */
  async fetchSnapshot(endpoint: string, meshId: string, signal?: AbortSignal): Promise<{storeKind: string; snapshot: Uint8Array}> {
    assertMeshId(meshId);
    const target = this.target(endpoint, signal);
    const {settings} = this.options;
    const call = target.client.fetchSnapshot({meshId}, {deadline: Date.now() + settings.maxStreamDurationMs});
    const chunks: Buffer[] = [];
    let storeKind: string | undefined;
    let total = 0;
    let received = 0;
    return this.runStream(target, call, signal, {
      onFrame: (chunk: SnapshotChunk) => {
        const what = `snapshot of mesh ${meshId} from ${endpoint}`;
        if (storeKind === undefined) {
          storeKind = checkStoreKind(chunk.storeKind, what);
          total = chunk.totalBytes;
          if (total > settings.maxSnapshotBytes) {
            throw new DecodeError(`${what}: ${total} bytes is over this node's limit of ${settings.maxSnapshotBytes} bytes (grpc.maxSnapshotBytes)`);
          }
        } else if (chunk.storeKind !== '' || chunk.totalBytes !== 0) {
          throw new DecodeError(`${what}: only the first chunk may carry the store kind and length`);
        }
        received += chunk.data.byteLength;
        if (received > total) throw new DecodeError(`${what}: more data than the announced ${total} bytes`);
        chunks.push(chunk.data);
      },
      onEnd: () => {
        const what = `snapshot of mesh ${meshId} from ${endpoint}`;
        if (storeKind === undefined) throw new DecodeError(`${what}: the stream ended before the first chunk`);
        if (received !== total) throw new DecodeError(`${what}: truncated after ${received} of ${total} bytes`);
        // One exact allocation (not a pooled Buffer), so callers may use `.buffer` freely.
        const snapshot = new Uint8Array(total);
        let offset = 0;
        for (const chunk of chunks) {
          snapshot.set(chunk, offset);
          offset += chunk.byteLength;
        }
        return {storeKind, snapshot};
      },
    });
  }

  /** Run the initiator side of `session` against `endpoint`. */
  async sync(endpoint: string, meshId: string, storeKind: string, session: SyncSession, signal?: AbortSignal): Promise<SyncStats> {
    checkStoreKind(storeKind, 'sync');
    assertMeshId(meshId);
    const target = this.target(endpoint, signal);
    const first = checkSyncMessage(session.start(), endpoint);
    const call: ClientDuplexStream<SyncFrame, SyncFrame> = target.client.sync({deadline: Date.now() + this.options.settings.maxStreamDurationMs});
    let halfClosed = false;
    const outcome = this.runStream(target, call, signal, {
      onFrame: (frame: SyncFrame) => {
        // A frame after we said our last word is the peer's protocol error; the store would reject it anyway.
        if (halfClosed) return;
        const next = session.receive(frame.payload);
        if (next !== null) checkSyncMessage(next, endpoint);
        if (next === null) {
          halfClosed = true;
          call.end();
        } else {
          call.write({meshId: '', storeKind: '', payload: Buffer.from(next.buffer, next.byteOffset, next.byteLength)});
        }
      },
      onEnd: () => {
        if (!session.done) this.options.logger.debug({endpoint, meshId}, 'the member ended the sync session before this side was done');
        return session.stats();
      },
    });
    call.write({meshId, storeKind, payload: Buffer.from(first.buffer, first.byteOffset, first.byteLength)});
    return outcome;
  }

  /**
   * Send one membership message and wait for the reply, over the member's
   * message stream (opened on first use, reopened after it fails or idles out).
   */
  async message(endpoint: string, meshId: string, payload: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    assertMeshId(meshId);
    const target = this.target(endpoint, signal);
    const {settings} = this.options;
    // Checked here rather than by grpc-js: an oversized write would fail the whole stream, and every request on it.
    if (payload.byteLength > MAX_CONTROL_MESSAGE_BYTES) {
      throw new TransportFailureError(`${endpoint}: a control message of ${payload.byteLength} bytes is larger than the limit of ${MAX_CONTROL_MESSAGE_BYTES} bytes`);
    }
    return this.messageStream(target).request(meshId, payload, signal);
  }

  /** Close every channel. */
  close(): void {
    this.closed = true;
    for (const stream of this.streams.values()) stream.close();
    for (const client of this.channels.values()) client.close();
    this.channels.clear();
  }

  /**
   * Drive a server or bidi stream to its end: frames go to `onFrame` (a throw
   * ends the stream with that error), a clean end (status OK and every frame
   * read) resolves with `onEnd()`, a failure rejects with a mapped error.
   */
  private runStream<Frame, Result>(
    target: Target,
    call: ClientReadableStream<Frame> | ClientDuplexStream<unknown, Frame>,
    signal: AbortSignal | undefined,
    handlers: {onFrame: (frame: Frame) => void; onEnd: () => Result},
  ): Promise<Result> {
    const {settings} = this.options;
    return new Promise<Result>((resolve, reject) => {
      let settled = false;
      let statusOk = false;
      let ended = false;
      const settle = (error: unknown, result?: Result) => {
        if (settled) return;
        settled = true;
        watchdog.stop();
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) {
          resolve(result as Result);
        } else {
          call.cancel();
          reject(error);
        }
      };
      const finishIfDone = () => {
        if (!statusOk || !ended) return;
        try {
          settle(undefined, handlers.onEnd());
        } catch (error) {
          settle(error);
        }
      };
      const onAbort = () => settle(signal?.reason ?? new Error('aborted'));
      const watchdog = new StreamWatchdog(target.timeoutMs, settings.maxStreamDurationMs, (reason) => {
        this.drop(target.key);
        settle(
          new PeerUnreachableError(
            target.endpoint,
            reason === 'idle'
              ? `deadline exceeded after ${target.timeoutMs} ms (no answer in time)`
              : `the stream did not finish within ${settings.maxStreamDurationMs} ms (grpc.maxStreamDurationMs)`,
          ),
        );
      });
      signal?.addEventListener('abort', onAbort, {once: true});
      call.on('data', (frame: Frame) => {
        if (settled) return;
        watchdog.touch();
        try {
          handlers.onFrame(frame);
        } catch (error) {
          const {logger, limiter} = this.options;
          limiter.log(logger, 'warn', 'malformed-frame', target.endpoint, {endpoint: target.endpoint, err: (error as Error).message}, 'dropped a stream with a malformed frame');
          settle(error);
        }
      });
      call.on('error', (error: ServiceError) => settle(this.failure(target, error)));
      call.on('status', (status: {code: Status}) => {
        statusOk = status.code === Status.OK;
        finishIfDone();
      });
      call.on('end', () => {
        ended = true;
        finishIfDone();
      });
    });
  }

  /** The error for a failed call; a connection failure also drops the cached channel. */
  private failure(target: Target, error: ServiceError): Error {
    if (isConnectionFailure(error)) this.drop(target.key);
    return errorOfStatus(error, target);
  }

  /** Check the call may go out and find (or open) its channel. */
  private target(endpoint: string, signal: AbortSignal | undefined): Target {
    signal?.throwIfAborted();
    if (this.closed) throw new PeerUnreachableError(endpoint, 'this transport is closed');
    const {host, port} = parseEndpoint(endpoint);
    const key = formatEndpoint(host, port);
    const {faults, settings} = this.options;
    if (faults?.blocksOutbound(key)) throw new PeerUnreachableError(endpoint, `blocked by the fault injection file ${faults.path}`);
    return {client: this.channel(key, host), key, endpoint, host, timeoutMs: settings.timeoutMs};
  }

  private channel(key: string, host: string): ControlClient {
    const cached = this.channels.get(key);
    if (cached) {
      // Re-insert: Map order is the LRU order.
      this.channels.delete(key);
      this.channels.set(key, cached);
      return cached;
    }
    const {settings, material} = this.options;
    const verifyName = settings.verifyServerName && material.mode === 'ca';
    const channelCredentials = credentials.createFromSecureContext(this.secureContext, {
      // CA mode: grpc-js would check the SNI name; check the dialled host instead (or nothing: the CA chain is checked either way),
      // and that the certificate is for a node key. Node calls this only for a chain that verified.
      checkServerIdentity: (_name: string, certificate: PeerCertificate) => {
        const mismatch = verifyName ? checkServerIdentity(host, certificate) : undefined;
        if (mismatch) this.logNameMismatch(key, host, certificate);
        return mismatch ?? (peerNode(certificate) ? undefined : new Error("the member's certificate key is not Ed25519, so it proves no node"));
      },
      // Without a CA the member's self-issued certificate cannot chain to anything; its key is checked by `sigalgs`.
      ...(material.mode === 'self' ? {rejectUnauthorized: false} : {}),
    });
    const options: ChannelOptions = {
      ...sharedChannelOptions(settings),
      ...(isIP(host) ? {'grpc.ssl_target_name_override': SNI_FOR_IP} : {}),
      // Reconnect quickly after a failure: a partition that heals should heal fast.
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': Math.max(1_000, settings.timeoutMs),
    };
    const client = new ControlClient(channelTarget(key, host), channelCredentials, options);
    this.channels.set(key, client);
    if (this.channels.size > settings.maxCachedConnections) {
      const oldest = this.channels.keys().next().value;
      if (oldest !== undefined) this.drop(oldest);
    }
    return client;
  }

  /**
   * Say, a few times a minute per endpoint (the daemon's log limiter), that the
   * member dialled at `key` presented a certificate that does not list the
   * host dialled: which node it is, what the certificate lists, what to do.
   * Every dial to it fails the same way until its certificate or its
   * advertised endpoint changes.
   */
  private logNameMismatch(key: string, host: string, certificate: PeerCertificate): void {
    const {logger, limiter} = this.options;
    const listed = describeListedNames(certificate.subjectaltname);
    limiter.log(
      logger,
      'warn',
      'certificate-host-mismatch',
      key,
      {endpoint: key, nodeId: peerNode(certificate)?.nodeId, listed},
      `refused the certificate of the member at ${key}: it does not list ${host} (it lists ${listed}); that member must advertise a host its certificate lists ('wgmesh mesh set MESH_ID --endpoint HOST' there) or get a certificate for ${host}`,
    );
  }

  /** The open message stream to the target, or a new one. */
  private messageStream(target: Target): MessageStream {
    const open = this.streams.get(target.key);
    if (open && !open.closed) return open;
    // No deadline: the stream lives as long as it is used; each request has its own time limit.
    const stream = new MessageStream(target.client.messages(), target, {
      closed: (connectionBad) => {
        if (this.streams.get(target.key) === stream) this.streams.delete(target.key);
        if (connectionBad) this.drop(target.key);
      },
    });
    this.streams.set(target.key, stream);
    return stream;
  }

  private drop(key: string): void {
    this.streams.get(key)?.close();
    const client = this.channels.get(key);
    if (!client) return;
    this.channels.delete(key);
    client.close();
  }
}
