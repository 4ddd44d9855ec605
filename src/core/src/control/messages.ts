/**
 * The control-plane messages carried by `Transport.message`: one MessagePack
 * envelope per request and per reply, validated with zod before anything looks
 * at it. Every list has a cap, so a hostile sender cannot make a node do work
 * proportional to what it chose to send beyond these bounds.
 *
 * Requests (`f` is the sender's node id):
 * - `push`   eager gossip: new store entries and membership statements
 * - `hb`     heartbeat to a monitor, with the sender's incarnation and, when
 *            sent directly, its anti-entropy digests (`sd`, `md` as in `ae`):
 *            the `ok` answering it then carries the `ae` answer (`s`, `m`)
 * - `relay`  "pass my heartbeat on to `to`" (when the direct one failed)
 * - `ping`   direct probe
 * - `preq`   "is `x` alive from where you stand?" (indirect probe)
 * - `ae`     anti-entropy: store digest and statement-table digest
 * - `mx`     statement exchange after digests differed
 * - `al`     "when did you first see each alias claim, and what does your
 *            clock say?" (answered to members)
 * - `jn`     a join: the joiner's signing key and credential (an invite and
 *            its redemption); the only request answered to a node that is not
 *            a member. Answered `jn` (with what `al` answers) when the joiner
 *            may fetch the snapshot, `err` saying why not otherwise
 *
 * `hb`, `relay` and `ping` carry `ts` (the original sender's stamp) and `a`,
 * a tag that the original sender computed for the final receiver (see
 * liveness-auth.ts): without a valid one a request is not evidence that its
 * claimed sender is alive. An `ok` answering them carries the receiver's tag
 * over the same stamp, so the requester may count the answer as evidence too.
 *
 * Replies: `ok` (optionally with statements the requester should know: a claim
 * against it, or a refutation better than what it pushed), `probe`, `ae`, `mx`,
 * or `err` for anything refused. The `ok` answering a direct `hb`, and the
 * `ae` answering an `ae`, may carry `w`: the ip:port the answering member's WireGuard sees the requester's
 * packets come from (its reflexive endpoint, see nat/observations.ts); a `w`
 * that is not an IP endpoint is dropped, not the reply.
 */
import {z} from 'zod';
import {MAX_ENTRY_BYTES} from '../model/entries.js';
import {MAX_CREDENTIAL_BYTES} from '../trust/credential.js';
import {decode, encodeMessage} from '../util/codec.js';
import {isIpEndpoint} from '../nat/ip-endpoint.js';
import {TAG_BYTES} from './liveness-auth.js';
import {wireStatementSchema} from './statements.js';

/**
 * Largest control message sent or accepted: 1 MiB, the size of a sync message.
 * The biggest bodies the caps above allow are a full statement list (1,024 x
 * ~600 bytes) or a full summary list (8,192 x ~55 bytes), each well under it,
 * and a push of records of typical size (a few KiB: 64 of them is ~128 KiB).
 * A push of many records near MAX_ENTRY_BYTES is refused by the sender's
 * transport before it is sent; anti-entropy then carries that news, in sync
 * messages, as it carries any bulk news.
 */
export const MAX_CONTROL_MESSAGE_BYTES = 1024 * 1024;
/** Most store entries in one push; a bigger batch of news is left to anti-entropy. */
export const MAX_PUSH_ENTRIES = 64;
/** Most statements in one message. */
export const MAX_STATEMENTS = 1024;
/** Most statement-summary lines in one message (about 50 bytes each). */
export const MAX_SUMMARIES = 8192;
/** Most alias claim times in one `al` reply (at most about 110 bytes each); claims beyond count as first seen by the joiner. */
export const MAX_ALIAS_CLAIMS = 4096;
/**
 * Largest entry count a join answer may announce (`e`): far above the entries
 * of any snapshot a transport accepts (grpc's `maxSnapshotBytes` is at most
 * 1 GiB, and an entry takes a few hundred bytes).
 */
export const MAX_ANNOUNCED_ENTRIES = 10_000_000;

