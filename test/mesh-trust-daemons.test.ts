/**
 * The mesh trust model with real daemons (stub WireGuard, grpc on loopback):
 * - a member floods every node with records of identities it admitted itself
 *   (credentials signed by its own key, not an admin's): every node refuses
 *   them, and the target's memory does not grow with them;
 * - an admin revokes a member with the CLI: every member drops it from its
 *   view, its WireGuard config, its routes and DNS; the revoked daemon leaves
 *   the mesh and says why; it cannot come back with a valid invite, nor can a
 *   new identity with the single-use invite it came in with;
 * - a stranger with a valid TLS identity of its own gets nothing from any
 *   member: no snapshot, no sync, no message;
 * - in CA mode, create, invite and join work with the CLI, and a stranger
 *   holding a certificate of the CA still gets nothing.
 */
import {execFile} from 'node:child_process';
import {promisify} from 'node:util';
import {encodeControlRequest, generateIdentity, issueMembership, type MeshAdmin, type VerifiedEntry} from '@wgmesh/core';
import {makeTestNode, silentLogger, wireEntry} from '@wgmesh/testkit';
import {TwoPhaseSyncSession} from '@wgmesh/store-twophase';
import {afterAll, afterEach, describe, expect, it} from 'vitest';
import {MAX_PUSH_ENTRIES} from '../src/core/src/control/messages.js';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {hostileReplica} from './helpers/member-attacks.js';
import {interfaceOf, joinAsMember, MeshCluster, memberClient, type MemberClient, type MeshNode} from './helpers/mesh-cluster.js';
import {mb, readRss} from './helpers/rss.js';

const run = promisify(execFile);

/** Records of self-admitted identities the member sends. */
const SYBILS = 2_000;
/**
 * How much the target's RSS may grow with them. Admitted, they cost +214 MB (the issue measured 91 -> 305 MB);
 * refused, they cost only what V8 keeps of the transient work of checking 8,000 offered records (measured +18 to
 * +25 MB), so the bound sits well between the two.
 */
const RSS_TOLERANCE_BYTES = 60e6;

/** Median of five RSS readings of `pid`, 200 ms apart. */
async function restingRss(pid: number): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    readings.push(await readRss(pid));
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return readings.sort((x, y) => x - y)[2]!;
}

/** `node`'s live view of `meshId` without the ids in `except` (sorted). */
async function viewWithout(node: MeshNode, meshId: string, except: readonly string[]): Promise<string[]> {
  return (await node.view(meshId)).filter((id) => !except.includes(id));
}

/** The AAAA answers of the DNS server at `address` (`host:port`) for `name`. */
async function dig(address: string, name: string): Promise<string> {
  const colon = address.lastIndexOf(':');
  const {stdout} = await run('dig', [`@${address.slice(0, colon)}`, '-p', address.slice(colon + 1), '+tries=1', '+time=2', '+short', name, 'AAAA']);
  return stdout.trim();
}

/** `node` makes a mesh and every other node joins it through `node` with an invite; resolves when all see all. */
async function meshOf(nodes: readonly MeshNode[]): Promise<{meshId: string; ids: string[]}> {
  const [admin, ...rest] = nodes as [MeshNode, ...MeshNode[]];
  const {meshId} = await admin.call('mesh.create', {});
  for (const node of rest) await node.call('mesh.join', {invite: await admin.invite(meshId), via: admin.endpoint});
  const ids = (await Promise.all(nodes.map(async (node) => (await node.call('status', {})).nodeId))).sort();
  await waitFor(async () => (await Promise.all(nodes.map((node) => node.view(meshId)))).every((view) => view.join() === ids.join()), 15_000, 'every node to see every other');
  return {meshId, ids};
}

/** Every way a node asks a member for a mesh's state, by a client that is not a member: each must be refused with UNKNOWN_MESH. */
async function expectNothingFor(client: MemberClient, member: MeshNode, meshId: string): Promise<void> {
  const unknown = {code: 'UNKNOWN_MESH'};
  await expect(client.transport.fetchSnapshot(member.endpoint, meshId), `${member.name}: snapshot`).rejects.toMatchObject(unknown);
  const session = new TwoPhaseSyncSession('initiator', hostileReplica(meshId, []), silentLogger());
  await expect(client.transport.sync(member.endpoint, meshId, 'twophase', session), `${member.name}: sync`).rejects.toMatchObject(unknown);
  const ask = encodeControlRequest({t: 'al', f: client.identity.nodeId});
  await expect(client.transport.message(member.endpoint, meshId, ask), `${member.name}: message`).rejects.toMatchObject(unknown);
}

