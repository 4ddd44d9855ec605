/**
 * The oclif adapter of the backend registry, in-process: a real oclif Config
 * loaded from this repository (so the bundled plugins take part) plus
 * third-party fixture plugins linked the way `wgmesh plugins link` records
 * them (in the user data dir's package.json). The same flows through the real
 * CLI are in plugins.test.ts.
 */
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';
import {Config} from '@oclif/core';
import {BackendError, ConfigError, generateIdentity, systemClock, systemRandom, type BackendContext, type Logger} from '@wgmesh/core';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {DEFAULT_BACKEND_HOOK_TIMEOUT_MS, hookTimeoutFromEnv, loadBackendRegistry, printRegistryWarnings} from '../src/cli/backends.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = (name: string): string => join(repo, 'test', 'fixtures', name);

const ISOLATED_ENV = ['HOME', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'WGMESH_DATA_DIR', 'WGMESH_CONFIG_DIR', 'WGMESH_CACHE_DIR'] as const;
let home: string;
let savedEnv: Record<string, string | undefined>;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'wgmesh-registry-'));
  savedEnv = Object.fromEntries(ISOLATED_ENV.map((key) => [key, process.env[key]]));
  for (const key of ISOLATED_ENV) delete process.env[key];
  process.env.HOME = home;
  process.env.XDG_DATA_HOME = join(home, 'data');
  process.env.XDG_CONFIG_HOME = join(home, 'config');
  process.env.XDG_CACHE_HOME = join(home, 'cache');
});

afterEach(async () => {
  for (const key of ISOLATED_ENV) {
    if (savedEnv[key] === undefined) delete process.env[key];
    else process.env[key] = savedEnv[key];
  }
  await rm(home, {recursive: true, force: true});
});

/** Load the CLI's oclif config with these fixture plugins linked, as `wgmesh plugins link` would record them. */
async function configWithLinked(...fixtures: string[]): Promise<Config> {
  const dataDir = join(home, 'data', 'wgmesh');
  await mkdir(dataDir, {recursive: true});
  const plugins = fixtures.map((name) => ({type: 'link', name, root: fixture(name)}));
  await writeFile(join(dataDir, 'package.json'), JSON.stringify({name: 'wgmesh', private: true, oclif: {schema: 1, plugins}}));
  return Config.load({root: repo});
}

const silent: Logger = {debug() {}, info() {}, warn() {}, error() {}, child: () => silent};

function context(dataDir: string): BackendContext {
  const identity = generateIdentity();
  return {
    config: undefined,
    daemonConfig: {},
    logger: silent,
    dataDir,
    signal: new AbortController().signal,
    identity: {nodeId: identity.nodeId, signingKey: identity.signingKey, wgPublicKey: identity.wgPublicKey},
    clock: systemClock,
    random: systemRandom,
  };
}

describe('loadBackendRegistry', () => {
  it('includes a linked third-party plugin next to the bundled ones, and its backend works', async () => {
    const registry = await loadBackendRegistry(await configWithLinked('wgmesh-plugin-recorder'));
    const wg = registry.list('wg');
    expect(wg).toContainEqual(expect.objectContaining({name: 'recorder', plugin: 'wgmesh-plugin-recorder', loaded: true}));
    expect(wg).toContainEqual(expect.objectContaining({name: 'stub', plugin: '@wgmesh/wg-stub', loaded: true}));
    expect(registry.warnings.filter((warning) => ['wgmesh-plugin-recorder', '@wgmesh/wg-stub'].includes(warning.plugin))).toEqual([]);

    // The factory crossed from a plugin without @wgmesh/core: create and use it.
    const driver = await registry.resolve('wg', 'recorder').create(context(home));
    const privateKey = generateIdentity().wgPrivateKey;
    expect(await driver.ensureInterface({name: 'wgm0', privateKey, listenPort: 0, mtu: 1420})).toEqual({name: 'wgm0', listenPort: 51820});
    await driver.close();
    const calls = (await readFile(join(home, 'recorder', 'calls.jsonl'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as {op: string});
    expect(calls.map((call) => call.op)).toEqual(['ensureInterface', 'close']);
    expect(JSON.stringify(calls)).not.toContain(privateKey);
  });

  it('names the installed backends of the kind when asked for an unknown one', async () => {
    const registry = await loadBackendRegistry(await configWithLinked('wgmesh-plugin-recorder'));
    const error = (() => {
      try {
        registry.resolve('wg', 'wireguard-nt');
      } catch (caught) {
        return caught as Error;
      }
      throw new Error('expected resolve to fail');
    })();
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toMatch(/^no wg backend named 'wireguard-nt' is installed; installed: .*recorder.*\(install more with 'wgmesh plugins install <package>'\)$/);
    expect(error.message).toContain('stub');
  });

  it('fails on a plugin providing a backend another plugin provides, naming both', async () => {
    const config = await configWithLinked('wgmesh-plugin-duplicate');
    const failure = await loadBackendRegistry(config).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(BackendError);
    expect(failure?.message).toContain("store backend 'twophase'");
    // The bundled plugin, there first, is named before the newcomer.
    expect(failure?.message).toContain("'@wgmesh/store-twophase' and 'wgmesh-plugin-duplicate'");
  });

  it('turns a throwing hook into a warning naming the plugin; the other backends still load', async () => {
    const registry = await loadBackendRegistry(await configWithLinked('wgmesh-plugin-throws', 'wgmesh-plugin-recorder'));
    const warnings = registry.warnings.filter((warning) => warning.plugin === 'wgmesh-plugin-throws');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain("plugin 'wgmesh-plugin-throws'");
    expect(warnings[0]?.message).toContain('the broken store cannot reach its database');
    expect(warnings[0]?.message).toContain('store:broken');
    expect(registry.list('store')).toContainEqual(expect.objectContaining({name: 'broken', plugin: 'wgmesh-plugin-throws', loaded: false}));
    expect(registry.has('wg', 'recorder')).toBe(true);
    expect(() => registry.resolve('store', 'broken')).toThrow(/from plugin 'wgmesh-plugin-throws' is not available/);

    const lines: string[] = [];
    printRegistryWarnings(registry, (line) => lines.push(line));
    expect(lines.some((line) => line.startsWith('Warning: ') && line.includes('wgmesh-plugin-throws'))).toBe(true);
  });

  it('gives up on a hook that never settles after the timeout, naming the plugin', async () => {
    const config = await configWithLinked('wgmesh-plugin-hangs', 'wgmesh-plugin-recorder');
    const started = performance.now();
    const registry = await loadBackendRegistry(config, {timeoutMs: 300});
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(10_000);
    const warnings = registry.warnings.filter((warning) => warning.plugin === 'wgmesh-plugin-hangs');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain('Timed out after 300 ms');
    expect(warnings[0]?.message).toContain('transport:hangs');
    expect(registry.has('wg', 'recorder')).toBe(true);
  });
});

describe('hookTimeoutFromEnv', () => {
  it('reads WGMESH_PLUGIN_TIMEOUT_MS and refuses anything but whole milliseconds in range', () => {
    expect(hookTimeoutFromEnv({})).toBeUndefined();
    expect(hookTimeoutFromEnv({WGMESH_PLUGIN_TIMEOUT_MS: '2500'})).toBe(2500);
    for (const bad of ['0', '-1', '1.5', '10s', '600001']) {
      expect(() => hookTimeoutFromEnv({WGMESH_PLUGIN_TIMEOUT_MS: bad})).toThrow(ConfigError);
    }
    expect(DEFAULT_BACKEND_HOOK_TIMEOUT_MS).toBeGreaterThanOrEqual(1000);
  });
});
