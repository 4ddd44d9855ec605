/**
 * The twophase sync protocol: message schemas and their encoding. Every
 * message is plain MessagePack (core's codec) validated with zod on receipt,
 * and none is over MAX_SYNC_MESSAGE_BYTES.
 *
 * ```
 * initiator                                   responder
 * hello {v, mesh, kind, digest, count}  ->
 *                                       <-    equal                      (same state: done)
 *                                       <-    buckets {bits, digests}    (otherwise)
 * then, for each batch of differing buckets (ascending), as many as the state needs:
 * summaries {buckets, items, last}      ->    (initiator's entries in the batch's buckets)
 *                                       <-    entries {entries, want, done}
 * final {entries, done}                 ->    (a part of what was wanted)
 *                                       <-    entries {entries, want: none, done}
 * ...                                         until both sides said `done`
 * ```
 * A batch's entries travel in parts of at most MAX_ENTRIES_PER_MESSAGE, one
 * part per message each way, so each message costs the receiver a few ms
 * and the daemon stays responsive between messages. `done` says the sender
 * has nothing more to send for the batch; a message that is not `done`
 * carries at least one entry. `want` (the ids the responder asks for) comes
 * in the first `entries` of a batch only. A batch is over once both sides
 * said `done`: the initiator then sends the next batch, or ends the session
 * after the `last`.
 */
import {bytesSchema, decode, DecodeError, encode, signedEntrySchema, type VerifiedEntry} from '@wgmesh/core';
import {z} from 'zod';
import {BUCKET_DIGEST_BYTES, MAX_BUCKET_BITS} from './buckets.js';
import {MAX_ENTRIES_PER_MESSAGE, MAX_SUMMARIES_PER_MESSAGE, MAX_SYNC_MESSAGE_BYTES} from './limits.js';

/** Version of this protocol; a peer speaking another is refused. */
export const PROTOCOL_VERSION = 3;
/** Bytes of a store digest: 8-byte entry count then a 32-byte hash sum. */
export const DIGEST_BYTES = 40;
/** Bytes of a node id on the wire (32 hex digits as raw bytes). */
export const ID_BYTES = 16;
/** Bytes of the hash prefix in a summary: 128 bits, so two different versions never look alike by accident. */
export const SUMMARY_HASH_BYTES = 16;
/**
 * Bytes of one packed summary: id, rank (uint64), hash prefix. The rank is
 * the entry's version, with the top bit set for a revocation (versions stay
 * below 2^53, so the bit is free), so a summary orders like core's
 * `compareEntries`.
 */
export const SUMMARY_BYTES = ID_BYTES + 8 + SUMMARY_HASH_BYTES;

const helloSchema = z.object({
  t: z.literal('hello'),
  v: z.number().int(),
  mesh: z.string().max(64),
  kind: z.string().max(64),
  digest: bytesSchema.refine((b) => b.byteLength === DIGEST_BYTES, `digest must be ${DIGEST_BYTES} bytes`),
  count: z.number().int().nonnegative(),
});
const equalSchema = z.object({t: z.literal('equal')});
const bucketsSchema = z
  .object({
    t: z.literal('buckets'),
    bits: z.number().int().min(0).max(MAX_BUCKET_BITS),
    digests: bytesSchema,
  })
  .refine((m) => m.digests.byteLength === 2 ** m.bits * BUCKET_DIGEST_BYTES, 'digests must hold one sum per bucket');
const summariesSchema = z.object({
  t: z.literal('summaries'),
  buckets: z.array(z.number().int().nonnegative()).min(1).max(2 ** MAX_BUCKET_BITS),
  items: bytesSchema.refine(
    (b) => b.byteLength % SUMMARY_BYTES === 0 && b.byteLength / SUMMARY_BYTES <= MAX_SUMMARIES_PER_MESSAGE,
    `items must be at most ${MAX_SUMMARIES_PER_MESSAGE} summaries of ${SUMMARY_BYTES} bytes`,
  ),
  last: z.boolean(),
});
const entriesSchema = z.object({
  t: z.literal('entries'),
  entries: z.array(signedEntrySchema).max(MAX_ENTRIES_PER_MESSAGE),
  want: bytesSchema.refine(
    (b) => b.byteLength % ID_BYTES === 0 && b.byteLength / ID_BYTES <= MAX_SUMMARIES_PER_MESSAGE,
    `want must be at most ${MAX_SUMMARIES_PER_MESSAGE} ids of ${ID_BYTES} bytes`,
  ),
  done: z.boolean(),
});
const finalSchema = z.object({
  t: z.literal('final'),
  entries: z.array(signedEntrySchema).max(MAX_ENTRIES_PER_MESSAGE),
  done: z.boolean(),
});

/** Any message of the protocol. */
export const syncMessageSchema = z.union([helloSchema, equalSchema, bucketsSchema, summariesSchema, entriesSchema, finalSchema]);
/** Any message of the protocol. */
export type SyncMessage = z.infer<typeof syncMessageSchema>;
/** The message of one type. */
export type SyncMessageOf<T extends SyncMessage['t']> = Extract<SyncMessage, {t: T}>;

