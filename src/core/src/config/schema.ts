/**
 * The daemon's configuration schema. Every key has a default (so a daemon runs
 * with no file at all) and one rule, and every way a value can be wrong is
 * reported with that rule, so the user reads "key: must be ..." and nothing
 * about zod. Durations are normalised to milliseconds and renamed with an `Ms`
 * suffix in the parsed config, so no caller can mistake seconds for ms.
 */
import {isIP} from 'node:net';
import {resolve} from 'node:path';
import {z} from 'zod';
import {DEAD_PROBE_HORIZON_MS} from '../control/settings.js';
import {DIAL_BACKOFF} from '../control/dial-backoff.js';
import {ROLES} from '../model/record.js';
import {parseListenAddress} from '../runtime/endpoint.js';
import {DEFAULT_VERIFY_WORKERS, MAX_VERIFY_WORKERS} from '../runtime/verify-pool.js';
import {MAX_TIMER_MS, formatDurationMs, parseDurationMs} from './duration.js';
import {MAX_SOCKET_PATH_BYTES, socketPathFits, socketPathInDataDir} from './paths.js';

/** pino's levels, quietest last. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** A pino log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How the daemon writes its logs: `pretty` one-line coloured text, `json` pino JSON lines, `auto` pretty when stderr is a terminal. */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
/** How the daemon writes its logs. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** How a node learns its own public address: from outgoing connections, or from a public IP service. */
export const IP_DISCOVERY_MODES = ['outgoing', 'public'] as const;
/** How a node learns its own public address. */
export type IpDiscoveryMode = (typeof IP_DISCOVERY_MODES)[number];

/** Defaults of every key whose default does not depend on the host. Durations in ms. */
export const CONFIG_DEFAULTS = {
  store: 'twophase',
  transport: 'grpc',
  wgDriver: 'kernel',
  logLevel: 'info' as LogLevel,
  logFormat: 'auto' as LogFormat,
  ipcIdleTimeoutMs: 60_000,
  syncIntervalMs: 1_000,
  heartbeatIntervalMs: 2_000,
  pullIntervalMs: 20_000,
  timeoutMs: 5_000,
  gcHorizonMs: 24 * 3_600_000,
  deadProbeHorizonMs: DEAD_PROBE_HORIZON_MS,
  dialBackoffGraceMs: DIAL_BACKOFF.graceMs,
  dialBackoffMaxMs: DIAL_BACKOFF.capMs,
  controlDatagrams: true,
  maxClockSkewMs: 5 * 60_000,
  branch: 3,
  clusterSize: 64,
  interClusterChance: 0.15,
  infectionCount: 3,
  gRPCPort: 4000,
  dnsEnabled: false,
  dnsListen: '127.0.0.1:5353',
  metricsEnabled: false,
  metricsListen: '127.0.0.1:9474',
  natTraversal: false,
  natPunchTimeoutMs: 8_000,
  natMaxPunches: 8,
  natMaxDirectPaths: 32,
  verifyWorkers: DEFAULT_VERIFY_WORKERS,
  apiEnabled: false,
  apiListen: '127.0.0.1:9475',
  apiAllowRemote: false,
  apiCorsOrigins: [] as string[],
  apiMaxBodyBytes: 65_536,
  apiRateLimit: 20,
  apiRateBurst: 100,
  apiMaxStreams: 64,
  baseConfiguration: {
    role: 'peer' as (typeof ROLES)[number],
    ipDiscovery: 'outgoing' as IpDiscoveryMode,
    publicEndpoint: null,
    advertiseRoute: false,
    advertiseDefaults: false,
    keepAliveWg: 0,
    clientKeepAliveWg: 25,
  },
} as const;

// Timer-driven keys stop at a whole number of days below Node's timer limit.
const MAX_INTERVAL_MS = Math.floor(MAX_TIMER_MS / 86_400_000) * 86_400_000;
const MAX_GC_HORIZON_MS = 3650 * 86_400_000;

