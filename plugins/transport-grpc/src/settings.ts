/**
 * The transport's settings: the `grpc:` section of the daemon config
 * (validated here, since core leaves plugin sections to their plugin) plus the
 * shared daemon keys it uses (`gRPCPort`, `timeout`, the CA mode certificate
 * paths). The daemon keys are read defensively so that the transport can be
 * created from a hand-made context in tests.
 */
import {isIP} from 'node:net';
import {dirname, resolve} from 'node:path';
import {ConfigError, MAX_SYNC_MESSAGE_BYTES, parseBackendSection} from '@wgmesh/core';
import {z} from 'zod';

const MIB = 1024 * 1024;

/** Default cap on a whole join snapshot: 64 MiB (a mesh of tens of thousands of nodes fits). */
export const DEFAULT_MAX_SNAPSHOT_BYTES = 64 * MIB;
/** Default size of one snapshot chunk: the size of a sync message (1 MiB), the largest frame a member accepts. */
export const DEFAULT_SNAPSHOT_CHUNK_BYTES = MAX_SYNC_MESSAGE_BYTES;
/** Default cap on sync sessions a daemon answers at once. */
export const DEFAULT_MAX_CONCURRENT_SYNCS = 16;
/** Default cap on snapshots a daemon sends at once (each is held in memory whole while it is sent). */
export const DEFAULT_MAX_CONCURRENT_SNAPSHOTS = 4;
/** Default cap on connections from one remote address that have not finished the TLS handshake. */
export const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS = 32;
/** Default cap on bytes received on one connection and not yet handled: 4 MiB (four maximal frames). */
export const DEFAULT_MAX_BYTES_IN_FLIGHT_PER_CONNECTION = 4 * MIB;
/** Default cap on bytes received on all connections and not yet handled: 32 MiB. */
export const DEFAULT_MAX_BYTES_IN_FLIGHT = 32 * MIB;
/** Default of datagrams handled per second from one remote address (and its burst). */
export const DEFAULT_DATAGRAMS_PER_ADDRESS_PER_SECOND = 50;
/** Default cap on datagram requests in flight, in each direction. */
export const DEFAULT_MAX_DATAGRAMS_IN_FLIGHT = 256;
/** Default request time limit when the daemon config has none (ms); equal to core's `timeout` default. */
export const DEFAULT_TIMEOUT_MS = 5_000;
/** Default listen port when the daemon config has none; equal to core's `gRPCPort` default. */
export const DEFAULT_PORT = 4000;

function integer(fallback: number, min: number, max: number, unit: string) {
  const rule = `must be an integer number of ${unit} from ${min} to ${max}`;
  return z.number({error: rule}).int(rule).min(min, rule).max(max, rule).default(fallback);
}

/**
 * The `grpc:` section. Every key has a default. Durations are whole
 * milliseconds and say so in their name (`...Ms`), so the section cannot be
 * misread as seconds.
 */
