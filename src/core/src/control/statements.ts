/**
 * Membership statements: the only liveness facts that travel between nodes.
 *
 * - `dead(x, i, by)`: node `by` found `x` unreachable (directly and through
 *   helpers) while `x` was at incarnation `i`. Signed by `by`.
 * - `alive(x, i)`: `x` refutes every claim about incarnations below `i`. Signed
 *   by `x` itself, so nobody can refute on another node's behalf.
 *
 * Nothing here is written into the CRDT store: records are rewritten only by
 * their owners for real changes, and a node that is simply alive has no
 * statement at all (incarnation 0), so the steady state costs nothing.
 * For one node, the statement with the higher incarnation wins; at equal
 * incarnations a claim wins over a refutation (the refuter must go higher), and
 * two claims are ordered by content hash so every replica keeps the same one.
 */
import {createHash} from 'node:crypto';
import {z} from 'zod';
import {EntryRejectedError, DecodeError} from '../errors.js';
import {verifySignature, type NodeIdentity} from '../identity/identity.js';
import {decode, encode} from '../util/codec.js';

/** Largest encoded statement body accepted. */
export const MAX_STATEMENT_BYTES = 512;

const nodeId = z.string().regex(/^[0-9a-f]{32}$/);
const incarnation = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** What a statement says. `m` mesh id, `x` the node it is about, `i` the incarnation. */
export const statementBodySchema = z.discriminatedUnion('k', [
  z.object({k: z.literal('alive'), m: z.string().min(1).max(64), x: nodeId, i: incarnation}).strict(),
  z.object({k: z.literal('dead'), m: z.string().min(1).max(64), x: nodeId, i: incarnation, by: nodeId}).strict(),
]);
/** What a statement says. */
export type StatementBody = z.infer<typeof statementBodySchema>;

/** A statement as it travels: encoded body and Ed25519 signature. */
export const wireStatementSchema = z.object({
  b: z.custom<Uint8Array>((value) => value instanceof Uint8Array && value.byteLength <= MAX_STATEMENT_BYTES, `must be at most ${MAX_STATEMENT_BYTES} bytes`),
  s: z.custom<Uint8Array>((value) => value instanceof Uint8Array && value.byteLength === 64, 'must be a 64-byte signature'),
});
/** A statement as it travels. */
export type WireStatement = z.infer<typeof wireStatementSchema>;

/** A statement that passed verification. */
export interface VerifiedStatement {
  /** Encoded body, exactly the signed bytes. */
  readonly body: Uint8Array;
  /** Signature of `body`. */
  readonly signature: Uint8Array;
  /** Decoded body. */
  readonly value: StatementBody;
  /** SHA-256 of signature || body. */
  readonly hash: Uint8Array;
}

function statementHash(body: Uint8Array, signature: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(signature).update(body).digest());
}

/** Sign a statement with this node's identity (the signer must be `x` for alive, `by` for dead). */
export function signStatement(identity: NodeIdentity, value: StatementBody): VerifiedStatement {
  const signer = value.k === 'alive' ? value.x : value.by;
  if (signer !== identity.nodeId) throw new EntryRejectedError('a statement can only be signed by the node that makes it');
  if (value.k === 'dead' && value.x === value.by) throw new EntryRejectedError('a node cannot declare itself dead');
  const body = encode(value);
  const signature = identity.sign(body);
  return {body, signature, value, hash: statementHash(body, signature)};
}

/** What a verifier needs: the mesh and the signing keys of current members. */
export interface StatementContext {
  readonly meshId: string;
  /** Signing key (base64) of a member with a live record, or undefined. */
  signingKeyOf(id: string): string | undefined;
}

/**
 * Verify a statement received from anywhere: shape, mesh, that both the subject
 * and the signer are current members, and the signature of the right node.
 * @throws EntryRejectedError saying which check failed.
 */
export function verifyStatement(wire: WireStatement, context: StatementContext): VerifiedStatement {
  let value: StatementBody;
  try {
    value = decode(wire.b, statementBodySchema, 'membership statement', MAX_STATEMENT_BYTES);
  } catch (error) {
    throw new EntryRejectedError(error instanceof DecodeError ? error.message : 'membership statement does not decode');
  }
  if (value.m !== context.meshId) throw new EntryRejectedError(`statement about ${value.x} belongs to mesh ${value.m}`);
  if (context.signingKeyOf(value.x) === undefined) throw new EntryRejectedError(`statement about ${value.x}, which is not a member`);
  const signer = value.k === 'alive' ? value.x : value.by;
  if (value.k === 'dead' && value.by === value.x) throw new EntryRejectedError(`node ${value.x} cannot declare itself dead`);
  const key = context.signingKeyOf(signer);
  if (key === undefined) throw new EntryRejectedError(`statement signed by ${signer}, which is not a member`);
  if (!verifySignature(key, wire.b, wire.s)) throw new EntryRejectedError(`statement about ${value.x} has a bad signature for ${signer}`);
  return {body: new Uint8Array(wire.b), signature: new Uint8Array(wire.s), value, hash: statementHash(wire.b, wire.s)};
}

/**
 * Margin on top of the bound of a refutation (see {@link incarnationBoundReason}):
 * a refutation is `claim + 1`, possibly a millisecond past the claim's bound.
 */
const REFUTATION_MARGIN_MS = 1_000;

/**
 * Why a verified statement's incarnation is out of bounds for a receiver
 * whose clock reads `now`, or undefined when it is in bounds.
 *
 * Incarnations are milliseconds on their writer's clock (a refutation is
 * `max(claim + 1, now)`), so none is far ahead of any honest clock:
 * - a claim may be at most `maxClockSkewMs` ahead of the receiver's clock;
 * - a refutation at most twice that plus a second: it is at most one above a
 *   claim another receiver accepted, whose clock may itself be `maxClockSkewMs`
 *   ahead of this one.
 * So whatever claim anybody makes, its subject's refutation is accepted
 * everywhere the claim was, and no claim can leave a node unable to refute.
 */
export function incarnationBoundReason(value: StatementBody, now: number, maxClockSkewMs: number): string | undefined {
  const limit = value.k === 'dead' ? now + maxClockSkewMs : now + 2 * maxClockSkewMs + REFUTATION_MARGIN_MS;
  if (value.i <= limit) return undefined;
  return `statement about ${value.x} has incarnation ${value.i}, ${value.i - now} ms ahead of this node's clock (over the bound of ${limit - now} ms from maxClockSkew)`;
}

/** The wire form of a statement. */
export function toWire(statement: VerifiedStatement): WireStatement {
  return {b: statement.body, s: statement.signature};
}

/**
 * The comparable essence of a statement: enough to decide which of two wins
 * without the statement itself (anti-entropy summaries carry only this).
 */
export interface StatementRank {
  /** Incarnation. */
  readonly i: number;
  /** True for a claim. */
  readonly dead: boolean;
  /** First 8 bytes of the content hash. */
  readonly h: Uint8Array;
}

/** The rank of a statement. */
export function rankOf(statement: VerifiedStatement): StatementRank {
  return {i: statement.value.i, dead: statement.value.k === 'dead', h: statement.hash.subarray(0, 8)};
}

/**
 * Which of two statements about the same node wins: positive when `a` wins, 0
 * when they are the same statement (as far as an 8-byte hash prefix can tell).
 */
export function compareRanks(a: StatementRank, b: StatementRank): number {
  if (a.i !== b.i) return a.i < b.i ? -1 : 1;
  if (a.dead !== b.dead) return a.dead ? 1 : -1;
  return Buffer.compare(a.h, b.h);
}
