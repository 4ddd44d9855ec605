/** Errors this transport raises itself (beyond core's PeerUnreachableError, DecodeError and ConfigError). */
import {WgmeshError, WIRE_ERRORS, wireErrorTable, type WgmeshErrorClass} from '@wgmesh/core';

/** A member refused a sync session because it already runs as many as it allows. */
export class SyncBusyError extends WgmeshError {
  static override readonly code = 'SYNC_BUSY';

  constructor(limit: number) {
    super(`this member is already running its maximum of ${limit} concurrent sync sessions (grpc.maxConcurrentSyncs); try again later`);
  }
}

/** A call failed in a way that is neither "unreachable" nor an error the member reported (e.g. a protocol violation). */
export class TransportFailureError extends WgmeshError {
  static override readonly code = 'TRANSPORT';
}

/** This daemon could not open its control port (taken, not permitted, or an address this host lacks); says which key to change. */
export class ControlPortError extends WgmeshError {
  static override readonly code = 'CONTROL_PORT';
}

/** A member refused a message because the caller's stream already has as many requests in flight as it allows. */
export class MessagesBusyError extends WgmeshError {
  static override readonly code = 'MESSAGES_BUSY';

  constructor(limit: number) {
    super(`this member is already answering ${limit} messages from this caller; try again later`);
  }
}

/** A member refused a snapshot download because it already sends as many as it allows. */
export class SnapshotBusyError extends WgmeshError {
  static override readonly code = 'SNAPSHOT_BUSY';

  constructor(limit: number) {
    super(`this member is already sending its maximum of ${limit} snapshots (grpc.maxConcurrentSnapshots); try another member or again later`);
  }
}

/** A member refused to send a snapshot larger than it allows. */
export class SnapshotTooLargeError extends WgmeshError {
  static override readonly code = 'SNAPSHOT_TOO_LARGE';

  constructor(bytes: number, limit: number) {
    super(`the snapshot is ${bytes} bytes, over the member's limit of ${limit} bytes (grpc.maxSnapshotBytes)`);
  }
}

/** A member refused a request because it already holds as many bytes of requests as it allows (from this connection, or in all). */
export class OverloadedError extends WgmeshError {
  static override readonly code = 'OVERLOADED';

  constructor(scope: 'connection' | 'daemon', limit: number) {
    super(
      scope === 'connection'
        ? `this member already holds ${limit} bytes of unanswered requests from this connection (grpc.maxBytesInFlightPerConnection); try again later`
        : `this member already holds ${limit} bytes of unanswered requests in all (grpc.maxBytesInFlight); try again later`,
    );
  }
}

/** The errors a member may answer with, by code: core's and this transport's. */
export const GRPC_WIRE_ERRORS: ReadonlyMap<string, WgmeshErrorClass> = wireErrorTable([
  ...WIRE_ERRORS.values(),
  SyncBusyError,
  TransportFailureError,
  ControlPortError,
  MessagesBusyError,
  SnapshotBusyError,
  SnapshotTooLargeError,
  OverloadedError,
]);
