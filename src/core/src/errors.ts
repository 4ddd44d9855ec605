/**
 * Named error classes. Every error a user can meet says what was wrong and what
 * to do; the CLI prints `message` alone (never a stack) and exits non-zero.
 */

/** Base class: an error whose message is written for the user. */
export class WgmeshError extends Error {
  /** A stable machine-readable code, carried over IPC and printed with --json. */
  readonly code: string;
  constructor(code: string, message: string, options?: {cause?: unknown}) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bytes from the network or disk that do not decode or do not match their schema. */
export class DecodeError extends WgmeshError {
  constructor(message: string, options?: {cause?: unknown}) {
    super('DECODE', message, options);
  }
}

/** An entry that failed verification (signature, id, address, mesh, time). */
export class EntryRejectedError extends WgmeshError {
  constructor(message: string) {
    super('ENTRY_REJECTED', message);
  }
}

/** A sync session given up on: the peer sent entries that no honest replica holds. */
export class InvalidEntriesError extends WgmeshError {
  constructor(message: string) {
    super('INVALID_ENTRIES', message);
  }
}

/** Invalid user input: a flag, an argument, an id. */
export class InvalidInputError extends WgmeshError {
  constructor(message: string) {
    super('INVALID_INPUT', message);
  }
}

/** A configuration file or value that does not validate; names the key and the rule. */
export class ConfigError extends WgmeshError {
  constructor(message: string) {
    super('CONFIG', message);
  }
}

/** A mesh id this node is not a member of. */
export class UnknownMeshError extends WgmeshError {
  constructor(meshId: string) {
    super('UNKNOWN_MESH', `this node is not a member of mesh ${meshId} (see 'wgmesh mesh list')`);
  }
}

/**
 * This node's clock and a member's differ by more than `maxClockSkew`: one of
 * them would refuse everything the other writes as dated in the future.
 */
export class ClockSkewError extends WgmeshError {
  /**
   * @param member the member's control endpoint
   * @param offsetMs the member's clock minus this node's
   * @param maxClockSkewMs the allowed difference
   */
  constructor(member: string, offsetMs: number, maxClockSkewMs: number) {
    const seconds = Math.round(Math.abs(offsetMs) / 1000);
    const whose = offsetMs > 0 ? `the member's entries would be dated ${seconds} s in the future here` : `this node's entries would be dated ${seconds} s in the future at the member`;
    super(
      'CLOCK_SKEW',
      `this node's clock is ${seconds} s ${offsetMs > 0 ? 'behind' : 'ahead of'} the clock of the member at ${member}: ${whose}, more than maxClockSkew (${maxClockSkewMs / 1000} s) allows; fix the clock (NTP) of the host that is wrong, or raise maxClockSkew on every member`,
    );
  }
}

/** Backend registry problems: unknown names, duplicates, bad plugins. */
export class BackendError extends WgmeshError {
  constructor(message: string) {
    super('BACKEND', message);
  }
}

/** The daemon is not running at the socket the CLI tried. */
export class DaemonNotRunningError extends WgmeshError {
  constructor(socketPath: string) {
    super(
      'DAEMON_NOT_RUNNING',
      `the wgmesh daemon is not running at ${socketPath}; start it with 'wgmesh daemon' (or point --socket / WGMESH_SOCKET at a running one)`,
    );
  }
}

/** A member could not be reached over the control plane (down, partitioned, refused). */
export class PeerUnreachableError extends WgmeshError {
  constructor(endpoint: string, reason: string) {
    super('PEER_UNREACHABLE', `could not reach ${endpoint}: ${reason}`);
  }
}

/** A WireGuard driver could not do what it was asked (bad spec, missing interface, failed tool); names the interface. */
export class WgDriverError extends WgmeshError {
  constructor(message: string, options?: {cause?: unknown}) {
    super('WG_DRIVER', message, options);
  }
}

/** Another daemon already answers on the IPC socket this daemon was told to use. */
export class DaemonAlreadyRunningError extends WgmeshError {
  constructor(socketPath: string, pid?: number) {
    super(
      'DAEMON_ALREADY_RUNNING',
      `another wgmesh daemon is already running at ${socketPath}${pid === undefined ? '' : ` (pid ${pid})`}; stop it first, or give this one another --socket and --data-dir`,
    );
  }
}

/** The IPC socket exists but this user may not connect to it (mode 0600, or 0660 with a group this user is not in). */
export class IpcPermissionError extends WgmeshError {
  constructor(socketPath: string) {
    super(
      'IPC_PERMISSION',
      `permission denied on the wgmesh daemon socket ${socketPath}; run this command as root or as the user the daemon runs as, ` +
        "or as a member of the group the daemon's config names in socketGroup (log in again after being added to it)",
    );
  }
}

/** A failure talking to the daemon that is not the daemon's answer: a timeout, a broken frame, a dropped connection. */
export class IpcError extends WgmeshError {
  constructor(message: string, options?: {cause?: unknown}) {
    super('IPC', message, options);
  }
}

/** An error the daemon answered with; `code` and `message` are the daemon's. */
export class RemoteError extends WgmeshError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/** An external program wgmesh needs for one feature is not installed; says how to get it. */
export class MissingToolError extends WgmeshError {
  constructor(tool: string, purpose: string, remedy: string) {
    super('MISSING_TOOL', `${purpose} needs '${tool}', which is not installed or not on PATH; ${remedy}`);
  }
}

/**
 * One of the daemon's own servers (DNS, metrics) could not bind its listen
 * address; names the server, the address, the cause and the config key to change.
 */
export class ListenError extends WgmeshError {
  constructor(server: string, address: string, configKey: string, cause: unknown) {
    const code = (cause as {code?: unknown} | null)?.code;
    const reason =
      code === 'EADDRINUSE'
        ? 'the address is already in use (another program, or another wgmesh daemon?)'
        : code === 'EADDRNOTAVAIL'
          ? 'no interface of this host has that address'
          : code === 'EACCES'
            ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
            : cause instanceof Error
              ? cause.message
              : String(cause);
    super('LISTEN', `cannot serve ${server} on ${address}: ${reason}; set ${configKey} to a free address, or stop the other program`, {cause});
  }
}

/** A file could not be written because its file system is full; names the device and the file. The old file is unchanged. */
export class DiskFullError extends WgmeshError {
  constructor(message: string, options?: {cause?: unknown}) {
    super('NO_SPACE', message, options);
  }
}

/** The data dir holds meshes but not the identity of the node that is in them: starting would make a new node. */
export class IdentityMissingError extends WgmeshError {
  constructor(message: string) {
    super('IDENTITY_MISSING', message);
  }
}

/** The data dir's format is one this wgmesh cannot read (newer, or an unreadable format file). */
export class DataDirFormatError extends WgmeshError {
  constructor(message: string, options?: {cause?: unknown}) {
    super('DATA_DIR_FORMAT', message, options);
  }
}

/** The daemon is still restoring its meshes and cannot answer yet without showing part of them. */
export class DaemonStartingError extends WgmeshError {
  constructor(message: string) {
    super('STARTING', message);
  }
}

/** A member refused this node's join (invite expired, used up or revoked; node revoked). */
export class JoinRefusedError extends WgmeshError {
  constructor(message: string) {
    super('JOIN_REFUSED', message);
  }
}

/** An operation only an admin of the mesh may do, asked of a node that is not one. */
export class NotAdminError extends WgmeshError {
  constructor(meshId: string) {
    super('NOT_ADMIN', `this node is not an admin of mesh ${meshId}: run this on the node that created it, or import its admin key with 'wgmesh mesh admin import'`);
  }
}

/** This node would advertise a control endpoint host that members refuse (its certificate does not list it); says what to do. */
export class AdvertisedHostError extends WgmeshError {
  constructor(message: string) {
    super('ADVERTISED_HOST', message);
  }
}

/** The UDP port asked for a WireGuard interface is taken by another program or interface. */
export class PortInUseError extends WgmeshError {
  /** The port that is taken. */
  readonly port: number;

  constructor(port: number) {
    super('PORT_IN_USE', `UDP port ${port} is already in use on this host: choose another port, or 0 to let wgmesh pick a free one`);
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
  /** The interface. */
  readonly interfaceName: string;

  constructor(interfaceName: string, detail: string, options?: {cause?: unknown}) {
    super('WG_INTERFACE_GONE', `interface ${interfaceName} disappeared during the operation (${detail}); it is applied again once the interface is rebuilt`, options);
    this.interfaceName = interfaceName;
  }
}