/** What the schema needs from the place the config comes from. */
export interface SchemaContext {
  /** Relative paths in the file are relative to this directory (the file's own). */
  baseDir: string;
  /** The data directory when the file does not name one. */
  defaultDataDir: string;
  /** The socket when neither `socket` nor `dataDir` is set (with `dataDir` set, the socket is `<dataDir>/wgmesh.sock`). */
  defaultSocket: string;
}

function backendName(kind: string, fallback: string) {
  const rule = `must be a ${kind} backend name: a letter or digit, then letters, digits, '.', '_' or '-' (see 'wgmesh backends')`;
  return z
    .string({error: rule})
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, rule)
    .default(fallback);
}

function pathText() {
  const rule = 'must be a non-empty path';
  return z.string({error: rule}).min(1, rule).refine((p) => !p.includes('\0'), rule);
}

function optionalPath(ctx: SchemaContext) {
  return pathText()
    .nullable()
    .default(null)
    .transform((p) => (p === null ? null : resolve(ctx.baseDir, p)));
}

interface DurationRule {
  min: number;
  /** Whether `min` itself is allowed. */
  inclusive: boolean;
  max: number;
  /** What to say when the value is below the minimum or not a duration. */
  rule: string;
}

function duration(fallbackMs: number, {min, inclusive, max, rule}: DurationRule) {
  const tooLong = `must be a duration of at most ${formatDurationMs(max)}`;
  return z
    .unknown()
    .transform((value, ctx): number => {
      const ms = parseDurationMs(value);
      if (ms === undefined || ms < min || (!inclusive && ms === min)) {
        ctx.issues.push({code: 'custom', message: rule, input: value});
        return z.NEVER;
      }
      if (ms > max) {
        ctx.issues.push({code: 'custom', message: tooLong, input: value});
        return z.NEVER;
      }
      return ms;
    })
    .default(fallbackMs);
}

const positiveInterval = (fallbackMs: number) =>
  duration(fallbackMs, {min: 0, inclusive: false, max: MAX_INTERVAL_MS, rule: 'must be a duration greater than 0'});

function integer(fallback: number, min: number, max: number | undefined, rule: string) {
  const base = z.number({error: rule}).int(rule).min(min, rule);
  return (max === undefined ? base : base.max(max, rule)).default(fallback);
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) {
  return z.enum(values, {error: `must be one of ${values.join(', ')}`}).default(fallback);
}

function flag(fallback: boolean) {
  return z.boolean({error: 'must be true or false'}).default(fallback);
}

// A group name as groupadd(8) accepts it, or a numeric gid.
const GROUP_NAME = /^(?:[a-z_][a-z0-9_-]{0,30}\$?|[0-9]{1,10})$/;

function socketGroup() {
  const rule = 'must be a group name (as groupadd accepts) or a numeric gid';
  return z
    .union([z.string(), z.number()], {error: rule})
    .transform((value) => String(value))
    .refine((value) => GROUP_NAME.test(value) && (!/^[0-9]+$/.test(value) || Number(value) < 2 ** 32 - 1), rule)
    .nullable()
    .default(null);
}

// RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
const HOST_NAME = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function endpointHost() {
  const rule = 'must be a host name, an IPv4 address or an IPv6 address, without a port';
  return z
    .string({error: rule})
    .refine((host) => isIP(host) !== 0 || HOST_NAME.test(host), rule)
    .nullable()
    .default(null);
}

function hookList() {
  const rule = 'must be a list of non-empty command strings';
  return z.array(z.string({error: rule}).min(1, rule), {error: rule}).default([]);
}

/** A local listen address of one of the daemon's own servers: `IPv4:PORT` or `[IPv6]:PORT`. */
function listenAddress(fallback: string) {
  const rule = 'must be a local listen address: IPv4:PORT or [IPv6]:PORT with a port from 0 to 65535 (0: any free port)';
  return z
    .string({error: rule})
    .refine((text) => {
      try {
        parseListenAddress(text);
        return true;
      } catch {
        return false;
      }
    }, rule)
    .default(fallback);
}

