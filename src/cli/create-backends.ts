/**
 * Turns the config's backend names into running backends through the
 * registry. Commands never import a plugin: they only know names.
 */
import {selfIssueTlsIdentity, type BackendContext, type BackendInstances, type BackendKind, type Clock, type DaemonConfig, type Logger, type LogLimiter, type NodeIdentity, type RandomSource, type StoreBackend, type Transport, type WgDriver} from '@wgmesh/core';
import type {BackendRegistry} from '@wgmesh/core';

/** The backends a daemon runs with. */
export interface RunningBackends {
  store: StoreBackend;
  /** Null when the default transport is not installed: the daemon then serves single-node meshes only. */
  transport: Transport | null;
  wg: WgDriver;
  names: {store: string; transport: string; wg: string};
  /** Release what the backends hold. */
  close(): Promise<void>;
}

/** What {@link createBackends} needs. */
export interface CreateBackendsOptions {
  registry: BackendRegistry;
  config: DaemonConfig;
  /** The node's identity; the transport gets a TLS identity made from its key, the backends its public part. */
  identity: NodeIdentity;
  logger: Logger;
  signal: AbortSignal;
  clock: Clock;
  random: RandomSource;
  /** The daemon's limiter of repeated log lines (its suppressions are counted in the metrics). */
  logLimiter: LogLimiter;
}

/** The transport used when none is configured; until it is installed the daemon runs local-only. */
const DEFAULT_TRANSPORT = 'grpc';

/** Resolve and create the configured store, transport and WireGuard driver. */
export async function createBackends(options: CreateBackendsOptions): Promise<RunningBackends> {
  const {registry, config, logger} = options;
  const {nodeId, signingKey, wgPublicKey} = options.identity;
  const create = async <K extends BackendKind>(kind: K, name: string): Promise<BackendInstances[K]> => {
    const factory = registry.resolve(kind, name);
    const context: BackendContext = {
      config: config.sections[name],
      daemonConfig: config,
      logger: logger.child({backend: `${kind}:${name}`}),
      dataDir: config.dataDir,
      signal: options.signal,
      identity: {nodeId, signingKey, wgPublicKey},
      clock: options.clock,
      random: options.random,
      logLimiter: options.logLimiter,
      ...(kind === 'transport' ? {tls: await selfIssueTlsIdentity(options.identity, {clock: options.clock, random: options.random})} : {}),
    };
    return (await factory.create(context)) as BackendInstances[K];
  };
  const store = await create('store', config.store);
  const wg = await create('wg', config.wgDriver);
  let transport: Transport | null = null;
  let transportName = config.transport;
  if (config.transport === DEFAULT_TRANSPORT && !registry.has('transport', DEFAULT_TRANSPORT)) {
    logger.warn(`the ${DEFAULT_TRANSPORT} transport is not installed: this daemon serves single-node meshes only (it cannot join or be joined)`);
    transportName = 'none';
  } else {
    transport = await create('transport', config.transport);
  }
  return {
    store,
    transport,
    wg,
    names: {store: config.store, transport: transportName, wg: config.wgDriver},
    // The transport is the daemon's to close (it stops listening before the meshes stop).
    async close() {
      await wg.close();
    },
  };
}
