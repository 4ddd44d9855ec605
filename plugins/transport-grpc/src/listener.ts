/**
 * The control port. TLS is terminated here, in a node:tls server that demands
 * a client certificate whose key is Ed25519 (the handshake proves the client
 * holds it, so it proves the client's node id) and, in CA mode, that chains to
 * our CA. Only connections that pass are handed to the gRPC server (grpc-js's
 * connection injector), and the node each proved is recorded for the service.
 *
 * Why not let grpc-js do TLS itself: it gives no hook on a refused handshake,
 * so a peer with no certificate or one from a foreign CA would be refused
 * silently, and it cannot accept self-issued certificates by key type. Here
 * every refusal is logged with the peer's address and the
 * reason (rate-limited per cause and address: a client can repeat them at
 * will), a connection that has not finished the handshake within `timeout` is
 * closed, connections still in the handshake are capped per remote address
 * and all connections in total. The gRPC server never sees a socket that has not
 * completed mutual TLS, so this is not a plaintext mode: the injector's
 * "insecure" credentials only mean "the socket is already secured".
 */
import type {Socket} from 'node:net';
import {createServer as createTlsServer, type Server as TlsServer, type TLSSocket} from 'node:tls';
import {Server, ServerCredentials, ServerInterceptingCall, type ServerInterceptor} from '@grpc/grpc-js';
import {formatEndpoint, type Logger, type LogLimiter} from '@wgmesh/core';
import {ControlPortError} from './errors.js';
import {canonicalAddress, peerEndpoint} from './address.js';
import {sharedChannelOptions} from './channel-options.js';
import {ControlService, type ControlServer} from './generated/wgmesh/v1/control.js';
import type {GrpcTransportSettings} from './settings.js';
import type {ProvenPeers} from './proven-peers.js';
import {describeVerifyError, peerIdentity, peerNode, type TlsMaterial} from './tls.js';

/** Streams one connection may carry at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
const MAX_STREAMS_PER_CONNECTION = 100;

/** What the listener needs. */
export interface ListenerOptions {
  settings: GrpcTransportSettings;
  material: TlsMaterial;
  logger: Logger;
  /** Rate-limits the refusal lines (one per refused connection or call otherwise). */
  limiter: LogLimiter;
  /** Where the node proven on each accepted connection is recorded. */
  proven: ProvenPeers;
  implementation: ControlServer;
}

/**
 * Logs calls that end without an answer from our handlers: those grpc-js
 * refuses by itself (a frame over the size limit, bytes that are not the
 * expected protobuf message, a truncated stream) and those the peer abandons
 * (cancel, deadline) before anything was sent back. A stream that carried
 * replies and is then cancelled is a caller moving on (a member drops its
 * message stream when it idles or when it gives up on the connection), not a
 * refusal. Our handlers log their own refusals.
 */
function auditInterceptor(logger: Logger, limiter: LogLimiter): ServerInterceptor {
  return (method, call) => {
    let answered = false;
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onCancel: () => {
            if (answered) return;
            const peer = call.getPeer();
            limiter.log(
              logger,
              'warn',
              'call-unanswered',
              remoteAddressOf(peer),
              {peer, method: method.path},
              'call ended without an answer: a frame was refused (too large, not protobuf, truncated) or the peer cancelled it or let it expire',
            );
          },
        }),
      sendMessage: (message, next) => {
        answered = true;
        next(message);
      },
      sendStatus: (status, next) => {
        answered = true;
        next(status);
      },
    });
  };
}

/** The address part of grpc-js's `ip:port` peer text (canonical), the unit logs are limited by. */
export function remoteAddressOf(peer: string): string {
  const split = /^\[?(.*?)\]?:\d+$/.exec(peer);
  return canonicalAddress(split?.[1] ?? peer);
}

/**
 * Counts connections still in the TLS handshake per remote address. A
 * connection is counted from its TCP accept until it is handed on (or refused)
 * after the handshake, or closes.
 */
class HandshakeCounter {
  private readonly perAddress = new Map<string, number>();

  /** Count one more handshake from `address`, unless it already has `limit`. @returns how to stop counting it, or null when over the limit. */
  enter(address: string, limit: number): (() => void) | null {
    const count = this.perAddress.get(address) ?? 0;
    if (count >= limit) return null;
    this.perAddress.set(address, count + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    };
  }
}

function describeListenError(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return 'the port is in use (another wgmesh daemon?); stop that process or set another gRPCPort';
    case 'EACCES':
      return 'permission denied (ports below 1024 need root); set another gRPCPort';
    case 'EADDRNOTAVAIL':
      return 'no interface of this host has that address; fix grpc.listenAddress';
    default:
      return (error as Error).message;
  }
}

