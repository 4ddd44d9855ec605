/**
 * `wgmesh node rotate-keys` with four real daemons on loopback (real gRPC,
 * stub WireGuard): the rotating node's new WireGuard key reaches every member's
 * view and WireGuard configuration within the bound a record change has, the
 * old key is gone everywhere, nobody drops the node from its view meanwhile,
 * and the key survives a restart. The measured spread is printed at the end.
 */
import {generateWgPrivateKey, loadIdentity, storeWgPrivateKey, wgPublicKeyFromPrivate} from '@wgmesh/core';
import {stat} from 'node:fs/promises';
import {join} from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {interfaceOf, MeshCluster, timed, ViewWatch, type MeshNode} from './helpers/mesh-cluster.js';

/** The config default the cluster runs with. */
const SYNC_INTERVAL_MS = 1_000;
/** A record change reaches every member within this (the bound the other change tests use). */
const SPREAD_BOUND_MS = 5 * SYNC_INTERVAL_MS;

interface RotateResult {
  oldPublicKey: string;
  newPublicKey: string;
  meshIds: string[];
}

describe('node rotate-keys with four daemons (stub WireGuard)', {timeout: 60_000}, () => {
  let cluster: MeshCluster | undefined;
  let a: MeshNode, b: MeshNode, c: MeshNode, d: MeshNode;
  let all: MeshNode[] = [];
  let meshId = '';
  const ids = new Map<MeshNode, string>();
  let watch: ViewWatch | undefined;
  const measured: Record<string, number> = {};

  /** The WireGuard key each observer's view gives `node`. */
  async function keysSeenFor(node: MeshNode, observers: readonly MeshNode[]): Promise<(string | undefined)[]> {
    return Promise.all(observers.map(async (observer) => (await observer.call('mesh.show', {meshId, nodeId: ids.get(node)!})).nodes[0]?.wgPublicKey));
  }

  /** The peer keys each observer's (stub) WireGuard interface lists. */
  async function wireguardKeys(observers: readonly MeshNode[]): Promise<string[][]> {
    return Promise.all(observers.map(async (observer) => ((await observer.wireguard(await interfaceOf(observer, meshId)))?.peers ?? []).map((peer) => peer.publicKey)));
  }

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-rotate-');
    [a, b, c, d] = (await cluster.addNodes(['a', 'b', 'c', 'd'].map((name) => ({name})))) as [MeshNode, MeshNode, MeshNode, MeshNode];
    all = [a, b, c, d];
    ({meshId} = await a.cliJson<{meshId: string}>(['mesh', 'create']));
    for (const [node, via] of [
      [b, a],
      [c, b],
      [d, c],
    ] as const) {
      await node.cliJson(['mesh', 'join', meshId, '--invite', await a.invite(meshId), '--via', via.endpoint]);
    }
    for (const node of all) ids.set(node, (await node.call('status', {})).nodeId);
    await waitFor(async () => (await Promise.all(all.map((node) => node.view(meshId)))).every((view) => view.length === 4), SPREAD_BOUND_MS, 'all four to see all four');
    watch = new ViewWatch(meshId);
    watch.expect(all, [...ids.values()]);
    watch.start();
  }, 60_000);

  afterAll(async () => {
    await watch?.stop();
    await cluster?.close();
    await killAllDaemons();
    console.log(`rotate-keys measured times (ms): ${JSON.stringify(measured)}`);
  });

  it("prints the old and new key, and every member's view and WireGuard switch to the new key within the spread bound; nobody drops the node", async () => {
    const before = await d.call('status', {});
    const wireguardBefore = await wireguardKeys([a, b, c]);
    for (const keys of wireguardBefore) expect(keys).toContain(before.wgPublicKey);
    const text = await d.cli(['node', 'rotate-keys']);
    expect(text.code, text.stderr).toBe(0);
    const rotatedAt = Date.now();
    const [, oldKey, newKey] = /old public key\s+(\S+)\s+new public key\s+(\S+)/.exec(text.stdout) ?? [];
    expect(oldKey).toBe(before.wgPublicKey);
    expect(text.stdout).toContain(`WireGuard key rotated in mesh ${meshId}`);
    measured.viewsHaveNewKey = await timed(() =>
      waitFor(async () => (await keysSeenFor(d, all)).every((key) => key === newKey), SPREAD_BOUND_MS, "every member's view to carry d's new key"),
    );
    await waitFor(
      async () => (await wireguardKeys([a, b, c])).every((keys) => keys.includes(newKey!) && !keys.includes(oldKey!)),
      SPREAD_BOUND_MS,
      "every member's WireGuard to list d's new key and not its old one",
    );
    measured.wireguardHasNewKey = Date.now() - rotatedAt;
    expect((await d.call('status', {})).wgPublicKey).toBe(newKey);
    // d's own interface has the new key pair (the stub mirrors its public half).
    expect((await d.wireguard(await interfaceOf(d, meshId)))?.publicKey).toBe(newKey);
    expect(watch!.violations).toEqual([]);
  });

  it('prints JSON with --json, stores the key 0600, and keeps it across a restart', async () => {
    const rotated = await b.cliJson<RotateResult>(['node', 'rotate-keys']);
    expect(rotated).toEqual({oldPublicKey: expect.any(String), newPublicKey: expect.any(String), meshIds: [meshId]});
    expect(rotated.newPublicKey).not.toBe(rotated.oldPublicKey);
    const file = join(b.dataDir, 'identity.json');
    expect((await loadIdentity(file))?.wgPublicKey).toBe(rotated.newPublicKey);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await waitFor(async () => (await keysSeenFor(b, all)).every((key) => key === rotated.newPublicKey), SPREAD_BOUND_MS, "every member's view to carry b's new key");

    // While b restarts, the others need not see it.
    watch!.expect(all.filter((node) => node !== b), [a, c, d].map((node) => ids.get(node)!));
    await b.kill('SIGTERM');
    await b.start();
    expect((await b.call('status', {})).wgPublicKey).toBe(rotated.newPublicKey);
    expect((await b.wireguard(await interfaceOf(b, meshId)))?.publicKey).toBe(rotated.newPublicKey);
    await waitFor(async () => (await keysSeenFor(b, all)).every((key) => key === rotated.newPublicKey), SPREAD_BOUND_MS, "every member's view to still carry b's new key after its restart");
    // The restarted node's own view settles first (its failure detector starts afresh); from then on nobody may drop anybody.
    await waitFor(async () => (await b.view(meshId)).length === all.length, SPREAD_BOUND_MS, 'b to see every member after its restart');
    watch!.expect(all, [...ids.values()]);
  });

  it('a daemon killed right after storing a new key, before it put it anywhere else, comes back with it on its interface and in every view', async () => {
    watch!.expect(all.filter((node) => node !== c), [a, b, d].map((node) => ids.get(node)!));
    await c.kill('SIGKILL');
    // What a rotation had done when the kill came: the new key is in identity.json, nowhere else.
    const privateKey = generateWgPrivateKey();
    await storeWgPrivateKey(join(c.dataDir, 'identity.json'), {nodeId: ids.get(c)!, signingKey: '', wgPublicKey: ''}, privateKey);
    const newKey = wgPublicKeyFromPrivate(privateKey);
    await c.start();
    expect((await c.call('status', {})).wgPublicKey).toBe(newKey);
    expect((await c.wireguard(await interfaceOf(c, meshId)))?.publicKey).toBe(newKey);
    await waitFor(async () => (await keysSeenFor(c, all)).every((key) => key === newKey), SPREAD_BOUND_MS, "every member's view to carry c's stored key");
    await waitFor(async () => (await wireguardKeys([a, b, d])).every((keys) => keys.includes(newKey)), SPREAD_BOUND_MS, "every member's WireGuard to list c's stored key");
    await waitFor(async () => (await c.view(meshId)).length === all.length, SPREAD_BOUND_MS, 'c to see every member after its restart');
    watch!.expect(all, [...ids.values()]);
  });

  it('refuses --mesh naming an unknown mesh, and a --mesh rotation that would change the key in other meshes too', async () => {
    const unknown = await a.cli(['node', 'rotate-keys', '--mesh', 'aaaaaaaaaaaaaaaaaaaaaaaaaa', '--json']);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stdout)).toEqual({error: {code: 'UNKNOWN_MESH', message: expect.stringContaining('not a member of mesh aaaaaaaaaaaaaaaaaaaaaaaaaa')}});
    const {meshId: second} = await a.cliJson<{meshId: string}>(['mesh', 'create']);
    const keyBefore = (await a.call('status', {})).wgPublicKey;
    const refused = await a.cli(['node', 'rotate-keys', '--mesh', meshId]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`Error: the WireGuard key is per node, and this node uses it in 2 meshes (${[meshId, second].sort().join(', ')})`);
    expect((await a.call('status', {})).wgPublicKey).toBe(keyBefore);
    const help = await a.cli(['node', 'rotate-keys', '--help']);
    expect(help.stdout).toContain("Replace this node's WireGuard key pair");
    // Over the whole file (two rotations, two restarts), no member dropped a live node from its view.
    expect(watch!.rounds).toBeGreaterThan(0);
    expect(watch!.violations).toEqual([]);
  });
});
