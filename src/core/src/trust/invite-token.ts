/**
 * Invite tokens: the one line an admin hands to a new node. It holds the
 * mesh's authority key (which the mesh id is derived from), the issuing
 * admin's grant, the signed invite, the invite's private key (what makes the
 * line a secret) and the control endpoints of a few live members to join
 * through. Everything in it is checked on decoding, so a damaged or forged
 * line is refused before any connection is made.
 */
import {z} from 'zod';
import {ed25519Signer, type Ed25519Signer} from '../identity/identity.js';
import {InvalidInputError} from '../errors.js';
import {decodeLine, encodeLine} from './lines.js';
import {meshIdFromAuthorityKey, openAdminChain, type AdminChain} from './credential.js';
import {inviteIdOf, inviteSchema, openDocument, signedDocumentSchema, type Invite, type SignedDocument} from './documents.js';

/** What every token starts with (format version 1). */
export const INVITE_TOKEN_PREFIX = 'wgm1-';
/** Most member endpoints a token carries. */
export const MAX_TOKEN_ENDPOINTS = 8;

const tokenSchema = z.object({
  a: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
  g: signedDocumentSchema.nullable(),
  i: signedDocumentSchema,
  k: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
  e: z.array(z.string().min(1).max(300)).max(MAX_TOKEN_ENDPOINTS),
  /** Settings the admin suggests for the joined node (unsigned: the joiner's own flags win). */
  o: z.object({r: z.boolean().optional(), d: z.boolean().optional()}).optional(),
});

/** Settings an invite suggests for the node that joins with it; its own flags win. */
export interface InviteSuggestions {
  /** Advertise the mesh's prefix and learned routes into the node's other meshes. */
  readonly advertiseRoutes?: boolean;
  /** Advertise a default route into the mesh (an exit). */
  readonly advertiseDefault?: boolean;
}

/** A decoded, checked invite token. */
export interface InviteToken {
  /** The mesh the invite is for. */
  readonly meshId: string;
  /** The authority key and the issuer's grant. */
  readonly chain: AdminChain;
  /** The invite as signed by its issuer. */
  readonly signed: SignedDocument;
  /** The invite's content. */
  readonly invite: Invite;
  /** The invite's key: signs redemptions. A secret. */
  readonly key: Ed25519Signer;
  /** Control endpoints of members to join through, best first. */
  readonly endpoints: readonly string[];
  /** What the admin suggests the joined node advertise. */
  readonly suggestions: InviteSuggestions;
}

/** Encode an invite as a single-line token. */
export function encodeInviteToken(token: Omit<InviteToken, 'invite' | 'meshId' | 'suggestions'> & {suggestions?: InviteSuggestions}): string {
  const {advertiseRoutes, advertiseDefault} = token.suggestions ?? {};
  const o = advertiseRoutes || advertiseDefault ? {...(advertiseRoutes ? {r: true} : {}), ...(advertiseDefault ? {d: true} : {})} : undefined;
  return encodeLine(INVITE_TOKEN_PREFIX, {a: token.chain.authorityKey, g: token.chain.grant, i: token.signed, k: token.key.privateKey, e: token.endpoints.slice(0, MAX_TOKEN_ENDPOINTS), ...(o ? {o} : {})});
}

/**
 * Decode and check an invite token: its shape, that its authority key gives
 * its mesh id, that an admin of that mesh signed the invite, and that the key
 * in it is the invite's. Whether it expired, was used up or revoked is for the
 * caller (expiry against its clock) and the members (uses, revocation).
 * @throws InvalidInputError saying what is wrong with the line
 */
export function decodeInviteToken(text: string): InviteToken {
  const invalid = (reason: string): InvalidInputError => new InvalidInputError(`not a valid invite: ${reason} (copy the whole line printed by 'wgmesh mesh invite')`);
  const raw = decodeLine(text, INVITE_TOKEN_PREFIX, tokenSchema, 'invite');
  if (typeof raw === 'string') throw invalid(raw);
  const chain: AdminChain = {authorityKey: raw.a, grant: raw.g};
  const meshId = meshIdFromAuthorityKey(raw.a);
  const admin = openAdminChain(chain, meshId, 0);
  if (typeof admin === 'string') throw invalid(admin);
  const invite = openDocument(raw.i, inviteSchema, admin.adminKey, 'invite');
  if (typeof invite === 'string') throw invalid(invite);
  if (invite.m !== meshId) throw invalid(`the invite is for mesh ${invite.m}, not its authority's ${meshId}`);
  const key = ed25519Signer(raw.k);
  if (key.publicKey !== invite.k || inviteIdOf(key.publicKey) !== invite.id) throw invalid('its key is not the invite key');
  const suggestions: InviteSuggestions = {...(raw.o?.r ? {advertiseRoutes: true} : {}), ...(raw.o?.d ? {advertiseDefault: true} : {})};
  return {meshId: invite.m, chain, signed: raw.i, invite, key, endpoints: raw.e, suggestions};
}