export const grpcSectionSchema = z
  .strictObject({
    /** Address the control port binds to; `::` listens on IPv6 and IPv4 (dual stack). */
    listenAddress: z
      .string({error: 'must be an IPv4 or IPv6 address'})
      .refine((text) => isIP(text) !== 0, 'must be an IPv4 or IPv6 address (without brackets or port)')
      .default('::'),
    /** Largest whole join snapshot sent or accepted (it travels in chunks of `snapshotChunkBytes`). */
    maxSnapshotBytes: integer(DEFAULT_MAX_SNAPSHOT_BYTES, 64 * 1024, 1024 * MIB, 'bytes'),
    /** Size of the pieces a snapshot is streamed in; at most a sync message (1 MiB), the largest frame members accept. */
    snapshotChunkBytes: integer(DEFAULT_SNAPSHOT_CHUNK_BYTES, 1024, MAX_SYNC_MESSAGE_BYTES, 'bytes'),
    /** Sync sessions this daemon answers at once; one more is refused with RESOURCE_EXHAUSTED. */
    maxConcurrentSyncs: integer(DEFAULT_MAX_CONCURRENT_SYNCS, 1, 4096, 'sessions'),
    /** Snapshots this daemon sends at once; one more is refused with RESOURCE_EXHAUSTED (the joiner retries another member or later). */
    maxConcurrentSnapshots: integer(DEFAULT_MAX_CONCURRENT_SNAPSHOTS, 1, 1024, 'snapshots'),
    /** Inbound connections held at once (handshaking or established). */
    maxConnections: integer(1024, 1, 65_536, 'connections'),
    /**
     * Inbound connections from one remote address still in the TLS handshake;
     * more are closed at once. Established members do not count, so many
     * daemons behind one address (NAT, loopback) are not limited by it.
     */
    maxHandshakesPerAddress: integer(DEFAULT_MAX_HANDSHAKES_PER_ADDRESS, 1, 65_536, 'connections'),
    /** Bytes of requests received on one connection and not yet handled; a request beyond it is refused with RESOURCE_EXHAUSTED. */
    maxBytesInFlightPerConnection: integer(DEFAULT_MAX_BYTES_IN_FLIGHT_PER_CONNECTION, MAX_SYNC_MESSAGE_BYTES, 1024 * MIB, 'bytes'),
    /** Bytes of requests received on all connections and not yet handled; a request beyond it is refused with RESOURCE_EXHAUSTED. */
    maxBytesInFlight: integer(DEFAULT_MAX_BYTES_IN_FLIGHT, MAX_SYNC_MESSAGE_BYTES, 16 * 1024 * MIB, 'bytes'),
    /**
     * Datagrams (liveness messages over UDP) handled per second from one remote
     * address, with a burst of as many; more are dropped unanswered, and their
     * senders fall back to the stream path. A member sends a few per second.
     */
    datagramsPerAddressPerSecond: integer(DEFAULT_DATAGRAMS_PER_ADDRESS_PER_SECOND, 1, 1_000_000, 'datagrams'),
    /**
     * Datagram requests in flight at once, in each direction: sent and awaiting
     * a reply (one more goes by the stream path at once), and received and
     * being answered (one more is dropped unanswered).
     */
    maxDatagramsInFlight: integer(DEFAULT_MAX_DATAGRAMS_IN_FLIGHT, 1, 65_536, 'requests'),
    /**
     * Interval of HTTP/2 keepalive pings on each connection, from both ends (the
     * same value as client and as server). Five minutes keeps NAT and firewall
     * state alive (the shortest common idle timeout is ~350 s) without adding to
     * idle traffic: every request has its own deadline, and a stream whose
     * request times out drops its connection, so dead peers are found without pings.
     */
    keepaliveTimeMs: integer(300_000, 1_000, 86_400_000, 'milliseconds'),
    /** How long a keepalive ping may go unanswered before the connection is dropped. */
    keepaliveTimeoutMs: integer(10_000, 100, 600_000, 'milliseconds'),
    /** Upper bound on one snapshot download or sync session, however lively (each step still has `timeout`). */
    maxStreamDurationMs: integer(120_000, 1_000, 86_400_000, 'milliseconds'),
    /** Outbound connections kept open for reuse; the least recently used is closed beyond this. */
    maxCachedConnections: integer(256, 1, 65_536, 'connections'),
    /**
     * CA mode: check that the dialled host (name or IP) is listed in the
     * member's certificate, as HTTPS does. Turn off only where members
     * advertise addresses their certificates cannot list (the CA chain is
     * still checked). Without a CA no host name is checked: a node's
     * self-issued certificate lists none, and proves its node key instead.
     */
    verifyServerName: z.boolean({error: 'must be true or false'}).default(true),
    /**
     * Testing aid: a JSON file `{"blockOutbound": ["host:port"], "blockInbound": ["ip"]}`
     * re-read when it changes; matching calls fail as if the network dropped them.
     */
    faultInjectionFile: z
      .string({error: 'must be a path'})
      .min(1, 'must be a non-empty path')
      .nullable()
      .default(null),
  })
  .refine((section) => section.keepaliveTimeoutMs < section.keepaliveTimeMs, {
    message: 'keepaliveTimeoutMs must be less than keepaliveTimeMs',
    path: ['keepaliveTimeoutMs'],
  })
  .refine((section) => section.maxBytesInFlightPerConnection <= section.maxBytesInFlight, {
    message: 'maxBytesInFlightPerConnection must not exceed maxBytesInFlight',
    path: ['maxBytesInFlightPerConnection'],
  });

