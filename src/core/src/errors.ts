/**
 * Named error classes. Every error a user can meet says what was wrong and what
 * to do; the CLI prints `message` alone (never a stack) and exits non-zero.
 *
 * Each class has a `static readonly code`, unique among all classes, and each
 * error's `code` is its class's: the string that crosses the IPC socket, the
 * HTTP API and the control plane. In a process, errors are told apart by
 * class (`instanceof`), never by comparing codes; an error that crossed a
 * process boundary is rebuilt into its class from its code by
 * {@link errorFromWire}, with the table {@link WIRE_ERRORS}.
 */

/**
 * Brand of every wgmesh error. A plugin may carry its own copy of
 * @wgmesh/core, whose classes are other objects: `instanceof` falls back to
 * this brand and the class's code (see {@link WgmeshError}).
 */
const BRAND = Symbol.for('@wgmesh/error');

/** Base class: an error whose message is written for the user. Not thrown itself: every error is of a subclass with a code. */
export abstract class WgmeshError extends Error {
  /** The stable machine-readable code of this class's errors; each concrete class sets its own. */
  declare static readonly code: string;

  /** This error's code: its class's, carried over IPC and HTTP and printed with --json. */
  readonly code: string;

  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options);
    this.name = new.target.name;
    this.code = (new.target as unknown as {code: string}).code;
  }

  /**
   * `error instanceof C`: by the prototype chain, or, for an error made by
   * another copy of @wgmesh/core, by its brand and C's own code (any branded
   * error for WgmeshError itself).
   */
  static override [Symbol.hasInstance](this: abstract new (...args: never[]) => unknown, value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (!(value instanceof Error) || (value as unknown as Record<symbol, unknown>)[BRAND] !== true) return false;
    if (this === WgmeshError) return true;
    return Object.hasOwn(this, 'code') && (value as {code?: unknown}).code === (this as unknown as {code: string}).code;
  }
}
Object.defineProperty(WgmeshError.prototype, BRAND, {value: true});

/** A concrete error class: a code of its own, and made from a message by {@link errorFromWire}. */
export type WgmeshErrorClass = (abstract new (...args: never[]) => WgmeshError) & {readonly code: string};

/** Bytes from the network or disk that do not decode or do not match their schema. */
export class DecodeError extends WgmeshError {
  static override readonly code = 'DECODE';
}

/** An entry that failed verification (signature, id, address, mesh, time). */
export class EntryRejectedError extends WgmeshError {
  static override readonly code = 'ENTRY_REJECTED';
}

/** A sync session given up on: the peer sent entries that no honest replica holds. */
export class InvalidEntriesError extends WgmeshError {
  static override readonly code = 'INVALID_ENTRIES';
}

/** Invalid user input: a flag, an argument, an id. */
export class InvalidInputError extends WgmeshError {
  static override readonly code = 'INVALID_INPUT';
}

/** A configuration file or value that does not validate; names the key and the rule. */
export class ConfigError extends WgmeshError {
  static override readonly code = 'CONFIG';
}

/** A mesh id this node is not a member of. */
export class UnknownMeshError extends WgmeshError {
  static override readonly code = 'UNKNOWN_MESH';

  constructor(meshId: string) {
    super(`this node is not a member of mesh ${meshId} (see 'wgmesh mesh list')`);
  }
}

/** A join went through a member that does not know the invite's mesh (or will not say). */
export class MeshUnknownAtMemberError extends WgmeshError {
  static override readonly code = 'UNKNOWN_MESH_AT_MEMBER';

  constructor(meshId: string, member: string) {
    super(`mesh ${meshId} is unknown at ${member}: check the invite, or join through a member of that mesh`);
  }
}

/**
 * This node's clock and a member's differ by more than `maxClockSkew`: one of
 * them would refuse everything the other writes as dated in the future.
 */
export class ClockSkewError extends WgmeshError {
  static override readonly code = 'CLOCK_SKEW';

  /**
   * @param member the member's control endpoint
   * @param offsetMs the member's clock minus this node's
   * @param maxClockSkewMs the allowed difference
   */
  constructor(member: string, offsetMs: number, maxClockSkewMs: number) {
    const seconds = Math.round(Math.abs(offsetMs) / 1000);
    const whose = offsetMs > 0 ? `the member's entries would be dated ${seconds} s in the future here` : `this node's entries would be dated ${seconds} s in the future at the member`;
    super(
      `this node's clock is ${seconds} s ${offsetMs > 0 ? 'behind' : 'ahead of'} the clock of the member at ${member}: ${whose}, more than maxClockSkew (${maxClockSkewMs / 1000} s) allows; fix the clock (NTP) of the host that is wrong, or raise maxClockSkew on every member`,
    );
  }
}

