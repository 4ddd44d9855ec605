/**
 * Loading the daemon's configuration: read the YAML file (optional unless named
 * explicitly), lay command-line flags and the environment over it, validate
 * with the schema and turn every problem into one {@link ConfigError} line that
 * names where the value came from, the dotted key and the rule.
 */
import {open} from 'node:fs/promises';
import {dirname, resolve} from 'node:path';
import {parseDocument} from 'yaml';
import type {z} from 'zod';
import {ConfigError} from '../errors.js';
import {currentHost, defaultClientSocketPath, defaultConfigPath, defaultDataDir, defaultSocketPath, socketPathInDataDir, type HostContext} from './paths.js';
import {configSchema, type DaemonConfig, type SchemaContext} from './schema.js';

/** Settings the command line can override, by config key. */
export interface ConfigOverrides {
  store?: string;
  transport?: string;
  wgDriver?: string;
  dataDir?: string;
  socket?: string;
  logLevel?: string;
  logFormat?: string;
}

/** The flag that overrides each key, for error messages. */
export const OVERRIDE_FLAGS: Readonly<Record<keyof ConfigOverrides, string>> = {
  store: '--store',
  transport: '--transport',
  wgDriver: '--wg',
  dataDir: '--data-dir',
  socket: '--socket',
  logLevel: '--log-level',
  logFormat: '--log-format',
};

/** Largest config file read; anything bigger is certainly not a config file. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Host facts for loading; each defaults to the real host (see {@link currentHost}). */
export interface ConfigHostOptions {
  env?: NodeJS.ProcessEnv;
  isRoot?: boolean;
  home?: string;
  /** Relative flag and environment paths are relative to this. */
  cwd?: string;
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions extends ConfigHostOptions {
  /** A file named with `--config`: it must exist. Without it the default file is read when present. */
  file?: string;
  /** Command-line flags; `undefined` entries are ignored. */
  overrides?: ConfigOverrides;
}

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions extends ConfigHostOptions {
  overrides?: ConfigOverrides;
}

/** Options of {@link resolveSocketPath}. */
export interface ResolveSocketOptions extends ConfigHostOptions {
  /** `--socket`. */
  socket?: string;
  /** `--config`: it must exist. */
  file?: string;
}

function hostFrom(options: ConfigHostOptions): HostContext {
  const real = currentHost();
  return {env: options.env ?? real.env, isRoot: options.isRoot ?? real.isRoot, home: options.home ?? real.home, cwd: options.cwd ?? real.cwd};
}

/** Where each value came from, for error messages. */
interface Origin {
  /** The config file, or `null` when none was read. */
  file: string | null;
  /** Top-level keys whose value came from a flag or the environment, with that source's name. */
  replaced: Map<string, string>;
}

/**
 * Read, parse and validate the daemon's configuration.
 * Precedence: flags > `WGMESH_SOCKET` (socket only) > file > defaults.
 * @throws ConfigError naming the file, the key and the rule.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<DaemonConfig> {
  const host = hostFrom(options);
  const file = options.file ?? defaultConfigPath(host);
  const text = await readConfigText(file, options.file !== undefined);
  const raw = text === undefined ? {} : parseYaml(text, file);
  return validateConfig(raw, text === undefined ? null : file, host, options.overrides ?? {});
}

/**
 * Parse and validate config text as if read from `file` (used by tests and by
 * {@link loadConfig}). Relative paths in the text are relative to `file`'s directory.
 * @throws ConfigError naming the file, the key and the rule.
 */
export function parseConfig(text: string, file: string, options: ParseConfigOptions = {}): DaemonConfig {
  const host = hostFrom(options);
  return validateConfig(parseYaml(text, file), file, host, options.overrides ?? {});
}

/**
 * The IPC socket the CLI should dial, without a daemon:
 * `--socket` > `WGMESH_SOCKET` > the config file's `socket` > its `dataDir`/wgmesh.sock
 * > the default data directory/wgmesh.sock. Only `socket` and `dataDir` of the file are
 * validated, so an unrelated mistake in it does not stop the CLI from reaching a daemon.
 * @throws ConfigError when the file cannot be read or those keys are invalid.
 */
export async function resolveSocketPath(options: ResolveSocketOptions = {}): Promise<string> {
  const host = hostFrom(options);
  const chosen = pickSocketOverride(options.socket, host);
  const schema = configSchema(schemaContext(null, host, 'client')).in.pick({socket: true, dataDir: true});
  if (chosen !== undefined) {
    const origin: Origin = {file: null, replaced: new Map([['socket', chosen.source]])};
    return checked(schema, {socket: chosen.value}, origin).socket ?? chosen.value;
  }
  const file = options.file ?? defaultConfigPath(host);
  const text = await readConfigText(file, options.file !== undefined);
  if (text === undefined) return defaultClientSocketPath(host);
  const raw = parseYaml(text, file);
  const fileSchema = configSchema(schemaContext(file, host, 'client')).in.pick({socket: true, dataDir: true});
  const origin: Origin = {file, replaced: new Map()};
  const parsed = checked(fileSchema, {socket: raw.socket, dataDir: raw.dataDir}, origin);
  return parsed.socket ?? (parsed.dataDir === undefined ? defaultClientSocketPath(host) : socketPathInDataDir(parsed.dataDir));
}

/** The schema's host defaults; the CLI's default socket may be the system daemon's (see {@link defaultClientSocketPath}). */
function schemaContext(file: string | null, host: HostContext, side: 'daemon' | 'client' = 'daemon'): SchemaContext {
  return {
    baseDir: file === null ? host.cwd : dirname(resolve(host.cwd, file)),
    defaultDataDir: defaultDataDir(host),
    defaultSocket: side === 'client' ? defaultClientSocketPath(host) : defaultSocketPath(host),
  };
}

function pickSocketOverride(flag: string | undefined, host: HostContext): {value: string; source: string} | undefined {
  if (flag !== undefined) return {value: resolvePathArgument(flag, host), source: `flag ${OVERRIDE_FLAGS.socket}`};
  const fromEnv = host.env.WGMESH_SOCKET;
  if (fromEnv !== undefined && fromEnv !== '') return {value: resolvePathArgument(fromEnv, host), source: 'env WGMESH_SOCKET'};
  return undefined;
}

// An empty argument stays empty so the schema reports it rather than it becoming the cwd.
function resolvePathArgument(path: string, host: HostContext): string {
  return path === '' ? path : resolve(host.cwd, path);
}

function validateConfig(raw: Record<string, unknown>, file: string | null, host: HostContext, overrides: ConfigOverrides): DaemonConfig {
  const merged: Record<string, unknown> = {...raw};
  const origin: Origin = {file, replaced: new Map()};
  for (const key of Object.keys(OVERRIDE_FLAGS) as (keyof ConfigOverrides)[]) {
    const value = overrides[key];
    if (value === undefined) continue;
    merged[key] = key === 'dataDir' || key === 'socket' ? resolvePathArgument(value, host) : value;
    origin.replaced.set(key, `flag ${OVERRIDE_FLAGS[key]}`);
  }
  if (overrides.socket === undefined) {
    const fromEnv = pickSocketOverride(undefined, host);
    if (fromEnv !== undefined) {
      merged.socket = fromEnv.value;
      origin.replaced.set('socket', fromEnv.source);
    }
  }
  const config = checked(configSchema(schemaContext(file, host)), merged, origin);
  return {...config, configFile: file === null ? null : resolve(host.cwd, file)};
}

/** Run `schema` on `raw`; on failure throw one ConfigError with a line per problem. */
function checked<S extends z.ZodType>(schema: S, raw: Record<string, unknown>, origin: Origin): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.flatMap((issue) => describeIssue(issue, raw, origin));
  throw new ConfigError(lines.join('\n'));
}

