/**
 * Errors across the wire. A handler's wgmesh error becomes a gRPC status whose
 * trailer carries the error's stable code, and the caller rebuilds it into the
 * same class with the same message; network failures become PeerUnreachableError with a
 * reason a person can act on (connection refused, certificate not signed by
 * our CA, deadline exceeded after N ms ...).
 */
import {Metadata, status as Status, type ServiceError, type StatusObject} from '@grpc/grpc-js';
import {DecodeError, EntryRejectedError, errorFromWire, InternalError, InvalidInputError, PeerUnreachableError, UnknownMeshError, type WgmeshError} from '@wgmesh/core';
import {GRPC_WIRE_ERRORS, OverloadedError, SnapshotBusyError, SnapshotTooLargeError, SyncBusyError, TransportFailureError} from './errors.js';

/** Trailer that carries a wgmesh error code. */
export const ERROR_CODE_KEY = 'wgmesh-error-code';

/** What a wgmesh error code looks like; anything else from the wire is not trusted as one. */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
/** Longest remote error message passed on (a hostile member could send megabytes). */
const MAX_REMOTE_MESSAGE = 2_000;

/** The gRPC status of errors of each class, by code; a code not listed is FAILED_PRECONDITION. */
const STATUS_OF_CODE: ReadonlyMap<string, Status> = new Map([
  [UnknownMeshError.code, Status.NOT_FOUND],
  [DecodeError.code, Status.INVALID_ARGUMENT],
  [InvalidInputError.code, Status.INVALID_ARGUMENT],
  [EntryRejectedError.code, Status.INVALID_ARGUMENT],
  [SyncBusyError.code, Status.RESOURCE_EXHAUSTED],
  [SnapshotBusyError.code, Status.RESOURCE_EXHAUSTED],
  [SnapshotTooLargeError.code, Status.RESOURCE_EXHAUSTED],
  [OverloadedError.code, Status.RESOURCE_EXHAUSTED],
]);

/**
 * A wgmesh error, recognised structurally: a handler may throw errors made by
 * another copy of @wgmesh/core, so `instanceof` is not enough. Node's own
 * errors also carry string codes; those are not wgmesh errors.
 */
export function asWgmeshError(error: unknown): WgmeshError | undefined {
  if (!(error instanceof Error)) return undefined;
  const {code} = error as {code?: unknown};
  if (typeof code !== 'string' || !ERROR_CODE.test(code) || code.startsWith('ERR_') || 'errno' in error || 'syscall' in error) return undefined;
  return error as WgmeshError;
}

/** A gRPC status for a status code and a wgmesh error code. */
function statusWithCode(grpcCode: Status, code: string, message: string): Partial<StatusObject> {
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_KEY, code);
  return {code: grpcCode, details: message, metadata};
}

/**
 * The status to answer with when a handler threw `error`. A wgmesh error
 * travels with its code and message; anything else is an internal error whose
 * details stay in this daemon's log (`internal` is true so the caller logs it).
 */
export function statusOfError(error: unknown): {status: Partial<StatusObject>; internal: boolean} {
  const known = asWgmeshError(error);
  if (known) return {status: statusWithCode(STATUS_OF_CODE.get(known.code) ?? Status.FAILED_PRECONDITION, known.code, known.message), internal: false};
  return {status: {code: Status.INTERNAL, details: "internal error while handling the request (see that member's log)"}, internal: true};
}

function sanitize(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > MAX_REMOTE_MESSAGE ? `${clean.slice(0, MAX_REMOTE_MESSAGE)}...` : clean;
}

/** grpc-js wraps connection failures as "No connection established. Last error: X. Resolution note: Y"; keep X. */
function lastError(details: string): string {
  const match = /Last error: (.*?)(?:\.? Resolution note:.*)?$/s.exec(details);
  // grpc-js stamps some reasons with the time ("Failed to connect (2026-...)"); the time says nothing.
  return sanitize((match?.[1] ?? details).replace(/^Error: /, '').replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/g, ''));
}

