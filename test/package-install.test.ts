/**
 * The package as a user gets it: `npm pack` at the root, `npm install -g
 * --prefix` of that one tarball (third-party dependencies from the registry or
 * npm's cache), and then only the installed copy: its `wgmesh` on PATH, its
 * bundled backends, a daemon with a mesh and `doctor` on it, third-party plugins linked and
 * installed into it, and its systemd unit. The CLI runs with a PATH of the
 * prefix and Node alone, from a directory outside the repository, with HOME
 * and the XDG directories in a temp dir.
 */
import {spawn} from 'node:child_process';
import {existsSync, lstatSync} from 'node:fs';
import {chmod, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {commandAvailable, skipWithout} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {waitFor} from './helpers/cli.js';
import {freePorts} from './helpers/mesh-cluster.js';
import {REPO, assertBuilt, fixturePath, runCommand as run, type RunResult as Run} from './plugins-helpers.js';

const HAVE_SYSTEMD = !skipWithout('the installed unit check', commandAvailable('systemd-analyze', ['--version'], 'systemd'));

/** The bundled workspace packages: the CLI's core and its backend plugins. */
const BUNDLED = ['@wgmesh/core', '@wgmesh/store-automerge', '@wgmesh/store-twophase', '@wgmesh/transport-grpc', '@wgmesh/wg-kernel', '@wgmesh/wg-stub'];
/** Development-only paths of ours that must not be in the tarball (third-party packages ship what they ship). */
const DEV_ONLY = [
  // sources, tests, benchmarks, build scripts, the development entry point
  /^(src|test|bench|scripts|\.ci)\//,
  /^bin\/dev\.js$/,
  /^node_modules\/@wgmesh\/[^/]+\/(src|test)\//,
  // source maps (they point at sources that are not shipped)
  /^(dist|node_modules\/@wgmesh\/[^/]+\/dist)\/.*\.map$/,
  // build state and configuration
  /^(node_modules\/@wgmesh\/[^/]+\/)?[^/]*(tsbuildinfo|tsconfig[^/]*\.json|vitest\.config\.\w+)$/,
  // development tools
  /^node_modules\/(typescript|vitest|@vitest|vite|esbuild|ts-proto|@bufbuild\/buf)\//,
];
/**
 * Upper bound on the tarball: the bundled packages with their third-party dependencies are ~29 MB,
 * most of it Automerge's WebAssembly builds and libsodium's prebuilt bindings (sodium-native ships
 * one for each platform it supports, and npm bundles a package whole).
 */
const MAX_TARBALL_BYTES = 32 * 1024 * 1024;



/** The environment without npm's per-run settings (set when the tests run under `npm test`) or wgmesh/oclif overrides. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|WGMESH_|OCLIF_|XDG_|NODE_PATH$|NODE_OPTIONS$|NOTIFY_SOCKET$)/i.test(key)) continue;
    env[key] = value;
  }
  return {...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false'};
}

let work: string;
let prefix: string;
let home: string;
let tarball: string;
let packed: {filename: string; size: number; unpackedSize: number; entryCount: number; files: Array<{path: string}>};

/** What the CLI runs with: the prefix's bin and Node's directory on PATH, and HOME in the temp dir. */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...cleanEnv(),
    PATH: [join(prefix, 'bin'), dirname(process.execPath), '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':'),
    HOME: home,
    XDG_DATA_HOME: join(home, 'data'),
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_CACHE_HOME: join(home, 'cache'),
    XDG_STATE_HOME: join(home, 'state'),
    NO_COLOR: '1',
    ...extra,
  };
}

