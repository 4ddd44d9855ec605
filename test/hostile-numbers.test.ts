/**
 * Numbers a member sends cannot take a node out of the mesh or brick a
 * record, with real daemons: the attacker (this test process, proving its own
 * node key) joins the mesh with an invite, then
 * - claims that X is dead at incarnation Number.MAX_SAFE_INTEGER, and
 * - pushes X's own record at version Number.MAX_SAFE_INTEGER, signed with X's
 *   key and carrying X's credential (both read from X's data dir: what a
 *   thief of X's files could do).
 * X stays in every view, and X can still change its record and leave.
 */
import {readFile} from 'node:fs/promises';
import {join} from 'node:path';
import {encode, loadOrCreateIdentity, signStatement, statementToWire, type NodeIdentity, type NodeRecord, type Transport} from '@wgmesh/core';
import {makeTestNode, wireEntry} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {joinAsMember, MeshCluster, memberClient, type MemberClient, type MeshNode} from './helpers/mesh-cluster.js';

describe('hostile numbers from a member', () => {
  let cluster: MeshCluster | undefined;
  let a: MeshNode, b: MeshNode, x: MeshNode;
  let meshId = '';
  let xId = '';
  let mallory: MemberClient | undefined;
  let identity: NodeIdentity;
  let attacker: Transport;

  const everyoneSeesX = async () => {
    for (const node of [a, b]) if (!(await node.view(meshId)).includes(xId)) return false;
    return true;
  };

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-numbers-');
    [a, b, x] = (await cluster.addNodes([{name: 'a'}, {name: 'b'}, {name: 'x'}])) as [MeshNode, MeshNode, MeshNode];
    ({meshId} = await a.call('mesh.create', {}));
    await b.call('mesh.join', {meshId, invite: await a.invite(meshId), via: a.endpoint});
    await x.call('mesh.join', {meshId, invite: await a.invite(meshId), via: a.endpoint});
    xId = (await x.call('status', {})).nodeId;
    await waitFor(everyoneSeesX, 10_000, 'A and B to see X');
    mallory = await memberClient(cluster, 'mallory');
    ({identity, transport: attacker} = mallory);
    // The attacker becomes a member (a client record: never dialled).
    const credential = await joinAsMember(mallory, a, meshId, a);
    const own = makeTestNode(meshId, {identity, now: Date.now(), credential}).record({role: 'client', controlEndpoint: null, wgEndpoint: null});
    await attacker.message(a.endpoint, meshId, encode({t: 'push', f: identity.nodeId, e: [wireEntry(own)]}));
    await waitFor(async () => (await b.view(meshId)).includes(identity.nodeId), 10_000, 'the attacker to be a member');
  });

  afterAll(async () => {
    await mallory?.close();
    await cluster?.close();
    await killAllDaemons();
  });

  it('a claim that X is dead at incarnation MAX_SAFE_INTEGER leaves X in every view, and X keeps working', async () => {
    const claim = signStatement(identity, {k: 'dead', m: meshId, x: xId, i: Number.MAX_SAFE_INTEGER, by: identity.nodeId});
    for (const node of [a, b]) await attacker.message(node.endpoint, meshId, encode({t: 'push', f: identity.nodeId, u: [statementToWire(claim)]}));
    // X must stay through the confirmation window (1.5 s) and the anti-entropy rounds after it: sampled every 100 ms for 6 s.
    const until = Date.now() + 6_000;
    while (Date.now() < until) {
      expect(await everyoneSeesX(), 'X in the views of A and B').toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await x.call('service.set', {meshId, key: 'after-claim', value: '1'});
    await waitFor(async () => (await a.call('mesh.show', {meshId})).nodes.some((n) => n.id === xId && n.services['after-claim'] === '1'), 5_000, 'X to change its record');
  });

  it("X's record at version MAX_SAFE_INTEGER (signed with X's own key) is refused, and X can still write and leave", async () => {
    const xIdentity = await loadOrCreateIdentity(join(x.dataDir, 'identity.json'));
    expect(xIdentity.nodeId).toBe(xId);
    const xSettings = JSON.parse(await readFile(join(x.dataDir, 'meshes', meshId, 'settings.json'), 'utf8')) as {credential: string};
    const xNode = makeTestNode(meshId, {identity: xIdentity, now: Date.now(), credential: Buffer.from(xSettings.credential, 'base64')});
    const current = (await a.call('mesh.show', {meshId})).nodes.find((n) => n.id === xId)!;
    const held = (await x.call('mesh.show', {meshId})).nodes.find((n) => n.self)!;
    const forged: NodeRecord = {
      ...xNode.recordBody(),
      address: current.address,
      controlEndpoint: current.controlEndpoint,
      wgEndpoint: current.wgEndpoint,
      services: {stolen: 'yes'},
      version: Number.MAX_SAFE_INTEGER,
    };
    const entry = xNode.record(forged);
    for (const node of [a, b, x]) await attacker.message(node.endpoint, meshId, encode({t: 'push', f: identity.nodeId, e: [wireEntry(entry)]}));
    await x.call('service.set', {meshId, key: 'after-version', value: '1'});
    for (const node of [a, b]) {
      await waitFor(
        async () => (await node.call('mesh.show', {meshId})).nodes.some((n) => n.id === xId && n.services['after-version'] === '1' && n.services.stolen === undefined),
        5_000,
        `X's own new record on ${node.name}`,
      );
    }
    expect(held.services.stolen).toBeUndefined();
    await x.call('mesh.leave', {meshId});
    await waitFor(async () => !(await a.view(meshId)).includes(xId) && !(await b.view(meshId)).includes(xId), 5_000, 'X to be gone after its leave');
  });
});
