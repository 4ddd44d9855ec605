/**
 * The control port. TLS is terminated here, in a node:tls server that demands
 * a client certificate and checks it against our CA, and only connections
 * that pass are handed to the gRPC server (grpc-js's connection injector).
 *
 * Why not let grpc-js do TLS itself: it gives no hook on a refused handshake,
 * so a peer with no certificate or one from a foreign CA would be refused
 * silently. Here every refusal is logged with the peer's address and the
 * reason, a handshake that stalls is cut after `timeout`, and the number of
 * connections is capped. The gRPC server never sees a socket that has not
 * completed mutual TLS, so this is not a plaintext mode: the injector's
 * "insecure" credentials only mean "the socket is already secured".
 */
import type {Socket} from 'node:net';
import {createServer as createTlsServer, type Server as TlsServer, type TLSSocket} from 'node:tls';
import {Server, ServerCredentials, ServerInterceptingCall, type ServerInterceptor} from '@grpc/grpc-js';
import {formatEndpoint, type Logger} from '@wgmesh/core';
import {TransportFailureError} from './errors.js';
import {peerEndpoint} from './address.js';
import {sharedChannelOptions} from './channel-options.js';
import {ControlService, type ControlServer} from './generated/wgmesh/v1/control.js';
import type {GrpcTransportSettings} from './settings.js';
import {describeVerifyError, type TlsMaterial} from './tls.js';

/** Streams one connection may carry at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
const MAX_STREAMS_PER_CONNECTION = 100;

/** What the listener needs. */
export interface ListenerOptions {
  settings: GrpcTransportSettings;
  material: TlsMaterial;
  logger: Logger;
  implementation: ControlServer;
}

/**
 * Logs calls that end without an answer from our handlers: those grpc-js
 * refuses by itself (a frame over the size limit, bytes that are not the
 * expected protobuf message, a truncated stream) and those the peer abandons
 * (cancel, deadline). Our handlers log their own refusals.
 */
function auditInterceptor(logger: Logger): ServerInterceptor {
  return (method, call) => {
    let answered = false;
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onCancel: () => {
            if (answered) return;
            logger.warn(
              {peer: call.getPeer(), method: method.path},
              'call ended without an answer: a frame was refused (too large, not protobuf, truncated) or the peer cancelled it or let it expire',
            );
          },
        }),
      sendStatus: (status, next) => {
        answered = true;
        next(status);
      },
    });
  };
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
   * @throws TransportFailureError saying why the port cannot be bound (in use, no permission, no such address).
   */
  static async open(options: ListenerOptions): Promise<ControlListener> {
    const {settings, material, logger, implementation} = options;
    const grpcServer = new Server({
      ...sharedChannelOptions(settings),
      'grpc.max_concurrent_streams': MAX_STREAMS_PER_CONNECTION,
      interceptors: [auditInterceptor(logger)],
    });
    grpcServer.addService(ControlService, implementation);
    const injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
    const sockets = new Set<Socket>();
    const tlsServer = createTlsServer({
      ca: material.ca,
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
    tlsServer.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    tlsServer.on('secureConnection', (socket: TLSSocket) => {
      // Errors after the handshake (resets) belong to the gRPC session; never let one go unhandled.
      socket.on('error', () => socket.destroy());
      const peer = peerEndpoint(socket.remoteAddress, socket.remotePort);
      if (!socket.authorized) {
        const presented = Object.keys(socket.getPeerCertificate()).length > 0;
        const reason = presented ? describeVerifyError(socket.authorizationError?.toString()) : 'no client certificate presented';
        logger.warn({peer, reason}, 'refused a connection: client certificate not accepted');
        socket.destroy();
        return;
      }
      if (socket.alpnProtocol !== 'h2') {
        logger.warn({peer}, 'refused a connection: the client does not speak HTTP/2 (not a gRPC client)');
        socket.destroy();
        return;
      }
      injector.injectConnection(socket);
    });
    tlsServer.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
      const peer = peerEndpoint(socket.remoteAddress, socket.remotePort);
      logger.warn({peer, reason: error.code ?? error.message}, 'refused a connection: TLS handshake failed');
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
        throw new TransportFailureError(`cannot open the control port ${formatEndpoint(settings.listenAddress, settings.port)}: ${describeListenError(error)}`, {cause: error});
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
