/**
 * The data dir's format version: a new dir is stamped, an unversioned or older
 * one is backed up and then migrated step by step, a newer one is refused.
 */
import {chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile} from 'node:fs/promises';
import {createServer, type Server} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {DataDirFormatError} from '../src/errors.js';
import {DATA_DIR_FORMAT, openDataDirFormat, type DataDirMigration} from '../src/runtime/data-dir-format.js';
import {silentLogger} from '@wgmesh/testkit';

const NOW = new Date('2026-12-06T23:59:01.250Z');
const STAMP = '2026-12-06T23-59-01-250Z';

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'wgmesh-format-'));
});
afterEach(async () => {
  await rm(dataDir, {recursive: true, force: true});
});

async function formatOf(dir: string): Promise<unknown> {
  return JSON.parse(await readFile(join(dir, 'format.json'), 'utf8'));
}

/** Today's layout: an identity, a mesh, an admin key. */
async function writeUnversionedDir(dir: string): Promise<void> {
  await writeFile(join(dir, 'identity.json'), '{"id":"me"}', {mode: 0o600});
  await mkdir(join(dir, 'meshes', 'm1'), {recursive: true, mode: 0o700});
  await writeFile(join(dir, 'meshes', 'm1', 'state.bin'), 'state');
  await mkdir(join(dir, 'admin'), {mode: 0o700});
  await writeFile(join(dir, 'admin', 'm1.json'), '{"key":"secret"}', {mode: 0o600});
}

describe('data dir format', () => {
  it('stamps a new, empty data dir with the current format and makes no backup', async () => {
    await writeFile(join(dataDir, 'daemon.pid'), '1');
    expect(await openDataDirFormat(dataDir, silentLogger())).toEqual({found: undefined});
    expect(await formatOf(dataDir)).toEqual({format: DATA_DIR_FORMAT});
    expect(await readdir(dataDir)).not.toContain('backups');
  });

  it('migrates an unversioned data dir after copying its data (modes kept; lock, socket and temp files left out)', async () => {
    await writeUnversionedDir(dataDir);
    await writeFile(join(dataDir, 'daemon.pid'), '1');
    await writeFile(join(dataDir, 'identity.json.0123456789ab.tmp'), 'half');
    const listener: Server = createServer();
    await new Promise<void>((resolve) => listener.listen(join(dataDir, 'wgmesh.sock'), resolve));
    try {
      const result = await openDataDirFormat(dataDir, silentLogger(), {now: NOW});
      const backup = join(dataDir, 'backups', `format-0-${STAMP}`);
      expect(result).toEqual({found: 0, backup});
      expect(await formatOf(dataDir)).toEqual({format: DATA_DIR_FORMAT});
      expect((await readdir(backup)).sort()).toEqual(['admin', 'identity.json', 'meshes']);
      expect(await readFile(join(backup, 'meshes', 'm1', 'state.bin'), 'utf8')).toBe('state');
      expect((await stat(join(backup, 'identity.json'))).mode & 0o777).toBe(0o600);
      expect((await stat(join(backup, 'admin', 'm1.json'))).mode & 0o777).toBe(0o600);
      expect((await stat(join(dataDir, 'backups'))).mode & 0o777).toBe(0o700);
      // The data itself is untouched, and a second open finds nothing to do.
      expect(await readFile(join(dataDir, 'identity.json'), 'utf8')).toBe('{"id":"me"}');
      expect(await openDataDirFormat(dataDir, silentLogger())).toEqual({found: DATA_DIR_FORMAT});
    } finally {
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    }
  });

  it('refuses a newer data dir, naming both formats and what to do, and leaves it as it was', async () => {
    await writeUnversionedDir(dataDir);
    await writeFile(join(dataDir, 'format.json'), JSON.stringify({format: DATA_DIR_FORMAT + 1}));
    const error = await openDataDirFormat(dataDir, silentLogger()).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DataDirFormatError);
    expect((error as Error).message).toBe(
      `the data dir ${dataDir} has format ${DATA_DIR_FORMAT + 1}, but this wgmesh reads format ${DATA_DIR_FORMAT} at most: it was written by a newer wgmesh. ` +
        `Run that newer wgmesh (or later), or restore the copy made before the upgrade from ${join(dataDir, 'backups')} (move its contents back into ${dataDir})`,
    );
    expect(await formatOf(dataDir)).toEqual({format: DATA_DIR_FORMAT + 1});
    expect(await readdir(dataDir)).not.toContain('backups');
  });

  it('refuses an unreadable format file with the file named', async () => {
    await writeFile(join(dataDir, 'format.json'), '{"format": "one"}');
    await expect(openDataDirFormat(dataDir, silentLogger())).rejects.toThrow(new DataDirFormatError(`the data dir format file ${join(dataDir, 'format.json')} is not in the expected format (Invalid input: expected number, received string); restore it from a backup or move it away`));
  });

  describe('with steps of a later wgmesh', () => {
    const renameStep: DataDirMigration = {from: 1, describe: 'identity.json becomes node.json', run: (dir) => rename(join(dir, 'identity.json'), join(dir, 'node.json'))};
    const addStep: DataDirMigration = {from: 2, describe: 'add settings.json', run: (dir) => writeFile(join(dir, 'settings.json'), '{}')};
    const steps = [{from: 0, describe: 'stamp', run: async () => {}}, renameStep, addStep];

    it('backs up an older data dir, then runs each step from its format to the current one', async () => {
      await writeUnversionedDir(dataDir);
      await writeFile(join(dataDir, 'format.json'), '{"format":1}\n');
      const result = await openDataDirFormat(dataDir, silentLogger(), {current: 3, migrations: steps, now: NOW});
      expect(result).toEqual({found: 1, backup: join(dataDir, 'backups', `format-1-${STAMP}`)});
      expect(await formatOf(dataDir)).toEqual({format: 3});
      expect((await readdir(dataDir)).sort()).toEqual(['admin', 'backups', 'format.json', 'meshes', 'node.json', 'settings.json']);
      // The backup is the dir as it was, format file included.
      expect((await readdir(result.backup!)).sort()).toEqual(['admin', 'format.json', 'identity.json', 'meshes']);
      expect(await formatOf(result.backup!)).toEqual({format: 1});
    });

    it('records each finished step, so a failed migration resumes where it stopped', async () => {
      await writeUnversionedDir(dataDir);
      await writeFile(join(dataDir, 'format.json'), '{"format":1}\n');
      const failing: DataDirMigration = {from: 2, describe: 'fails', run: () => chmod(join(dataDir, 'missing'), 0o600)};
      await expect(openDataDirFormat(dataDir, silentLogger(), {current: 3, migrations: [steps[0]!, renameStep, failing], now: NOW})).rejects.toThrow(/ENOENT/);
      expect(await formatOf(dataDir)).toEqual({format: 2});
      const again = await openDataDirFormat(dataDir, silentLogger(), {current: 3, migrations: steps, now: new Date(NOW.getTime() + 1000)});
      expect(again.found).toBe(2);
      expect(await formatOf(dataDir)).toEqual({format: 3});
      expect((await readdir(join(dataDir, 'backups'))).length).toBe(2);
    });
  });
});
