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
 */
import {z} from 'zod';

/** The protocol version this build speaks. A request of another version gets a `PROTOCOL_VERSION` error. */
export const IPC_PROTOCOL_VERSION = 1;

/** Longest request frame the daemon accepts, newline excluded. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

/** Longest reply frame the client accepts: larger than requests because `mesh show` of a big mesh is large. */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** Longest error message carried in a reply; longer ones are cut. */
export const MAX_ERROR_MESSAGE_CHARS = 4096;

/** Error codes of the protocol itself (handlers' errors carry their own {@link WgmeshError} codes). */
export const IPC_ERROR_CODES = {
  /** The frame is not UTF-8 JSON or not a request of this protocol. */
  badFrame: 'BAD_FRAME',
  /** The frame is over {@link MAX_REQUEST_BYTES}; the daemon closes the connection after saying so. */
  frameTooLarge: 'FRAME_TOO_LARGE',
  /** The request's `v` is not {@link IPC_PROTOCOL_VERSION}. */
  protocolVersion: 'PROTOCOL_VERSION',
  /** The daemon does not serve this method. */
  unknownMethod: 'UNKNOWN_METHOD',
  /** The handler failed unexpectedly; details are in the daemon's log, never on the wire. */
  internal: 'INTERNAL',
} as const;

/** A request id: chosen by the client, echoed in the reply. */
export const ipcIdSchema = z.union([z.string().min(1).max(64), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)]);
/** A request id. */
export type IpcId = z.infer<typeof ipcIdSchema>;

/** A request frame. */
export const ipcRequestSchema = z.object({
  v: z.literal(IPC_PROTOCOL_VERSION),
  id: ipcIdSchema,
  method: z.string().min(1).max(64),
  params: z.unknown(),
});
/** A request frame. */
export type IpcRequest = z.infer<typeof ipcRequestSchema>;

/** The error part of a failure reply. */
export const ipcErrorBodySchema = z.object({
  code: z.string().min(1).max(64),
  message: z.string().max(MAX_ERROR_MESSAGE_CHARS),
});
/** The error part of a failure reply. */
export type IpcErrorBody = z.infer<typeof ipcErrorBodySchema>;

/** A reply frame. */
export const ipcResponseSchema = z.discriminatedUnion('ok', [
  z.object({v: z.literal(IPC_PROTOCOL_VERSION), id: ipcIdSchema.nullable(), ok: z.literal(true), result: z.unknown()}),
  z.object({v: z.literal(IPC_PROTOCOL_VERSION), id: ipcIdSchema.nullable(), ok: z.literal(false), error: ipcErrorBodySchema}),
]);
/** A reply frame. */
export type IpcResponse = z.infer<typeof ipcResponseSchema>;

/** One frame on the wire: the JSON text and its terminating newline. JSON escapes newlines inside strings. */
export function encodeFrame(value: IpcRequest | IpcResponse): string {
  return `${JSON.stringify(value)}\n`;
}

/** A failure reply. */
export function errorReply(id: IpcId | null, code: string, message: string): IpcResponse {
  const text = message.length > MAX_ERROR_MESSAGE_CHARS ? `${message.slice(0, MAX_ERROR_MESSAGE_CHARS - 3)}...` : message;
  return {v: IPC_PROTOCOL_VERSION, id, ok: false, error: {code, message: text}};
}

/** What a received frame turned out to be. */
export type Decoded<T> = {ok: true; value: T} | {ok: false; id: IpcId | null; code: string; message: string};

/**
 * Decode a request frame. Never throws: anything wrong becomes the error reply
 * to send, with the request's id when it could be read.
 */
export function decodeRequest(frame: Uint8Array): Decoded<IpcRequest> {
  return decodeFrame(frame, ipcRequestSchema, 'request', (v) => `the request uses IPC protocol version ${v} but this daemon speaks version ${IPC_PROTOCOL_VERSION}`);
}

/** Decode a reply frame. Never throws. */
export function decodeResponse(frame: Uint8Array): Decoded<IpcResponse> {
  return decodeFrame(frame, ipcResponseSchema, 'reply', (v) => `the daemon answered in IPC protocol version ${v} but this CLI speaks version ${IPC_PROTOCOL_VERSION}`);
}

/** JSON object, then protocol version (`mismatch` words the error), then the schema. */
function decodeFrame<S extends z.ZodType>(frame: Uint8Array, schema: S, what: string, mismatch: (version: string) => string): Decoded<z.output<S>> {
  const json = decodeJsonObject(frame, what);
  if (!json.ok) return json;
  const raw = json.value;
  const id = ipcIdSchema.safeParse(raw.id).data ?? null;
  if (raw.v !== IPC_PROTOCOL_VERSION) {
    return {
      ok: false,
      id,
      code: IPC_ERROR_CODES.protocolVersion,
      message: `${mismatch(JSON.stringify(raw.v ?? null))}; use the wgmesh CLI that came with the daemon`,
    };
  }
  return checkShape(schema, raw, id, what);
}

const utf8 = new TextDecoder('utf-8', {fatal: true});

function decodeJsonObject(frame: Uint8Array, what: string): Decoded<Record<string, unknown>> {
  const bad = (message: string): Decoded<never> => ({ok: false, id: null, code: IPC_ERROR_CODES.badFrame, message});
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(frame));
  } catch {
    return bad(`the ${what} is not valid UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad(`the ${what} must be a JSON object`);
  return {ok: true, value: value as Record<string, unknown>};
}

function checkShape<S extends z.ZodType>(schema: S, raw: unknown, id: IpcId | null, what: string): Decoded<z.output<S>> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return {ok: true, value: parsed.data};
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return {
    ok: false,
    id,
    code: IPC_ERROR_CODES.badFrame,
    message: `the ${what} is not a frame of IPC protocol version ${IPC_PROTOCOL_VERSION} (${where}${issue?.message ?? 'invalid'})`,
  };
}

/**
 * Cuts a byte stream into newline-terminated frames, holding at most
 * `maxBytes` of an unfinished frame. Once a frame is too long the splitter
 * reports it and stops: the rest of the stream has no trustworthy framing.
 */
export class FrameSplitter {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #overflowed = false;

  /** @param maxBytes longest frame accepted, newline excluded. */
  constructor(private readonly maxBytes: number) {}

  /** Whether a frame was too long (no more frames will be returned). */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  /** Add received bytes; returns the frames they complete (empty lines skipped). */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let start = 0;
    while (!this.#overflowed) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      if (this.#pendingBytes + (end - start) > this.maxBytes) {
        this.#overflowed = true;
        this.#pending = [];
        this.#pendingBytes = 0;
        break;
      }
      if (newline === -1) {
        if (end > start) {
          this.#pending.push(chunk.subarray(start));
          this.#pendingBytes += end - start;
        }
        break;
      }
      const frame = Buffer.concat([...this.#pending, chunk.subarray(start, newline)]);
      this.#pending = [];
      this.#pendingBytes = 0;
      // Blank lines (and a CR-only line from a hand-typed `socat` session) carry nothing.
      if (frame.length > 0 && !(frame.length === 1 && frame[0] === 0x0d)) frames.push(frame);
      start = newline + 1;
    }
    return frames;
  }
}
