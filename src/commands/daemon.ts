import {
  acquirePidLock,
  apiSettingsOf,
  ConfigError,
  createLogger,
  Daemon,
  daemonIpcHandlers,
  identityFile,
  IpcServer,
  loadConfig,
  LOG_FORMATS,
  LOG_LEVELS,
  LogLimiter,
  natSettings,
  openDataDir,
  resolveGroupId,
  systemClock,
  systemRandom,
  type DaemonConfig,
} from '@wgmesh/core';
import {access, mkdir, rm} from 'node:fs/promises';
import {join} from 'node:path';
import {Flags} from '../cli/oclif.js';
import {loadBackendRegistry} from '../cli/backends.js';
import {WgmeshCommand} from '../cli/base-command.js';
import {colourEnabled, palette} from '../cli/colour.js';
import {createBackends} from '../cli/create-backends.js';
import {reloadDaemonSettings} from '../cli/daemon-reload.js';
import {handleDaemonSignals} from '../cli/daemon-signals.js';
import {prettyLogFormat} from '../cli/log-pretty.js';
import {startMemoryRelease} from '../cli/memory-release.js';
import {notifySystemdReady} from '../cli/systemd-notify.js';

/** `wgmesh daemon`: the foreground process that runs this node's meshes. */
export default class DaemonCommand extends WgmeshCommand {
  static override summary = 'Run the wgmesh daemon in the foreground';
  static override description = `Loads the config, restores this node's identity and meshes from the data dir, opens the IPC socket for the other commands, and runs the selected store, transport and WireGuard backends until SIGINT, SIGTERM or SIGQUIT. On stop (and after an uncaught error, which exits 1) it saves every mesh, removes its interfaces and its socket; the next start restores them.

SIGHUP reads the config again and applies the log level and the DNS, metrics and HTTP API servers (enable, disable, move, and the api* limits); one log line says what it reloaded and which changed settings need a restart. Flags still win over the file.

Logs go to stderr: one coloured line per entry when stderr is a terminal, JSON lines (pino) otherwise; --log-format (config \`logFormat\`) chooses.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --wg stub --data-dir /tmp/wgmesh-a --socket /tmp/wgmesh-a.sock',
    '<%= config.bin %> <%= command.id %> --config /etc/wgmesh/config.yaml --store twophase',
  ];
  static override enableJsonFlag = false;
  static override flags = {
    config: Flags.string({description: 'config file [default: WGMESH_CONFIG, else /etc/wgmesh/config.yaml as root, else ~/.config/wgmesh/config.yaml; absent means all defaults]'}),
    store: Flags.string({description: 'store backend (see `wgmesh backends`) [default: config `store`, else twophase]'}),
    transport: Flags.string({description: 'transport backend [default: config `transport`, else grpc]'}),
    wg: Flags.string({description: 'WireGuard driver [default: config `wgDriver`, else kernel]'}),
    'data-dir': Flags.string({description: 'where identity and mesh state live [default: config `dataDir`, else /var/lib/wgmesh as root, else $XDG_STATE_HOME/wgmesh]'}),
    socket: Flags.string({
      description:
        'IPC socket path [default: WGMESH_SOCKET, else config `socket`, else <dataDir>/wgmesh.sock when --data-dir or `dataDir` is set, else /run/wgmesh/wgmesh.sock as root, else $XDG_RUNTIME_DIR/wgmesh/wgmesh.sock]',
    }),
    'log-level': Flags.string({description: 'log level [default: config `logLevel`, else info]', options: [...LOG_LEVELS]}),
    'log-format': Flags.string({description: 'log format on stderr: pretty, json, or auto (pretty on a terminal) [default: config `logFormat`, else auto]', options: [...LOG_FORMATS]}),
  };

  async run(): Promise<void> {
    const {flags} = await this.parse(DaemonCommand);
    const load = (): Promise<DaemonConfig> =>
      loadConfig({
        file: flags.config,
        env: process.env,
        overrides: {
          store: flags.store,
          transport: flags.transport,
          wgDriver: flags.wg,
          dataDir: flags['data-dir'],
          socket: flags.socket,
          logLevel: flags['log-level'],
          logFormat: flags['log-format'],
        },
      });
    let config = await load();
    const pretty = config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stderr.isTTY === true);
    const logger = createLogger(config.logLevel, pretty ? prettyLogFormat(palette(colourEnabled(process.stderr, process.env))) : undefined);
    if (!config.configFile) logger.info('no config file found: running on defaults');
    const socketGroupId = config.socketGroup === null ? undefined : await resolveGroupId(config.socketGroup);
    const registry = await loadBackendRegistry(this.config);
    for (const warning of registry.warnings) logger.warn({plugin: warning.plugin}, warning.message);

    await mkdir(config.dataDir, {recursive: true, mode: 0o700});
    const releaseLock = await acquirePidLock(join(config.dataDir, 'daemon.pid'), config.dataDir);
    // A node whose first start fails (a backend's settings, a port in use) never
    // showed its identity to anyone: the identity that start made goes with it.
    const newIdentity = await access(identityFile(config.dataDir)).then(
      () => false,
      () => true,
    );
    const abort = new AbortController();
    const logLimiter = new LogLimiter({clock: systemClock});
    let ipc: IpcServer | undefined;
    let daemon: Daemon | undefined;
    /** Stops asking V8 for a full GC after bursts (see memory-release.ts). */
    let stopMemoryRelease: (() => void) | undefined;
    let backends: Awaited<ReturnType<typeof createBackends>> | undefined;
    // From here on a signal or an uncaught error ends in shutdown() below, never in Node's immediate exit.
    let ready = false;
    let stopRequested: (() => void) | undefined;
    const stopping = new Promise<void>((resolve) => (stopRequested = resolve));
    let stopReason: string | undefined;
    let failed = false;
    let reloading = Promise.resolve();
    const requestStop = (reason: string): void => {
      if (stopReason !== undefined) {
        logger.info({signal: reason}, `already stopping (${stopReason})`);
        return;
      }
      stopReason = reason;
      logger.info({signal: reason}, 'stopping');
      stopRequested?.();
    };
    const removeSignalHandlers = handleDaemonSignals({
      stop: requestStop,
      reload: () => {
        if (stopReason !== undefined) return;
        if (!ready || !daemon) {
          logger.warn('SIGHUP while starting: nothing reloaded; send it again once the daemon is ready');
          return;
        }
        const running = daemon;
        reloading = reloading
          .then(async () => {
            config = await reloadDaemonSettings({load, running: config, logger, daemon: running});
          })
          .catch((error: unknown) => logger.error({err: error}, 'SIGHUP: the reload failed; the daemon keeps running'));
      },
      fatal: (error, origin) => {
        failed = true;
        logger.error({err: error, origin}, 'uncaught error: the daemon stops');
        requestStop(origin);
      },
    });
    const shutdown = async (): Promise<void> => {
      stopMemoryRelease?.();
      abort.abort();
      await ipc?.close().catch((error: unknown) => logger.error({err: error}, 'closing the IPC socket failed'));
      await daemon?.stop();
      await backends?.close();
      logLimiter.close();
      await releaseLock();
    };
    try {
      const identity = await openDataDir(config.dataDir, logger);
      logger.info({nodeId: identity.nodeId, wgPublicKey: identity.wgPublicKey, dataDir: config.dataDir}, 'identity loaded');
      backends = await createBackends({registry, config, identity, logger, signal: abort.signal, clock: systemClock, random: systemRandom, logLimiter}).catch((error: unknown) => {
        // A backend's settings come from the config file: say which file.
        throw error instanceof ConfigError && config.configFile ? new ConfigError(`config ${config.configFile}: ${error.message}`) : error;
      });
      daemon = new Daemon({
        identity,
        dataDir: config.dataDir,
        store: backends.store,
        driver: backends.wg,
        transport: backends.transport,
        control: {
          syncIntervalMs: config.syncIntervalMs,
          heartbeatIntervalMs: config.heartbeatIntervalMs,
          pullIntervalMs: config.pullIntervalMs,
          branch: config.branch,
          clusterSize: config.clusterSize,
          interClusterChance: config.interClusterChance,
          infectionCount: config.infectionCount,
          timeoutMs: config.timeoutMs,
          maxClockSkewMs: config.maxClockSkewMs,
          deadProbeHorizonMs: config.deadProbeHorizonMs,
          dialBackoffGraceMs: config.dialBackoffGraceMs,
          dialBackoffMaxMs: config.dialBackoffMaxMs,
          controlDatagrams: config.controlDatagrams,
        },
        backendNames: backends.names,
        base: config.baseConfiguration,
        controlPort: config.gRPCPort,
        gcHorizonMs: config.gcHorizonMs,
        maxClockSkewMs: config.maxClockSkewMs,
        verifyWorkers: config.verifyWorkers,
        nat: natSettings(config),
        logger,
        clock: systemClock,
        random: systemRandom,
        logLimiter,
        dns: {enabled: config.dnsEnabled, listen: config.dnsListen},
        metrics: {enabled: config.metricsEnabled, listen: config.metricsListen},
        api: apiSettingsOf(config),
        dashboardDir: join(this.config.root, 'dist', 'dashboard'),
        backendListing: () => registry.list(),
      });
      // The socket first: a second daemon must refuse before it touches any interface.
      ipc = new IpcServer({socketPath: config.socket, logger, handlers: daemonIpcHandlers(daemon), idleTimeoutMs: config.ipcIdleTimeoutMs, groupId: socketGroupId});
      await ipc.start();
      await daemon.start();
      logger.info({socket: config.socket, backends: backends.names}, 'daemon ready');
      const notified = await notifySystemdReady({env: process.env, pid: process.pid, status: `ready; socket ${config.socket}`});
      if (notified.status === 'failed') logger.error(`could not tell systemd that the daemon is ready (${notified.problem}); a Type=notify unit will report the start as timed out`);
      ready = true;
      stopMemoryRelease = startMemoryRelease(logger);
    } catch (error) {
      if (newIdentity) await rm(identityFile(config.dataDir), {force: true});
      await shutdown();
      removeSignalHandlers();
      throw error;
    }

    await stopping;
    await reloading;
    await shutdown();
    removeSignalHandlers();
    if (failed) {
      logger.error('stopped after an uncaught error');
      this.exit(1);
    }
    logger.info('stopped');
  }
}
