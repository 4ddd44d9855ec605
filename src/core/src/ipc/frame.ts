/**
 * The IPC wire format without zod: framing, limits, error codes, the frame
 * types, and decoding of replies. This is the part of the protocol the CLI
 * needs, and a CLI start must not pay ~100 ms for loading zod, so replies are
 * checked with the zod-free shapes of `util/shape.ts`. The daemon's side
 * (requests, validated with zod) is in `protocol.ts`, which re-exports all of
 * this module; see there for the protocol itself.
 */
import {BadFrameError, FrameTooLargeError, InternalError, ProtocolVersionError, UnknownMethodError} from '../errors.js';
import {describeProblem, either, integer, isObject, literal, nullable, object, present, shapeProblem, string, type Shape, type ShapeProblem} from '../util/shape.js';

/** The protocol version this build speaks. A request of another version gets a `PROTOCOL_VERSION` error. */
export const IPC_PROTOCOL_VERSION = 1;

/** Longest request frame the daemon accepts, newline excluded. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

/** Longest reply frame the client accepts: larger than requests because `mesh show` of a big mesh is large. */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** Longest error message carried in a reply; longer ones are cut. */
export const MAX_ERROR_MESSAGE_CHARS = 4096;

/** Longest request id, method name and error code. */
export const MAX_IPC_NAME_CHARS = 64;

/** Error codes of the protocol itself (handlers' errors carry their own {@link WgmeshError} codes). */
export const IPC_ERROR_CODES = {
  /** The frame is not UTF-8 JSON or not a request of this protocol. */
  badFrame: BadFrameError.code,
  /** The frame is over {@link MAX_REQUEST_BYTES}; the daemon closes the connection after saying so. */
  frameTooLarge: FrameTooLargeError.code,
  /** The request's `v` is not {@link IPC_PROTOCOL_VERSION}. */
  protocolVersion: ProtocolVersionError.code,
  /** The daemon does not serve this method. */
  unknownMethod: UnknownMethodError.code,
  /** The handler failed unexpectedly; details are in the daemon's log, never on the wire. */
  internal: InternalError.code,
} as const;

/** A request id: chosen by the client, echoed in the reply. A string of 1-64 characters or a safe non-negative integer. */
export type IpcId = string | number;

/** A request frame. */
export interface IpcRequest {
  v: typeof IPC_PROTOCOL_VERSION;
  id: IpcId;
  method: string;
  params: unknown;
}

/** The error part of a failure reply. */
export interface IpcErrorBody {
  code: string;
  message: string;
}

/** A success reply. */
export interface IpcSuccess {
  v: typeof IPC_PROTOCOL_VERSION;
  id: IpcId | null;
  ok: true;
  result: unknown;
}

/** A failure reply. */
export interface IpcFailure {
  v: typeof IPC_PROTOCOL_VERSION;
  id: IpcId | null;
  ok: false;
  error: IpcErrorBody;
}

/** A reply frame. */
export type IpcResponse = IpcSuccess | IpcFailure;

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

const idShape: Shape<IpcId> = either(string(1, MAX_IPC_NAME_CHARS), integer(0, Number.MAX_SAFE_INTEGER));
const version = literal(IPC_PROTOCOL_VERSION);
const successShape = object<IpcSuccess>({v: version, id: nullable(idShape), ok: literal(true), result: present});
const failureShape = object<IpcFailure>({
  v: version,
  id: nullable(idShape),
  ok: literal(false),
  error: object<IpcErrorBody>({code: string(1, MAX_IPC_NAME_CHARS), message: string(0, MAX_ERROR_MESSAGE_CHARS)}),
});

/** A reply: told apart by `ok`, then checked as a success or a failure. */
function replyProblem(raw: Record<string, unknown>): ShapeProblem | undefined {
  if (raw.ok === true) return successShape(raw);
  if (raw.ok === false) return failureShape(raw);
  return shapeProblem('expected true or false', 'ok');
}

/** Decode a reply frame. Never throws. */
export function decodeResponse(frame: Uint8Array): Decoded<IpcResponse> {
  return decodeFrame(
    frame,
    'reply',
    (v) => `the daemon answered in IPC protocol version ${v} but this CLI speaks version ${IPC_PROTOCOL_VERSION}`,
    // The reply is used as received (not copied): its shape is all that is checked.
    (raw) => replyProblem(raw) ?? {value: raw as unknown as IpcResponse},
  );
}

/**
 * Decode one frame: a JSON object, then the protocol version (`mismatch` words
 * the error), then `check`, which returns the frame's value or the problem
 * with it. Shared by replies (here) and requests (`protocol.ts`, with zod).
 * Never throws: anything wrong becomes the error reply to send or report,
 * with the frame's id when it could be read.
 */
export function decodeFrame<T>(
  frame: Uint8Array,
  what: string,
  mismatch: (version: string) => string,
  check: (raw: Record<string, unknown>) => {value: T} | ShapeProblem,
): Decoded<T> {
  const json = decodeJsonObject(frame, what);
  if (!json.ok) return json;
  const raw = json.value;
  const id = idShape(raw.id) === undefined ? (raw.id as IpcId) : null;
  if (raw.v !== IPC_PROTOCOL_VERSION) {
    return {
      ok: false,
      id,
      code: IPC_ERROR_CODES.protocolVersion,
      message: `${mismatch(JSON.stringify(raw.v ?? null))}; use the wgmesh CLI that came with the daemon`,
    };
  }
  const checked = check(raw);
  if ('value' in checked) return {ok: true, value: checked.value};
  return {
    ok: false,
    id,
    code: IPC_ERROR_CODES.badFrame,
    message: `the ${what} is not a frame of IPC protocol version ${IPC_PROTOCOL_VERSION} (${describeProblem(checked)})`,
  };
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
  if (!isObject(value)) return bad(`the ${what} must be a JSON object`);
  return {ok: true, value};
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
