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
 */
import {bytesSchema, decode, encode} from '@wgmesh/core';
import {z} from 'zod';
import {generationSchema} from './snapshot.js';
import {MAX_SYNC_MESSAGE_BYTES} from './limits.js';

/** Version of this protocol; a peer speaking another is refused. */
export const PROTOCOL_VERSION = 1;
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

/** Any message of the protocol. */
export const sessionMessageSchema = z.discriminatedUnion('t', [helloSchema, equalSchema, syncSchema]);
/** Any message of the protocol, as received. */
export type SessionMessage = z.infer<typeof sessionMessageSchema>;

/** A message as this side builds it (any Uint8Array will do for bytes). */
export type OutgoingMessage =
  | {t: 'hello'; v: number; mesh: string; kind: string; gen: number; digest: Uint8Array; am: Uint8Array}
  | {t: 'equal'}
  | {t: 'sync'; gen: number; am: Uint8Array | null};

/** Encode a message for the wire. */
export function encodeMessage(message: OutgoingMessage): Uint8Array {
  return encode(message);
}

/**
 * Decode and validate a message from the peer (the Automerge part is checked later, by Automerge).
 * @throws DecodeError when it is too long, malformed or not a message of this protocol.
 */
export function decodeMessage(bytes: Uint8Array): SessionMessage {
  return decode(bytes, sessionMessageSchema, 'automerge sync message', MAX_SYNC_MESSAGE_BYTES);
}
