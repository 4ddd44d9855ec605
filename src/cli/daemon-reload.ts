/**
 * What SIGHUP changes in a running daemon: the config file is read again (with
 * the same flags and environment laid over it, so a flag still wins) and the
 * settings that can change without a restart are applied: the log level and
 * the DNS, metrics and HTTP API servers. One line says what was reloaded and which
 * changed settings need a restart; those keep their running values until then.
 */
import {isDeepStrictEqual} from 'node:util';
import {apiSettingsOf, LOG_LEVELS, type Daemon, type DaemonConfig, type DaemonLogger} from '@wgmesh/core';

/** Config keys a reload applies. */
const API_KEYS = ['apiEnabled', 'apiListen', 'apiAllowRemote', 'apiCorsOrigins', 'apiMaxBodyBytes', 'apiRateLimit', 'apiRateBurst', 'apiMaxStreams'] as const;
const RELOADABLE_KEYS = new Set<string>(['logLevel', 'dnsEnabled', 'dnsListen', 'metricsEnabled', 'metricsListen', ...API_KEYS, 'configFile', 'sections']);

/** What {@link reloadDaemonSettings} needs. */
export interface ReloadOptions {
  /** Read and validate the config as at start. */
  load: () => Promise<DaemonConfig>;
  /** The settings in force. */
  running: DaemonConfig;
  logger: DaemonLogger;
  daemon: Pick<Daemon, 'reconfigureLocalServers'>;
}

/**
 * Reload the settings that can change without a restart. An invalid config
 * changes nothing (the error is logged); a listener that cannot bind keeps
 * its old address (also logged).
 * @returns the settings now in force
 */
export async function reloadDaemonSettings(options: ReloadOptions): Promise<DaemonConfig> {
  const {running, logger} = options;
  let next: DaemonConfig;
  try {
    next = await options.load();
  } catch (error) {
    logger.error({err: error}, 'SIGHUP: the config could not be read again; nothing was reloaded (fix it and send SIGHUP again)');
    return running;
  }
  const applied: DaemonConfig = {...running};
  const reloaded: string[] = [];
  const servers = await options.daemon.reconfigureLocalServers({
    dns: {enabled: next.dnsEnabled, listen: next.dnsListen},
    metrics: {enabled: next.metricsEnabled, listen: next.metricsListen},
    api: apiSettingsOf(next),
  });
  for (const server of servers.changed) {
    if (server === 'dns') {
      Object.assign(applied, {dnsEnabled: next.dnsEnabled, dnsListen: next.dnsListen});
      reloaded.push(describe('DNS', next.dnsEnabled, next.dnsListen));
    } else if (server === 'metrics') {
      Object.assign(applied, {metricsEnabled: next.metricsEnabled, metricsListen: next.metricsListen});
      reloaded.push(describe('metrics', next.metricsEnabled, next.metricsListen));
    } else {
      for (const key of API_KEYS) Object.assign(applied, {[key]: next[key]});
      reloaded.push(describe('HTTP API', next.apiEnabled, next.apiListen));
    }
  }
  for (const {server, error} of servers.failed) logger.error({err: error}, `SIGHUP: the ${SERVER_NAMES[server]} server stays as it was`);
  const levelChanged = next.logLevel !== running.logLevel;
  if (levelChanged) {
    applied.logLevel = next.logLevel;
    reloaded.push(`logLevel ${running.logLevel} → ${next.logLevel}`);
  }
  // Plugin sections (`kernel:`, `grpc:`, ...) are named one by one.
  const needsRestart = [...changedKeys(next, running).filter((key) => !RELOADABLE_KEYS.has(key)), ...changedKeys(next.sections, running.sections)];
  const summary = `SIGHUP: ${reloaded.length === 0 ? 'nothing to reload' : `reloaded ${reloaded.join(', ')}`}${needsRestart.length === 0 ? '' : `; restart the daemon to apply ${needsRestart.join(', ')}`}`;
  const fields = {configFile: next.configFile, reloaded, needsRestart};
  // The line is written at the more verbose of the two levels, so a level change is itself logged.
  const quieter = LOG_LEVELS.indexOf(next.logLevel) > LOG_LEVELS.indexOf(running.logLevel);
  if (levelChanged && !quieter) logger.setLevel(next.logLevel);
  logger.info(fields, summary);
  if (levelChanged && quieter) logger.setLevel(next.logLevel);
  return applied;
}

/** The keys whose values differ between `a` and `b`. */
function changedKeys(a: object, b: object): string[] {
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  return [...new Set([...Object.keys(left), ...Object.keys(right)])].filter((key) => !isDeepStrictEqual(left[key], right[key]));
}

const SERVER_NAMES = {dns: 'DNS', metrics: 'metrics', api: 'HTTP API'} as const;

function describe(name: string, enabled: boolean, listen: string): string {
  return enabled ? `${name} on ${listen}` : `${name} off`;
}