/** Backend registry problems: unknown names, duplicates, bad plugins. */
export class BackendError extends WgmeshError {
  static override readonly code = 'BACKEND';
}

/** A join asked of a daemon that has no transport installed. */
export class NoTransportError extends WgmeshError {
  static override readonly code = 'NO_TRANSPORT';

  constructor() {
    super(`cannot join: no transport is installed (the default is grpc; see 'wgmesh backends')`);
  }
}

/** The daemon is not running at the socket the CLI tried. */
export class DaemonNotRunningError extends WgmeshError {
  static override readonly code = 'DAEMON_NOT_RUNNING';

  constructor(socketPath: string) {
    super(`the wgmesh daemon is not running at ${socketPath}; start it with 'wgmesh daemon' (or point --socket / WGMESH_SOCKET at a running one)`);
  }
}

/** A member could not be reached over the control plane (down, partitioned, refused). */
export class PeerUnreachableError extends WgmeshError {
  static override readonly code = 'PEER_UNREACHABLE';

  constructor(endpoint: string, reason: string) {
    super(`could not reach ${endpoint}: ${reason}`);
  }
}

/** A member answered a datagram request by asking for the stream path instead (its reply would not fit in a datagram). */
export class DatagramDeclinedError extends WgmeshError {
  static override readonly code = 'DATAGRAM_DECLINED';
}

/** A member answered a control request with a refusal (its reason is in the message). */
export class ControlRefusedError extends WgmeshError {
  static override readonly code = 'CONTROL_REFUSED';
}

/** A member answered a control request with a reply of the wrong kind. */
export class ControlProtocolError extends WgmeshError {
  static override readonly code = 'CONTROL_PROTOCOL';
}

/** A member answered a join request with something other than a join answer. */
export class BadReplyError extends WgmeshError {
  static override readonly code = 'BAD_REPLY';
}

/** A WireGuard driver could not do what it was asked (bad spec, missing interface, failed tool); names the interface. */
export class WgDriverError extends WgmeshError {
  static override readonly code = 'WG_DRIVER';
}

/** Another daemon already answers on the IPC socket this daemon was told to use. */
export class DaemonAlreadyRunningError extends WgmeshError {
  static override readonly code = 'DAEMON_ALREADY_RUNNING';

  constructor(socketPath: string, pid?: number) {
    super(
      `another wgmesh daemon is already running at ${socketPath}${pid === undefined ? '' : ` (pid ${pid})`}; stop it first, or give this one another --socket and --data-dir`,
    );
  }
}

/** Another live process holds the data dir's lock (two daemons writing the same state files would corrupt each other). */
export class DataDirLockedError extends WgmeshError {
  static override readonly code = 'DATA_DIR_LOCKED';

  /**
   * @param dataDir the data dir
   * @param pid the process that holds the lock, when known
   */
  constructor(dataDir: string, pid?: number) {
    super(
      pid === undefined
        ? `another process keeps taking the lock of the data dir ${dataDir}; stop the other wgmesh daemon that uses it, or use another --data-dir`
        : `another wgmesh daemon (pid ${pid}) is already using the data dir ${dataDir}; stop it first or use another --data-dir`,
    );
  }
}

/** The IPC socket exists but this user may not connect to it (mode 0600, or 0660 with a group this user is not in). */
export class IpcPermissionError extends WgmeshError {
  static override readonly code = 'IPC_PERMISSION';

  constructor(socketPath: string) {
    super(
      `permission denied on the wgmesh daemon socket ${socketPath}; run this command as root or as the user the daemon runs as, ` +
        "or as a member of the group the daemon's config names in socketGroup (log in again after being added to it)",
    );
  }
}

/** A failure talking to the daemon that is not the daemon's answer: a timeout, a broken frame, a dropped connection. */
export class IpcError extends WgmeshError {
  static override readonly code = 'IPC';
}

/** An IPC frame that is not UTF-8 JSON or not a request (or reply) of the protocol. */
export class BadFrameError extends WgmeshError {
  static override readonly code = 'BAD_FRAME';
}

/** An IPC request frame over the daemon's size limit; the daemon closes the connection after saying so. */
export class FrameTooLargeError extends WgmeshError {
  static override readonly code = 'FRAME_TOO_LARGE';
}

/** An IPC request of a protocol version the daemon does not speak. */
export class ProtocolVersionError extends WgmeshError {
  static override readonly code = 'PROTOCOL_VERSION';
}

/** An IPC method the daemon does not serve. */
export class UnknownMethodError extends WgmeshError {
  static override readonly code = 'UNKNOWN_METHOD';
}

