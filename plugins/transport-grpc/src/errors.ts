/** Errors this transport raises itself (beyond core's PeerUnreachableError, DecodeError and ConfigError). */
import {WgmeshError} from '@wgmesh/core';

/** Error code of {@link SyncBusyError}. */
export const SYNC_BUSY = 'SYNC_BUSY';
/** Error code of {@link MessagesBusyError}. */
export const MESSAGES_BUSY = 'MESSAGES_BUSY';
/** Error code of {@link SnapshotBusyError}. */
export const SNAPSHOT_BUSY = 'SNAPSHOT_BUSY';
/** Error code of {@link OverloadedError}. */
export const OVERLOADED = 'OVERLOADED';
/** Error code of {@link TransportFailureError}. */
export const TRANSPORT_FAILURE = 'TRANSPORT';

/** A member refused a sync session because it already runs as many as it allows. */
export class SyncBusyError extends WgmeshError {
  constructor(limit: number) {
    super(SYNC_BUSY, `this member is already running its maximum of ${limit} concurrent sync sessions (grpc.maxConcurrentSyncs); try again later`);
  }
}

/** A call failed in a way that is neither "unreachable" nor an error the member reported (e.g. a protocol violation). */
export class TransportFailureError extends WgmeshError {
  constructor(message: string, options?: {cause?: unknown}) {
    super(TRANSPORT_FAILURE, message, options);
  }
}

/** A member refused a message because the caller's stream already has as many requests in flight as it allows. */
export class MessagesBusyError extends WgmeshError {
  constructor(limit: number) {
    super(MESSAGES_BUSY, `this member is already answering ${limit} messages from this caller; try again later`);
  }
}

/** A member refused a snapshot download because it already sends as many as it allows. */
export class SnapshotBusyError extends WgmeshError {
  constructor(limit: number) {
    super(SNAPSHOT_BUSY, `this member is already sending its maximum of ${limit} snapshots (grpc.maxConcurrentSnapshots); try another member or again later`);
  }
}

/** A member refused a request because it already holds as many bytes of requests as it allows (from this connection, or in all). */
export class OverloadedError extends WgmeshError {
  constructor(scope: 'connection' | 'daemon', limit: number) {
    super(
      OVERLOADED,
      scope === 'connection'
        ? `this member already holds ${limit} bytes of unanswered requests from this connection (grpc.maxBytesInFlightPerConnection); try again later`
        : `this member already holds ${limit} bytes of unanswered requests in all (grpc.maxBytesInFlight); try again later`,
    );
  }
}
