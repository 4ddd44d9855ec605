/**
 * The daemon's own local servers, both optional: DNS for mesh aliases and the
 * Prometheus metrics endpoint. They bind before anything else starts, so a
 * taken port stops the daemon at once, with one error line, before it touches
 * an interface; they read the daemon's meshes only when asked.
 */
import type {Clock} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {StatusView} from '../ipc/methods.js';
import {DnsServer} from '../dns/server.js';
import {DaemonMetrics} from '../metrics/daemon-metrics.js';
import {METRICS_PATH, MetricsServer} from '../metrics/server.js';
import type {MeshRuntime} from './mesh-runtime.js';

/** The config of one local server (`dnsEnabled`/`dnsListen`, `metricsEnabled`/`metricsListen`). */
export interface LocalServerSettings {
  enabled: boolean;
  /** `IPv4:PORT` or `[IPv6]:PORT`; port 0 binds any free port. */
  listen: string;
}

/** Where the local servers listen, once started (the optional fields of `status --json`). */
export type LocalServerAddresses = Pick<StatusView, 'dns' | 'metrics'>;

/** Everything the local servers need. */
export interface LocalServersOptions {
  dns?: LocalServerSettings | undefined;
  metrics?: LocalServerSettings | undefined;
  /** The daemon's meshes, read at query and scrape time. */
  meshes: () => Iterable<MeshRuntime>;
  /** Look one mesh up by id (undefined when this node is not in it). */
  mesh: (meshId: string) => MeshRuntime | undefined;
  nodeId: string;
  backendNames: {store: string; transport: string; wg: string};
  logger: Logger;
  clock: Clock;
}

/** The DNS server and the metrics endpoint of one daemon. */
export class LocalServers {
  private readonly options: LocalServersOptions;
  private dns: DnsServer | undefined;
  private metrics: DaemonMetrics | undefined;
  private metricsServer: MetricsServer | undefined;

  constructor(options: LocalServersOptions) {
    this.options = options;
  }

  /**
   * Start the enabled servers.
   * @throws ListenError when one cannot bind (the caller stops the daemon; {@link close} releases the other)
   */
  async start(): Promise<void> {
    const {options} = this;
    if (options.dns?.enabled) {
      this.dns = new DnsServer({
        listen: options.dns.listen,
        source: {meshIds: () => [...options.meshes()].map((runtime) => runtime.meshId), liveRecords: (meshId) => options.mesh(meshId)?.liveRecords(), claimTime: (meshId) => options.mesh(meshId)?.aliasClaimTime},
        logger: options.logger.child({component: 'dns'}),
        clock: options.clock,
      });
      await this.dns.start();
    }
    if (options.metrics?.enabled) {
      this.metrics = new DaemonMetrics({
        source: {meshes: options.meshes, dns: () => this.dns?.counters()},
        nodeId: options.nodeId,
        backends: options.backendNames,
        clock: options.clock,
        logger: options.logger.child({component: 'metrics'}),
      });
      this.metricsServer = new MetricsServer({listen: options.metrics.listen, metrics: this.metrics, logger: options.logger.child({component: 'metrics'})});
      await this.metricsServer.start();
    }
  }

  /** Record one reconciliation of a mesh (a no-op when metrics are off). */
  observeReconcile(meshId: string, outcome: {seconds: number; ok: boolean}): void {
    this.metrics?.observeReconcile(meshId, outcome);
  }

  /** Where the running servers listen. */
  addresses(): LocalServerAddresses {
    const dns = this.dns?.address();
    const metrics = this.metricsServer?.address();
    return {
      ...(dns === undefined ? {} : {dns: {address: dns}}),
      ...(metrics === undefined ? {} : {metrics: {address: metrics, url: `http://${metrics}${METRICS_PATH}`}}),
    };
  }

  /** Stop both servers. Safe before start, after a failed start, and twice. */
  async close(): Promise<void> {
    await Promise.all([this.dns?.close(), this.metricsServer?.close()]);
  }
}
