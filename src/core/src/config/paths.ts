/**
 * Where wgmesh keeps things on a host when the user says nothing: the data
 * directory, the config file and the IPC socket. Root daemons use system
 * locations; anyone else uses the XDG base directories under their home.
 */
import {homedir} from 'node:os';
import {isAbsolute, join} from 'node:path';

/** The facts about the host that decide the default locations; injected so tests need not be root. */
export interface HostContext {
  /** Environment variables (`WGMESH_CONFIG`, `WGMESH_SOCKET`, `XDG_*`). */
  env: NodeJS.ProcessEnv;
  /** Whether the process runs as root (system locations instead of per-user ones). */
  isRoot: boolean;
  /** The user's home directory. */
  home: string;
  /** Directory that relative paths given on the command line or in the environment are relative to. */
  cwd: string;
}

/** The real host: `process.env`, the effective user id, `os.homedir()` and `process.cwd()`. */
export function currentHost(): HostContext {
  return {env: process.env, isRoot: process.geteuid?.() === 0, home: homedir(), cwd: process.cwd()};
}

/** File name of the IPC socket inside the data directory. */
export const SOCKET_FILE_NAME = 'wgmesh.sock';

/**
 * Longest Unix socket path Linux accepts (108 bytes with the terminating NUL).
 * Node does not reject a longer one: it silently truncates it and listens
 * somewhere else, so the limit is checked before anything listens or dials.
 */
export const MAX_SOCKET_PATH_BYTES = 107;

// The XDG spec says relative values are invalid and must be ignored.
function xdgDir(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const value = env[name];
  return value !== undefined && isAbsolute(value) ? value : fallback;
}

/** Default data directory: `/var/lib/wgmesh` as root, else `$XDG_STATE_HOME/wgmesh` or `~/.local/state/wgmesh`. */
export function defaultDataDir(host: Pick<HostContext, 'env' | 'isRoot' | 'home'>): string {
  if (host.isRoot) return '/var/lib/wgmesh';
  return join(xdgDir(host.env, 'XDG_STATE_HOME', join(host.home, '.local', 'state')), 'wgmesh');
}

/**
 * Default config file: `$WGMESH_CONFIG` when set, else `/etc/wgmesh/config.yaml`
 * as root, else `$XDG_CONFIG_HOME/wgmesh/config.yaml` or `~/.config/wgmesh/config.yaml`.
 * This file may be absent (all defaults apply).
 */
export function defaultConfigPath(host: Pick<HostContext, 'env' | 'isRoot' | 'home'>): string {
  const fromEnv = host.env.WGMESH_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (host.isRoot) return '/etc/wgmesh/config.yaml';
  return join(xdgDir(host.env, 'XDG_CONFIG_HOME', join(host.home, '.config')), 'wgmesh', 'config.yaml');
}

/** The socket a daemon with this data directory listens on when `socket` is not set. */
export function socketPathInDataDir(dataDir: string): string {
  return join(dataDir, SOCKET_FILE_NAME);
}

/** Whether `socketPath` fits in a Unix socket address (see {@link MAX_SOCKET_PATH_BYTES}). */
export function socketPathFits(socketPath: string): boolean {
  return Buffer.byteLength(socketPath, 'utf8') <= MAX_SOCKET_PATH_BYTES;
}
