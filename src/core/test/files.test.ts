import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {parseMountInfo} from '../src/util/mounts.js';
import {removeStaleTempFiles, writeFileAtomic} from '../src/index.js';

describe('atomic writes and stale temp files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgmesh-files-'));
  });
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true});
  });

  it('removes its temp file and keeps nothing half-written when the rename fails', async () => {
    const target = join(dir, 'taken');
    await mkdir(join(target, 'child'), {recursive: true}); // a non-empty directory cannot be renamed over
    await expect(writeFileAtomic(target, 'data')).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['taken']);
  });

  it('replaces the file and leaves no temp file on success', async () => {
    const target = join(dir, 'state.bin');
    await writeFileAtomic(target, 'one');
    await writeFileAtomic(target, 'two');
    expect(await readFile(target, 'utf8')).toBe('two');
    expect(await readdir(dir)).toEqual(['state.bin']);
  });

  it('removes only the temp files writeFileAtomic makes, at any depth', async () => {
    await mkdir(join(dir, 'meshes', 'm'), {recursive: true});
    const stale = ['identity.json.0123456789ab.tmp', join('meshes', 'm', 'state.bin.abcdef012345.tmp')];
    const kept = ['notes.tmp', 'state.bin', join('meshes', 'm', 'x.ABCDEF012345.tmp')];
    for (const name of [...stale, ...kept]) await writeFile(join(dir, name), 'x');
    expect((await removeStaleTempFiles(dir)).sort()).toEqual(stale.sort());
    const left = (await readdir(dir, {recursive: true})).sort();
    expect(left).toEqual(['meshes', join('meshes', 'm'), ...kept].sort());
    expect(await removeStaleTempFiles(join(dir, 'missing'))).toEqual([]);
  });
});

describe('mountinfo', () => {
  it('reads the mount point, type and source, unescaping octal escapes and skipping optional fields', () => {
    const text = [
      '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
      '90 22 0:50 / /tmp/with\\040space rw,relatime shared:5 master:1 - tmpfs tmpfs rw,size=2048k',
      'garbage line',
    ].join('\n');
    expect(parseMountInfo(text)).toEqual([
      {mountPoint: '/', fsType: 'ext4', source: '/dev/sda1'},
      {mountPoint: '/tmp/with space', fsType: 'tmpfs', source: 'tmpfs'},
    ]);
  });
});
