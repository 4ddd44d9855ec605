/**
 * The signed documents of a mesh's trust model (DESIGN.md section 7): an
 * admin grant, a membership, an invite and an invite's redemption. Each is a
 * small MessagePack map signed by one Ed25519 key; receivers decode it through
 * the codec and check it with the schemas here before anything else reads it.
 */
import {createHash} from 'node:crypto';
import {z} from 'zod';
import {nodeIdFromSigningKey, verifySignature} from '../identity/identity.js';
import {ROLES} from '../model/record.js';
import {decode, encode} from '../util/codec.js';

/** Largest encoded document accepted. */
export const MAX_DOCUMENT_BYTES = 1024;

/** Most nodes one invite may admit. */
export const MAX_INVITE_USES = 10_000;

const base64Key = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be a 32-byte key in base64');
const meshIdText = z.string().regex(/^[a-z2-7]{26}$/, 'must be a mesh id');
const time = z.number().int().nonnegative();

/** The authority (or an admin it granted) lets the holder of key `k` act as an admin of mesh `m`. */
export const grantSchema = z.object({t: z.literal('grant'), m: meshIdText, k: base64Key, i: time, e: time.nullable()});
/** An admin grant. */
export type Grant = z.infer<typeof grantSchema>;

/** An admin admits the node whose signing key is `n`, with role `r`, until `e` (null: no end). */
export const membershipSchema = z.object({t: z.literal('member'), m: meshIdText, n: base64Key, r: z.enum(ROLES), i: time, e: time.nullable()});
/** A membership issued directly by an admin. */
export type Membership = z.infer<typeof membershipSchema>;

/**
 * An admin lets up to `u` nodes in with role `r` until `e`, each proving it
 * holds the invite's private key (whose public half is `k`). `id` is the node
 * id form of `k`, so an invite is named like a node and cannot be confused with one.
 */
export const inviteSchema = z.object({
  t: z.literal('invite'),
  m: meshIdText,
  id: z.string().regex(/^[0-9a-f]{32}$/),
  k: base64Key,
  r: z.enum(ROLES),
  u: z.number().int().min(1).max(MAX_INVITE_USES),
  i: time,
  e: time,
});
/** An invite. */
export type Invite = z.infer<typeof inviteSchema>;

/** The holder of invite `v` redeemed it at time `a` for the node whose signing key is `n` (signed by the invite key). */
export const redemptionSchema = z.object({t: z.literal('redeem'), m: meshIdText, v: z.string().regex(/^[0-9a-f]{32}$/), n: base64Key, a: time});
/** An invite's redemption for one node. */
export type Redemption = z.infer<typeof redemptionSchema>;

/** A document as it travels: the encoded body and its Ed25519 signature. */
const bytes = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'must be bytes');
export const signedDocumentSchema = z.object({b: bytes, s: bytes});
/** A signed document. */
export interface SignedDocument {
  /** The encoded document, exactly the bytes signed. */
  readonly b: Uint8Array;
  /** Ed25519 signature of `b`. */
  readonly s: Uint8Array;
}

/** Encode and sign a document. */
export function signDocument(signer: {sign(data: Uint8Array): Uint8Array}, document: Grant | Membership | Invite | Redemption): SignedDocument {
  const b = encode(document);
  return {b, s: signer.sign(b)};
}

/**
 * Signatures already checked, so that a document many credentials share (an
 * invite, an admin grant) is verified once. Holds at most `capacity` and
 * forgets the oldest first; only good signatures are remembered.
 */
export class SignatureMemo {
  private readonly good = new Set<string>();
  constructor(private readonly capacity = 4096) {}

  /** {@link verifySignature}, from the memo when this key, document and signature were checked before. */
  verify(signingKey: string, data: Uint8Array, signature: Uint8Array): boolean {
    const key = `${signingKey}/${Buffer.from(signature).toString('base64')}/${createHash('sha256').update(data).digest('base64')}`;
    if (this.good.has(key)) return true;
    if (!verifySignature(signingKey, data, signature)) return false;
    if (this.good.size >= this.capacity) this.good.delete(this.good.values().next().value as string);
    this.good.add(key);
    return true;
  }
}

/**
 * Decode a signed document, check its shape and that `signingKey` signed it
 * (through `signatures` when given).
 * @returns the document, or a string saying what is wrong.
 */
export function openDocument<S extends z.ZodType>(signed: SignedDocument, schema: S, signingKey: string, what: string, signatures?: SignatureMemo): z.infer<S> | string {
  const good = signatures ? signatures.verify(signingKey, signed.b, signed.s) : verifySignature(signingKey, signed.b, signed.s);
  if (!good) return `${what} has a bad signature`;
  try {
    return decode(signed.b, schema, what, MAX_DOCUMENT_BYTES);
  } catch (error) {
    return (error as Error).message;
  }
}

/** The id of the invite whose public key is `inviteKey` (same form as a node id). */
export function inviteIdOf(inviteKey: string): string {
  return nodeIdFromSigningKey(inviteKey);
}
