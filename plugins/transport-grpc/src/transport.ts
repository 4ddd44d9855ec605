/**
 * The `grpc` Transport: the control port (listener.ts + service.ts) and the
 * dialler (client.ts) behind core's Transport contract. Imported only when the
 * backend is created, so listing backends never loads @grpc/grpc-js.
 */
import {ConfigError, LogLimiter, PeerUnreachableError, systemClock, type BackendContext, type Clock, type DatagramDrops, type Logger, type SyncSession, type SyncStats, type Transport, type TransportHandlers} from '@wgmesh/core';
import {AdvertisedHostCheck} from './advertised-host.js';
import {ControlDialer} from './client.js';
import {MAX_DATAGRAM_PAYLOAD_BYTES} from './datagram-frame.js';
import {DatagramPort} from './datagram-port.js';
import {FaultInjector} from './fault-injection.js';
import {ControlListener} from './listener.js';
import {ProvenPeers} from './proven-peers.js';
import {createControlService, type ControlService} from './service.js';
import {resolveSettings, type GrpcTransportSettings} from './settings.js';
import {loadTlsMaterial, selfIssuedMaterial, type TlsMaterial} from './tls.js';

/** Everything a {@link GrpcTransport} is built from. */
export interface GrpcTransportOptions {
  /** Validated settings. */
  settings: GrpcTransportSettings;
  /** Checked TLS material: the node's self-issued certificate, or CA mode's files. */
  material: TlsMaterial;
  /** Logger for refusals and failures. */
  logger: Logger;
  /** Rate-limits refusal lines (the daemon's, so its metrics count the suppressed ones). */
  limiter: LogLimiter;
  /** Time source of the datagram rate limits; the system clock when omitted. */
  clock?: Clock;
}

/** Daemon-to-daemon transport over gRPC with mutual TLS, each end proving its node key. */
export class GrpcTransport implements Transport {
  readonly name = 'grpc';
  readonly maxDatagramBytes = MAX_DATAGRAM_PAYLOAD_BYTES;
  private readonly options: GrpcTransportOptions;
  private readonly faults: FaultInjector | null;
  private readonly dialer: ControlDialer;
  private readonly hostCheck: AdvertisedHostCheck;
  private listener: ControlListener | undefined;
  private service: ControlService | undefined;
  private datagrams: DatagramPort | undefined;
  private closed = false;

  constructor(options: GrpcTransportOptions) {
    this.options = options;
    const {settings, material, logger, limiter} = options;
    this.faults = settings.faultInjectionFile ? new FaultInjector(settings.faultInjectionFile, logger) : null;
    if (this.faults) logger.warn({file: this.faults.path}, 'fault injection is enabled (a testing aid: calls listed in that file fail)');
    this.dialer = new ControlDialer({settings, material, logger, limiter, faults: this.faults});
    this.hostCheck = new AdvertisedHostCheck(material, settings);
  }

  advertisedHostProblem(host: string): string | undefined {
    return this.hostCheck.problem(host);
  }

  /** Open the control port. */
  async listen(handlers: TransportHandlers): Promise<{port: number}> {
    if (this.closed) throw new Error('this transport is closed');
    if (this.listener) throw new Error('this transport is already listening');
    const {settings, material, logger, limiter} = this.options;
    const proven = new ProvenPeers();
    const service = createControlService({handlers, settings, logger, limiter, faults: this.faults, proven});
    const listener = await ControlListener.open({settings, material, logger, limiter, proven, implementation: service.implementation});
    if (this.closed) {
      await listener.close();
      throw new Error('this transport was closed while it was starting');
    }
    this.service = service;
    this.listener = listener;
    const clock = this.options.clock ?? systemClock;
    try {
      this.datagrams = await DatagramPort.open({settings, logger, limiter, faults: this.faults, now: () => clock.now()}, listener.port, handlers);
    } catch (error) {
      // The stream path serves everything the datagram path does: members fall back to it.
      logger.warn({port: listener.port, err: (error as Error).message}, 'cannot open the UDP side of the control port: liveness messages go over TCP');
    }
    const mode = material.mode === 'ca' ? 'mutual TLS, node keys, CA required' : 'mutual TLS, node keys';
    logger.info({port: listener.port, address: settings.listenAddress, certificate: material.commonName}, `control port open (${mode})`);
    return {port: listener.port};
  }

  async fetchSnapshot(endpoint: string, meshId: string, signal?: AbortSignal): Promise<{storeKind: string; snapshot: Uint8Array}> {
    return this.dialer.fetchSnapshot(endpoint, meshId, signal);
  }

  async sync(endpoint: string, meshId: string, storeKind: string, session: SyncSession, signal?: AbortSignal): Promise<SyncStats> {
    return this.dialer.sync(endpoint, meshId, storeKind, session, signal);
  }

  async message(endpoint: string, meshId: string, payload: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    return this.dialer.message(endpoint, meshId, payload, signal);
  }

  async datagram(endpoint: string, meshId: string, payload: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    if (!this.datagrams) throw new PeerUnreachableError(endpoint, 'this node has no datagram port open');
    return this.datagrams.request(endpoint, meshId, payload, signal);
  }

  datagramDrops(): DatagramDrops {
    return this.datagrams?.drops() ?? {};
  }

  async close(): Promise<void> {
    this.closed = true;
    this.datagrams?.close();
    this.dialer.close();
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
}

/**
 * Build the transport from a backend context: validate the `grpc:` section,
 * take the node's TLS identity (and, in CA mode, read and check the
 * certificate files: a partial or broken set, or a certificate for another
 * key, is a ConfigError naming the file), and close it with the daemon.
 * @throws ConfigError also when the context carries no TLS identity.
 */
export async function createGrpcTransport(context: BackendContext): Promise<GrpcTransport> {
  const settings = resolveSettings(context.config, context.daemonConfig);
  if (!context.tls) throw new ConfigError("the grpc transport needs the node's TLS identity (BackendContext.tls), which this daemon did not provide");
  const material = settings.tls ? await loadTlsMaterial(settings.tls, context.tls, context.clock.now()) : selfIssuedMaterial(context.tls);
  for (const warning of material.warnings) context.logger.warn(warning);
  // A hand-made context has no daemon limiter: this one then limits the lines the same way, counted nowhere.
  const limiter = context.logLimiter ?? new LogLimiter({clock: context.clock});
  const transport = new GrpcTransport({settings, material, logger: context.logger, limiter, clock: context.clock});
  context.signal.addEventListener('abort', () => void transport.close(), {once: true});
  return transport;
}
