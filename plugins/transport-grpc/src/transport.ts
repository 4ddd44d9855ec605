/**
 * The `grpc` Transport: the control port (listener.ts + service.ts) and the
 * dialler (client.ts) behind core's Transport contract. Imported only when the
 * backend is created, so listing backends never loads @grpc/grpc-js.
 */
import {LogLimiter, type BackendContext, type Logger, type SyncSession, type SyncStats, type Transport, type TransportHandlers} from '@wgmesh/core';
import {ControlDialer} from './client.js';
import {NoCertificatesError} from './errors.js';
import {FaultInjector} from './fault-injection.js';
import {ControlListener} from './listener.js';
import {createControlService, type ControlService} from './service.js';
import {resolveSettings, type GrpcTransportSettings} from './settings.js';
import {loadTlsMaterial, type TlsMaterial} from './tls.js';

/** Everything a {@link GrpcTransport} is built from. */
export interface GrpcTransportOptions {
  /** Validated settings. */
  settings: GrpcTransportSettings;
  /** Checked TLS material, or null when no certificates are configured. */
  material: TlsMaterial | null;
  /** Logger for refusals and failures. */
  logger: Logger;
  /** Rate-limits refusal lines (the daemon's, so its metrics count the suppressed ones). */
  limiter: LogLimiter;
}

/** Daemon-to-daemon transport over gRPC with mutual TLS. */
export class GrpcTransport implements Transport {
  readonly name = 'grpc';
  private readonly options: GrpcTransportOptions;
  private readonly faults: FaultInjector | null;
  private readonly dialer: ControlDialer | null;
  private listener: ControlListener | undefined;
  private service: ControlService | undefined;
  private closed = false;

  constructor(options: GrpcTransportOptions) {
    this.options = options;
    const {settings, material, logger, limiter} = options;
    this.faults = settings.faultInjectionFile ? new FaultInjector(settings.faultInjectionFile, logger) : null;
    if (this.faults) logger.warn({file: this.faults.path}, 'fault injection is enabled (a testing aid: calls listed in that file fail)');
    this.dialer = material ? new ControlDialer({settings, material, logger, limiter, faults: this.faults}) : null;
  }

  /**
   * Open the control port. Without certificates nothing is opened (port 0 is
   * returned) and a warning says how to make them: the daemon still serves
   * the CLI and single-node meshes.
   */
  async listen(handlers: TransportHandlers): Promise<{port: number}> {
    if (this.closed) throw new Error('this transport is closed');
    if (this.listener) throw new Error('this transport is already listening');
    const {settings, material, logger, limiter} = this.options;
    if (!material) {
      logger.warn(new NoCertificatesError('accept other members').message);
      return {port: 0};
    }
    const service = createControlService({handlers, settings, logger, limiter, faults: this.faults});
    const listener = await ControlListener.open({settings, material, logger, limiter, implementation: service.implementation});
    if (this.closed) {
      await listener.close();
      throw new Error('this transport was closed while it was starting');
    }
    this.service = service;
    this.listener = listener;
    logger.info({port: listener.port, address: settings.listenAddress, certificate: material.commonName}, 'control port open (mutual TLS)');
    return {port: listener.port};
  }

  async fetchSnapshot(endpoint: string, meshId: string, signal?: AbortSignal): Promise<{storeKind: string; snapshot: Uint8Array}> {
    return this.requireDialer('join a mesh').fetchSnapshot(endpoint, meshId, signal);
  }

  async sync(endpoint: string, meshId: string, storeKind: string, session: SyncSession, signal?: AbortSignal): Promise<SyncStats> {
    return this.requireDialer('sync with another member').sync(endpoint, meshId, storeKind, session, signal);
  }

  async message(endpoint: string, meshId: string, payload: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    return this.requireDialer('reach another member').message(endpoint, meshId, payload, signal);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.dialer?.close();
    this.service?.endMessageStreams();
    await this.listener?.close();
  }

  /** Sync sessions this daemon is answering now. */
  activeSyncs(): number {
    return this.service?.activeSyncs() ?? 0;
  }

  /** Message streams other members hold open to this daemon now. */
  openMessageStreams(): number {
    return this.service?.openMessageStreams() ?? 0;
  }

  /** Bytes of requests other members sent that this daemon holds and has not finished handling. */
  bytesInFlight(): number {
    return this.service?.bytesInFlight() ?? 0;
  }

  private requireDialer(action: string): ControlDialer {
    if (!this.dialer) throw new NoCertificatesError(action);
    return this.dialer;
  }
}

/**
 * Build the transport from a backend context: validate the `grpc:` section,
 * read and check the certificate files (a missing set is allowed, a partial or
 * broken one is a ConfigError naming the file), and close it with the daemon.
 */
export async function createGrpcTransport(context: BackendContext): Promise<GrpcTransport> {
  const settings = resolveSettings(context.config, context.daemonConfig);
  const material = settings.tls ? await loadTlsMaterial(settings.tls, context.clock.now()) : null;
  for (const warning of material?.warnings ?? []) context.logger.warn(warning);
  // A hand-made context has no daemon limiter: this one then limits the lines the same way, counted nowhere.
  const limiter = context.logLimiter ?? new LogLimiter({clock: context.clock});
  const transport = new GrpcTransport({settings, material, logger: context.logger, limiter});
  context.signal.addEventListener('abort', () => void transport.close(), {once: true});
  return transport;
}
