/** Build real gRPC transports on loopback for the tests, and close them all afterwards. */
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {generateIdentity, selfIssueTlsIdentity, systemClock, systemRandom, type NodeIdentity, type Transport} from '@wgmesh/core';
import {recordingLogger, type RecordingLogger} from '@wgmesh/testkit';
import {grpcTransportFactory} from '../../src/factory.js';
import type {GrpcTransport} from '../../src/transport.js';
import type {NodeFiles} from './pki.js';

/** How to build one transport. */
export interface TransportSpec {
  /** CA mode: the certificate files (and the identity they are for); omitted = default mode (the node's self-issued certificate). */
  node?: Partial<NodeFiles>;
  /** The node identity in default mode (else `node.identity`, else a new one). */
  identity?: NodeIdentity;
  /** The `grpc:` section. */
  section?: Record<string, unknown>;
  /** Daemon `gRPCPort` (default 0: any free port). */
  port?: number;
  /** Daemon `timeout` in ms. */
  timeoutMs?: number;
}

/** A transport under test and what it logged. */
export interface Built {
  transport: GrpcTransport;
  logger: RecordingLogger;
  /** The node identity the transport proves. */
  identity: NodeIdentity;
}

/** Keeps every transport and temp dir it made, so `closeAll` can clean up even after a failure. */
export class Harness {
  private readonly transports: Transport[] = [];
  private readonly dirs: string[] = [];
  private readonly aborts: AbortController[] = [];

  /** Create a transport through the backend factory, exactly as a daemon would. */
  async create(spec: TransportSpec = {}): Promise<Built> {
    const dataDir = await mkdtemp(join(tmpdir(), 'wgmesh-grpc-data-'));
    this.dirs.push(dataDir);
    const logger = recordingLogger();
    const abort = new AbortController();
    this.aborts.push(abort);
    const {identity: fileIdentity, ...files} = spec.node ?? {};
    const identity = fileIdentity ?? spec.identity ?? generateIdentity();
    const transport = (await grpcTransportFactory.create({
      config: {listenAddress: '127.0.0.1', ...spec.section},
      daemonConfig: {gRPCPort: spec.port ?? 0, timeoutMs: spec.timeoutMs ?? 5_000, ...files},
      logger,
      dataDir,
      signal: abort.signal,
      identity: {nodeId: identity.nodeId, signingKey: identity.signingKey, wgPublicKey: identity.wgPublicKey},
      tls: await selfIssueTlsIdentity(identity),
      clock: systemClock,
      random: systemRandom,
    })) as GrpcTransport;
    this.transports.push(transport);
    return {transport, logger, identity};
  }

  /** Close every transport and remove every temp dir. */
  async closeAll(): Promise<void> {
    for (const abort of this.aborts.splice(0)) abort.abort();
    await Promise.allSettled(this.transports.map((transport) => transport.close()));
    await Promise.allSettled(this.dirs.map((dir) => rm(dir, {recursive: true, force: true})));
    this.transports.length = 0;
    this.dirs.length = 0;
  }
}

/** The lines a recording logger holds at `level`, as text, for `toContain`-style checks. */
export function logged(logger: RecordingLogger, level: 'debug' | 'info' | 'warn' | 'error'): string[] {
  return logger.lines.filter((line) => line.level === level).map((line) => `${line.msg ?? ''} ${JSON.stringify(line.obj)}`);
}