/** The other side (daemon, member) failed unexpectedly while handling a request; the details are in its log only. */
export class InternalError extends WgmeshError {
  static override readonly code = 'INTERNAL';
}

/**
 * An error another process answered with whose code this build does not know
 * (a newer daemon's, or a plugin's): `code` and `message` are the other side's.
 */
export class RemoteError extends WgmeshError {
  override readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** An external program wgmesh needs for one feature is not installed; says how to get it. */
export class MissingToolError extends WgmeshError {
  static override readonly code = 'MISSING_TOOL';

  constructor(tool: string, purpose: string, remedy: string) {
    super(`${purpose} needs '${tool}', which is not installed or not on PATH; ${remedy}`);
  }
}

/** An SVG graph was asked of a daemon whose host has no Graphviz `dot`. */
export class GraphvizMissingError extends WgmeshError {
  static override readonly code = 'DOT_MISSING';
}

/** Graphviz could not be run or failed to lay out a graph. */
export class GraphvizError extends WgmeshError {
  static override readonly code = 'GRAPHVIZ';
}

/**
 * One of the daemon's own servers (DNS, metrics) could not bind its listen
 * address; names the server, the address, the cause and the config key to change.
 */
export class ListenError extends WgmeshError {
  static override readonly code = 'LISTEN';

  constructor(server: string, address: string, configKey: string, cause: unknown) {
    const errno = (cause as {code?: unknown} | null)?.code;
    const reason =
      errno === 'EADDRINUSE'
        ? 'the address is already in use (another program, or another wgmesh daemon?)'
        : errno === 'EADDRNOTAVAIL'
          ? 'no interface of this host has that address'
          : errno === 'EACCES'
            ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
            : cause instanceof Error
              ? cause.message
              : String(cause);
    super(`cannot serve ${server} on ${address}: ${reason}; set ${configKey} to a free address, or stop the other program`, {cause});
  }
}

/** A file could not be written because its file system is full; names the device and the file. The old file is unchanged. */
export class DiskFullError extends WgmeshError {
  static override readonly code = 'NO_SPACE';
}

/** The data dir holds meshes but not the identity of the node that is in them: starting would make a new node. */
export class IdentityMissingError extends WgmeshError {
  static override readonly code = 'IDENTITY_MISSING';
}

/** The data dir's format is one this wgmesh cannot read (newer, or an unreadable format file). */
export class DataDirFormatError extends WgmeshError {
  static override readonly code = 'DATA_DIR_FORMAT';
}

/** The daemon is still restoring its meshes and cannot answer yet without showing part of them. */
export class DaemonStartingError extends WgmeshError {
  static override readonly code = 'STARTING';
}

/** A member refused this node's join (invite expired, used up or revoked; node revoked). */
export class JoinRefusedError extends WgmeshError {
  static override readonly code = 'JOIN_REFUSED';
}

/** A join failed through every member the invite names, none of them with an error of its own. */
export class JoinFailedError extends WgmeshError {
  static override readonly code = 'JOIN_FAILED';

  constructor(meshId: string) {
    super(`could not join mesh ${meshId} through any member the invite names; check that one of them is up, or give one with --via <host:port>`);
  }
}

/** Two daemons run different stores for one mesh, so they cannot exchange its state. */
export class StoreMismatchError extends WgmeshError {
  static override readonly code = 'STORE_MISMATCH';
}

/** An operation only an admin of the mesh may do, asked of a node that is not one. */
export class NotAdminError extends WgmeshError {
  static override readonly code = 'NOT_ADMIN';

  constructor(meshId: string) {
    super(`this node is not an admin of mesh ${meshId}: run this on the node that created it, or import its admin key with 'wgmesh mesh admin import'`);
  }
}

/** This node would advertise a control endpoint host that members refuse (its certificate does not list it); says what to do. */
export class AdvertisedHostError extends WgmeshError {
  static override readonly code = 'ADVERTISED_HOST';
}

/** Some meshes' interfaces could not take the new WireGuard key (the key itself is stored and published). */
export class KeyRotationError extends WgmeshError {
  static override readonly code = 'KEY_ROTATION';
}

/** The UDP port asked for a WireGuard interface is taken by another program or interface. */
export class PortInUseError extends WgmeshError {
  static override readonly code = 'PORT_IN_USE';

  /** The port that is taken (undefined on an error rebuilt from another process's answer). */
  readonly port?: number;

  constructor(port: number) {
    super(`UDP port ${port} is already in use on this host: choose another port, or 0 to let wgmesh pick a free one`);
    this.port = port;
  }
}

/**
 * A WireGuard interface vanished while an operation on it ran (its
 * userspace process exited, or its link was deleted). The driver that reports
 * it supervises the interface: it rebuilds it and then reports it restored
 * (see WgDriver.onInterfaceEvent), so the operation is applied again then.
 */
export class WgInterfaceGoneError extends WgmeshError {
  static override readonly code = 'WG_INTERFACE_GONE';

