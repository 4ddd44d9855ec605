import {describe, expect, it} from 'vitest';
import {makeTestNode, testMeshAdmin, testMeshAuthority, testMeshId} from '@wgmesh/testkit';
import {
  compareEntries,
  credentialFactsOf,
  decodeInviteToken,
  encodeInviteToken,
  generateIdentity,
  issueGrant,
  issueInvite,
  issueMembership,
  issueRevocation,
  meshIdFromAuthorityKey,
  openCredential,
  redeemInvite,
  refusedByInviteLimits,
  verifyEntry,
  decodeControlRequest,
  encodeControlRequest,
  MAX_CREDENTIAL_BYTES,
  MAX_INVITE_USES,
  type EntryBody,
  type MeshAdmin,
} from '../src/index.js';
import {ed25519Signer} from '../src/identity/identity.js';

const now = Date.UTC(2026, 0, 1);
const verify = (meshId: string) => ({meshId, now, maxClockSkewMs: 60_000});

describe('mesh authority and credentials', () => {
  it('derives the mesh id from the authority key, in the mesh id format', () => {
    const key = ed25519Signer();
    const meshId = meshIdFromAuthorityKey(key.publicKey);
    expect(meshId).toMatch(/^[a-z2-7]{26}$/);
    expect(meshIdFromAuthorityKey(ed25519Signer().publicKey)).not.toBe(meshId);
  });

  it('accepts a record whose credential the authority signed, and refuses one without a valid chain', () => {
    const meshId = testMeshId();
    const node = makeTestNode(meshId, {now});
    expect(() => verifyEntry(node.record(), verify(meshId))).not.toThrow();

    // A member cannot admit another node: its own key is not an admin key.
    const member = generateIdentity();
    const selfMade: MeshAdmin = {meshId, signer: {publicKey: member.signingKey, sign: (data) => member.sign(data)}, chain: {authorityKey: member.signingKey, grant: null}};
    const sybil = makeTestNode(meshId, {now, credential: issueMembership(selfMade, generateIdentity().signingKey, 'peer', now)});
    expect(() => verifyEntry(sybil.record(), verify(meshId))).toThrow(/no valid membership/);

    // A credential for another node, or another mesh, does not transfer.
    const stolen = makeTestNode(meshId, {now, credential: issueMembership(testMeshAdmin(meshId), generateIdentity().signingKey, 'peer', now)});
    expect(() => verifyEntry(stolen.record(), verify(meshId))).toThrow(/admits another node/);
    const otherMesh = testMeshId();
    const foreign = makeTestNode(meshId, {now, credential: issueMembership(testMeshAdmin(otherMesh), generateIdentity().signingKey, 'peer', now)});
    expect(() => verifyEntry(foreign.record(), verify(meshId))).toThrow(/does not belong to mesh/);
  });

  it('limits a client credential to client records', () => {
    const meshId = testMeshId();
    const identity = generateIdentity();
    const node = makeTestNode(meshId, {identity, now, credential: issueMembership(testMeshAdmin(meshId), identity.signingKey, 'client', now)});
    expect(() => verifyEntry(node.record(), verify(meshId))).toThrow(/membership is for a client/);
    expect(() => verifyEntry(node.record({role: 'client', controlEndpoint: null, wgEndpoint: null}), verify(meshId))).not.toThrow();
  });

  it('accepts what a granted admin issued while its grant was valid, for good, and nothing it issued after', () => {
    const meshId = testMeshId();
    const adminNode = generateIdentity();
    const grant = issueGrant(testMeshAuthority(meshId), adminNode.signingKey, now, now + 1000);
    const admin: MeshAdmin = {meshId, signer: {publicKey: adminNode.signingKey, sign: (data) => adminNode.sign(data)}, chain: {authorityKey: testMeshAuthority(meshId).publicKey, grant}};
    const identity = generateIdentity();
    const node = makeTestNode(meshId, {identity, now, credential: issueMembership(admin, identity.signingKey, 'peer', now)});
    expect(verifyEntry(node.record(), {...verify(meshId), now: now + 10_000}).validUntil).toBeUndefined();
    const late = makeTestNode(meshId, {identity, now, credential: issueMembership(admin, identity.signingKey, 'peer', now + 2000)});
    expect(() => verifyEntry(late.record(), verify(meshId))).toThrow(/after the issuer's admin grant ended/);
    expect(() => verifyEntry(issueRevocation(admin, node.id, 'node', now + 2000), verify(meshId))).toThrow(/after the issuer's admin grant ended/);
  });

  it('carries the end of a direct membership as the entry end', () => {
    const meshId = testMeshId();
    const identity = generateIdentity();
    const node = makeTestNode(meshId, {identity, now, credential: issueMembership(testMeshAdmin(meshId), identity.signingKey, 'peer', now, now + 500)});
    expect(verifyEntry(node.record(), verify(meshId)).validUntil).toBe(now + 500);
  });

  it('admits a node through an invite redemption, bound to that node and that invite', () => {
    const meshId = testMeshId();
    const admin = testMeshAdmin(meshId);
    const invite = issueInvite(admin, {role: 'peer', uses: 1, now, expiresAt: now + 3_600_000});
    const identity = generateIdentity();
    const credential = redeemInvite(admin.chain, invite, identity.signingKey, now + 5);
    const facts = openCredential(credential, meshId, identity.signingKey);
    expect(facts).toMatchObject({role: 'peer', invite: {id: invite.invite.id, uses: 1, redeemedAt: now + 5}});
    expect(openCredential(credential, meshId, generateIdentity().signingKey)).toMatch(/redeemed for another node/);
    // Redeemed after the invite expired.
    expect(openCredential(redeemInvite(admin.chain, invite, identity.signingKey, now + 3_600_001), meshId, identity.signingKey)).toMatch(/outside its validity/);
    // A redemption signed by another key than the invite's.
    const forged = redeemInvite(admin.chain, {...invite, key: ed25519Signer()}, identity.signingKey, now);
    expect(openCredential(forged, meshId, identity.signingKey)).toMatch(/bad signature/);
  });
});

describe('revocations', () => {
  it('come only from an admin, and outrank every record of the node', () => {
    const meshId = testMeshId();
    const node = makeTestNode(meshId, {now});
    const revocation = verifyEntry(issueRevocation(testMeshAdmin(meshId), node.id, 'node', now, 'stolen laptop'), verify(meshId));
    const later = verifyEntry(node.record({version: now + 50_000, updatedAt: now + 50_000}), verify(meshId));
    expect(compareEntries(revocation, later)).toBeGreaterThan(0);

    const member = ed25519Signer();
    const notAdmin: MeshAdmin = {meshId, signer: member, chain: {authorityKey: member.publicKey, grant: null}};
    expect(() => verifyEntry(issueRevocation(notAdmin, node.id, 'node', now), verify(meshId))).toThrow(/not from an admin/);
  });
});

describe('invite use limits', () => {
  const meshId = testMeshId();
  const admin = testMeshAdmin(meshId);

  function redeemed(invite: ReturnType<typeof issueInvite>, at: number): EntryBody {
    const identity = generateIdentity();
    return makeTestNode(meshId, {identity, now, credential: redeemInvite(admin.chain, invite, identity.signingKey, at)}).recordBody();
  }

  it('admits the earliest redemptions up to the uses, and refuses ties that cross the limit whatever the node ids', () => {
    const invite = issueInvite(admin, {role: 'peer', uses: 2, now, expiresAt: now + 60_000});
    const first = redeemed(invite, now + 1);
    const tieA = redeemed(invite, now + 2);
    const tieB = redeemed(invite, now + 2);
    const last = redeemed(invite, now + 3);
    const direct = makeTestNode(meshId, {now}).recordBody();
    const refused = refusedByInviteLimits([last, tieB, direct, first, tieA], credentialFactsOf);
    expect([...refused.keys()].sort()).toEqual([tieA.id, tieB.id].sort());
    // uses 2: first and last fit once the tie is out.
    expect(refused.has(first.id)).toBe(false);
    expect(refused.has(last.id)).toBe(false);
  });

  it('refuses redemptions dated after the invite was revoked', () => {
    const invite = issueInvite(admin, {role: 'peer', uses: 5, now, expiresAt: now + 60_000});
    const before = redeemed(invite, now + 1);
    const after = redeemed(invite, now + 10);
    const revocation = issueRevocation(admin, invite.invite.id, 'invite', now + 5).value;
    const refused = refusedByInviteLimits([before, after, revocation], credentialFactsOf);
    expect([...refused.keys()]).toEqual([after.id]);
  });
});

describe('invite tokens', () => {
  it('round-trip, and refuse a damaged or re-signed line', () => {
    const meshId = testMeshId();
    const admin = testMeshAdmin(meshId);
    const invite = issueInvite(admin, {role: 'client', uses: 3, now, expiresAt: now + 60_000});
    const line = encodeInviteToken({chain: admin.chain, signed: invite.signed, key: invite.key, endpoints: ['[fd00::1]:7946']});
    expect(line).toMatch(/^wgm1-[A-Za-z0-9_-]+$/);
    const token = decodeInviteToken(line);
    expect(token.meshId).toBe(meshId);
    expect(token.invite).toEqual(invite.invite);
    expect(token.endpoints).toEqual(['[fd00::1]:7946']);
    expect(token.suggestions).toEqual({});
    const suggesting = decodeInviteToken(encodeInviteToken({chain: admin.chain, signed: invite.signed, key: invite.key, endpoints: [], suggestions: {advertiseRoutes: true, advertiseDefault: true}}));
    expect(suggesting.suggestions).toEqual({advertiseRoutes: true, advertiseDefault: true});
    expect(() => decodeInviteToken('wgm2-abc')).toThrow(/does not start with/);
    expect(() => decodeInviteToken(line.slice(0, -8))).toThrow(/not a valid invite/);
    // An invite signed by a stranger's key for this mesh's authority.
    const stranger = ed25519Signer();
    const forged = issueInvite({meshId, signer: stranger, chain: admin.chain}, {role: 'peer', uses: 1, now, expiresAt: now + 1});
    expect(() => decodeInviteToken(encodeInviteToken({chain: admin.chain, signed: forged.signed, key: forged.key, endpoints: []}))).toThrow(/bad signature/);
  });
});

describe('bounds on what peers send', () => {
  it('refuses an oversized credential, an invite for too many uses, and a join request with an oversized credential', () => {
    const meshId = testMeshId();
    const identity = generateIdentity();
    const huge = makeTestNode(meshId, {identity, now, credential: new Uint8Array(4097)});
    expect(() => verifyEntry(huge.record(), verify(meshId))).toThrow(/credential over 4096 bytes/);
    const admin = testMeshAdmin(meshId);
    const invite = issueInvite(admin, {role: 'peer', uses: MAX_INVITE_USES + 1, now, expiresAt: now + 1000});
    expect(openCredential(redeemInvite(admin.chain, invite, identity.signingKey, now), meshId, identity.signingKey)).toMatch(/u: /);
    const request = encodeControlRequest({t: 'jn', f: identity.nodeId, k: identity.signingKey, c: new Uint8Array(MAX_CREDENTIAL_BYTES + 1)});
    expect(() => decodeControlRequest(request)).toThrow(/c: must be at most 4096 bytes/);
  });
});
