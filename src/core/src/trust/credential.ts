/**
 * Membership credentials: the chain from a mesh's authority to one node's
 * signing key that every entry a node writes carries. The mesh id is derived
 * from the authority's public key, so anyone who knows the id can check a
 * credential without trusting whoever handed it over:
 *
 * ```
 * authority key --hash--> mesh id
 *   [grant: authority lets admin key K act]          (absent when the authority signed directly)
 *   membership: admin admits node key N, role R      (signed by the authority or K)
 *   | invite: admin lets U nodes in with role R      (signed by the authority or K)
 *     redemption: invite holder admits node key N    (signed by the invite's own key)
 * ```
 */
import {createHash} from 'node:crypto';
import {z} from 'zod';
import {base32} from '../addressing/mesh-id.js';
import type {Role} from '../model/record.js';
import {BoundedMemo} from '../util/bounded-memo.js';
import {decode, encode} from '../util/codec.js';
import {
  grantSchema,
  inviteSchema,
  membershipSchema,
  openDocument,
  redemptionSchema,
  signedDocumentSchema,
  SignatureMemo,
  type Invite,
  type SignedDocument,
} from './documents.js';

/** Largest encoded credential accepted. */
export const MAX_CREDENTIAL_BYTES = 4096;

/** Mesh ids of the authority keys in use (64 at most): every credential of a mesh names its authority, so a snapshot derives one id thousands of times. */
const meshIdsByAuthority = new BoundedMemo<string>(64);

/** The mesh id that belongs to an authority's Ed25519 public key (base64): 26 base32 characters of its SHA-256. */
export function meshIdFromAuthorityKey(authorityKey: string): string {
  return meshIdsByAuthority.get(authorityKey, () => base32(createHash('sha256').update(Buffer.from(authorityKey, 'base64')).digest()).slice(0, 26));
}

/** What a credential's issuer signs: a membership or an invite (built once: a zod schema costs more to build than to run). */
const issuedDocumentSchema = membershipSchema.or(inviteSchema);

/** Wire shape of a credential. */
export const credentialSchema = z.object({
  /** The authority's public key (base64). */
  a: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
  /** The issuer's admin grant, when the issuer is not the authority itself. */
  g: signedDocumentSchema.nullable(),
  /** The membership or invite, signed by the issuer. */
  c: signedDocumentSchema,
  /** The invite's redemption for this node, when `c` is an invite. */
  r: signedDocumentSchema.nullable(),
});
/** A credential as it travels. */
export type Credential = z.infer<typeof credentialSchema>;

/** What a valid credential says. */
export interface CredentialFacts {
  /** The role it allows: a `peer` credential allows either role, a `client` one only `client`. */
  readonly role: Role;
  /**
   * When it stops being valid (ms), or null: the end of a direct
   * membership. An admin's grant need only be valid when the admin issued
   * the membership or invite: nodes an admin let in stay when its grant ends.
   */
  readonly validUntil: number | null;
  /** The key that issued the membership or invite: the authority's or an admin's. */
  readonly issuerKey: string;
  /** Set when the node came in through an invite. */
  readonly invite: {readonly id: string; readonly uses: number; readonly expiresAt: number; readonly redeemedAt: number} | null;
}

/** An admin's authority to sign for a mesh: the authority key itself, or a key the authority granted. */
export interface AdminChain {
  /** The authority's public key. */
  readonly authorityKey: string;
  /** The grant naming the admin's key, or null when the admin is the authority. */
  readonly grant: SignedDocument | null;
}

/** Encode a credential for a record. */
export function encodeCredential(credential: Credential): Uint8Array {
  return encode(credential);
}

/**
 * Check that `chain` makes its signer an admin of `meshId` at time `now`.
 * @returns the admin's key and the end of its grant, or a string saying what is wrong.
 */
export function openAdminChain(chain: AdminChain, meshId: string, now: number, signatures?: SignatureMemo): {adminKey: string; validUntil: number | null} | string {
  if (meshIdFromAuthorityKey(chain.authorityKey) !== meshId) return `its authority key does not belong to mesh ${meshId}`;
  if (chain.grant === null) return {adminKey: chain.authorityKey, validUntil: null};
  const grant = openDocument(chain.grant, grantSchema, chain.authorityKey, 'admin grant', signatures);
  if (typeof grant === 'string') return grant;
  if (grant.m !== meshId) return `its admin grant is for mesh ${grant.m}`;
  if (grant.e !== null && grant.e < now) return `its admin grant expired at ${new Date(grant.e).toISOString()}`;
  return {adminKey: grant.k, validUntil: grant.e};
}