const nodeId = z.string().regex(/^[0-9a-f]{32}$/);
/** Bytes as MessagePack decodes them, typed as plain Uint8Array (any backing buffer) so outgoing messages type-check too. */
const bytes = (max: number) => z.custom<Uint8Array>((value) => value instanceof Uint8Array && value.byteLength <= max, `must be at most ${max} bytes`);
const wireEntry = z.object({body: bytes(MAX_ENTRY_BYTES), signature: bytes(64)});
const incarnation = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const statements = z.array(wireStatementSchema).max(MAX_STATEMENTS);
const stamp = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const tag = z.custom<Uint8Array>((value) => value instanceof Uint8Array && value.byteLength === TAG_BYTES, `must be ${TAG_BYTES} bytes`);
const summaries = z.array(z.tuple([nodeId, incarnation, z.boolean(), bytes(8)]).readonly()).max(MAX_SUMMARIES);
const storeDigest = bytes(1024);
const aliasClaimLines = z.array(z.tuple([nodeId, z.string().max(63), stamp]).readonly()).max(MAX_ALIAS_CLAIMS);
const statementDigest = bytes(64);
/** An observed WireGuard endpoint; anything else reads as absent. */
const observedEndpoint = z.string().refine(isIpEndpoint).optional().catch(undefined);

/** Every request a node accepts. */
export const controlRequestSchema = z.discriminatedUnion('t', [
  z.object({t: z.literal('push'), f: nodeId, e: z.array(wireEntry).max(MAX_PUSH_ENTRIES).optional(), u: statements.optional()}),
  z.object({t: z.literal('hb'), f: nodeId, i: incarnation, ts: stamp, a: tag, sd: storeDigest.optional(), md: statementDigest.optional()}),
  z.object({t: z.literal('relay'), f: nodeId, to: nodeId, i: incarnation, ts: stamp, a: tag}),
  z.object({t: z.literal('ping'), f: nodeId, ts: stamp, a: tag, sd: storeDigest.optional(), md: statementDigest.optional()}),
  z.object({t: z.literal('preq'), f: nodeId, x: nodeId}),
  z.object({t: z.literal('ae'), f: nodeId, sd: storeDigest, md: statementDigest}),
  z.object({t: z.literal('mx'), f: nodeId, u: statements, w: z.array(nodeId).max(MAX_STATEMENTS)}),
  z.object({t: z.literal('al'), f: nodeId}),
  z.object({t: z.literal('jn'), f: nodeId, k: z.string().regex(/^[A-Za-z0-9+/]{43}=$/), c: bytes(MAX_CREDENTIAL_BYTES)}),
]);
/** A request. */
export type ControlRequest = z.infer<typeof controlRequestSchema>;

/** Every reply a node accepts. */
export const controlReplySchema = z.discriminatedUnion('t', [
  z.object({t: z.literal('ok'), u: statements.optional(), a: tag.optional(), s: z.boolean().optional(), m: summaries.optional(), w: observedEndpoint}),
  z.object({t: z.literal('probe'), alive: z.boolean()}),
  z.object({t: z.literal('ae'), s: z.boolean(), m: summaries.optional(), w: observedEndpoint}),
  z.object({t: z.literal('mx'), u: statements}),
  z.object({t: z.literal('al'), c: aliasClaimLines, n: stamp}),
  /** `e`: how many entries the member's store holds, a hint of the snapshot's size (it decides only whether verification workers start early). */
  z.object({t: z.literal('jn'), c: aliasClaimLines, n: stamp, e: z.number().int().nonnegative().max(MAX_ANNOUNCED_ENTRIES).optional()}),
  z.object({t: z.literal('err'), reason: z.string().max(500)}),
]);
/** A reply. */
export type ControlReply = z.infer<typeof controlReplySchema>;

/** Encode a request. */
export function encodeControlRequest(request: ControlRequest): Uint8Array {
  return encodeMessage(request);
}

/** Encode a reply. */
export function encodeControlReply(reply: ControlReply): Uint8Array {
  return encodeMessage(reply);
}

/** Decode and validate a request. @throws DecodeError */
export function decodeControlRequest(payload: Uint8Array): ControlRequest {
  return decode(payload, controlRequestSchema, 'control request', MAX_CONTROL_MESSAGE_BYTES);
}

/** Decode and validate a reply. @throws DecodeError */
export function decodeControlReply(payload: Uint8Array): ControlReply {
  return decode(payload, controlReplySchema, 'control reply', MAX_CONTROL_MESSAGE_BYTES);
}