/** The validated `grpc:` section. */
export type GrpcSection = z.output<typeof grpcSectionSchema>;

/** Paths of this node's CA mode material. */
export interface TlsPaths {
  /** PEM certificate of the CA every member's certificate must chain to. */
  caCertificatePath: string;
  /** PEM certificate of this node, issued by that CA for the node key. */
  certificatePath: string;
  /** PEM private key of `certificatePath` (which is the node key); null = the node key from the identity. */
  privateKeyPath: string | null;
}

/** Everything the transport is configured with. */
export interface GrpcTransportSettings extends GrpcSection {
  /** Port to listen on; 0 picks a free one (`listen()` reports it). */
  port: number;
  /** Time limit of one request, and of each step of a stream (ms). */
  timeoutMs: number;
  /** CA mode's certificate paths, or null by default (the node's self-issued certificate). Partial sets are refused. */
  tls: TlsPaths | null;
}

const TLS_KEYS = ['caCertificatePath', 'certificatePath', 'privateKeyPath'] as const;

function optionalString(config: Readonly<Record<string, unknown>>, key: string): string | null {
  const value = config[key];
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw new ConfigError(`config key ${key}: must be a path`);
  return value;
}

function readPort(config: Readonly<Record<string, unknown>>): number {
  const value = config.gRPCPort;
  if (value === undefined || value === null) return DEFAULT_PORT;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ConfigError('config key gRPCPort: must be an integer port from 1 to 65535');
  }
  return value;
}

function readTimeout(config: Readonly<Record<string, unknown>>): number {
  // The parsed config names it `timeoutMs`; `timeout` is accepted as ms too for hand-made configs.
  const value = config.timeoutMs ?? config.timeout;
  if (value === undefined || value === null) return DEFAULT_TIMEOUT_MS;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError('config key timeout: must be a duration greater than 0');
  }
  return Math.ceil(value);
}

/** The keys CA mode needs; `privateKeyPath` is optional (the node key is the certificate's key). */
const CA_MODE_KEYS = ['caCertificatePath', 'certificatePath'] as const;

function readTlsPaths(config: Readonly<Record<string, unknown>>): TlsPaths | null {
  const values = Object.fromEntries(TLS_KEYS.map((key) => [key, optionalString(config, key)])) as Record<(typeof TLS_KEYS)[number], string | null>;
  if (TLS_KEYS.every((key) => values[key] === null)) return null;
  const missing = CA_MODE_KEYS.filter((key) => values[key] === null);
  if (missing.length > 0) {
    throw new ConfigError(
      `CA mode needs both caCertificatePath and certificatePath (privateKeyPath is optional); ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not set ` +
        "(make them with 'wgmesh certs init' and 'wgmesh certs issue --data-dir', or unset all three to use the node's own key without a CA)",
    );
  }
  return {caCertificatePath: values.caCertificatePath ?? '', certificatePath: values.certificatePath ?? '', privateKeyPath: values.privateKeyPath};
}

/**
 * Validate the `grpc:` section and combine it with the daemon keys.
 * @throws ConfigError naming the key and its rule.
 */
export function resolveSettings(section: unknown, daemonConfig: Readonly<Record<string, unknown>>): GrpcTransportSettings {
  const grpc = parseBackendSection('grpc', grpcSectionSchema, section ?? {});
  const configFile = typeof daemonConfig.configFile === 'string' ? daemonConfig.configFile : null;
  const faultInjectionFile =
    grpc.faultInjectionFile === null ? null : resolve(configFile ? dirname(configFile) : process.cwd(), grpc.faultInjectionFile);
  return {
    ...grpc,
    faultInjectionFile,
    port: readPort(daemonConfig),
    timeoutMs: readTimeout(daemonConfig),
    tls: readTlsPaths(daemonConfig),
  };
}
