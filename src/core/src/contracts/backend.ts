import type {Clock, RandomSource} from './clock.js';
import type {Logger} from './logger.js';
import type {LogLimiter} from '../util/log-limiter.js';
import type {StoreBackend} from './store.js';
import type {Transport} from './transport.js';
import type {WgDriver} from './wg-driver.js';
import type {PublicIdentity} from '../identity/identity.js';
import type {TlsIdentity} from '../certs/node-tls.js';
import type {z} from 'zod';
import {ConfigError} from '../errors.js';

/** The version of the backend contract. A factory with another version is refused. */
export const BACKEND_API_VERSION = 1;

/** Brand on factories made by {@link defineBackend}; a registered global symbol, so it survives two copies of core. */
export const BACKEND_BRAND: unique symbol = Symbol.for('@wgmesh/backend-factory') as never;

/** The kinds of swappable backend. */
export const BACKEND_KINDS = ['store', 'transport', 'wg'] as const;
/** A kind of swappable backend. */
export type BackendKind = (typeof BACKEND_KINDS)[number];

/** What each kind of backend creates. */
export interface BackendInstances {
  store: StoreBackend;
  transport: Transport;
  wg: WgDriver;
}

/** Everything a backend gets when it is created. */
export interface BackendContext {
  /** The config section named after the backend (unvalidated: the backend validates it). */
  config: unknown;
  /** The daemon's whole validated config, for shared keys such as `timeout`. */
  daemonConfig: Readonly<Record<string, unknown>>;
  /** Logger bound to the backend's name. */
  logger: Logger;
  /** The daemon's data directory; a backend keeps its files in a subdirectory named after itself. */
  dataDir: string;
  /** Aborted when the daemon stops. */
  signal: AbortSignal;
  /** The node's public identity. */
  identity: PublicIdentity;
  /**
   * The node's TLS identity: a certificate over its Ed25519 node key, issued
   * by the node itself at start, and that key. Given to the transport only
   * (absent for the other backends); a transport proves the node with it.
   */
  tls?: TlsIdentity;
  /** Injected time. */
  clock: Clock;
  /** Injected randomness. */
  random: RandomSource;
  /**
   * The daemon's limiter for log lines a remote can trigger at will (refusals);
   * what it suppresses is counted in the daemon's metrics. Absent in hand-made
   * contexts: the backend then makes its own (counted nowhere).
   */
  logLimiter?: LogLimiter;
}

/**
 * A plugin's entry point for one backend. `create` should `await import()` its
 * heavy dependencies so that listing backends loads nothing.
 */
export interface BackendFactory<K extends BackendKind = BackendKind> {
  readonly [BACKEND_BRAND]?: true;
  /** The kind of backend. */
  readonly kind: K;
  /** The name users select it by (`--store NAME`), unique per kind. */
  readonly name: string;
  /** Must equal {@link BACKEND_API_VERSION}. */
  readonly apiVersion: number;
  /** One line for `wgmesh backends`. */
  readonly description?: string;
  /** Build the backend. */
  create(context: BackendContext): Promise<BackendInstances[K]>;
}

/** What a plugin declares of a backend for {@link defineBackend}. */
export interface BackendDefinition<K extends BackendKind, C> extends Omit<BackendFactory<K>, typeof BACKEND_BRAND | 'apiVersion' | 'create'> {
  /**
   * The schema of the backend's config section (the key named after the
   * backend). When given, `create` gets the section parsed with it, defaults
   * applied, and a wrong section fails the daemon's start with a ConfigError
   * naming the key (see {@link parseBackendSection}).
   */
  readonly configSchema?: z.ZodType<C>;
  /** Build the backend; `config` is the parsed section, or the raw one without a `configSchema`. */
  create(context: BackendContext, config: C): Promise<BackendInstances[K]>;
}

/** Declare a backend factory (adds the brand, and parses the backend's config section when it declares a schema). */
export function defineBackend<K extends BackendKind, C = unknown>(definition: BackendDefinition<K, C>): BackendFactory<K> {
  const {configSchema, create, ...factory} = definition;
  return {
    ...factory,
    create: async (context) => create(context, configSchema === undefined ? (context.config as C) : parseBackendSection(factory.name, configSchema, context.config ?? undefined)),
    apiVersion: BACKEND_API_VERSION,
    [BACKEND_BRAND]: true,
  };
}

/** Structural check for a factory coming from another plugin (which may carry its own copy of core). */
export function isBackendFactory(value: unknown): value is BackendFactory {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate.kind === 'string' &&
    (BACKEND_KINDS as readonly string[]).includes(candidate.kind) &&
    typeof candidate.name === 'string' &&
    typeof candidate.apiVersion === 'number' &&
    typeof candidate.create === 'function'
  );
}

/**
 * Parse a backend's section of the daemon config with its schema.
 * @param section the section's key (`kernel`, `grpc`...), which names the key in the error.
 * @throws ConfigError naming the first wrong key (`section.path`) and its rule.
 */
export function parseBackendSection<T>(section: string, schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${section}.${issue.path.join('.')}` : section;
  throw new ConfigError(`config key ${where}: ${issue?.message ?? 'invalid'}`);
}
