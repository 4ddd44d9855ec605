/**
 * What an admin of a mesh signs: memberships, invites, grants for other
 * admins and revocations. An admin is the holder of the mesh authority's key,
 * or of a key the authority granted admin rights to.
 */
import {ed25519Signer, type Ed25519Signer} from '../identity/identity.js';
import type {Revocation, Role, VerifiedEntry} from '../model/record.js';
import {signRevocation} from '../model/entries.js';
import {encodeCredential, meshIdFromAuthorityKey, type AdminChain} from './credential.js';
import {inviteIdOf, signDocument, type Invite, type SignedDocument} from './documents.js';

/** An admin's key and the chain that makes it one. */
export interface MeshAdmin {
  /** The mesh. */
  readonly meshId: string;
  /** Signs as the admin (the authority's key, or the granted node key). */
  readonly signer: {readonly publicKey: string; sign(data: Uint8Array): Uint8Array};
  /** Authority key and grant. */
  readonly chain: AdminChain;
}

/** A new mesh authority: its key, and the admin it makes (the mesh id is derived from the key). */
export function createAuthority(): {authority: Ed25519Signer; admin: MeshAdmin} {
  const authority = ed25519Signer();
  return {authority, admin: authorityAdmin(authority)};
}

/** The admin that holds the authority's own key. */
export function authorityAdmin(authority: Ed25519Signer): MeshAdmin {
  return {meshId: meshIdFromAuthorityKey(authority.publicKey), signer: authority, chain: {authorityKey: authority.publicKey, grant: null}};
}

/** A credential that admits the node whose signing key is `signingKey` directly (the mesh creator, an admin's own node). */
export function issueMembership(admin: MeshAdmin, signingKey: string, role: Role, now: number, validUntil: number | null = null): Uint8Array {
  const c = signDocument(admin.signer, {t: 'member', m: admin.meshId, n: signingKey, r: role, i: now, e: validUntil});
  return encodeCredential({a: admin.chain.authorityKey, g: admin.chain.grant, c, r: null});
}

/** A grant of admin rights to the holder of `adminKey` (signed by the authority only: grants do not chain). */
export function issueGrant(authority: Ed25519Signer, adminKey: string, now: number, validUntil: number | null = null): SignedDocument {
  return signDocument(authority, {t: 'grant', m: meshIdFromAuthorityKey(authority.publicKey), k: adminKey, i: now, e: validUntil});
}

/** A new invite signed by `admin`, and the invite's key that its holder proves with. */
export function issueInvite(admin: MeshAdmin, options: {role: Role; uses: number; now: number; expiresAt: number}): {invite: Invite; signed: SignedDocument; key: Ed25519Signer} {
  const key = ed25519Signer();
  const invite: Invite = {t: 'invite', m: admin.meshId, id: inviteIdOf(key.publicKey), k: key.publicKey, r: options.role, u: options.uses, i: options.now, e: options.expiresAt};
  return {invite, signed: signDocument(admin.signer, invite), key};
}

/** The credential a node makes for itself from an invite it holds: the invite plus a redemption for its signing key at `at`. */
export function redeemInvite(chain: AdminChain, invite: {signed: SignedDocument; invite: Invite; key: {sign(data: Uint8Array): Uint8Array}}, signingKey: string, at: number): Uint8Array {
  const r = signDocument(invite.key, {t: 'redeem', m: invite.invite.m, v: invite.invite.id, n: signingKey, a: at});
  return encodeCredential({a: chain.authorityKey, g: chain.grant, c: invite.signed, r});
}

/**
 * A signed revocation of node (or invite) `id`, dated `now`. For a node that
 * came in with an invite, `invite` names it, so that the use stays spent.
 */
export function issueRevocation(admin: MeshAdmin, id: string, target: 'node' | 'invite', now: number, reason: string | null = null, invite: string | null = null): VerifiedEntry {
  const body: Revocation = {
    kind: 'revocation',
    meshId: admin.meshId,
    id,
    target,
    signingKey: admin.signer.publicKey,
    authority: admin.chain.authorityKey,
    grant: admin.chain.grant,
    reason,
    invite,
    version: now,
    updatedAt: now,
  };
  return signRevocation(admin.signer, body);
}
