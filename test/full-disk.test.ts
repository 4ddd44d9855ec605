/**
 * A full disk, for real: the daemon's data dir is a small tmpfs (root only),
 * filled up with a filler file. A write the CLI asks for then fails with "no
 * space left on device" naming where, the old state file stays intact, and no
 * temporary file is left; with space again, writes work and survive a restart.
 * Also: temporary files a killed daemon left are removed at the next start.
 */
import {execFileSync} from 'node:child_process';
import {mkdir, open, readFile, rm, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import type {MeshShowView} from '@wgmesh/core/client';
import {skipWithout} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {daemonPaths, killAllDaemons} from './helpers/cli.js';
import {tempFilesUnder} from './helpers/files.js';
import {MeshCluster, MeshNode, freePorts, writeNodeFiles} from './helpers/mesh-cluster.js';

/** Mounting a tmpfs needs root; CI (CI=true or WGMESH_REQUIRE_ALL=1) fails instead of skipping. */
const SKIP = skipWithout('the full-disk tests', process.getuid?.() === 0 ? {ok: true} : {ok: false, reason: 'mounting a small tmpfs needs root'});

/** Write zeros to `file` until the file system is full (bounded: at most `maxBytes`). */
async function fillUp(file: string, maxBytes: number): Promise<void> {
  const handle = await open(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (let written = 0; written < maxBytes; written += chunk.length) {
      try {
        await handle.write(chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return;
        throw error;
      }
    }
    throw new Error(`the file system of ${file} was not full after ${maxBytes} bytes`);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

describe.skipIf(SKIP)('full disk', () => {
  let cluster: MeshCluster;
  let node: MeshNode;
  let dataDir: string;
  let mounted = false;
  let meshId: string;

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-disk-');
    dataDir = daemonPaths(cluster.sandbox, 'a').dataDir;
    await mkdir(dataDir, {recursive: true, mode: 0o700});
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', dataDir]);
    mounted = true;
    const [port] = await freePorts(1);
    node = new MeshNode(await writeNodeFiles(cluster.sandbox, cluster.pki, {name: 'a'}, {port: port!}));
    await node.start();
    ({meshId} = await node.cliJson<{meshId: string}>(['mesh', 'create']));
    await node.cliJson(['service', 'set', 'web', 'before', '--mesh', meshId]);
  });

  afterAll(async () => {
    await node?.kill('SIGKILL');
    await killAllDaemons();
    if (mounted) execFileSync('umount', ['-l', dataDir]);
    await cluster?.close();
  });

  it('reports no space left on device with the path, keeps the old file, and leaves no temp file', async () => {
    const stateFile = join(dataDir, 'meshes', meshId, 'state.bin');
    const before = await readFile(stateFile);
    const filler = join(dataDir, 'filler');
    try {
      await fillUp(filler, 4 * 1024 * 1024);
      const result = await node.cli(['service', 'set', 'web', 'x'.repeat(500), '--mesh', meshId]);
      console.log(`full disk: the CLI printed ${result.stderr.trim()}`);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/no space left on device/i);
      expect(result.stderr).toContain(dataDir);
      expect(result.stderr).not.toContain('INTERNAL');
      expect(await readFile(stateFile)).toEqual(before);
      expect(await tempFilesUnder(dataDir)).toEqual([]);
    } finally {
      await rm(filler, {force: true});
    }

    // Space again: the next write works and is what a restart finds.
    await node.cliJson(['service', 'set', 'web', 'after', '--mesh', meshId]);
    await node.kill('SIGKILL');
    await node.start();
    const shown = await node.cliJson<MeshShowView>(['mesh', 'show', meshId]);
    expect(shown.nodes.find((n) => n.self)?.services.web).toBe('after');
  });

  it('removes temp files a killed daemon left behind at the next start', async () => {
    await node.kill('SIGKILL');
    const stale = [join(dataDir, 'identity.json.0123456789ab.tmp'), join(dataDir, 'meshes', meshId, 'state.bin.abcdef012345.tmp'), join(dataDir, 'meshes', meshId, 'settings.json.00aa11bb22cc.tmp')];
    for (const file of stale) await writeFile(file, 'half a file');
    await node.start();
    expect(await tempFilesUnder(dataDir)).toEqual([]);
    expect((await node.call('mesh.list', {})).map((mesh) => mesh.meshId)).toEqual([meshId]);
  });
});