describe('mesh trust with real daemons', () => {
  let cluster: MeshCluster | undefined;
  const clients: MemberClient[] = [];

  afterEach(async () => {
    await Promise.allSettled(clients.splice(0).map((client) => client.close()));
    await cluster?.close();
    cluster = undefined;
  });
  afterAll(() => killAllDaemons());

  it(`refuses ${SYBILS} records of identities a member admitted itself, on every node, and the target's memory stays put`, async () => {
    cluster = await MeshCluster.create('wgmesh-sybil-');
    const nodes = await cluster.addNodes([{name: 'a'}, {name: 'b'}, {name: 'c'}]);
    const [a] = nodes as [MeshNode];
    const {meshId, ids} = await meshOf(nodes);
    const mallory = await memberClient(cluster, 'mallory', {timeoutMs: 30_000});
    clients.push(mallory);
    const {identity} = mallory;
    // Mallory is a member: an invite from a, then its own record (a client's: never dialled).
    const credential = await joinAsMember(mallory, a, meshId, a);
    const own = makeTestNode(meshId, {identity, now: Date.now(), credential}).record({role: 'client', controlEndpoint: null, wgEndpoint: null});
    await mallory.transport.message(a.endpoint, meshId, encodeControlRequest({t: 'push', f: identity.nodeId, e: [wireEntry(own)]}));
    await waitFor(async () => (await Promise.all(nodes.map((node) => node.view(meshId)))).every((view) => view.includes(identity.nodeId)), 10_000, 'every node to see mallory');

    // Mallory makes itself the "authority" of its own chain: its key signs each fake's membership.
    const selfMade: MeshAdmin = {meshId, signer: {publicKey: identity.signingKey, sign: (data) => identity.sign(data)}, chain: {authorityKey: identity.signingKey, grant: null}};
    const now = Date.now();
    const sybils: VerifiedEntry[] = Array.from({length: SYBILS}, () => {
      const fake = generateIdentity();
      return makeTestNode(meshId, {identity: fake, now, credential: issueMembership(selfMade, fake.signingKey, 'client', now)}).record({role: 'client', controlEndpoint: null, wgEndpoint: null});
    });
    const sybilIds = new Set(sybils.map((entry) => entry.value.id));

    const pid = a.daemon.child.pid!;
    const before = await restingRss(pid);
    const peersBefore = await Promise.all(nodes.map(async (node) => (await node.wireguard(await interfaceOf(node, meshId)))?.peers.length));
    const marks = nodes.map((node) => node.logMark());
    const started = Date.now();
    for (const node of nodes) {
      for (let at = 0; at < sybils.length; at += MAX_PUSH_ENTRIES) {
        const batch = sybils.slice(at, at + MAX_PUSH_ENTRIES).map(wireEntry);
        await mallory.transport.message(node.endpoint, meshId, encodeControlRequest({t: 'push', f: identity.nodeId, e: batch}));
      }
    }
    // And the same records offered in a real sync session with a.
    const session = new TwoPhaseSyncSession('initiator', hostileReplica(meshId, sybils), silentLogger());
    const synced = await mallory.transport.sync(a.endpoint, meshId, 'twophase', session).then(
      () => 'completed',
      (error: {code?: string}) => error.code ?? 'failed',
    );
    const pushMs = Date.now() - started;

    // Every node logged the refusal: the membership does not come from the mesh's authority.
    for (const [index, node] of nodes.entries()) {
      await waitFor(
        () => node.logLinesSince(marks[index]!).some((line) => line.msg === 'rejected an entry' && String(line.reason).includes('has no valid membership')),
        5_000,
        `${node.name} to log a refused fake`,
      );
    }
    // Nothing of them anywhere: views, member counts, WireGuard peers.
    for (const [index, node] of nodes.entries()) {
      const view = await node.view(meshId);
      expect(view.filter((id) => sybilIds.has(id)), `fakes in ${node.name}'s view`).toEqual([]);
      expect(await viewWithout(node, meshId, [identity.nodeId]), `${node.name}'s view besides mallory`).toEqual(ids);
      const listed = (await node.call('mesh.list', {})).find((mesh) => mesh.meshId === meshId);
      expect(listed?.members, `${node.name}'s member count`).toBeLessThanOrEqual(ids.length + 1);
      const peers = (await node.wireguard(await interfaceOf(node, meshId)))?.peers.length;
      expect(peers, `${node.name}'s WireGuard peers`).toBeLessThanOrEqual(peersBefore[index]!);
    }
    const after = await restingRss(pid);
    console.log(
      `sybil flood: ${SYBILS} self-admitted records pushed to ${nodes.length} nodes in ${Math.ceil(SYBILS / MAX_PUSH_ENTRIES)} batches each and synced to a (${synced}) in ${pushMs} ms; ` +
        `a's RSS ${mb(before)} before, ${mb(after)} after (tolerance +${mb(RSS_TOLERANCE_BYTES)}; the issue measured 91 -> 305 MB when they were admitted)`,
    );
    expect(synced, 'the sync session offering the fakes').not.toBe('completed');
    expect(after - before, `a's RSS growth: ${mb(before)} -> ${mb(after)}`).toBeLessThan(RSS_TOLERANCE_BYTES);
  }, 120_000);

  it('revokes a member with the CLI: every member drops it from views, WireGuard, routes and DNS; it leaves; it cannot come back, nor can its stolen invite', async () => {
    cluster = await MeshCluster.create('wgmesh-revoke-');
    const dns = {dnsEnabled: true, dnsListen: '127.0.0.1:0'};
    const [a, b, c, d] = (await cluster.addNodes([{name: 'a'}, {name: 'b', config: dns}, {name: 'c'}, {name: 'd'}])) as [MeshNode, MeshNode, MeshNode, MeshNode];
    const {meshId} = await meshOf([a, b, c]);
    // d joins with a single-use invite, as an exit (it advertises ::/0), with an alias and a service.
    const stolen = await a.invite(meshId, {uses: 1});
    await d.cliJson(['mesh', 'join', '--invite', stolen, '--advertise-routes', '--advertise-default']);
    await d.call('node.set', {meshId, alias: 'exit-d'});
    await d.call('service.set', {meshId, key: 'proxy', value: '3128'});
    const dId = (await d.call('status', {})).nodeId;
    const dShown = (await d.call('mesh.show', {meshId})).nodes.find((node) => node.self)!;
    const members = [a, b, c];
    const hasD = async (node: MeshNode): Promise<{view: boolean; peer: boolean; route: boolean}> => {
      const iface = await node.wireguard(await interfaceOf(node, meshId));
      return {
        view: (await node.view(meshId)).includes(dId),
        peer: iface?.peers.some((peer) => peer.publicKey === dShown.wgPublicKey) ?? false,
        route: iface?.routes.some((route) => route.destination === '::/0') ?? false,
      };
    };
    await waitFor(async () => (await Promise.all(members.map(hasD))).every((seen) => seen.view && seen.peer && seen.route), 15_000, "every member to take d as a peer and its default route");
    const dnsAddress = (await b.call('status', {})).dns!.address;
    const name = `exit-d.${meshId}.wgmesh`;
    await waitFor(async () => (await dig(dnsAddress, name)) === dShown.address, 10_000, "b's DNS to answer d's alias");
    const dIface = await interfaceOf(d, meshId);
    expect(await d.wireguard(dIface)).toBeDefined();

    // The revocation, as an admin types it.
    const started = Date.now();
    const revoked = await a.cliJson<{meshId: string; nodeId: string}>(['mesh', 'revoke', meshId, 'exit-d', '--reason', 'x']);
    const commandMs = Date.now() - started;
    expect(revoked).toEqual({meshId, nodeId: dId});
    const dropped = new Map<string, number>();
    await waitFor(
      async () => {
        await Promise.all(
          members.map(async (node) => {
            if (dropped.has(node.name)) return;
            const seen = await hasD(node);
            if (!seen.view && !seen.peer && !seen.route) dropped.set(node.name, Date.now() - started);
          }),
        );
        return dropped.size === members.length;
      },
      15_000,
      'every member to drop d from its view, WireGuard peers and routes',
    );
    const lastMs = Math.max(...dropped.values());
    console.log(`revocation: 'wgmesh mesh revoke' took ${commandMs} ms; members dropped d at ${[...dropped].map(([node, ms]) => `${node} +${ms} ms`).join(', ')} (from the command's start); last ${lastMs} ms`);
    for (const node of members) expect((await node.call('mesh.show', {meshId})).nodes.some((shown) => shown.services.proxy !== undefined), `d's service on ${node.name}`).toBe(false);
    expect(await dig(dnsAddress, name), "b's DNS answer for d's alias").toBe('');

    // d learns it was revoked and leaves the mesh on its own: a problem in `mesh list`, no interface.
    await waitFor(async () => (await d.call('mesh.list', {})).some((mesh) => mesh.meshId === meshId && /revoked/.test(mesh.problem ?? '')), 15_000, 'd to learn it was revoked');
    const listed = await d.cliJson<{meshId: string; problem?: string; interface: string}[]>(['mesh', 'list']);
    expect(listed.find((mesh) => mesh.meshId === meshId)?.problem).toMatch(/an admin revoked this node from mesh .* \(x\)/);
    await waitFor(async () => (await d.wireguard(dIface)) === undefined, 10_000, "d's interface to go");

    // Its daemon cannot come back, even with an invite that is still valid.
    const valid = await a.invite(meshId, {uses: 5});
    const again = await d.cli(['mesh', 'join', '--invite', valid]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/was revoked from mesh .* and cannot join it again/);
    // A new identity (another daemon) with the single-use invite d came in with: its use stays spent.
    const [thief] = (await cluster.addNodes([{name: 'thief'}])) as [MeshNode];
    const stolenAgain = await thief.cli(['mesh', 'join', '--invite', stolen]);
    expect(stolenAgain.code).not.toBe(0);
    expect(stolenAgain.stderr).toMatch(/the invite is used up \(1 of 1 use\)/);
    expect(await thief.call('mesh.list', {})).toEqual([]);
    for (const node of members) expect(await node.view(meshId)).not.toContain((await thief.call('status', {})).nodeId);
  }, 120_000);

  it('serves a stranger with a valid TLS identity nothing of the mesh at any member: no snapshot, no sync, no message', async () => {
    cluster = await MeshCluster.create('wgmesh-stranger-');
    const nodes = await cluster.addNodes([{name: 'a'}, {name: 'b'}]);
    const {meshId} = await meshOf(nodes);
    const stranger = await memberClient(cluster, 'stranger');
    clients.push(stranger);
    for (const node of nodes) await expectNothingFor(stranger, node, meshId);
  }, 60_000);

  it('in CA mode, creates, invites and joins with the CLI, and a stranger holding a certificate of the CA gets nothing', async () => {
    cluster = await MeshCluster.create('wgmesh-trust-ca-', {ca: true});
    const [a, b] = (await cluster.addNodes([{name: 'a'}, {name: 'b'}])) as [MeshNode, MeshNode];
    const {meshId} = await a.cliJson<{meshId: string}>(['mesh', 'create']);
    const invite = (await a.cli(['mesh', 'invite', meshId, '--uses', '1', '--expires', '10m'])).stdout.trim().split('\n').find((line) => line.startsWith('wgm1-'));
    expect(invite).toBeDefined();
    expect(await b.cliJson(['mesh', 'join', '--invite', invite!])).toMatchObject({meshId});
    const ids = (await Promise.all([a, b].map(async (node) => (await node.call('status', {})).nodeId))).sort();
    await waitFor(async () => (await Promise.all([a.view(meshId), b.view(meshId)])).every((view) => view.join() === ids.join()), 10_000, 'a and b to see each other');
    const stranger = await memberClient(cluster, 'stranger');
    clients.push(stranger);
    for (const node of [a, b]) await expectNothingFor(stranger, node, meshId);
  }, 60_000);
});
