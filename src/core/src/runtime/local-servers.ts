/**
 * The daemon's own local servers, each optional: DNS for mesh aliases, the
 * Prometheus metrics endpoint and the HTTP API (with the dashboard). They bind before anything else starts, so a
 * taken port stops the daemon at once, with one error line, before it touches
 * an interface; they read the daemon's meshes only when asked.
 */
import type {Clock} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {DatagramDrops} from '../contracts/transport.js';
import type {LogLimiter} from '../util/log-limiter.js';
import type {StatusView} from '../ipc/methods.js';
import type {DnsServer} from '../dns/server.js';
import type {DaemonMetrics} from '../metrics/daemon-metrics.js';
import {METRICS_PATH, MetricsServer} from '../metrics/server.js';
import type {ApiServer} from '../api/server.js';
import type {ApiSettings} from '../api/settings.js';
import type {ApiTokenStore} from '../api/token-store.js';
import type {EventHub} from '../api/event-hub.js';
import type {IpcHandlers} from './ipc-handlers.js';
import type {MeshRuntime} from './mesh-runtime.js';

/** The config of one local server (`dnsEnabled`/`dnsListen`, `metricsEnabled`/`metricsListen`). */
export interface LocalServerSettings {
  enabled: boolean;
  /** `IPv4:PORT` or `[IPv6]:PORT`; port 0 binds any free port. */
  listen: string;
}

/** Where the local servers listen, once started (the optional fields of `status --json`). */
export type LocalServerAddresses = Pick<StatusView, 'dns' | 'metrics' | 'api'>;

/** A local server's name. */
export type LocalServerName = 'dns' | 'metrics' | 'api';

/** What {@link LocalServers.reconfigure} did: the servers started, stopped or moved, and those that could not be. */
export interface LocalServersChange {
  changed: LocalServerName[];
  failed: Array<{server: LocalServerName; error: unknown}>;
}

/** What the HTTP API serves besides its settings. */
export interface ApiSources {
  /** The IPC handlers the routes call. */
  handlers: () => IpcHandlers;
  tokens: ApiTokenStore;
  hub: EventHub;
  /** The built dashboard; absent: `/` says it was not built. */
  dashboardDir?: string | undefined;
  /** The installed backends, for `GET /backends`. */
  backends?: (() => unknown[]) | undefined;
}

/** Everything the local servers need. */
export interface LocalServersOptions {
  dns?: LocalServerSettings | undefined;
  metrics?: LocalServerSettings | undefined;
  api?: ApiSettings | undefined;
  /** What the API serves (needed when `api` is enabled now or later). */
  apiSources: ApiSources;
  /** The daemon's meshes, read at query and scrape time. */
  meshes: () => Iterable<MeshRuntime>;
  /** Look one mesh up by id (undefined when this node is not in it). */
  mesh: (meshId: string) => MeshRuntime | undefined;
  nodeId: string;
  backendNames: {store: string; transport: string; wg: string};
  logger: Logger;
  clock: Clock;
  /** The daemon's limiter of repeated log lines, whose suppressions the metrics count. */
  logLimiter?: LogLimiter | undefined;
  /** Datagrams the transport dropped, by reason (see Transport.datagramDrops). */
  datagramDrops?: (() => DatagramDrops | undefined) | undefined;
}

/** The DNS server, the metrics endpoint and the HTTP API of one daemon. */
export class LocalServers {
  private readonly options: LocalServersOptions;
  private dns: DnsServer | undefined;
  private metrics: DaemonMetrics | undefined;
  private metricsServer: MetricsServer | undefined;
  private apiServer: ApiServer | undefined;

  constructor(options: LocalServersOptions) {
    this.options = options;
  }

  /**
   * Start the enabled servers.
   * @throws ListenError when one cannot bind (the caller stops the daemon; {@link close} releases the other)
   */
  async start(): Promise<void> {
    const {options} = this;
    if (options.dns?.enabled) this.dns = await this.startDns(options.dns.listen);
    if (options.metrics?.enabled) this.metricsServer = await this.startMetrics(options.metrics.listen);
    if (options.api?.enabled) this.apiServer = await this.startApi(options.api);
  }