/** Origins allowed to call the HTTP API from a browser: `scheme://host[:port]`, nothing else. */
function corsOrigins() {
  const rule = 'must be a list of origins such as https://admin.example.com or http://localhost:8080 (scheme, host and optional port; no path)';
  return z
    .array(
      z.string({error: rule}).refine((text) => {
        try {
          const url = new URL(text);
          return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text;
        } catch {
          return false;
        }
      }, rule),
      {error: rule},
    )
    .max(64, 'must list at most 64 origins')
    .default([]);
}

/** The keys of `baseConfiguration`: defaults for the meshes this node creates or joins. */
export const baseConfigurationShape = {
  role: oneOf(ROLES, CONFIG_DEFAULTS.baseConfiguration.role),
  ipDiscovery: oneOf(IP_DISCOVERY_MODES, CONFIG_DEFAULTS.baseConfiguration.ipDiscovery),
  publicEndpoint: endpointHost(),
  advertiseRoute: flag(CONFIG_DEFAULTS.baseConfiguration.advertiseRoute),
  advertiseDefaults: flag(CONFIG_DEFAULTS.baseConfiguration.advertiseDefaults),
  keepAliveWg: integer(CONFIG_DEFAULTS.baseConfiguration.keepAliveWg, 0, 65535, 'must be an integer number of seconds from 0 to 65535'),
  clientKeepAliveWg: integer(CONFIG_DEFAULTS.baseConfiguration.clientKeepAliveWg, 0, 65535, 'must be an integer number of seconds from 0 to 65535'),
  preUp: hookList(),
  postUp: hookList(),
  preDown: hookList(),
  postDown: hookList(),
};

/** Names of the `baseConfiguration` keys. */
export const BASE_CONFIGURATION_KEYS = Object.keys(baseConfigurationShape) as (keyof typeof baseConfigurationShape)[];

