/**
 * The automerge sync session's messages: a thin envelope around Automerge's
 * own sync messages, plain MessagePack (core's codec) validated with zod.
 *
 * ```
 * initiator                                        responder
 * hello {v, mesh, kind, gen, digest, am}     ->
 *                                            <-    equal               (same entries: done)
 *                                            <-    sync {gen, am}      (otherwise)
 * sync {gen, am}                             ->    ... until one side receives `am: null`
 *                                                  and has nothing to send itself
 * ```
 * `am` is an Automerge sync message (or null: "nothing to send"). `gen` is
 * the sender's compaction generation: the side that is behind compacts to it
 * before it reads the other's Automerge messages, so documents of different
 * generations never exchange history (see store.ts).
 *
 * No message is over MAX_SYNC_MESSAGE_BYTES. A larger one (Automerge sends a
 * replica that lacks much the history it lacks in one message) travels in
 * parts: the sender sends `part {data, last}`, the receiver answers each part
 * but the last with `more`, and takes the reassembled message (at most
 * MAX_ASSEMBLED_MESSAGE_BYTES) as if it had come whole.
 */
import {bytesSchema, decode, encode} from '@wgmesh/core';
import {z} from 'zod';
import {generationSchema} from './snapshot.js';
import {MAX_ASSEMBLED_MESSAGE_BYTES, MAX_SYNC_MESSAGE_BYTES, PART_BYTES} from './limits.js';

/** Version of this protocol; a peer speaking another is refused. */
export const PROTOCOL_VERSION = 2;
/** Bytes of a store digest: 8-byte entry count then a 32-byte hash sum. */
export const DIGEST_BYTES = 40;

const helloSchema = z.object({
  t: z.literal('hello'),
  v: z.number().int(),
  mesh: z.string().max(64),
  kind: z.string().max(64),
  gen: generationSchema,
  digest: bytesSchema.refine((b) => b.byteLength === DIGEST_BYTES, `digest must be ${DIGEST_BYTES} bytes`),
  am: bytesSchema,
});
const equalSchema = z.object({t: z.literal('equal')});
const syncSchema = z.object({t: z.literal('sync'), gen: generationSchema, am: bytesSchema.nullable()});

const partSchema = z.object({t: z.literal('part'), data: bytesSchema.refine((b) => b.byteLength > 0 && b.byteLength <= PART_BYTES, `a part carries 1 to ${PART_BYTES} bytes`), last: z.boolean()});
const moreSchema = z.object({t: z.literal('more')});

/** A whole message of the protocol. */
export const sessionMessageSchema = z.discriminatedUnion('t', [helloSchema, equalSchema, syncSchema]);
/** A whole message of the protocol, as received. */
export type SessionMessage = z.infer<typeof sessionMessageSchema>;
/** What travels on the wire: a whole message, a part of one, or the request for the next part. */
const wireMessageSchema = z.discriminatedUnion('t', [helloSchema, equalSchema, syncSchema, partSchema, moreSchema]);
/** What travels on the wire, as received. */
export type WireMessage = z.infer<typeof wireMessageSchema>;

/** A message as this side builds it (any Uint8Array will do for bytes). */
export type OutgoingMessage =
  | {t: 'hello'; v: number; mesh: string; kind: string; gen: number; digest: Uint8Array; am: Uint8Array}
  | {t: 'equal'}
  | {t: 'sync'; gen: number; am: Uint8Array | null};

/** Encode a whole message; see {@link toParts} for putting it on the wire. */
export function encodeMessage(message: OutgoingMessage): Uint8Array {
  return encode(message);
}

/** The wire messages that carry `whole`: itself when it fits in one message, its parts otherwise. */
export function toParts(whole: Uint8Array): Uint8Array[] {
  if (whole.byteLength <= MAX_SYNC_MESSAGE_BYTES) return [whole];
  const parts: Uint8Array[] = [];
  for (let at = 0; at < whole.byteLength; at += PART_BYTES) {
    parts.push(encode({t: 'part', data: whole.subarray(at, at + PART_BYTES), last: at + PART_BYTES >= whole.byteLength}));
  }
  return parts;
}

/** The request for the next part. */
export function moreMessage(): Uint8Array {
  return encode({t: 'more'});
}

/**
 * Decode and validate a message from the peer as it came on the wire (the Automerge part is checked later, by Automerge).
 * @throws DecodeError when it is over MAX_SYNC_MESSAGE_BYTES (before decoding), malformed or not a message of this protocol.
 */
export function decodeWireMessage(bytes: Uint8Array): WireMessage {
  return decode(bytes, wireMessageSchema, 'automerge sync message', MAX_SYNC_MESSAGE_BYTES);
}

/**
 * Decode and validate a message reassembled from parts.
 * @throws DecodeError when it is over MAX_ASSEMBLED_MESSAGE_BYTES, malformed or not a whole message of this protocol.
 */
export function decodeAssembledMessage(bytes: Uint8Array): SessionMessage {
  return decode(bytes, sessionMessageSchema, 'automerge sync message (reassembled)', MAX_ASSEMBLED_MESSAGE_BYTES);
}