  /**
   * Apply new settings to running servers: start, stop or move each one whose
   * settings differ. A server that cannot bind its new address keeps running
   * where it was, and its failure is returned; the other is still applied.
   */
  async reconfigure(settings: {dns: LocalServerSettings; metrics: LocalServerSettings; api?: ApiSettings | undefined}): Promise<LocalServersChange> {
    const changed: LocalServersChange['changed'] = [];
    const failed: LocalServersChange['failed'] = [];
    const apply = async <S extends LocalServerName>(server: S, next: NonNullable<LocalServersOptions[S]>, swap: () => Promise<void>): Promise<void> => {
      const current = this.options[server];
      if ((current?.enabled ?? false) === next.enabled && (!next.enabled || JSON.stringify(current) === JSON.stringify(next))) return;
      try {
        await swap();
        this.options[server] = {...next} as LocalServersOptions[S];
        changed.push(server);
      } catch (error) {
        failed.push({server, error});
      }
    };
    await apply('dns', settings.dns, async () => {
      const started = settings.dns.enabled ? await this.startDns(settings.dns.listen) : undefined;
      await this.dns?.close();
      this.dns = started;
    });
    await apply('metrics', settings.metrics, async () => {
      const started = settings.metrics.enabled ? await this.startMetrics(settings.metrics.listen) : undefined;
      await this.metricsServer?.close();
      this.metricsServer = started;
    });
    const api = settings.api;
    if (api !== undefined) {
      await apply('api', api, async () => {
        // One port cannot be bound twice: a server that moves stops first (and is started again where it was if the new address fails).
        const previous = this.apiServer;
        await previous?.close();
        this.apiServer = undefined;
        try {
          this.apiServer = api.enabled ? await this.startApi(api) : undefined;
        } catch (error) {
          const before = this.options.api;
          if (previous !== undefined && before?.enabled) this.apiServer = await this.startApi(before).catch(() => undefined);
          throw error;
        }
      });
    }
    return {changed, failed};
  }

  /** The HTTP API with `settings`; its module (and hono) load only now. */
  private async startApi(settings: ApiSettings): Promise<ApiServer> {
    const {options} = this;
    const {ApiServer} = await import('../api/server.js');
    const sources = options.apiSources;
    const server = new ApiServer(settings, {
      handlers: sources.handlers(),
      tokens: sources.tokens,
      hub: sources.hub,
      dashboardDir: sources.dashboardDir,
      backends: sources.backends ?? (() => []),
      logger: options.logger.child({component: 'api'}),
      clock: options.clock,
    });
    await server.start();
    return server;
  }

  /** A DNS server on `listen`; its module (and dns-packet) load only now. */
  private async startDns(listen: string): Promise<DnsServer> {
    const {options} = this;
    const {DnsServer} = await import('../dns/server.js');
    const dns = new DnsServer({
      listen,
      source: {meshIds: () => [...options.meshes()].map((runtime) => runtime.meshId), liveRecords: (meshId) => options.mesh(meshId)?.liveRecords(), claimTime: (meshId) => options.mesh(meshId)?.aliasClaimTime},
      logger: options.logger.child({component: 'dns'}),
      clock: options.clock,
    });
    await dns.start();
    return dns;
  }

  /** A metrics endpoint on `listen`; the counters (and prom-client) load only now, and live as long as the daemon, across moves. */
  private async startMetrics(listen: string): Promise<MetricsServer> {
    const {options} = this;
    const {DaemonMetrics} = await import('../metrics/daemon-metrics.js');
    this.metrics ??= new DaemonMetrics({
      source: {meshes: options.meshes, dns: () => this.dns?.counters(), suppressedLogLines: () => options.logLimiter?.suppressed(), datagramDrops: () => options.datagramDrops?.()},
      nodeId: options.nodeId,
      backends: options.backendNames,
      clock: options.clock,
      logger: options.logger.child({component: 'metrics'}),
    });
    const server = new MetricsServer({listen, metrics: this.metrics, logger: options.logger.child({component: 'metrics'})});
    await server.start();
    return server;
  }

  /** Record one reconciliation of a mesh (a no-op when metrics are off). */
  observeReconcile(meshId: string, outcome: {seconds: number; ok: boolean}): void {
    this.metrics?.observeReconcile(meshId, outcome);
  }

  /** Where the running servers listen. */
  addresses(): LocalServerAddresses {
    const dns = this.dns?.address();
    const metrics = this.metricsServer?.address();
    const api = this.apiServer?.address();
    const apiUrl = this.apiServer?.url();
    return {
      ...(dns === undefined ? {} : {dns: {address: dns}}),
      ...(metrics === undefined ? {} : {metrics: {address: metrics, url: `http://${metrics}${METRICS_PATH}`}}),
      ...(api === undefined || apiUrl === undefined ? {} : {api: {address: api, url: apiUrl}}),
    };
  }

  /** Stop every server. Safe before start, after a failed start, and twice. */
  async close(): Promise<void> {
    await Promise.all([this.dns?.close(), this.metricsServer?.close(), this.apiServer?.close()]);
  }
}