/** Run the installed `wgmesh ARGS` and fail with its output unless it exits 0. */
async function wgmesh(args: readonly string[], extra: Record<string, string> = {}): Promise<string> {
  const result = await run(join(prefix, 'bin', 'wgmesh'), args, {env: cliEnv(extra), cwd: work});
  expect(result.code, `wgmesh ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

beforeAll(async () => {
  assertBuilt();
  work = await mkdtemp(join(tmpdir(), 'wgmesh-package-'));
  // Readable by everyone, so that the non-root check can run the installed copy.
  await chmod(work, 0o755);
  prefix = join(work, 'prefix');
  home = join(work, 'home');
  await mkdir(home, {mode: 0o777});
  await chmod(home, 0o777);
  const packDir = join(work, 'pack');
  await mkdir(packDir);
  // `npm test` has just built everything; the prepack build would rewrite the
  // oclif manifest under the tests running beside this one.
  const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], {cwd: REPO, env: cleanEnv(), timeoutMs: 120_000});
  expect(pack.code, pack.stderr).toBe(0);
  [packed] = JSON.parse(pack.stdout) as [typeof packed];
  tarball = join(packDir, packed.filename);
  const install = await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], {cwd: work, env: cleanEnv(), timeoutMs: 150_000});
  expect(install.code, `${install.stdout}\n${install.stderr}`).toBe(0);
}, 300_000);

afterAll(async () => {
  if (work !== undefined) await rm(work, {recursive: true, force: true});
});

describe('npm pack: one tarball', () => {
  it('is named and versioned after the package, publishable, and carries the CLI, core and the bundled plugins', async () => {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {version: string; private?: boolean; bundleDependencies: string[]; dependencies: Record<string, string>};
    expect(packed.filename).toBe(`wgmesh-${pkg.version}.tgz`);
    expect(pkg.private).toBeUndefined();
    expect([...pkg.bundleDependencies].sort()).toEqual(BUNDLED);
    const paths = new Set(packed.files.map((file) => file.path));
    for (const path of ['bin/run.js', 'oclif.manifest.json', 'systemd/wgmesh.service', 'dist/commands/daemon.js', 'dist/quick/mesh-list.js', 'dist/commands/systemd/install.js', 'dist/dashboard/index.html', 'dist/dashboard/assets/app.js', 'dist/dashboard/assets/graph-worker.js', 'dist/dashboard/assets/app.css']) expect(paths, path).toContain(path);
    for (const name of BUNDLED) {
      const manifest = JSON.parse(await readFile(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as {version: string; private?: boolean};
      // The CLI depends on the exact version it bundles; each workspace package is publishable on its own.
      expect(pkg.dependencies[name], name).toBe(manifest.version);
      expect(manifest.private, name).toBeUndefined();
      expect(paths, name).toContain(`node_modules/${name}/package.json`);
      expect(paths, name).toContain(`node_modules/${name}/dist/index.js`);
    }
  });

  it('leaves out sources, tests, source maps, build state and development tools, and stays within its size', () => {
    const offending = packed.files.map((file) => file.path).filter((path) => DEV_ONLY.some((pattern) => pattern.test(path)));
    expect(offending).toEqual([]);
    expect(packed.size).toBeLessThan(MAX_TARBALL_BYTES);
  });
});

describe('npm install -g of the tarball', () => {
  it('puts wgmesh on PATH, running the installed copy with its own bundled packages', async () => {
    const version = await wgmesh(['--version']);
    expect(version).toMatch(/^wgmesh\/0\.1\.0 linux-\S+ node-v\d+/);
    const installed = join(prefix, 'lib', 'node_modules', 'wgmesh');
    for (const name of BUNDLED) {
      const dir = join(installed, 'node_modules', name);
      expect(lstatSync(dir).isDirectory(), `${dir} is a directory, not a link`).toBe(true);
    }
  });

  it('has help, shell completion and `version --json` with the versions of the installed packages', async () => {
    const view = JSON.parse(await wgmesh(['version', '--json'])) as {cli: string; core: string; node: string; plugins: Array<{name: string; version: string; source: string}>};
    expect(view).toMatchObject({cli: '0.1.0', core: '0.1.0', node: process.version});
    for (const name of [...BUNDLED.filter((bundled) => bundled !== '@wgmesh/core'), '@oclif/plugin-autocomplete', '@oclif/plugin-help', '@oclif/plugin-plugins']) {
      expect(view.plugins).toContainEqual(expect.objectContaining({name, source: 'bundled'}));
    }
    expect(await wgmesh(['help'])).toMatch(/^\s+status\s/m);
    expect(await wgmesh(['autocomplete', 'bash'])).toContain('wgmesh autocomplete');
  });

  it('loads every bundled backend', async () => {
    const backends = JSON.parse(await wgmesh(['backends', '--json'])) as Array<{kind: string; name: string; plugin: string; loaded: boolean}>;
    expect(backends.map(({kind, name, plugin, loaded}) => ({kind, name, plugin, loaded}))).toEqual([
      {kind: 'store', name: 'automerge', plugin: '@wgmesh/store-automerge', loaded: true},
      {kind: 'store', name: 'twophase', plugin: '@wgmesh/store-twophase', loaded: true},
      {kind: 'transport', name: 'grpc', plugin: '@wgmesh/transport-grpc', loaded: true},
      {kind: 'wg', name: 'kernel', plugin: '@wgmesh/wg-kernel', loaded: true},
      {kind: 'wg', name: 'stub', plugin: '@wgmesh/wg-stub', loaded: true},
    ]);
  });

  it('runs a daemon that creates and lists a mesh, serves the dashboard and the API, passes doctor, and stops it cleanly', async () => {
    const [port, apiPort] = await freePorts(2);
    const dataDir = join(work, 'daemon');
    const socket = join(work, 'daemon.sock');
    const config = join(work, 'daemon.yaml');
    await writeFile(config, `gRPCPort: ${port}\ngrpc:\n  listenAddress: 127.0.0.1\napiEnabled: true\napiListen: 127.0.0.1:${apiPort}\n`);
    const daemon = spawn(join(prefix, 'bin', 'wgmesh'), ['daemon', '--wg', 'stub', '--config', config, '--data-dir', dataDir, '--socket', socket], {cwd: work, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe']});
    let logs = '';
    daemon.stdout.setEncoding('utf8').on('data', (chunk: string) => (logs += chunk));
    daemon.stderr.setEncoding('utf8').on('data', (chunk: string) => (logs += chunk));
    const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => logs.includes('daemon ready') || daemon.exitCode !== null, 30_000, `the installed daemon to be ready (it logged:\n${logs})`);
      expect(daemon.exitCode, logs).toBeNull();
      const {meshId} = JSON.parse(await wgmesh(['mesh', 'create', '--endpoint', '127.0.0.1', '--json', '--socket', socket])) as {meshId: string};
      const meshes = JSON.parse(await wgmesh(['mesh', 'list', '--json', '--socket', socket])) as Array<{meshId: string}>;
      expect(meshes.map((mesh) => mesh.meshId)).toEqual([meshId]);
      // The installed daemon finds the dashboard built into the package, and its API answers with the token.
      const page = await fetch(`http://127.0.0.1:${apiPort}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('assets/app.js');
      const token = (await wgmesh(['api', 'token', '--socket', socket])).trim();
      const listed = await fetch(`http://127.0.0.1:${apiPort}/api/v1/meshes`, {headers: {Authorization: `Bearer ${token}`}});
      expect(((await listed.json()) as Array<{meshId: string}>).map((mesh) => mesh.meshId)).toEqual([meshId]);
      // The installed doctor checks this host and that daemon: nothing fails, and the daemon answers.
      const doctor = await run(join(prefix, 'bin', 'wgmesh'), ['doctor', '--json', '--wg', 'stub', '--config', config, '--data-dir', dataDir, '--socket', socket], {env: cliEnv(), cwd: work});
      const report = JSON.parse(doctor.stdout) as {status: string; checks: Array<{name: string; status: string; detail: string}>};
      expect(report.checks.filter((check) => check.status === 'fail'), doctor.stdout).toEqual([]);
      expect(report.checks.find((check) => check.name === 'daemon')?.status, doctor.stdout).toBe('ok');
      expect(doctor.code, doctor.stderr).toBe(0);
      daemon.kill('SIGTERM');
      expect(await exited, logs).toBe(0);
      expect(existsSync(socket)).toBe(false);
    } finally {
      if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
      await exited;
    }
  });

  it('links the fixture plugin, uses its backend without warnings, and unlinks it', async () => {
    await wgmesh(['plugins', 'link', fixturePath('wgmesh-plugin-recorder'), '--no-install']);
    const listed = await run(join(prefix, 'bin', 'wgmesh'), ['backends', '--kind', 'wg'], {env: cliEnv(), cwd: work});
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^wg\s+recorder\s+wgmesh-plugin-recorder\s/m);
    expect(listed.stderr).toBe('');
    await wgmesh(['plugins', 'uninstall', 'wgmesh-plugin-recorder']);
    expect(await wgmesh(['backends', '--kind', 'wg'])).not.toContain('recorder');
  });

  it('installs a plugin from a local tarball into the installed layout and uninstalls it', async () => {
    const packDir = join(work, 'plugin-pack');
    await mkdir(packDir);
    const pack = await run('npm', ['pack', '--json', '--pack-destination', packDir], {cwd: fixturePath('wgmesh-plugin-recorder'), env: cleanEnv()});
    expect(pack.code, pack.stderr).toBe(0);
    const [plugin] = JSON.parse(pack.stdout) as Array<{filename: string}>;
    // `file:` tells plugin-plugins this is a URL, not a GitHub user/repo; the fixture has no dependencies.
    await wgmesh(['plugins', 'install', `file:${join(packDir, plugin!.filename)}`], {npm_config_offline: 'true'});
    expect(existsSync(join(home, 'data', 'wgmesh', 'node_modules', 'wgmesh-plugin-recorder', 'hooks', 'backends.js'))).toBe(true);
    expect(await wgmesh(['backends', '--kind', 'wg'])).toMatch(/^wg\s+recorder\s+wgmesh-plugin-recorder\s/m);
    await wgmesh(['plugins', 'uninstall', 'wgmesh-plugin-recorder'], {npm_config_offline: 'true'});
    expect(await wgmesh(['backends', '--kind', 'wg'])).not.toContain('recorder');
  });

  it.skipIf(!HAVE_SYSTEMD)('ships the systemd unit: it verifies for the installed paths', async () => {
    const {unit} = JSON.parse(await wgmesh(['systemd', 'install', '--dry-run', '--json'])) as {unit: string};
    const script = join(prefix, 'lib', 'node_modules', 'wgmesh', 'bin', 'run.js');
    expect(unit.split('\n')).toContain(`ExecStart=${process.execPath} --expose-gc ${script} daemon`);
    const unitFile = join(work, 'wgmesh.service');
    await writeFile(unitFile, unit);
    const verify = await run('systemd-analyze', ['verify', unitFile], {cwd: work, env: cleanEnv()});
    expect(verify.stdout + verify.stderr).toBe('');
    expect(verify.code).toBe(0);
  });

  it('refuses to install the unit without root, saying what to run', async () => {
    if (skipWithout('the non-root check', process.geteuid?.() === 0 ? {ok: true} : {ok: false, reason: 'it drops from root to nobody, and this is not root'})) return;
    const unitDir = join(work, 'units');
    const result = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', join(prefix, 'bin', 'wgmesh'), 'systemd', 'install', '--unit-dir', unitDir], {cwd: work, env: cliEnv()});
    expect(result.code, result.stdout).toBe(1);
    expect(result.stderr.trim()).toBe(`Error: installing the systemd unit writes ${unitDir}/wgmesh.service and needs root: run 'sudo wgmesh systemd install' (or add --dry-run to print the unit without installing it)`);
    expect(existsSync(unitDir)).toBe(false);
  });
});
