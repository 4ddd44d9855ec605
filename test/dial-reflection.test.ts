/**
 * A member cannot turn the mesh into a connection flood against a host of its
 * choosing. Four daemons share a mesh; the attacker (this test process, a
 * member admitted with an invite) pushes one signed record of its own whose control
 * endpoint is a loopback port it does not serve: the "victim", a plain TCP
 * listener of this test that counts the connections it accepts and closes them
 * at once. The attacker never answers anything, so the members first probe it,
 * then consider it dead, and then only try it now and then to heal a partition.
 * Every daemon keeps working meanwhile. The daemons run with a grace of 10 s
 * (`dialBackoffGrace`, 1 min by default), so the whole backoff plays out, at
 * a sixth of its default time scale, within half a minute.
 */
import {createServer, type Server, type Socket} from 'node:net';
import {encode} from '@wgmesh/core';
import {makeTestNode, wireEntry} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {joinAsMember, MeshCluster, memberClient, type MemberClient, type MeshNode} from './helpers/mesh-cluster.js';

/** Daemons in the mesh (the attack used four to six). */
const DAEMONS = 4;
/** How long the daemons dial a failing endpoint at their usual pace (config `dialBackoffGrace`). */
const GRACE_MS = 10_000;
/** Length of one counting window. */
const WINDOW_MS = GRACE_MS / 2;
/**
 * Start of the late window, after the injection. Members may try an endpoint
 * that just stopped answering at their usual pace for the grace (a restart, a
 * short partition); by 1.5 graces each waits about a grace between attempts.
 */
const LATE_WINDOW_START_MS = (3 * GRACE_MS) / 2;

describe('a member advertising a control endpoint nobody serves', () => {
  let cluster: MeshCluster | undefined;
  let nodes: MeshNode[] = [];
  let meshId = '';
  let victim: Server | undefined;
  let victimPort = 0;
  /** When the victim accepted each connection (Date.now()). */
  const accepted: number[] = [];
  const sockets = new Set<Socket>();
  let mallory: MemberClient | undefined;

  beforeAll(async () => {
    victim = createServer((socket) => {
      accepted.push(Date.now());
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      victim!.once('error', reject);
      victim!.listen(0, '127.0.0.1', () => resolve());
    });
    victimPort = (victim.address() as {port: number}).port;

    cluster = await MeshCluster.create('wgmesh-reflection-');
    nodes = await cluster.addNodes(Array.from({length: DAEMONS}, (_, index) => ({name: `n${index}`, config: {dialBackoffGrace: `${GRACE_MS}ms`}})));
    const [first, ...rest] = nodes as [MeshNode, ...MeshNode[]];
    ({meshId} = await first.call('mesh.create', {}));
    for (const node of rest) await node.call('mesh.join', {meshId, invite: await first.invite(meshId), via: first.endpoint});
    await waitFor(async () => (await Promise.all(nodes.map((node) => node.view(meshId)))).every((view) => view.length === DAEMONS), 15_000, 'every daemon to see all the others');

    mallory = await memberClient(cluster, 'mallory');
  });

  afterAll(async () => {
    await mallory?.close();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => (victim ? victim.close(() => resolve()) : resolve()));
    await cluster?.close();
    await killAllDaemons();
  });

  it('is dialled ever less often, and the mesh keeps working', async () => {
    const {identity, transport: attacker} = mallory!;
    const credential = await joinAsMember(mallory!, nodes[0]!, meshId, nodes[0]!);
    const rogue = makeTestNode(meshId, {identity, now: Date.now(), credential}).record({controlEndpoint: `127.0.0.1:${victimPort}`, wgEndpoint: '127.0.0.1:51999'});
    const reply = await attacker.message(nodes[0]!.endpoint, meshId, encode({t: 'push', f: identity.nodeId, e: [wireEntry(rogue)]}));
    expect(reply.byteLength).toBeGreaterThan(0);
    const injectedAt = Date.now();
    await waitFor(() => accepted.length > 0, 10_000, 'a first connection to the advertised endpoint');

    // The quantity under test is a rate over fixed windows: this waits out the window, it polls for nothing.
    await new Promise((resolve) => setTimeout(resolve, LATE_WINDOW_START_MS + WINDOW_MS - (Date.now() - injectedAt)));
    const inWindow = (from: number): number => accepted.filter((at) => at - injectedAt >= from && at - injectedAt < from + WINDOW_MS).length;
    const early = inWindow(0);
    const late = inWindow(LATE_WINDOW_START_MS);
    console.log(`connections to the advertised endpoint: ${early} in the first ${WINDOW_MS / 1000} s, ${late} from ${LATE_WINDOW_START_MS / 1000} s to ${(LATE_WINDOW_START_MS + WINDOW_MS) / 1000} s (${DAEMONS} daemons)`);
    // The grace may be dialled as before: the attack must have reached every daemon.
    expect(early).toBeGreaterThanOrEqual(DAEMONS);
    // Later each daemon waits about as long as the endpoint has been failing, at least a grace, between attempts. With the
    // default grace (a minute) and these windows six times longer, runs on a loaded 2-core machine counted 3-7 connections
    // for four daemons in the late window against 170-180 in the first; the bound is two per daemon.
    expect(late).toBeLessThanOrEqual(2 * DAEMONS);

    // Honest members were never slowed down by it: a change still reaches everyone at once.
    await nodes[1]!.call('service.set', {meshId, key: 'after', value: 'reflection'});
    const sees = async (node: MeshNode): Promise<boolean> => {
      const shown = await node.call('mesh.show', {meshId});
      return shown.nodes.find((record) => record.services.after === 'reflection') !== undefined;
    };
    await waitFor(async () => (await Promise.all(nodes.map(sees))).every(Boolean), 5_000, 'the change on every daemon');
    for (const node of nodes) expect((await node.view(meshId)).length).toBe(DAEMONS);
  }, LATE_WINDOW_START_MS + WINDOW_MS + 60_000);
});