function listenOn(server: TlsServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen({host, port, ipv6Only: false}, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** A bound control port serving the Control service. */
export class ControlListener {
  /** The bound port. */
  readonly port: number;
  private readonly tlsServer: TlsServer;
  private readonly grpcServer: Server;
  private readonly sockets: Set<Socket>;
  private readonly graceMs: number;
  private closing: Promise<void> | undefined;

  private constructor(port: number, tlsServer: TlsServer, grpcServer: Server, sockets: Set<Socket>, graceMs: number) {
    this.port = port;
    this.tlsServer = tlsServer;
    this.grpcServer = grpcServer;
    this.sockets = sockets;
    this.graceMs = graceMs;
  }

  /**
   * Bind the port and start serving.
   * @throws ControlPortError saying why the port cannot be bound (in use, no permission, no such address).
   */
  static async open(options: ListenerOptions): Promise<ControlListener> {
    const {settings, material, logger, limiter, proven, implementation} = options;
    const grpcServer = new Server({
      ...sharedChannelOptions(settings),
      'grpc.max_concurrent_streams': MAX_STREAMS_PER_CONNECTION,
      interceptors: [auditInterceptor(logger, limiter)],
    });
    grpcServer.addService(ControlService, implementation);
    const injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
    const sockets = new Set<Socket>();
    const tlsServer = createTlsServer({
      ...(material.ca ? {ca: material.ca} : {}),
      cert: material.certificate,
      key: material.privateKey,
      requestCert: true,
      // Checked below, so that a refusal can be logged with its reason; an unverified socket is destroyed there.
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.2',
      handshakeTimeout: settings.timeoutMs,
    });
    tlsServer.maxConnections = settings.maxConnections;
    const handshakes = new HandshakeCounter();
    /** How to stop counting each connection still in its handshake, by `ip:port`. */
    const handshaking = new Map<string, () => void>();
    const doneHandshaking = (socket: Socket) => {
      const key = peerEndpoint(socket.remoteAddress, socket.remotePort);
      handshaking.get(key)?.();
      handshaking.delete(key);
    };
    tlsServer.on('connection', (socket: Socket) => {
      const address = canonicalAddress(socket.remoteAddress ?? 'unknown');
      const leave = handshakes.enter(address, settings.maxHandshakesPerAddress);
      if (leave === null) {
        limiter.log(
          logger,
          'warn',
          'handshakes-per-address',
          address,
          {peer: peerEndpoint(socket.remoteAddress, socket.remotePort), limit: settings.maxHandshakesPerAddress},
          'refused a connection: too many connections from this address are in the TLS handshake (grpc.maxHandshakesPerAddress)',
        );
        socket.destroy();
        return;
      }
      const key = peerEndpoint(socket.remoteAddress, socket.remotePort);
      handshaking.set(key, leave);
      sockets.add(socket);
      socket.once('close', () => {
        sockets.delete(socket);
        leave();
        if (handshaking.get(key) === leave) handshaking.delete(key);
      });
    });
    tlsServer.on('drop', (dropped?: {remoteAddress?: string; remotePort?: number}) => {
      const address = canonicalAddress(dropped?.remoteAddress ?? 'unknown');
      limiter.log(
        logger,
        'warn',
        'connections-full',
        address,
        {peer: peerEndpoint(dropped?.remoteAddress, dropped?.remotePort), limit: settings.maxConnections},
        'refused a connection: the control port holds its maximum of connections (grpc.maxConnections)',
      );
    });
    tlsServer.on('secureConnection', (socket: TLSSocket) => {
      doneHandshaking(socket);
      // Errors after the handshake (resets) belong to the gRPC session; never let one go unhandled.
      socket.on('error', () => socket.destroy());
      const peer = peerEndpoint(socket.remoteAddress, socket.remotePort);
      const address = canonicalAddress(socket.remoteAddress ?? 'unknown');
      const certificate = socket.getPeerCertificate();
      const node = peerNode(certificate);
      const presented = Object.keys(certificate).length > 0;
      let reason: string | undefined;
      if (!presented) reason = 'no client certificate presented';
      else if (material.mode === 'ca' && !socket.authorized) reason = describeVerifyError(socket.authorizationError?.toString());
      else if (!node) reason = 'the certificate key is not Ed25519, so it proves no node';
      if (reason !== undefined || !node) {
        limiter.log(logger, 'warn', 'certificate-refused', address, {peer, reason}, 'refused a connection: client certificate not accepted');
        socket.destroy();
        return;
      }
      if (socket.alpnProtocol !== 'h2') {
        limiter.log(logger, 'warn', 'not-http2', address, {peer}, 'refused a connection: the client does not speak HTTP/2 (not a gRPC client)');
        socket.destroy();
        return;
      }
      // Without a CA the subject is the peer's own claim: only the node id is proven.
      const authenticatedAs = material.mode === 'ca' ? (peerIdentity(certificate) ?? node.nodeId) : node.nodeId;
      proven.admit(peer, socket, {authenticatedAs, nodeId: node.nodeId, signingKey: node.signingKey});
      injector.injectConnection(socket);
    });
    tlsServer.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
      const peer = peerEndpoint(socket.remoteAddress, socket.remotePort);
      const address = canonicalAddress(socket.remoteAddress ?? 'unknown');
      doneHandshaking(socket);
      // Node leaves the socket open after a failed or timed-out handshake: close it, or it holds a connection slot for good.
      socket.destroy();
      limiter.log(logger, 'warn', 'tls-handshake-failed', address, {peer, reason: error.code ?? error.message}, 'refused a connection: TLS handshake failed');
    });
    try {
      await listenOn(tlsServer, settings.listenAddress, settings.port);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A host without IPv6 cannot bind `::`; the IPv4 wildcard serves the same purpose there.
      if (settings.listenAddress === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
        logger.info('IPv6 is not available; listening on 0.0.0.0');
        await listenOn(tlsServer, '0.0.0.0', settings.port);
      } else {
        grpcServer.forceShutdown();
        throw new ControlPortError(`cannot open the control port ${formatEndpoint(settings.listenAddress, settings.port)}: ${describeListenError(error)}`, {cause: error});
      }
    }
    const address = tlsServer.address();
    const port = typeof address === 'object' && address ? address.port : settings.port;
    return new ControlListener(port, tlsServer, grpcServer, sockets, settings.timeoutMs);
  }

  /** Stop accepting, let calls in progress finish for a short grace period, then drop every connection. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.tlsServer.close(() => resolve()));
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve();
      }, this.graceMs);
      force.unref();
      this.grpcServer.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}
