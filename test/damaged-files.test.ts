/**
 * Damaged files in a daemon's data dir, with real daemons. A's mesh is joined
 * by B; B is stopped, one of its files is damaged, and B is started again:
 * - no identity.json but meshes on disk: B refuses to start (one line, no
 *   stack, non-zero exit) and does not make a new identity;
 * - state.bin unreadable: the mesh is kept, `status`, `mesh list` and the log
 *   say so, the bad file is kept aside, and the members fill the state again
 *   (for client C, which no member dials, from the member endpoints its
 *   settings keep);
 * - settings.json unreadable: rebuilt from B's own record in state.bin;
 * - settings.json unreadable and no state: the files are kept aside, `status`
 *   and `mesh list` say how to join again, and doing so works.
 */
import {readdir, readFile, rm, truncate, writeFile, stat} from 'node:fs/promises';
import {join} from 'node:path';
import type {MeshSummary, StatusView} from '@wgmesh/core/client';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, runCli, waitFor} from './helpers/cli.js';
import {LOG_LEVEL, MeshCluster, parseLogLines, type MeshNode} from './helpers/mesh-cluster.js';

describe('damaged files at start', () => {
  let cluster: MeshCluster;
  let a: MeshNode;
  let b: MeshNode;
  let c: MeshNode;
  let aId: string;
  let meshId: string;
  let bId: string;
  let bInterface: string;
  const meshDir = (): string => join(b.dataDir, 'meshes', meshId);

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-damaged-');
    [a, b, c] = (await cluster.addNodes(['a', 'b', 'c'].map((name) => ({name, config: {syncInterval: '300ms'}})))) as [MeshNode, MeshNode, MeshNode];
    ({meshId} = await a.cliJson<{meshId: string}>(['mesh', 'create']));
    await b.cliJson(['mesh', 'join', meshId, '--invite', await a.invite(meshId), '--via', a.endpoint]);
    await c.cliJson(['mesh', 'join', meshId, '--invite', await a.invite(meshId), '--via', a.endpoint, '--role', 'client']);
    aId = (await a.call('status', {})).nodeId;
    bId = (await b.call('status', {})).nodeId;
    bInterface = (await b.call('mesh.list', {}))[0]!.interface;
  });

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
  });

  /** Stop B cleanly (it saves), damage its files with `damage`, start it again. */
  async function restartDamaged(damage: () => Promise<void>): Promise<void> {
    await b.kill('SIGTERM');
    await damage();
    await b.start();
  }

  /** A and B see each other. */
  async function bothSeeBoth(): Promise<boolean> {
    const [seenByA, seenByB] = await Promise.all([a.view(meshId), b.view(meshId)]);
    return seenByA.includes(bId) && seenByB.includes(aId);
  }

  it('refuses to start without identity.json while meshes exist, says how to recover, and creates no identity', async () => {
    await b.kill('SIGTERM');
    const identityFile = join(b.dataDir, 'identity.json');
    const saved = await readFile(identityFile);
    await rm(identityFile);
    try {
      const result = await runCli(['daemon', '--config', b.configFile, '--log-level', 'warn'], cluster.sandbox.env, 15_000);
      expect(result.code).not.toBe(0);
      const errorLines = result.stderr.split('\n').filter((line) => line.startsWith('Error:'));
      expect(errorLines).toHaveLength(1);
      expect(errorLines[0]).toContain('identity.json');
      expect(errorLines[0]).toContain(meshId);
      expect(errorLines[0]).toMatch(/restore .*identity\.json.* from a backup/);
      expect(result.stderr).not.toMatch(/^\s+at /m);
      await expect(stat(identityFile)).rejects.toThrow(/ENOENT/);
    } finally {
      await writeFile(identityFile, saved, {mode: 0o600});
    }
    await b.start();
    expect((await b.call('status', {})).nodeId).toBe(bId);
  });

  it('keeps a mesh whose state.bin is unreadable, says so, and refetches the state from its members', async () => {
    // Cut A and B apart until the problem has been seen: with them connected, the refetch is done within one sync interval.
    await cluster.partition([[a, c], [b]]);
    await restartDamaged(async () => {
      const file = join(meshDir(), 'state.bin');
      await truncate(file, Math.floor((await stat(file)).size / 2));
    });
    const status = await b.cliJson<StatusView>(['status']);
    const listed = status.meshes.find((mesh) => mesh.meshId === meshId);
    expect(listed?.problem).toMatch(/state\.bin/);
    expect(listed?.interface).toBe(bInterface);
    const text = await b.cli(['status']);
    expect(text.stdout).toContain('state.bin');
    const list = await b.cli(['mesh', 'list']);
    expect(list.stdout).toContain(meshId);
    expect(list.stdout).toContain('state.bin');
    const loud = parseLogLines(b.daemon.logs()).filter((line) => line.level >= LOG_LEVEL.warn && JSON.stringify(line).includes('state.bin'));
    expect(loud.length).toBeGreaterThan(0);
    // The damaged file is kept aside, not deleted.
    expect((await readdir(meshDir())).some((name) => name.startsWith('state.bin.unreadable-'))).toBe(true);
    await cluster.heal();
    await waitFor(bothSeeBoth, 15_000, 'B to refetch the mesh state from A');
    // Once refetched, nothing is wrong any more.
    await waitFor(async () => (await b.call('mesh.list', {})).every((mesh: MeshSummary) => mesh.problem === undefined), 5_000, 'the problem to clear');
  });

  it('refetches a client\'s unreadable state from the member endpoints its settings keep', async () => {
    const dir = join(c.dataDir, 'meshes', meshId);
    await c.kill('SIGTERM');
    const settings = JSON.parse(await readFile(join(dir, 'settings.json'), 'utf8')) as {seeds?: string[]};
    expect(settings.seeds).toContain(a.endpoint);
    const file = join(dir, 'state.bin');
    await truncate(file, Math.floor((await stat(file)).size / 2));
    await c.start();
    // No member dials a client: only its own sync with a saved endpoint can bring A back into its view.
    await waitFor(async () => (await c.view(meshId)).includes(aId), 15_000, 'client C to refetch the mesh state');
    await waitFor(async () => (await c.call('mesh.list', {})).every((mesh: MeshSummary) => mesh.problem === undefined), 5_000, 'the problem to clear');
    await waitFor(() => parseLogLines(c.daemon.logs()).some((line) => line.msg === 'refetched the mesh state from a member'), 5_000, 'C to log the refetch');
  });

  it('rebuilds an unreadable settings.json from its own record in state.bin', async () => {
    await restartDamaged(async () => {
      await writeFile(join(meshDir(), 'settings.json'), '{"version": 1, "meshId": ');
    });
    const listed = (await b.call('mesh.list', {})).find((mesh) => mesh.meshId === meshId);
    expect(listed?.problem).toMatch(/settings\.json/);
    expect(listed?.interface).toBe(bInterface);
    await waitFor(bothSeeBoth, 15_000, 'both members to see each other after the rebuild');
    const rebuilt = JSON.parse(await readFile(join(meshDir(), 'settings.json'), 'utf8')) as {meshId: string; role: string};
    expect(rebuilt).toMatchObject({meshId, role: 'peer'});
    expect((await readdir(meshDir())).some((name) => name.startsWith('settings.json.unreadable-'))).toBe(true);
  });

  it('keeps the files of a mesh it cannot restore aside and says exactly how to join again', async () => {
    await restartDamaged(async () => {
      await writeFile(join(meshDir(), 'settings.json'), 'garbage');
      await rm(join(meshDir(), 'state.bin'));
    });
    const status = await b.cliJson<StatusView>(['status']);
    const listed = status.meshes.find((mesh) => mesh.meshId === meshId);
    expect(listed?.problem).toContain(`wgmesh mesh join ${meshId} --invite`);
    const list = await b.cli(['mesh', 'list']);
    expect(list.stdout).toContain(`wgmesh mesh join ${meshId} --invite`);
    const kept = (await readdir(join(b.dataDir, 'meshes'))).filter((name) => name.startsWith(`${meshId}.unreadable-`));
    expect(kept).toHaveLength(1);
    expect(await readFile(join(b.dataDir, 'meshes', kept[0]!, 'settings.json'), 'utf8')).toBe('garbage');
    // What the problem says to do works, and the problem is gone.
    const rejoin = await b.cli(['mesh', 'join', meshId, '--invite', await a.invite(meshId), '--via', a.endpoint]);
    expect(rejoin.code, rejoin.stderr).toBe(0);
    const after = (await b.call('mesh.list', {})).filter((mesh) => mesh.meshId === meshId);
    expect(after).toHaveLength(1);
    expect(after[0]!.problem).toBeUndefined();
    await waitFor(bothSeeBoth, 15_000, 'both members to see each other after the rejoin');
  });
});