/** Bytes of any backing buffer are fine to send; only received bytes come narrowed by the schema. */
type Widen<T> = T extends Uint8Array ? Uint8Array : T extends readonly (infer E)[] ? Widen<E>[] : T extends object ? {[K in keyof T]: Widen<T[K]>} : T;
/** A message as this side builds it for sending. */
export type OutgoingMessage = Widen<SyncMessage>;

/** Encode a message for the wire. */
export function encodeMessage(message: OutgoingMessage): Uint8Array {
  return encode(message);
}

/**
 * Decode and validate a message from the peer.
 * @throws DecodeError when it is too long, malformed or not a message of this protocol.
 */
export function decodeMessage(bytes: Uint8Array): SyncMessage {
  return decode(bytes, syncMessageSchema, 'twophase sync message', MAX_SYNC_MESSAGE_BYTES);
}

/** What one side tells the other about an entry it holds, without the entry itself. */
export interface EntrySummary {
  /** Node id (32 hex digits). */
  readonly id: string;
  /** True for a revocation, which outranks any record or tombstone. */
  readonly revocation: boolean;
  /** The entry's version. */
  readonly version: number;
  /** The first {@link SUMMARY_HASH_BYTES} bytes of the entry's content hash. */
  readonly hashPrefix: Uint8Array;
}

/** Top bit of a summary's rank: the entry is a revocation. */
const REVOCATION_BIT = 0x8000_0000;

/** Pack summaries of `entries` into fixed-size binary records (far smaller than MessagePack maps). */
export function packSummaries(entries: readonly VerifiedEntry[]): Uint8Array {
  const out = Buffer.alloc(entries.length * SUMMARY_BYTES);
  entries.forEach((entry, index) => {
    const offset = index * SUMMARY_BYTES;
    out.write(entry.value.id, offset, ID_BYTES, 'hex');
    // Versions are safe integers (< 2^53): two 32-bit halves, no BigInt per summary.
    const revocation = entry.value.kind === 'revocation' ? REVOCATION_BIT : 0;
    out.writeUInt32BE((Math.floor(entry.value.version / 2 ** 32) | revocation) >>> 0, offset + ID_BYTES);
    out.writeUInt32BE(entry.value.version >>> 0, offset + ID_BYTES + 4);
    out.set(entry.hash.subarray(0, SUMMARY_HASH_BYTES), offset + ID_BYTES + 8);
  });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Unpack summaries (the length was validated by the schema).
 * @throws DecodeError on a version beyond what an entry can carry.
 */
export function unpackSummaries(bytes: Uint8Array): EntrySummary[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: EntrySummary[] = [];
  for (let offset = 0; offset < buffer.byteLength; offset += SUMMARY_BYTES) {
    const rank = buffer.readUInt32BE(offset + ID_BYTES);
    const high = rank & ~REVOCATION_BIT;
    if (high >= 2 ** 21) throw new DecodeError('twophase sync message: summary version out of range');
    out.push({
      id: buffer.toString('hex', offset, offset + ID_BYTES),
      revocation: (rank & REVOCATION_BIT) !== 0,
      version: high * 2 ** 32 + buffer.readUInt32BE(offset + ID_BYTES + 4),
      // A view, not a copy: the message outlives the session's use of it.
      hashPrefix: buffer.subarray(offset + ID_BYTES + 8, offset + SUMMARY_BYTES),
    });
  }
  return out;
}

/** Pack node ids (32 hex digits each) into raw bytes. */
export function packIds(ids: readonly string[]): Uint8Array {
  const out = Buffer.alloc(ids.length * ID_BYTES);
  ids.forEach((id, index) => out.write(id, index * ID_BYTES, ID_BYTES, 'hex'));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Unpack raw node ids (the length was validated by the schema). */
export function unpackIds(bytes: Uint8Array): string[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: string[] = [];
  for (let offset = 0; offset < buffer.byteLength; offset += ID_BYTES) out.push(buffer.toString('hex', offset, offset + ID_BYTES));
  return out;
}

/**
 * Order of a held entry against a peer's summary of the same node: positive when
 * ours wins, negative when theirs does, 0 when they are the same version. Agrees
 * with core's `compareEntries`, which puts a revocation first, then orders by
 * version, then by content hash.
 */
export function compareWithSummary(ours: VerifiedEntry, theirs: EntrySummary): number {
  const revoked = Number(ours.value.kind === 'revocation') - Number(theirs.revocation);
  if (revoked !== 0) return revoked;
  if (ours.value.version !== theirs.version) return ours.value.version - theirs.version;
  for (let i = 0; i < SUMMARY_HASH_BYTES; i++) {
    const difference = (ours.hash[i] as number) - (theirs.hashPrefix[i] as number);
    if (difference !== 0) return difference;
  }
  return 0;
}
