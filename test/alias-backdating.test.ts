/**
 * A member cannot take another node's alias by backdating its record: the
 * attacker (this test process, a member admitted with an invite) pushes a
 * record dated `createdAt: 0` that claims the alias an honest node has held
 * for a while. Every daemon, one that joins afterwards through a member, and
 * one that restarts, keep resolving the alias to the honest node, in
 * `mesh show` and in DNS.
 */
import {execFile} from 'node:child_process';
import {promisify} from 'node:util';
import {ALIAS_CLAIM_SLACK_MS, encode} from '@wgmesh/core';
import {makeTestNode, wireEntry} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {joinAsMember, MeshCluster, memberClient, type MemberClient, type MeshNode} from './helpers/mesh-cluster.js';

const run = promisify(execFile);

describe('alias claims cannot be backdated', () => {
  let cluster: MeshCluster | undefined;
  let a: MeshNode, b: MeshNode, c: MeshNode;
  let meshId = '';
  let bId = '';
  let mallory: MemberClient | undefined;

  /** Who owns `alias` in `node`'s `mesh show`. */
  async function ownerAt(node: MeshNode, alias: string): Promise<string | null | undefined> {
    const view = await node.call('mesh.show', {meshId});
    return view.nodes.find((n) => n.alias === alias)?.aliasOwner;
  }

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-alias-');
    [a, b, c] = (await cluster.addNodes([{name: 'a', config: {dnsEnabled: true, dnsListen: '127.0.0.1:0'}}, {name: 'b'}, {name: 'c'}])) as [MeshNode, MeshNode, MeshNode];
    ({meshId} = await a.call('mesh.create', {}));
    await b.call('mesh.join', {meshId, invite: await a.invite(meshId), via: a.endpoint});
    bId = (await b.call('status', {})).nodeId;
    await b.call('node.set', {meshId, alias: 'db'});
    const claimedAt = Date.now();
    await waitFor(async () => (await ownerAt(a, 'db')) === bId, 10_000, 'A to see B own db');
    // The rule lets a claim date itself up to ALIAS_CLAIM_SLACK_MS before it was seen: B's claim must be older than that.
    await waitFor(() => Date.now() > claimedAt + ALIAS_CLAIM_SLACK_MS + 1_000, ALIAS_CLAIM_SLACK_MS + 5_000, "B's claim to be older than the slack");
    mallory = await memberClient(cluster, 'mallory');
  });

  afterAll(async () => {
    await mallory?.close();
    await cluster?.close();
    await killAllDaemons();
  });

  it('a record dated createdAt 0 does not take the alias anywhere: not on the members, not on a node joining later, not after a restart, not in DNS', async () => {
    const credential = await joinAsMember(mallory!, a, meshId, a);
    const now = Date.now();
    const backdated = makeTestNode(meshId, {identity: mallory!.identity, now, credential}).record({alias: 'db', createdAt: 0, controlEndpoint: null, wgEndpoint: null, role: 'client'});
    const reply = await mallory!.transport.message(a.endpoint, meshId, encode({t: 'push', f: mallory!.identity.nodeId, e: [wireEntry(backdated)]}));
    expect(reply.byteLength).toBeGreaterThan(0);
    await waitFor(async () => (await b.view(meshId)).includes(mallory!.identity.nodeId), 10_000, 'the backdated record to reach B');
    for (const node of [a, b]) expect(await ownerAt(node, 'db')).toBe(bId);

    await c.call('mesh.join', {meshId, invite: await a.invite(meshId), via: a.endpoint});
    await waitFor(async () => (await c.view(meshId)).includes(mallory!.identity.nodeId), 10_000, 'C to hold the backdated record');
    expect(await ownerAt(c, 'db')).toBe(bId);

    // A saves what it has seen and keeps it across a restart.
    await a.kill('SIGTERM');
    await a.start();
    await waitFor(async () => (await a.view(meshId)).includes(mallory!.identity.nodeId), 15_000, 'A to restore the mesh');
    expect(await ownerAt(a, 'db')).toBe(bId);

    const dns = (await a.call('status', {})).dns!.address;
    const [host, port] = [dns.slice(0, dns.lastIndexOf(':')), dns.slice(dns.lastIndexOf(':') + 1)];
    const bAddress = (await b.call('mesh.show', {meshId})).nodes.find((n) => n.id === bId)!.address;
    const {stdout} = await run('dig', [`@${host}`, '-p', port, 'AAAA', `db.${meshId}.wgmesh`, '+short']);
    expect(stdout.trim()).toBe(bAddress);
  });
});
