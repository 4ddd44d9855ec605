/**
 * Crash consistency with a real daemon (stub WireGuard): a burst of
 * `service.set` writes, each acknowledged only once saved, is cut by SIGKILL
 * at a random moment, 30 times. Every restart keeps the node id, the mesh and
 * the last acknowledged write (or the one in flight), and leaves no temporary
 * file behind.
 */
import type {MeshShowView} from '@wgmesh/core/client';
import {IpcClient} from '@wgmesh/core/client';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons} from './helpers/cli.js';
import {MeshCluster, type MeshNode} from './helpers/mesh-cluster.js';
import {tempFilesUnder} from './helpers/files.js';

/** Kills in all; they run in two lanes (a daemon each, one after another within a lane), as start-up dominates. */
const ROUNDS = 30;
const LANES = 2;

/** A small seeded PRNG (mulberry32), so a failing run can be replayed with its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `rounds` times: a burst of writes to `node`, SIGKILL at a random moment, restart, check. */
async function crashLane(node: MeshNode, meshId: string, rounds: number, random: () => number, label: string): Promise<void> {
  const nodeId = (await node.call('status', {})).nodeId;
  let counter = 0;
  let acknowledged = 0;
  for (let round = 1; round <= rounds; round++) {
    const context = `${label}, round ${round}`;
    // A burst of writes, one after another, cut by SIGKILL after a random delay.
    const client = new IpcClient(node.socket, {timeoutMs: 10_000});
    let killing = false;
    const burst = (async () => {
      while (!killing) {
        const value = ++counter;
        try {
          await client.call('service.set', {meshId, key: 'n', value: String(value)});
        } catch {
          return; // the kill cut this one: it may or may not have landed
        }
        acknowledged = value;
      }
    })();
    const delayMs = 5 + Math.floor(random() * 200);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    killing = true;
    await node.kill('SIGKILL');
    await burst;
    client.close();

    await node.start();
    const status = await node.call('status', {});
    expect(status.nodeId, context).toBe(nodeId);
    expect(status.meshes.map((mesh) => mesh.meshId), context).toEqual([meshId]);
    const shown: MeshShowView = await node.call('mesh.show', {meshId});
    const value = Number(shown.nodes.find((n) => n.self)?.services.n ?? 0);
    // The last acknowledged write, or the one that was in flight when the kill came.
    expect(value, context).toBeGreaterThanOrEqual(acknowledged);
    expect(value, context).toBeLessThanOrEqual(counter);
    counter = Math.max(counter, value);
    acknowledged = value;
    expect(await tempFilesUnder(node.dataDir), context).toEqual([]);
  }
}

describe('crash consistency', () => {
  let cluster: MeshCluster;

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-crash-');
    await cluster.addNodes(Array.from({length: LANES}, (_, lane) => ({name: `n${lane}`})));
  });

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
  });

  it(`keeps id, mesh and the last acknowledged write across ${ROUNDS} SIGKILLs during writes`, {timeout: 180_000}, async () => {
    const seed = Number(process.env.WGMESH_CRASH_SEED ?? Date.now() % 1_000_000);
    await Promise.all(
      cluster.nodes.map(async (node, lane) => {
        const {meshId} = await node.call('mesh.create', {});
        await crashLane(node, meshId, ROUNDS / LANES, prng(seed + lane), `lane ${lane}, seed ${seed} (WGMESH_CRASH_SEED)`);
      }),
    );
  });
});