function baseConfiguration() {
  const keys = BASE_CONFIGURATION_KEYS.join(', ');
  return z
    .strictObject(baseConfigurationShape, {
      error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown key; valid keys are ${keys}` : 'must be a mapping'),
    })
    .default(() => z.strictObject(baseConfigurationShape).parse({}));
}

/** The top-level keys as they are written in the file (durations still in file units). */
function topLevelShape(ctx: SchemaContext) {
  const d = CONFIG_DEFAULTS;
  return {
    store: backendName('store', d.store),
    transport: backendName('transport', d.transport),
    wgDriver: backendName('WireGuard driver', d.wgDriver),
    // Optional here: whether it was set decides the default socket after parsing.
    dataDir: pathText()
      .optional()
      .transform((p) => (p === undefined ? undefined : resolve(ctx.baseDir, p))),
    socket: pathText()
      .optional()
      .transform((p) => (p === undefined ? undefined : resolve(ctx.baseDir, p)))
      .refine((p) => p === undefined || socketPathFits(p), `must be a path of at most ${MAX_SOCKET_PATH_BYTES} bytes (the limit for a Unix socket)`),
    socketGroup: socketGroup(),
    logLevel: oneOf(LOG_LEVELS, d.logLevel),
    logFormat: oneOf(LOG_FORMATS, d.logFormat),
    ipcIdleTimeout: positiveInterval(d.ipcIdleTimeoutMs),
    syncInterval: positiveInterval(d.syncIntervalMs),
    heartbeatInterval: positiveInterval(d.heartbeatIntervalMs),
    pullInterval: duration(d.pullIntervalMs, {
      min: 0,
      inclusive: true,
      max: MAX_INTERVAL_MS,
      rule: 'must be a duration greater than or equal to 0 (0 disables pulling)',
    }),
    timeout: positiveInterval(d.timeoutMs),
    gcHorizon: duration(d.gcHorizonMs, {min: 3_600_000, inclusive: true, max: MAX_GC_HORIZON_MS, rule: 'must be a duration of at least 1h'}),
    deadProbeHorizon: duration(d.deadProbeHorizonMs, {
      min: 0,
      inclusive: true,
      max: MAX_INTERVAL_MS,
      rule: 'must be a duration greater than or equal to 0 (0: only the keeper of a dead member tries it)',
    }),
    dialBackoffGrace: duration(d.dialBackoffGraceMs, {min: 0, inclusive: true, max: MAX_INTERVAL_MS, rule: 'must be a duration greater than or equal to 0'}),
    dialBackoffMax: duration(d.dialBackoffMaxMs, {min: 1000, inclusive: true, max: MAX_INTERVAL_MS, rule: 'must be a duration of at least 1s'}),
    controlDatagrams: flag(d.controlDatagrams),
    maxClockSkew: positiveInterval(d.maxClockSkewMs),
    branch: integer(d.branch, 1, undefined, 'must be an integer greater than or equal to 1'),
    clusterSize: integer(d.clusterSize, 1, 65536, 'must be an integer from 1 to 65536'),
    interClusterChance: z
      .number({error: 'must be a number from 0 to 1'})
      .min(0, 'must be a number from 0 to 1')
      .max(1, 'must be a number from 0 to 1')
      .default(d.interClusterChance),
    infectionCount: integer(d.infectionCount, 1, undefined, 'must be an integer greater than or equal to 1'),
    gRPCPort: integer(d.gRPCPort, 1, 65535, 'must be an integer port from 1 to 65535'),
    certificatePath: optionalPath(ctx),
    privateKeyPath: optionalPath(ctx),
    caCertificatePath: optionalPath(ctx),
    dnsEnabled: flag(d.dnsEnabled),
    dnsListen: listenAddress(d.dnsListen),
    metricsEnabled: flag(d.metricsEnabled),
    metricsListen: listenAddress(d.metricsListen),
    natTraversal: flag(d.natTraversal),
    natPunchTimeout: duration(d.natPunchTimeoutMs, {min: 1_000, inclusive: true, max: 600_000, rule: 'must be a duration of at least 1s'}),
    natMaxPunches: integer(d.natMaxPunches, 0, 1024, 'must be an integer from 0 to 1024 (0: no hole punching)'),
    natMaxDirectPaths: integer(d.natMaxDirectPaths, 0, 4096, 'must be an integer from 0 to 4096 (0: no hole punching)'),
    verifyWorkers: integer(d.verifyWorkers, 0, MAX_VERIFY_WORKERS, `must be an integer from 0 to ${MAX_VERIFY_WORKERS} (0: check on the main thread)`),
    apiEnabled: flag(d.apiEnabled),
    apiListen: listenAddress(d.apiListen),
    apiAllowRemote: flag(d.apiAllowRemote),
    apiCorsOrigins: corsOrigins(),
    apiMaxBodyBytes: integer(d.apiMaxBodyBytes, 1024, 16 * 1024 * 1024, 'must be an integer number of bytes from 1024 to 16777216'),
    apiRateLimit: z
      .number({error: 'must be a number of requests per second greater than 0, at most 100000'})
      .gt(0, 'must be a number of requests per second greater than 0, at most 100000')
      .max(100_000, 'must be a number of requests per second greater than 0, at most 100000')
      .default(d.apiRateLimit),
    apiRateBurst: integer(d.apiRateBurst, 1, 1_000_000, 'must be an integer from 1 to 1000000'),
    apiMaxStreams: integer(d.apiMaxStreams, 1, 4096, 'must be an integer from 1 to 4096'),
    baseConfiguration: baseConfiguration(),
  };
}

/** Every top-level key the schema knows (plugin sections aside), in documentation order. */
export const CONFIG_KEYS = Object.keys(topLevelShape({baseDir: '/', defaultDataDir: '/', defaultSocket: '/'})) as (keyof ReturnType<typeof topLevelShape>)[];

/**
 * The schema of a whole config file. Unknown top-level keys whose value is a
 * mapping are kept as plugin sections (validated later by the plugin named
 * after them); any other unknown key is an error listing the valid keys.
 */
export function configSchema(ctx: SchemaContext) {
  const shape = topLevelShape(ctx);
  const unknownKey = `unknown key; valid keys are ${CONFIG_KEYS.join(', ')} (a mapping under any other key is a backend's section)`;
  return z
    .object(shape)
    .catchall(z.record(z.string(), z.unknown(), {error: unknownKey}))
    .transform((parsed, tx) => {
      const sections: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(parsed)) {
        if (!Object.hasOwn(shape, key)) sections[key] = value;
      }
      const dataDir = parsed.dataDir ?? ctx.defaultDataDir;
      const socket = parsed.socket ?? (parsed.dataDir === undefined ? ctx.defaultSocket : socketPathInDataDir(parsed.dataDir));
      if (!socketPathFits(socket)) {
        tx.issues.push({
          code: 'custom',
          path: ['socket'],
          input: socket,
          message: `the default ${socket} is over the ${MAX_SOCKET_PATH_BYTES}-byte limit for a Unix socket path; set socket to a shorter path`,
        });
      }
      return {
        store: parsed.store,
        transport: parsed.transport,
        wgDriver: parsed.wgDriver,
        dataDir,
        socket,
        socketGroup: parsed.socketGroup,
        logLevel: parsed.logLevel,
        logFormat: parsed.logFormat,
        ipcIdleTimeoutMs: parsed.ipcIdleTimeout,
        syncIntervalMs: parsed.syncInterval,
        heartbeatIntervalMs: parsed.heartbeatInterval,
        pullIntervalMs: parsed.pullInterval,
        timeoutMs: parsed.timeout,
        gcHorizonMs: parsed.gcHorizon,
        deadProbeHorizonMs: parsed.deadProbeHorizon,
        dialBackoffGraceMs: parsed.dialBackoffGrace,
        dialBackoffMaxMs: parsed.dialBackoffMax,
        controlDatagrams: parsed.controlDatagrams,
        maxClockSkewMs: parsed.maxClockSkew,
        branch: parsed.branch,
        clusterSize: parsed.clusterSize,
        interClusterChance: parsed.interClusterChance,
        infectionCount: parsed.infectionCount,
        gRPCPort: parsed.gRPCPort,
        certificatePath: parsed.certificatePath,
        privateKeyPath: parsed.privateKeyPath,
        caCertificatePath: parsed.caCertificatePath,
        dnsEnabled: parsed.dnsEnabled,
        dnsListen: parsed.dnsListen,
        metricsEnabled: parsed.metricsEnabled,
        metricsListen: parsed.metricsListen,
        natTraversal: parsed.natTraversal,
        natPunchTimeoutMs: parsed.natPunchTimeout,
        natMaxPunches: parsed.natMaxPunches,
        natMaxDirectPaths: parsed.natMaxDirectPaths,
        verifyWorkers: parsed.verifyWorkers,
        apiEnabled: parsed.apiEnabled,
        apiListen: parsed.apiListen,
        apiAllowRemote: parsed.apiAllowRemote,
        apiCorsOrigins: parsed.apiCorsOrigins,
        apiMaxBodyBytes: parsed.apiMaxBodyBytes,
        apiRateLimit: parsed.apiRateLimit,
        apiRateBurst: parsed.apiRateBurst,
        apiMaxStreams: parsed.apiMaxStreams,
        baseConfiguration: parsed.baseConfiguration,
        sections,
      };
    });
}

/** The validated `baseConfiguration`: defaults for meshes this node creates or joins (`publicEndpoint` null when unset). */
export type BaseConfiguration = z.output<ReturnType<typeof baseConfiguration>>;

/** The daemon's validated settings as parsed from a file (durations in ms, paths absolute). */
export type ParsedConfig = z.output<ReturnType<typeof configSchema>>;

/**
 * The daemon's validated configuration: {@link ParsedConfig} plus the file it
 * came from (`null` when no file was read and every value is a default or a flag).
 */
export type DaemonConfig = ParsedConfig & {configFile: string | null};