  /** The interface (undefined on an error rebuilt from another process's answer). */
  readonly interfaceName?: string;

  constructor(interfaceName: string, detail: string, options?: {cause?: unknown}) {
    super(`interface ${interfaceName} disappeared during the operation (${detail}); it is applied again once the interface is rebuilt`, options);
    this.interfaceName = interfaceName;
  }
}

/** The API refused a request without a valid bearer token. */
export class UnauthorizedError extends WgmeshError {
  static override readonly code = 'UNAUTHORIZED';

  constructor() {
    super("missing or wrong bearer token: send 'Authorization: Bearer <token>' with the token 'wgmesh api token' prints");
  }
}

/** A client sent more requests than the per-client rate allows. */
export class RateLimitedError extends WgmeshError {
  static override readonly code = 'RATE_LIMITED';

  constructor(client: string, retryAfterSeconds: number) {
    super(`too many requests from ${client}: retry in ${retryAfterSeconds} s`);
  }
}

/** A request body over apiMaxBodyBytes. */
export class PayloadTooLargeError extends WgmeshError {
  static override readonly code = 'PAYLOAD_TOO_LARGE';

  constructor(maxBodyBytes: number) {
    super(`the request body is over the limit of ${maxBodyBytes} bytes (apiMaxBodyBytes)`);
  }
}

/** A path the HTTP server does not serve. */
export class RouteNotFoundError extends WgmeshError {
  static override readonly code = 'NOT_FOUND';
}

/** The HTTP API's cap on open event streams (apiMaxStreams) is reached. */
export class TooManySubscribersError extends WgmeshError {
  static override readonly code = 'TOO_MANY_STREAMS';

  constructor(max: number) {
    super(`too many open event streams (at most ${max}); close one and retry`);
  }
}

/**
 * A table from code to class. Throws when two classes share a code: a code
 * has one meaning.
 */
export function wireErrorTable(classes: Iterable<WgmeshErrorClass>): ReadonlyMap<string, WgmeshErrorClass> {
  const table = new Map<string, WgmeshErrorClass>();
  for (const type of classes) {
    const taken = table.get(type.code);
    if (taken !== undefined && taken !== type) throw new TypeError(`error code ${type.code} belongs to both ${taken.name} and ${type.name}`);
    table.set(type.code, type);
  }
  return table;
}

/** Every core error class that can reach another process (over IPC, HTTP or the control plane), by code. */
export const WIRE_ERRORS: ReadonlyMap<string, WgmeshErrorClass> = wireErrorTable([
  DecodeError,
  EntryRejectedError,
  InvalidEntriesError,
  InvalidInputError,
  ConfigError,
  UnknownMeshError,
  MeshUnknownAtMemberError,
  ClockSkewError,
  BackendError,
  NoTransportError,
  DaemonNotRunningError,
  PeerUnreachableError,
  DatagramDeclinedError,
  ControlRefusedError,
  ControlProtocolError,
  BadReplyError,
  WgDriverError,
  DaemonAlreadyRunningError,
  DataDirLockedError,
  IpcPermissionError,
  IpcError,
  BadFrameError,
  FrameTooLargeError,
  ProtocolVersionError,
  UnknownMethodError,
  InternalError,
  MissingToolError,
  GraphvizMissingError,
  GraphvizError,
  ListenError,
  DiskFullError,
  IdentityMissingError,
  DataDirFormatError,
  DaemonStartingError,
  JoinRefusedError,
  JoinFailedError,
  StoreMismatchError,
  NotAdminError,
  AdvertisedHostError,
  KeyRotationError,
  PortInUseError,
  WgInterfaceGoneError,
  UnauthorizedError,
  RateLimitedError,
  PayloadTooLargeError,
  RouteNotFoundError,
  TooManySubscribersError,
]);

/**
 * The error another process answered with, rebuilt into its class from its
 * code with the other side's message (fields beyond code and message are not
 * carried); a code not in `table` gives a {@link RemoteError}. `code` and
 * `message` must already be validated and bounded by the caller's wire format.
 */
export function errorFromWire(code: string, message: string, table: ReadonlyMap<string, WgmeshErrorClass> = WIRE_ERRORS): WgmeshError {
  const type = table.get(code);
  if (type === undefined) return new RemoteError(code, message);
  // The base constructor, with the class as new.target: the subclass's constructor would write its own message.
  return Reflect.construct(WgmeshError, [message], type) as WgmeshError;
}