function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>, origin: Origin): string[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    // One line per unknown key, each with its full dotted name.
    return issue.keys.map((key) => `${sourceOf(path, origin)}${[...path, key].join('.')}: ${issue.message}`);
  }
  const value = valueAt(raw, path);
  const got = value === undefined ? '' : ` (got ${describeValue(value)})`;
  const replaced = path[0] !== undefined && origin.replaced.has(path[0]);
  const key = replaced ? path.slice(1).join('.') : path.join('.');
  return [`${sourceOf(path, origin)}${key === '' ? '' : `${key}: `}${issue.message}${got}`];
}

function sourceOf(path: string[], origin: Origin): string {
  const replacedBy = path[0] === undefined ? undefined : origin.replaced.get(path[0]);
  if (replacedBy !== undefined) return `${replacedBy}: `;
  return origin.file === null ? 'config (defaults): ' : `config ${origin.file}: `;
}

function valueAt(root: unknown, path: string[]): unknown {
  let node = root;
  for (const part of path) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** A short, safe rendering of a user's value for an error message. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return value instanceof Uint8Array ? 'binary data' : 'a mapping';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Read the config file as text; `undefined` when it does not exist and was not
 * named explicitly. Reads at most {@link MAX_CONFIG_BYTES}.
 */
async function readConfigText(file: string, explicit: boolean): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
      const {bytesRead} = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_CONFIG_BYTES) throw new ConfigError(`config ${file}: the file is over ${MAX_CONFIG_BYTES} bytes; is it the right file?`);
      bytes = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return undefined;
    throw new ConfigError(`config ${file}: ${readFailure(code, (error as Error).message)}`);
  }
  try {
    return new TextDecoder('utf-8', {fatal: true}).decode(bytes);
  } catch {
    throw new ConfigError(`config ${file}: the file is not valid UTF-8 text`);
  }
}

function readFailure(code: string | undefined, message: string): string {
  switch (code) {
    case 'ENOENT':
      return 'no such file (it was given with --config; create it or drop the flag)';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied; run as a user that can read it (root for the system config)';
    case 'EISDIR':
      return 'is a directory, not a config file';
    default:
      return `cannot read it: ${message}`;
  }
}

/** Parse YAML text into the top-level mapping; an empty file is an empty mapping. */
function parseYaml(text: string, file: string): Record<string, unknown> {
  const doc = parseDocument(text, {prettyErrors: true, uniqueKeys: true});
  const error = doc.errors[0];
  if (error !== undefined) {
    const position = error.linePos?.[0];
    const where = position === undefined ? '' : `line ${position.line}, column ${position.col}: `;
    // Drop yaml's own "at line X, column Y:" and source excerpt: the position is given once, up front.
    const message = error.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '');
    throw new ConfigError(`config ${file}: ${where}YAML syntax error: ${message}`);
  }
  let value: unknown;
  try {
    // The alias cap stops a "billion laughs" file from expanding without bound.
    value = doc.toJS({maxAliasCount: 100});
  } catch (cause) {
    throw new ConfigError(`config ${file}: YAML error: ${(cause as Error).message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ConfigError(`config ${file}: the file must be a mapping of keys to values (got ${describeValue(value)})`);
  }
  return value as Record<string, unknown>;
}