/** Reason for an UNAVAILABLE status, in words that say what to check. */
export function describeUnavailable(details: string, host: string): string {
  const last = lastError(details);
  if (/ECONNREFUSED/.test(last)) return 'connection refused (nothing listens on that port)';
  if (/ENOTFOUND|EAI_AGAIN|Name resolution failed|DNS resolution failed/i.test(details)) return `host name ${host} does not resolve`;
  if (/EHOSTUNREACH|ENETUNREACH/.test(last)) return 'no route to host';
  if (/ETIMEDOUT/.test(last)) return 'connection timed out';
  if (/self[- ]signed certificate|unable to verify|unable to get (local )?issuer|certificate signature failure/i.test(last)) {
    return `TLS failure: the member's certificate is not signed by our CA (caCertificatePath) (${last})`;
  }
  if (/Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID|not in the cert's altnames/i.test(last)) {
    return `TLS failure: the member's certificate does not list ${host} (issue it with that host, or set grpc.verifyServerName: false) (${last})`;
  }
  if (/certificate has expired|CERT_HAS_EXPIRED/i.test(last)) return `TLS failure: the member's certificate has expired (${last})`;
  if (/certificate required|unknown ca|bad certificate|alert/i.test(last)) {
    return (
      `the member closed the connection during the TLS handshake: it probably refused our certificate ` +
      `(is certificatePath issued by the CA that member trusts?), or it is not a wgmesh daemon (${last})`
    );
  }
  // A reset says only that something ended the connection: the member (refusing our certificate, or
  // not a wgmesh daemon) or a NAT or firewall on the way (one that forgot its mappings resets the
  // connections that were open through it).
  if (/Failed to connect|socket hang up|ECONNRESET|Connection dropped/i.test(last)) {
    return (
      `the connection was closed or reset during or right after the TLS handshake: the member may have refused our certificate ` +
      `(is certificatePath issued by the CA that member trusts?) or not be a wgmesh daemon, or a NAT or firewall on the way ` +
      `dropped it (a NAT that forgot its mappings resets open connections; a new attempt opens a new one) (${last})`
    );
  }
  return last;
}

/** Context for {@link errorOfStatus}: where the call went and how long it was allowed. */
export interface CallContext {
  /** The endpoint dialled. */
  endpoint: string;
  /** Its host part (for messages). */
  host: string;
  /** The time limit that applied (ms). */
  timeoutMs: number;
}

/** Whether a failed call says the connection itself is bad (so a cached channel should be dropped). */
export function isConnectionFailure(error: ServiceError): boolean {
  return error.code === Status.UNAVAILABLE || error.code === Status.DEADLINE_EXCEEDED;
}

/** The error to throw for a failed call. */
export function errorOfStatus(error: ServiceError, call: CallContext): Error {
  const remoteCode = error.metadata?.get(ERROR_CODE_KEY)[0];
  if (typeof remoteCode === 'string' && ERROR_CODE.test(remoteCode)) return errorFromWire(remoteCode, sanitize(error.details), GRPC_WIRE_ERRORS);
  switch (error.code) {
    case Status.DEADLINE_EXCEEDED:
      return new PeerUnreachableError(call.endpoint, `deadline exceeded after ${call.timeoutMs} ms (no answer in time)`);
    case Status.UNAVAILABLE:
      return new PeerUnreachableError(call.endpoint, describeUnavailable(error.details, call.host));
    default:
      return new TransportFailureError(`${call.endpoint}: ${sanitize(error.details)} (gRPC status ${Status[error.code] ?? error.code})`, {cause: error});
  }
}

/**
 * What a `Messages` reply says when the handler threw `error`: a wgmesh error
 * travels with its code and message, anything else as an {@link InternalError}
 * (`internal` is true so the member logs it).
 */
export function envelopeErrorOf(error: unknown): {errorCode: string; errorMessage: string; internal: boolean} {
  const known = asWgmeshError(error);
  if (known) return {errorCode: known.code, errorMessage: sanitize(known.message), internal: false};
  return {errorCode: InternalError.code, errorMessage: "internal error while handling the request (see that member's log)", internal: true};
}

/** The error to throw for a `Messages` reply that carries an error code. */
export function errorOfEnvelope(code: string, message: string, call: CallContext): Error {
  if (!ERROR_CODE.test(code)) return new TransportFailureError(`${call.endpoint}: a reply with a malformed error code`);
  const error = errorFromWire(code, sanitize(message), GRPC_WIRE_ERRORS);
  // As a unary INTERNAL status is: the member's bug, not an error it reports.
  return error instanceof InternalError ? new TransportFailureError(`${call.endpoint}: ${error.message}`) : error;
}
