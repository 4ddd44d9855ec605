/**
 * The one place where bytes become values. Everything read from the network or
 * from disk is decoded here with a size cap and validated with a zod schema
 * before use; a failure is a {@link DecodeError}, never a crash.
 */
import {Packr} from 'msgpackr';
import type {z} from 'zod';
import {DecodeError} from '../errors.js';

// Records off: every message is self-describing plain MessagePack, so any
// implementation (or a future version) can read it.
const PLAIN_MESSAGEPACK = {useRecords: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number'} as const;
const packr = new Packr(PLAIN_MESSAGEPACK);

// Control messages are never signed or hashed, so their bytes need not match any earlier encoding:
// each map gets the smallest header for its keys (1 byte for up to 15 instead of 3), which counts on
// messages sent every second.
const messagePackr = new Packr({...PLAIN_MESSAGEPACK, variableMapSize: true});

/** Default cap on one decoded message: 16 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Encode a plain value (objects, arrays, strings, numbers, Uint8Array) to MessagePack. */
export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/**
 * {@link encode} for a message that is never signed or hashed (a control
 * request or reply): the same MessagePack, with maps in their shortest form.
 */
export function encodeMessage(value: unknown): Uint8Array {
  return messagePackr.pack(value);
}

/**
 * Decode MessagePack bytes and validate them against `schema`.
 * @throws DecodeError when the bytes are too long, malformed, or do not match.
 */
export function decode<S extends z.ZodType>(bytes: Uint8Array, schema: S, what: string, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): z.infer<S> {
  if (bytes.byteLength > maxBytes) {
    throw new DecodeError(`${what}: ${bytes.byteLength} bytes is over the ${maxBytes}-byte limit`);
  }
  let raw: unknown;
  try {
    // A Buffer view of the same memory: msgpackr caches a `dataView` property on the object it reads,
    // which must not land on the caller's bytes, and binary fields decode as Buffers whatever was passed.
    raw = packr.unpack(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new DecodeError(`${what}: not valid MessagePack (${(error as Error).message})`, {cause: error});
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new DecodeError(`${what}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