/** Why an admin whose grant ends at `grantEnd` could not have issued at `issuedAt`, or undefined when it could. */
export function issuedAfterGrant(grantEnd: number | null, issuedAt: number): string | undefined {
  return grantEnd !== null && issuedAt > grantEnd ? `issued at ${new Date(issuedAt).toISOString()}, after the issuer's admin grant ended` : undefined;
}

/**
 * Everything about a credential that does not depend on the clock: decode
 * it and check each signature and binding for a node of `meshId` whose
 * signing key is `signingKey`. Expiry is left to the caller (`validUntil`).
 * @returns the credential's facts, or a string saying what is wrong.
 */
export function openCredential(bytes: Uint8Array, meshId: string, signingKey: string, signatures?: SignatureMemo): CredentialFacts | string {
  let credential: Credential;
  try {
    credential = decode(bytes, credentialSchema, 'credential', MAX_CREDENTIAL_BYTES);
  } catch (error) {
    return (error as Error).message;
  }
  // The grant must have been valid when the membership or invite was issued (checked below), not now.
  const admin = openAdminChain({authorityKey: credential.a, grant: credential.g}, meshId, 0, signatures);
  if (typeof admin === 'string') return `credential: ${admin}`;
  const membership = openDocument(credential.c, issuedDocumentSchema, admin.adminKey, 'membership', signatures);
  if (typeof membership === 'string') return `credential: ${membership}`;
  if (membership.m !== meshId) return `credential is for mesh ${membership.m}`;
  const late = issuedAfterGrant(admin.validUntil, membership.i);
  if (late !== undefined) return `credential ${late}`;
  if (membership.t === 'member') {
    if (membership.n !== signingKey) return 'credential admits another node';
    if (credential.r !== null) return 'credential has a redemption but no invite';
    return {role: membership.r, validUntil: membership.e, issuerKey: admin.adminKey, invite: null};
  }
  return openRedemption(credential, membership, signingKey, admin);
}

function openRedemption(credential: Credential, invite: Invite, signingKey: string, admin: {adminKey: string}): CredentialFacts | string {
  if (credential.r === null) return 'credential has an invite but no redemption';
  const redemption = openDocument(credential.r, redemptionSchema, invite.k, 'redemption');
  if (typeof redemption === 'string') return `credential: ${redemption}`;
  if (redemption.m !== invite.m || redemption.v !== invite.id) return 'credential: the redemption is for another invite';
  if (redemption.n !== signingKey) return 'credential: the invite was redeemed for another node';
  if (redemption.a < invite.i || redemption.a > invite.e) return 'credential: the invite was redeemed outside its validity';
  return {
    role: invite.r,
    validUntil: null,
    issuerKey: admin.adminKey,
    invite: {id: invite.id, uses: invite.u, expiresAt: invite.e, redeemedAt: redemption.a},
  };
}

/**
 * Memoised {@link openCredential}: a node's credential is the same bytes in
 * every version of its record, so each is checked once. The memo holds at
 * most `capacity` results and forgets the oldest first.
 */
export class CredentialMemo {
  private readonly results = new Map<string, CredentialFacts | string>();
  /** Invites and grants are shared by many credentials: each is verified once. */
  private readonly signatures = new SignatureMemo();
  constructor(private readonly capacity = 16_384) {}

  /** {@link openCredential}, from the memo when these bytes were checked for this mesh and key before. */
  open(bytes: Uint8Array, meshId: string, signingKey: string): CredentialFacts | string {
    const key = memoKey(bytes, meshId, signingKey);
    const known = this.results.get(key);
    if (known !== undefined) return known;
    const result = openCredential(bytes, meshId, signingKey, this.signatures);
    this.put(key, result);
    return result;
  }

  /**
   * Take the facts {@link openCredential} gave for these bytes elsewhere (in
   * a worker thread), so that opening them here costs no verification.
   */
  remember(bytes: Uint8Array, meshId: string, signingKey: string, facts: CredentialFacts): void {
    const key = memoKey(bytes, meshId, signingKey);
    if (!this.results.has(key)) this.put(key, facts);
  }

  private put(key: string, result: CredentialFacts | string): void {
    if (this.results.size >= this.capacity) this.results.delete(this.results.keys().next().value as string);
    this.results.set(key, result);
  }
}

function memoKey(bytes: Uint8Array, meshId: string, signingKey: string): string {
  return `${meshId}/${signingKey}/${createHash('sha256').update(bytes).digest('base64')}`;
}
