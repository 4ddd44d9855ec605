/**
 * The HTTP API's one error shape, `{"error": {"code", "message"}}`, and the
 * status of each error code. WgmeshError codes pass through with the status
 * this table gives them; an error that is not a WgmeshError is a 500 with a
 * generic message (the details go to the log only).
 */
import {z} from 'zod';

/** The body of every error answer. */
export const apiErrorSchema = z.object({
  error: z.object({
    code: z.string().describe('A stable machine-readable code (INVALID_INPUT, UNAUTHORIZED, UNKNOWN_MESH, ...).'),
    message: z.string().describe('What was wrong and what to do, for a person.'),
  }),
});
/** The body of every error answer. */
export type ApiErrorBody = z.infer<typeof apiErrorSchema>;

/** The HTTP status of each error code; a code not listed is a 500. */
export const ERROR_STATUS: Readonly<Record<string, number>> = {
  INVALID_INPUT: 400,
  DECODE: 400,
  UNAUTHORIZED: 401,
  NOT_ADMIN: 403,
  JOIN_REFUSED: 403,
  NOT_FOUND: 404,
  UNKNOWN_MESH: 404,
  METHOD_NOT_ALLOWED: 405,
  CLOCK_SKEW: 409,
  STORE_MISMATCH: 409,
  PORT_IN_USE: 409,
  KEY_ROTATION: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ADVERTISED_HOST: 422,
  RATE_LIMITED: 429,
  TOO_MANY_STREAMS: 429,
  INTERNAL: 500,
  GRAPHVIZ: 500,
  DOT_MISSING: 501,
  NO_TRANSPORT: 501,
  PEER_UNREACHABLE: 502,
  JOIN_FAILED: 502,
  BAD_REPLY: 502,
  STARTING: 503,
  WG_INTERFACE_GONE: 503,
  NO_SPACE: 507,
};

/** The status of an error `code`. */
export function statusOf(code: string): number {
  return Object.hasOwn(ERROR_STATUS, code) ? ERROR_STATUS[code]! : 500;
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
