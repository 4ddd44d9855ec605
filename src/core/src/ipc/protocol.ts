/**
 * The IPC wire protocol between the CLI and its daemon: newline-delimited JSON
 * frames over a Unix socket.
 *
 *   request   {"v":1,"id":7,"method":"mesh.show","params":{...}}
 *   success   {"v":1,"id":7,"ok":true,"result":{...}}
 *   failure   {"v":1,"id":7,"ok":false,"error":{"code":"UNKNOWN_MESH","message":"..."}}
 *
 * Replies carry the request's id, so one connection can have several requests
 * in flight and answers may come back in any order. A failure about the frame
 * itself (not JSON, too long, wrong shape) has `id: null` when the id could not
 * be read. JSON (not MessagePack) keeps the protocol debuggable with `socat`.
 *
 * The wire format, its limits and types, and reply decoding live in the
 * zod-free `frame.ts` (re-exported here), so that the CLI loads no zod;
 * this module adds the zod schemas and the daemon's request decoding.
 */
import {z} from 'zod';
import {
  IPC_PROTOCOL_VERSION,
  MAX_ERROR_MESSAGE_CHARS,
  MAX_IPC_NAME_CHARS,
  decodeFrame,
  type Decoded,
  type IpcErrorBody,
  type IpcId,
  type IpcRequest,
  type IpcResponse,
} from './frame.js';

// The wire format, re-exported so that this module stays the protocol's one public face.
export {
  FrameSplitter,
  IPC_ERROR_CODES,
  IPC_PROTOCOL_VERSION,
  MAX_ERROR_MESSAGE_CHARS,
  MAX_REQUEST_BYTES,
  MAX_RESPONSE_BYTES,
  decodeResponse,
  encodeFrame,
  errorReply,
  type Decoded,
  type IpcErrorBody,
  type IpcId,
  type IpcRequest,
  type IpcResponse,
} from './frame.js';

/** A request id: chosen by the client, echoed in the reply. */
export const ipcIdSchema = z.union([z.string().min(1).max(MAX_IPC_NAME_CHARS), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)]) satisfies z.ZodType<IpcId>;

/** A request frame. */
export const ipcRequestSchema = z.object({
  v: z.literal(IPC_PROTOCOL_VERSION),
  id: ipcIdSchema,
  method: z.string().min(1).max(MAX_IPC_NAME_CHARS),
  params: z.unknown(),
}) satisfies z.ZodType<IpcRequest>;

/** The error part of a failure reply. */
export const ipcErrorBodySchema = z.object({
  code: z.string().min(1).max(MAX_IPC_NAME_CHARS),
  message: z.string().max(MAX_ERROR_MESSAGE_CHARS),
}) satisfies z.ZodType<IpcErrorBody>;

/** A reply frame, as a zod schema (the CLI decodes replies without zod: see `decodeResponse`, which accepts the same frames). */
export const ipcResponseSchema = z.discriminatedUnion('ok', [
  z.object({v: z.literal(IPC_PROTOCOL_VERSION), id: ipcIdSchema.nullable(), ok: z.literal(true), result: z.unknown()}),
  z.object({v: z.literal(IPC_PROTOCOL_VERSION), id: ipcIdSchema.nullable(), ok: z.literal(false), error: ipcErrorBodySchema}),
]) satisfies z.ZodType<IpcResponse>;

/**
 * Decode a request frame. Never throws: anything wrong becomes the error reply
 * to send, with the request's id when it could be read.
 */
export function decodeRequest(frame: Uint8Array): Decoded<IpcRequest> {
  return decodeFrame<IpcRequest>(
    frame,
    'request',
    (v) => `the request uses IPC protocol version ${v} but this daemon speaks version ${IPC_PROTOCOL_VERSION}`,
    (raw) => {
      const parsed = ipcRequestSchema.safeParse(raw);
      if (parsed.success) return {value: parsed.data};
      const issue = parsed.error.issues[0];
      return {path: (issue?.path ?? []).map((key) => (typeof key === 'number' ? key : String(key))), message: issue?.message ?? 'invalid'};
    },
  );
}
