/**
 * The mesh trust model with whole daemons (in process, memory transport that
 * proves node ids like TLS does, stub WireGuard): create, invite, join through
 * a member while the admin is stopped, use limits, expiry, simultaneous
 * redemption, revocation, Sybil records, strangers.
 */
import {
  decodeControlReply,
  decodeInviteToken,
  encodeControlRequest,
  generateIdentity,
  issueMembership,
  redeemInvite,
  signEntry,
  type MeshShowView,
  type NodeIdentity,
  type VerifiedEntry,
} from '@wgmesh/core';
import {makeTestNode} from '@wgmesh/testkit';
import {mkdir, readdir, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {waitFor} from './helpers/cli.js';
import {MemoryFleet, type MemoryDaemon} from './helpers/memory-daemons.js';

const HOUR = 3_600_000;

/** Node ids in a daemon's live view of a mesh. */
async function viewOf(member: MemoryDaemon, meshId: string): Promise<string[]> {
  const view: MeshShowView = await member.daemon.showMesh(meshId);
  return view.nodes.map((node) => node.id).sort();
}

/** WireGuard peers (public keys) of a daemon's interface for a mesh. */
function peersOf(member: MemoryDaemon): string[] {
  return member.driver.snapshot().interfaces.flatMap((iface) => iface.peers.map((peer) => peer.publicKey)).sort();
}

describe('mesh trust with daemons', () => {
  let fleet: MemoryFleet;
  beforeEach(() => {
    fleet = new MemoryFleet();
  });
  afterEach(async () => {
    await fleet.dispose();
  });

  /** An admin with a mesh, and a member `b` joined with an invite. */
  async function meshOfTwo(): Promise<{meshId: string; admin: MemoryDaemon; b: MemoryDaemon}> {
    const admin = await fleet.add('admin');
    const b = await fleet.add('b');
    const {meshId} = await admin.daemon.createMesh({});
    const invite = await admin.daemon.administer((ops) => ops.invite(meshId, {role: 'peer', uses: 1, validForMs: HOUR}));
    expect(invite.endpoints).toEqual(['admin:4000']);
    await b.daemon.joinMesh(invite.token, undefined, {});
    return {meshId, admin, b};
  }

  it('creates a mesh whose id comes from its authority, joins with an invite, and shows the creator as admin', async () => {
    const {meshId, admin, b} = await meshOfTwo();
    expect(meshId).toMatch(/^[a-z2-7]{26}$/);
    expect(admin.daemon.listMeshes()[0]).toMatchObject({meshId, admin: 'authority'});
    expect(b.daemon.listMeshes()[0]?.admin).toBeUndefined();
    const both = [admin.identity.nodeId, b.identity.nodeId].sort();
    await waitFor(async () => JSON.stringify(await viewOf(admin, meshId)) === JSON.stringify(both), 10_000, 'the admin to see b');
    expect(await viewOf(b, meshId)).toEqual(both);
  });

  it('joins through a member other than the admin while the admin is stopped', async () => {
    const {meshId, admin, b} = await meshOfTwo();
    const invite = await admin.daemon.administer((ops) => ops.invite(meshId, {role: 'client', uses: 1, validForMs: HOUR}));
    await admin.stop();
    const c = await fleet.add('c');
    // The line names the admin first; it is down, so the join goes through b.
    const joined = await c.daemon.joinMesh(invite.token, undefined, {});
    expect(joined.meshId).toBe(meshId);
    const self = (await c.daemon.showMesh(meshId)).nodes.find((node) => node.self);
    expect(self?.role).toBe('client');
    await waitFor(async () => (await viewOf(b, meshId)).includes(c.identity.nodeId), 10_000, 'b to see c');
  });

  it('refuses a second use of a single-use invite, and an expired invite, saying which', async () => {
    const admin = await fleet.add('admin');
    const {meshId} = await admin.daemon.createMesh({});
    const once = await admin.daemon.administer((ops) => ops.invite(meshId, {role: 'peer', uses: 1, validForMs: HOUR}));
    const b = await fleet.add('b');
    await b.daemon.joinMesh(once.token, undefined, {});
    const c = await fleet.add('c');
    await expect(c.daemon.joinMesh(once.token, undefined, {})).rejects.toThrow(/refused .*: the invite is used up \(1 of 1 use\)/);
    expect(c.daemon.listMeshes()).toEqual([]);
    expect(c.driver.snapshot().interfaces).toEqual([]);

    const short = await admin.daemon.administer((ops) => ops.invite(meshId, {role: 'peer', uses: 1, validForMs: 1000}));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await expect(c.daemon.joinMesh(short.token, undefined, {})).rejects.toThrow(/the invite expired at/);
    const listed = await admin.daemon.administer((ops) => ops.invites(meshId));
    expect(listed.map((invite) => [invite.id, invite.state])).toEqual([[once.inviteId, 'used up']]);
  });

  it('refuses a revoked invite, and lets those it admitted before stay', async () => {
    const admin = await fleet.add('admin');
    const {meshId} = await admin.daemon.createMesh({});
    const invite = await admin.daemon.administer((ops) => ops.invite(meshId, {role: 'peer', uses: 5, validForMs: HOUR}));
    const b = await fleet.add('b');
    await b.daemon.joinMesh(invite.token, undefined, {});
    await admin.daemon.administer((ops) => ops.revokeInvite(meshId, invite.inviteId));
    const c = await fleet.add('c');
    await expect(c.daemon.joinMesh(invite.token, undefined, {})).rejects.toThrow(/the invite was revoked by an admin/);
    expect(await viewOf(admin, meshId)).toContain(b.identity.nodeId);
  });

  it('admits one of two nodes redeeming the last use at two members at once, by redemption time, the same on every member', async () => {
    const {meshId, admin, b} = await meshOfTwo();
    const invite = await admin.daemon.administer((ops) => ops.invite(meshId, {role: 'peer', uses: 1, validForMs: HOUR}));
    const c = await fleet.add('c');
    const d = await fleet.add('d');
    // Cut admin and b apart so neither hears of the other's joiner before both are in.
    fleet.network.partition(['admin:4000', 'c:4000'], ['b:4000', 'd:4000']);
    await Promise.all([c.daemon.joinMesh(invite.token, 'admin:4000', {}), d.daemon.joinMesh(invite.token, 'b:4000', {})]);
    fleet.network.heal();
    // One of them redeemed earlier (or both at the same ms: both out). Every member ends with the same view.
    const expected = async (): Promise<boolean> => {
      const views = await Promise.all([viewOf(admin, meshId), viewOf(b, meshId)]);
      const inC = views.every((view) => view.includes(c.identity.nodeId));
      const inD = views.every((view) => view.includes(d.identity.nodeId));
      return !(inC && inD) && JSON.stringify(views[0]) === JSON.stringify(views[1]);
    };
    await waitFor(expected, 15_000, 'admin and b to agree on at most one of c and d');
    // The loser left the mesh on its own node and says why.
    await waitFor(() => [c, d].some((node) => node.daemon.listMeshes().some((mesh) => /used up/.test(mesh.problem ?? ''))), 15_000, 'the loser to leave');
  });

  it('revokes a node: every member drops it and its WireGuard peer, it leaves, and it cannot come back', async () => {
    const {meshId, admin, b} = await meshOfTwo();
    const invite = await admin.daemon.administer((ops) => ops.invite(meshId, {role: 'peer', uses: 3, validForMs: HOUR}));
    const c = await fleet.add('c');
    await c.daemon.joinMesh(invite.token, undefined, {});
    await waitFor(() => peersOf(b).includes(c.identity.wgPublicKey), 10_000, 'b to add c as a WireGuard peer');

    await admin.daemon.administer((ops) => ops.revokeNode(meshId, c.identity.nodeId, 'test'));
    await waitFor(async () => !(await viewOf(b, meshId)).includes(c.identity.nodeId) && !peersOf(b).includes(c.identity.wgPublicKey), 10_000, 'b to drop c');
    await waitFor(() => c.daemon.listMeshes().some((mesh) => /revoked/.test(mesh.problem ?? '')), 10_000, 'c to learn it was revoked');
    expect(c.driver.snapshot().interfaces).toEqual([]);

    // The same identity with a still valid invite is refused.
    await expect(c.daemon.joinMesh(invite.token, undefined, {})).rejects.toThrow(/was revoked from mesh .* and cannot join it again/);
    // Nor does a new identity with the same stolen invite (its use stays spent by the revoked node).
    const once = await admin.daemon.administer((ops) => ops.invite(meshId, {role: 'peer', uses: 1, validForMs: HOUR}));
    const thief = await fleet.add('thief');
    await thief.daemon.joinMesh(once.token, undefined, {});
    await admin.daemon.administer((ops) => ops.revokeNode(meshId, thief.identity.nodeId, 'stolen invite'));
    const thiefAgain = await fleet.add('thief2');
    await expect(thiefAgain.daemon.joinMesh(once.token, undefined, {})).rejects.toThrow(/the invite is used up/);
    // Its old credential no longer gets it anything: the mesh is unknown to it at every member.
    const reply = await fleet.network
      .transport('c:4000', c.identity.nodeId)
      .message('b:4000', meshId, encodeControlRequest({t: 'al', f: c.identity.nodeId}))
      .then(decodeControlReply, (error: Error) => error);
    expect(reply).toBeInstanceOf(Error);
  });

  it('rejects records a member signs for identities the authority never admitted, on every node', async () => {
    const {meshId, admin, b} = await meshOfTwo();
    // b (a member) makes itself an "authority" and admits 50 identities.
    const selfAdmin = {meshId, signer: {publicKey: b.identity.signingKey, sign: (data: Uint8Array) => b.identity.sign(data)}, chain: {authorityKey: b.identity.signingKey, grant: null}};
    const sybils = Array.from({length: 50}, () => {
      const identity = generateIdentity();
      return signEntry(identity, makeTestNode(meshId, {identity, now: Date.now(), credential: issueMembership(selfAdmin, identity.signingKey, 'peer', Date.now())}).recordBody());
    });
    const reply = decodeControlReply(
      await fleet.network.transport('b:4000', b.identity.nodeId).message('admin:4000', meshId, encodeControlRequest({t: 'push', f: b.identity.nodeId, e: sybils.slice(0, 50).map(({body, signature}) => ({body, signature}))})),
    );
    expect(reply.t).toBe('ok');
    expect(await viewOf(admin, meshId)).toEqual([admin.identity.nodeId, b.identity.nodeId].sort());
  });

  it('serves nothing of a mesh to a node that is not a member', async () => {
    const {meshId} = await meshOfTwo();
    const stranger = fleet.network.transport('stranger:4000', generateIdentity().nodeId);
    await expect(stranger.fetchSnapshot('admin:4000', meshId)).rejects.toThrow(/not a member of mesh/);
    const unproven = fleet.network.transport('unproven:4000');
    await expect(unproven.fetchSnapshot('admin:4000', meshId)).rejects.toThrow(/not a member of mesh/);
    await expect(stranger.message('admin:4000', meshId, encodeControlRequest({t: 'al', f: generateIdentity().nodeId}))).rejects.toThrow(/not a member of mesh/);
  });

  it('does not restore a mesh made before meshes had an authority, says what to do, and keeps its files', async () => {
    const meshId = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';
    let dataDir = '';
    const old = await fleet.add('old', async (dir) => {
      dataDir = dir;
      await mkdir(join(dataDir, 'meshes', meshId), {recursive: true});
      const settings = {version: 1, meshId, storeKind: 'twophase', interfaceName: 'wgold0', role: 'peer', listenPort: 0, endpointHost: 'old', keepaliveSeconds: 0, advertiseRoutes: false, advertiseDefault: false, addressCounter: 0, joinedAt: 1, preUp: [], postUp: [], preDown: [], postDown: []};
      await writeFile(join(dataDir, 'meshes', meshId, 'settings.json'), JSON.stringify(settings));
    });
    const [listed] = old.daemon.listMeshes();
    expect(listed).toMatchObject({meshId, interface: '-'});
    expect(listed?.problem).toMatch(/made by an earlier wgmesh, without a mesh authority, and is not restored .*'wgmesh mesh create'.*'wgmesh mesh join --invite'/);
    expect(old.driver.snapshot().interfaces).toEqual([]);
    expect(await readdir(join(dataDir, 'meshes', meshId))).toEqual(['settings.json']);
  });

  it("lets a new member's own record in at a member that has not heard of it, and nothing else from a stranger", async () => {
    const {meshId, admin, b} = await meshOfTwo();
    const invite = decodeInviteToken((await admin.daemon.administer((ops) => ops.invite(meshId, {role: 'client', uses: 2, validForMs: HOUR}))).token);
    const push = async (from: NodeIdentity, entries: VerifiedEntry[]): Promise<Uint8Array> => {
      // A transport that proves `from` and listens (the answer travels back to it), serving nothing.
      const transport = fleet.network.transport(`${from.nodeId}:4000`, from.nodeId);
      const nothing = (): never => {
        throw new Error('serves nothing');
      };
      await transport.listen({snapshot: nothing, openSync: nothing, message: nothing});
      try {
        return await transport.message('b:4000', meshId, encodeControlRequest({t: 'push', f: from.nodeId, e: entries.map(({body, signature}) => ({body, signature}))}));
      } finally {
        await transport.close();
      }
    };
    const newcomer = generateIdentity();
    const record = (identity: NodeIdentity, credential: Uint8Array) =>
      signEntry(identity, makeTestNode(meshId, {identity, now: Date.now(), credential}).recordBody({role: 'client', controlEndpoint: null, wgEndpoint: null}));
    // It joined through another member: b never saw its join request, only its first push.
    expect(decodeControlReply(await push(newcomer, [record(newcomer, redeemInvite(invite.chain, invite, newcomer.signingKey, Date.now()))])).t).toBe('ok');
    expect(await viewOf(b, meshId)).toContain(newcomer.nodeId);
    // A stranger pushing someone else's record, or its own without a credential of this mesh, gets nothing.
    const stranger = generateIdentity();
    await expect(push(stranger, [record(newcomer, redeemInvite(invite.chain, invite, newcomer.signingKey, Date.now()))])).rejects.toThrow(/not a member of mesh/);
    const selfMade = {meshId, signer: {publicKey: stranger.signingKey, sign: (data: Uint8Array) => stranger.sign(data)}, chain: {authorityKey: stranger.signingKey, grant: null}};
    await expect(push(stranger, [record(stranger, issueMembership(selfMade, stranger.signingKey, 'peer', Date.now()))])).rejects.toThrow(/not a member of mesh/);
    expect(await viewOf(b, meshId)).not.toContain(stranger.nodeId);
  });

  it('moves the authority key and grants admin rights as lines, refusing damaged and foreign ones', async () => {
    const {meshId, admin, b} = await meshOfTwo();
    const exported = await admin.daemon.administer((ops) => ops.exportAuthority(meshId));
    expect(exported.line).toMatch(/^wgmadm1-/);
    await expect(b.daemon.administer((ops) => ops.importLine(exported.line.slice(0, -6) + '!!!!!!'))).rejects.toThrow(/not a valid admin key line: it holds characters that are not base64url/);
    const c = await fleet.add('c');
    const invite = await admin.daemon.administer((ops) => ops.invite(meshId, {role: 'peer', uses: 1, validForMs: HOUR}));
    await c.daemon.joinMesh(invite.token, undefined, {});
    const granted = await admin.daemon.administer((ops) => ops.grant(meshId, c.identity.nodeId, null));
    // A grant names one node's key: another node cannot use it.
    await expect(b.daemon.administer((ops) => ops.importLine(granted.line))).rejects.toThrow(/for another node's key/);
    expect(await c.daemon.administer((ops) => ops.importLine(granted.line))).toEqual({meshId, kind: 'grant'});
    expect(await b.daemon.administer((ops) => ops.importLine(exported.line))).toEqual({meshId, kind: 'authority'});
    expect(b.daemon.listMeshes()[0]?.admin).toBe('authority');
    expect(c.daemon.listMeshes()[0]?.admin).toBe('grant');
    // The granted admin invites with its own key; the invite admits a node.
    const fromGrant = await c.daemon.administer((ops) => ops.invite(meshId, {role: 'client', uses: 1, validForMs: HOUR}));
    const d = await fleet.add('d');
    expect((await d.daemon.joinMesh(fromGrant.token, undefined, {})).meshId).toBe(meshId);
  });
});
