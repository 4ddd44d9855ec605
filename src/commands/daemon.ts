import {Flags} from '@oclif/core';
import {
  acquirePidLock,
  createLogger,
  Daemon,
  daemonIpcHandlers,
  IpcServer,
  loadConfig,
  LogLimiter,
  openDataDir,
  resolveGroupId,
  systemClock,
  systemRandom,
  type Logger,
} from '@wgmesh/core';
import {mkdir} from 'node:fs/promises';
import {join} from 'node:path';
import {loadBackendRegistry} from '../cli/backends.js';
import {WgmeshCommand} from '../cli/base-command.js';
import {createBackends} from '../cli/create-backends.js';
import {notifySystemdReady} from '../cli/systemd-notify.js';

/** `wgmesh daemon`: the foreground process that runs this node's meshes. */
export default class DaemonCommand extends WgmeshCommand {
  static override summary = 'Run the wgmesh daemon in the foreground';
  static override description = `Loads the config, restores this node's identity and meshes from the data dir, opens the IPC socket for the other commands, and runs the selected store, transport and WireGuard backends until SIGINT or SIGTERM. On stop it saves every mesh and removes its interfaces; the next start restores them.

Logs are JSON lines (pino) on stderr; pipe them through pino-pretty to read them.`;
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
    'log-level': Flags.string({description: 'log level', options: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']}),
  };

  async run(): Promise<void> {
    const {flags} = await this.parse(DaemonCommand);
    const config = await loadConfig({
      file: flags.config,
      env: process.env,
      overrides: {
        store: flags.store,
        transport: flags.transport,
        wgDriver: flags.wg,
        dataDir: flags['data-dir'],
        socket: flags.socket,
        logLevel: flags['log-level'],
      },
    });
    const logger: Logger = createLogger(config.logLevel);
    if (!config.configFile) logger.info('no config file found: running on defaults');
    const socketGroupId = config.socketGroup === null ? undefined : await resolveGroupId(config.socketGroup);
    const registry = await loadBackendRegistry(this.config);
    for (const warning of registry.warnings) logger.warn({plugin: warning.plugin}, warning.message);

    await mkdir(config.dataDir, {recursive: true, mode: 0o700});
    const releaseLock = await acquirePidLock(join(config.dataDir, 'daemon.pid'), config.dataDir);
    const abort = new AbortController();
    const logLimiter = new LogLimiter({clock: systemClock});
    let ipc: IpcServer | undefined;
    let daemon: Daemon | undefined;
    let backends: Awaited<ReturnType<typeof createBackends>> | undefined;
    const shutdown = async (): Promise<void> => {
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
      backends = await createBackends({registry, config, identity, logger, signal: abort.signal, clock: systemClock, random: systemRandom, logLimiter});
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
        },
        backendNames: backends.names,
        base: config.baseConfiguration,
        controlPort: config.gRPCPort,
        gcHorizonMs: config.gcHorizonMs,
        maxClockSkewMs: config.maxClockSkewMs,
        logger,
        clock: systemClock,
        random: systemRandom,
        logLimiter,
        dns: {enabled: config.dnsEnabled, listen: config.dnsListen},
        metrics: {enabled: config.metricsEnabled, listen: config.metricsListen},
      });
      // The socket first: a second daemon must refuse before it touches any interface.
      ipc = new IpcServer({socketPath: config.socket, logger, handlers: daemonIpcHandlers(daemon), idleTimeoutMs: config.ipcIdleTimeoutMs, groupId: socketGroupId});
      await ipc.start();
      await daemon.start();
      logger.info({socket: config.socket, backends: backends.names}, 'daemon ready');
      const notified = await notifySystemdReady({env: process.env, pid: process.pid, status: `ready; socket ${config.socket}`});
      if (notified.status === 'failed') logger.error(`could not tell systemd that the daemon is ready (${notified.problem}); a Type=notify unit will report the start as timed out`);
    } catch (error) {
      await shutdown();
      throw error;
    }

    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        logger.info({signal}, 'stopping');
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await shutdown();
    logger.info('stopped');
  }
}
