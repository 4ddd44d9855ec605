/**
 * The HTTP API's one error shape, `{"error": {"code", "message"}}`, and the
 * status of each error class, by its code. WgmeshError codes pass through with
 * the status this table gives them; an error that is not a WgmeshError is a 500 with a
 * generic message (the details go to the log only).
 */
import {z} from 'zod';
import {
  AdvertisedHostError,
  BadReplyError,
  ClockSkewError,
  DaemonStartingError,
  DecodeError,
  DiskFullError,
  GraphvizError,
  GraphvizMissingError,
  InternalError,
  InvalidInputError,
  JoinFailedError,
  JoinRefusedError,
  KeyRotationError,
  MeshUnknownAtMemberError,
  NotAdminError,
  NoTransportError,
  PayloadTooLargeError,
  PeerUnreachableError,
  PortInUseError,
  RateLimitedError,
  RouteNotFoundError,
  StoreMismatchError,
  TooManySubscribersError,
  UnauthorizedError,
  UnknownMeshError,
  WgInterfaceGoneError,
  type WgmeshErrorClass,
} from '../errors.js';

/** The body of every error answer. */
export const apiErrorSchema = z.object({
  error: z.object({
    code: z.string().describe('A stable machine-readable code (INVALID_INPUT, UNAUTHORIZED, UNKNOWN_MESH, ...).'),
    message: z.string().describe('What was wrong and what to do, for a person.'),
  }),
});
/** The body of every error answer. */
export type ApiErrorBody = z.infer<typeof apiErrorSchema>;

/** The HTTP status of errors of each class; a class not listed is a 500. */
const STATUS_OF_CLASS: ReadonlyArray<readonly [WgmeshErrorClass, number]> = [
  [InvalidInputError, 400],
  [DecodeError, 400],
  [UnauthorizedError, 401],
  [NotAdminError, 403],
  [JoinRefusedError, 403],
  [RouteNotFoundError, 404],
  [UnknownMeshError, 404],
  [MeshUnknownAtMemberError, 404],
  [ClockSkewError, 409],
  [StoreMismatchError, 409],
  [PortInUseError, 409],
  [KeyRotationError, 409],
  [PayloadTooLargeError, 413],
  [AdvertisedHostError, 422],
  [RateLimitedError, 429],
  [TooManySubscribersError, 429],
  [InternalError, 500],
  [GraphvizError, 500],
  [GraphvizMissingError, 501],
  [NoTransportError, 501],
  [PeerUnreachableError, 502],
  [JoinFailedError, 502],
  [BadReplyError, 502],
  [DaemonStartingError, 503],
  [WgInterfaceGoneError, 503],
  [DiskFullError, 507],
];

/** The HTTP status of each error code; a code not listed is a 500. */
export const ERROR_STATUS: ReadonlyMap<string, number> = new Map(STATUS_OF_CLASS.map(([type, status]) => [type.code, status]));

/** The status of an error `code`. */
export function statusOf(code: string): number {
  return ERROR_STATUS.get(code) ?? 500;
}

/** The code and message of a WgmeshError (checked structurally: plugins carry their own copy of core), or undefined. */
export function wgmeshErrorParts(error: unknown): {code: string; message: string} | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as {code?: unknown}).code;
  if (typeof code !== 'string' || !/^[A-Z][A-Z0-9_]{1,63}$/.test(code)) return undefined;
  // Node's own errors (ENOENT, ECONNRESET, ...) carry a code too: they are internal details.
  if (code.startsWith('ERR_') || (error as {errno?: unknown}).errno !== undefined) return undefined;
  return {code, message: error.message};
}
