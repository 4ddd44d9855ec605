/**
 * Third-party plugins through the real CLI, the ways a user adds them:
 * `wgmesh plugins link DIR` and `wgmesh plugins install` of an `npm pack`
 * tarball (offline: the fixture has no dependencies). Each test gets its own
 * HOME, so oclif's user plugin list starts empty and nothing touches the real
 * user directories.
 */
import {existsSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest';
import {NPM_CLI, assertBuilt, fixturePath, isolatedEnv, listBackends, makeHome, runCli, runNode} from './plugins-helpers.js';

const RECORDER = 'wgmesh-plugin-recorder';

let home: string;
beforeAll(() => assertBuilt());
beforeEach(async () => {
  home = await makeHome();
});
afterEach(async () => {
  await rm(home, {recursive: true, force: true});
});

/** Run the CLI and fail with its output unless it exits 0. */
async function ok(args: string[], extraEnv?: Record<string, string>): Promise<string> {
  const result = await runCli(home, args, extraEnv ? {extraEnv} : {});
  expect(result.code, `wgmesh ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

describe('wgmesh plugins + wgmesh backends', () => {
  it('works on a clean HOME and lists the bundled backends with their plugins', async () => {
    await ok(['plugins']);
    const {backends, stderr} = await listBackends(home);
    expect(backends).toContainEqual(expect.objectContaining({kind: 'wg', name: 'stub', plugin: '@wgmesh/wg-stub', loaded: true}));
    expect(backends.find((backend) => backend.name === RECORDER)).toBeUndefined();
    expect(stderr).not.toContain('@wgmesh/wg-stub');

    const table = await ok(['backends', '--kind', 'wg']);
    expect(table.split('\n')[0]).toMatch(/^KIND\s+NAME\s+PLUGIN\s+DESCRIPTION$/);
    expect(table).toMatch(/^wg\s+stub\s+@wgmesh\/wg-stub\s+In-memory/m);
    expect(table).not.toMatch(/^store\s/m);
  });

  it('explains itself with examples in --help', async () => {
    const help = await ok(['backends', '--help']);
    expect(help).toContain('EXAMPLES');
    expect(help).toContain('wgmesh backends --json');
    expect(help).toContain('--kind');
  });

  it('shows a linked plugin with its plugin name and forgets it after uninstall', async () => {
    await ok(['plugins', 'link', fixturePath(RECORDER), '--no-install']);
    const {backends} = await listBackends(home);
    expect(backends).toContainEqual({
      kind: 'wg',
      name: 'recorder',
      plugin: RECORDER,
      description: 'Records every WireGuard call to <dataDir>/recorder/calls.jsonl; configures nothing',
      loaded: true,
    });
    expect(await ok(['backends'])).toMatch(new RegExp(`^wg\\s+recorder\\s+${RECORDER}\\s`, 'm'));

    await ok(['plugins', 'uninstall', RECORDER]);
    expect((await listBackends(home)).backends.map((backend) => backend.name)).not.toContain('recorder');
  });

  it('installs the npm pack tarball of a plugin, lists it, and uninstalls it', async () => {
    const packDir = await mkdtemp(join(tmpdir(), 'wgmesh-pack-'));
    try {
      const pack = await runNode(NPM_CLI, ['pack', '--json', '--pack-destination', packDir], {cwd: fixturePath(RECORDER), env: isolatedEnv(home)});
      expect(pack.code, pack.stderr).toBe(0);
      const [packed] = JSON.parse(pack.stdout) as Array<{filename: string}>;
      const tarball = join(packDir, packed!.filename);
      expect(existsSync(tarball)).toBe(true);

      // `file:` tells plugin-plugins this is a URL, not a GitHub user/repo.
      await ok(['plugins', 'install', `file:${tarball}`], {npm_config_offline: 'true'});
      const installed = join(home, 'data', 'wgmesh', 'node_modules', RECORDER);
      expect(existsSync(join(installed, 'hooks', 'backends.js'))).toBe(true);
      expect((await listBackends(home)).backends).toContainEqual(expect.objectContaining({kind: 'wg', name: 'recorder', plugin: RECORDER, loaded: true}));

      await ok(['plugins', 'uninstall', RECORDER], {npm_config_offline: 'true'});
      expect(existsSync(installed)).toBe(false);
      expect((await listBackends(home)).backends.map((backend) => backend.name)).not.toContain('recorder');
    } finally {
      await rm(packDir, {recursive: true, force: true});
    }
  });

  it('fails when a plugin provides a backend another plugin provides, naming both', async () => {
    await ok(['plugins', 'link', fixturePath('wgmesh-plugin-duplicate'), '--no-install']);
    const result = await runCli(home, ['backends']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("store backend 'twophase'");
    expect(result.stderr).toContain("'@wgmesh/store-twophase' and 'wgmesh-plugin-duplicate'");
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('warns, naming the plugin, when a plugin hook throws, and still lists the other backends', async () => {
    await ok(['plugins', 'link', fixturePath('wgmesh-plugin-throws'), '--no-install']);
    await ok(['plugins', 'link', fixturePath(RECORDER), '--no-install']);
    const {backends, stderr} = await listBackends(home);
    expect(stderr).toMatch(/Warning: plugin 'wgmesh-plugin-throws' failed to load its backends: the broken store cannot reach its database/);
    expect(backends).toContainEqual(expect.objectContaining({kind: 'store', name: 'broken', plugin: 'wgmesh-plugin-throws', loaded: false}));
    expect(backends).toContainEqual(expect.objectContaining({name: 'recorder', loaded: true}));
    expect(backends).toContainEqual(expect.objectContaining({name: 'stub', loaded: true}));
  });
  it('gives up on a plugin hook that never settles, warning with the plugin name, and finishes the command', async () => {
    await ok(['plugins', 'link', fixturePath('wgmesh-plugin-hangs'), '--no-install']);
    await ok(['plugins', 'link', fixturePath(RECORDER), '--no-install']);
    const result = await runCli(home, ['backends', '--json'], {extraEnv: {WGMESH_PLUGIN_TIMEOUT_MS: '500'}});
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain("Warning: plugin 'wgmesh-plugin-hangs' failed to load its backends: Timed out after 500 ms");
    const backends = JSON.parse(result.stdout) as Array<{name: string; loaded: boolean}>;
    expect(backends).toContainEqual(expect.objectContaining({name: 'hangs', loaded: false}));
    expect(backends).toContainEqual(expect.objectContaining({name: 'recorder', loaded: true}));
  });
});
