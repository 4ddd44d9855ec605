/**
 * Where wgmesh keeps things on a host when the user says nothing: the data
 * directory, the config file and the IPC socket. Root daemons use system
 * locations; anyone else uses the XDG base directories under their home.
 */
import {statSync} from 'node:fs';
import {homedir} from 'node:os';
import {isAbsolute, join, resolve} from 'node:path';

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

/** The real host: `process.env`, the effective user id, `os.homedir()` and `process.cwd()`; `overrides` replace single facts (tests). */
export function currentHost(overrides: Partial<HostContext> = {}): HostContext {
  return {
    env: overrides.env ?? process.env,
    isRoot: overrides.isRoot ?? process.geteuid?.() === 0,
    home: overrides.home ?? homedir(),
    cwd: overrides.cwd ?? process.cwd(),
  };
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

/** The system daemon's data directory (root's default). */
export const SYSTEM_DATA_DIR = '/var/lib/wgmesh';
/** The system daemon's IPC socket (root's default, and where any user's CLI looks for the system daemon). */
export const SYSTEM_SOCKET_PATH = '/run/wgmesh/wgmesh.sock';
/** The system config file (root's default). */
export const SYSTEM_CONFIG_PATH = '/etc/wgmesh/config.yaml';

/**
 * Default data directory: `/var/lib/wgmesh` as root, else `$XDG_STATE_HOME/wgmesh`
 * or `~/.local/state/wgmesh`. State, not data: identity and mesh state belong to
 * this host's node and are not portable user files (XDG puts such state in
 * `XDG_STATE_HOME`, as systemd puts it in /var/lib).
 */
export function defaultDataDir(host: Pick<HostContext, 'env' | 'isRoot' | 'home'>): string {
  if (host.isRoot) return SYSTEM_DATA_DIR;
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
  if (host.isRoot) return SYSTEM_CONFIG_PATH;
  return join(xdgDir(host.env, 'XDG_CONFIG_HOME', join(host.home, '.config')), 'wgmesh', 'config.yaml');
}

/** The socket a daemon with this data directory listens on when `socket` is not set. */
export function socketPathInDataDir(dataDir: string): string {
  return join(dataDir, SOCKET_FILE_NAME);
}

/**
 * The socket a daemon listens on when neither `socket` nor `dataDir` is set:
 * `/run/wgmesh/wgmesh.sock` as root, else `$XDG_RUNTIME_DIR/wgmesh/wgmesh.sock`,
 * else (no runtime dir, e.g. a session without a login) `<default data dir>/wgmesh.sock`.
 */
export function defaultSocketPath(host: Pick<HostContext, 'env' | 'isRoot' | 'home'>): string {
  if (host.isRoot) return SYSTEM_SOCKET_PATH;
  const runtime = host.env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && isAbsolute(runtime)) return join(runtime, 'wgmesh', SOCKET_FILE_NAME);
  return socketPathInDataDir(defaultDataDir(host));
}

/**
 * The socket the CLI dials when nothing names one: the user's own
 * {@link defaultSocketPath}; for a user other than root whose own daemon is not
 * running there, the system daemon's socket when it exists (an operator in the
 * daemon's `socketGroup` reaches it with no flags).
 */
export function defaultClientSocketPath(host: Pick<HostContext, 'env' | 'isRoot' | 'home'>): string {
  const own = defaultSocketPath(host);
  if (host.isRoot || exists(own) || !exists(SYSTEM_SOCKET_PATH)) return own;
  return SYSTEM_SOCKET_PATH;
}

/** Whether something is at `path`; a directory on the way this user may not search counts (dialling then says "permission denied"). */
function exists(path: string): boolean {
  try {
    return statSync(path, {throwIfNoEntry: false}) !== undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EACCES';
  }
}

/** Whether `socketPath` fits in a Unix socket address (see {@link MAX_SOCKET_PATH_BYTES}). */
export function socketPathFits(socketPath: string): boolean {
  return Buffer.byteLength(socketPath, 'utf8') <= MAX_SOCKET_PATH_BYTES;
}

/** What {@link socketPathWithoutConfig} is asked: the CLI's `--socket` and `--config`, and host facts to override. */
export interface SocketPathQuestion extends Partial<HostContext> {
  /** `--socket`. */
  socket?: string;
  /** `--config` (a file named explicitly must be read). */
  file?: string;
}

/**
 * The IPC socket the CLI should dial, when it can be told without reading a
 * config file: `--socket`, else `WGMESH_SOCKET`, when it is a usable socket
 * path; else, when there is no config file at the default location (and none
 * was named), {@link defaultClientSocketPath}. Returns `undefined` in every
 * other case (a config file to read, an invalid path to report): the caller
 * then runs the full `resolveSocketPath` of config/load.ts, which gives the
 * same answer wherever this one answers. Exists because the full resolver
 * loads the config schema and a YAML parser, which cost a quick command such
 * as `wgmesh mesh list` more than the rest of its start.
 */
export function socketPathWithoutConfig(question: SocketPathQuestion = {}): string | undefined {
  const host = currentHost(question);
  const override = question.socket ?? (host.env.WGMESH_SOCKET === '' ? undefined : host.env.WGMESH_SOCKET);
  if (override !== undefined) {
    // The rules of the config schema's `socket` key; anything else goes to the full resolver, which words the error.
    if (override === '' || override.includes('\0')) return undefined;
    const path = resolve(host.cwd, override);
    return socketPathFits(path) ? path : undefined;
  }
  if (question.file !== undefined) return undefined;
  try {
    // Only "no such file" means "all defaults"; any other problem is the full resolver's to report.
    if (statSync(defaultConfigPath(host), {throwIfNoEntry: false}) !== undefined) return undefined;
  } catch {
    return undefined;
  }
  return defaultClientSocketPath(host);
}
