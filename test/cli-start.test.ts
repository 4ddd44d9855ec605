/**
 * How bin/run.js starts a command: daemon-client commands start with the root
 * plugin alone, from their own entry in dist/quick/ (src/cli/load-options.ts,
 * scripts/bundle-quick-commands.js) and behave exactly as when oclif
 * starts them with every plugin (same stdout, stderr and exit code); help and
 * the commands of an installed plugin still work; and the start leaves Node's
 * module loader as it is and loads oclif from its bundle (dist/oclif.cjs)
 * alone. Needs `npm run build`.
 */
import {execFile} from 'node:child_process';
import {mkdir, mkdtemp, readFile, readdir, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {IpcServer, type MeshShowView, type MeshSummary, type StatusView} from '@wgmesh/core';
import {silentLogger} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {QUICK_COMMANDS_DIR, QUICK_INDEX_FILE, pluginFreeLoadOptions, quickCommandFile, quickStartOptions} from '../src/cli/load-options.js';
import {BIN, ROOT, makeSandbox, runCli, type CliResult, type Sandbox} from './helpers/cli.js';
import {fixturePath} from './plugins-helpers.js';

describe('pluginFreeLoadOptions', () => {
  it('is given for commands that need no plugins, without help flags', () => {
    for (const argv of [['mesh', 'list'], ['status', '--json'], ['mesh', 'show', 'abc', '--socket', 's'], ['service', 'set', 'k', 'v']]) {
      expect(pluginFreeLoadOptions(argv, ROOT), argv.join(' ')).toMatchObject({root: ROOT, userPlugins: false, devPlugins: false, pjson: {oclif: {plugins: []}}});
    }
  });

  it('names the command’s own entry as the one command target, or the manifest for a command the build left without one', () => {
    expect(pluginFreeLoadOptions(['mesh', 'list'], ROOT)?.pjson.oclif.commands).toEqual({strategy: 'explicit', target: './dist/quick/mesh-list.js', identifier: 'commands'});
    expect(pluginFreeLoadOptions(['mesh', 'admin', 'grant', 'x'], ROOT)?.pjson.oclif.commands).toMatchObject({target: './dist/quick/mesh-admin-grant.js'});
    // doctor imports a driver package (and with it core from node_modules): no entry, see scripts/bundle-quick-commands.js.
    expect(pluginFreeLoadOptions(['doctor'], ROOT)?.pjson.oclif.commands).toBe('./dist/commands');
  });

  it('decides a command with an entry from the quick index alone, and any other word from the manifest', async () => {
    const root = await mkdtemp(join(tmpdir(), 'wgmesh-quick-index-'));
    try {
      await mkdir(join(root, QUICK_COMMANDS_DIR), {recursive: true});
      await writeFile(join(root, 'package.json'), JSON.stringify({name: 'wgmesh', oclif: {commands: './dist/commands'}}));
      await writeFile(join(root, QUICK_COMMANDS_DIR, QUICK_INDEX_FILE), JSON.stringify({'mesh:list': {takesArgs: false}, 'mesh:show': {takesArgs: true}}));
      // No manifest at all: the index decides for its commands named by every word.
      expect(pluginFreeLoadOptions(['mesh', 'list', '--json'], root)?.pjson.oclif.commands).toMatchObject({target: './dist/quick/mesh-list.js'});
      // Anything else needs the manifest, which is missing: the normal start.
      expect(pluginFreeLoadOptions(['mesh', 'show', 'abc'], root)).toBeUndefined();
      expect(pluginFreeLoadOptions(['mesh-list'], root)).toBeUndefined();
      // With a manifest that lists none of the index's commands: longer ids come from it, the index still decides for its own.
      await writeFile(join(root, 'oclif.manifest.json'), JSON.stringify({commands: {doctor: {pluginsNeeded: false}}}));
      expect(pluginFreeLoadOptions(['mesh', 'show', 'abc'], root)?.pjson.oclif.commands).toMatchObject({target: './dist/quick/mesh-show.js'});
      expect(pluginFreeLoadOptions(['mesh', 'list', 'extra'], root)).toBeUndefined();
      expect(pluginFreeLoadOptions(['doctor'], root)?.pjson.oclif.commands).toBe('./dist/commands');
      expect(pluginFreeLoadOptions(['mesh-list'], root)).toBeUndefined();
      expect(pluginFreeLoadOptions(['index'], root)).toBeUndefined();
    } finally {
      await rm(root, {recursive: true, force: true});
    }
  });

  it('loads a root plugin that knows the one command, whose manifest entry is the full manifest’s', async () => {
    const options = await quickStartOptions(['mesh', 'list', '--json'], ROOT);
    const plugin = [...(options?.plugins?.values() ?? [])];
    expect(plugin.map((p) => [p.isRoot, p.commandIDs])).toEqual([[true, ['mesh:list']]]);
    const manifest = JSON.parse(await readFile(join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, unknown>};
    // As JSON (the manifest file has no keys whose value is undefined), apart from where the command's file is.
    const {isESM: _isESM, relativePath: _relativePath, ...described} = manifest.commands['mesh:list'] as Record<string, unknown>;
    expect(JSON.parse(JSON.stringify(plugin[0]!.manifest.commands['mesh:list']))).toEqual(described);
    expect((await quickStartOptions(['doctor'], ROOT))?.plugins).toBeUndefined();
    expect(await quickStartOptions(['daemon'], ROOT)).toBeUndefined();
  });

  it('has an entry for every command that needs no plugins but doctor, each exporting that command alone', async () => {
    const manifest = JSON.parse(await readFile(join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {pluginsNeeded?: boolean}>};
    const pluginFree = Object.keys(manifest.commands).filter((id) => manifest.commands[id]!.pluginsNeeded === false);
    const entries = (await readdir(join(ROOT, QUICK_COMMANDS_DIR))).filter((file) => !file.startsWith('chunk-') && pluginFree.some((id) => quickCommandFile(id) === file));
    expect(entries.length).toBe(pluginFree.length - 1);
    for (const file of entries) {
      const id = pluginFree.find((candidate) => quickCommandFile(candidate) === file)!;
      const {commands} = (await import(join(ROOT, QUICK_COMMANDS_DIR, file))) as {commands: Record<string, {id?: string}>};
      expect(Object.keys(commands), file).toEqual([id]);
    }
  });

  it('is not given for other commands, help, topics, unknown words, or words after a command that takes no arguments', () => {
    for (const argv of [['daemon'], ['backends'], ['plugins'], ['mesh', 'list', '--help'], ['status', '-h'], ['mesh'], [], ['nope'], ['--version'], ['constructor'], ['status', 'extra'], ['mesh', 'list', 'more']]) {
      expect(pluginFreeLoadOptions(argv, ROOT), argv.join(' ')).toBeUndefined();
    }
    expect(pluginFreeLoadOptions(['mesh', 'list'], join(ROOT, 'no-such-dir'))).toBeUndefined();
  });
});

/** `wgmesh ARGS` started as oclif starts it without bin/run.js's load options: every plugin loaded. */
function runCliNormally(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const script = `const {execute} = require(${JSON.stringify(join(ROOT, 'dist', 'oclif.cjs'))}); execute({dir: ${JSON.stringify(BIN)}, args: JSON.parse(process.env.WGMESH_TEST_ARGV)});`;
  return runNodeArgs(['-e', script], {...env, WGMESH_TEST_ARGV: JSON.stringify(args)});
}

/** `node ARGS` to completion. */
function runNodeArgs(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, {cwd: ROOT, env, timeout: 30_000}, (error, stdout, stderr) => {
      const code = error ? (typeof (error as {code?: unknown}).code === 'number' ? (error as {code: number}).code : 1) : 0;
      resolve({code, stdout, stderr});
    });
  });
}

/**
 * A preload that records, at exit, whether Node's CommonJS loader functions
 * are still the ones Node started with, and every CommonJS file loaded; its
 * loader hooks ({@link LOADER_PROBE_HOOKS}) record every ES module loaded.
 */
const LOADER_PROBE = `
import Module, {register} from 'node:module';
import {writeFileSync} from 'node:fs';
register('./probe-hooks.mjs', import.meta.url);
const original = {load: Module._load, resolveFilename: Module._resolveFilename, require: Module.prototype.require, compile: Module.prototype._compile};
process.on('exit', () => {
  const now = {load: Module._load, resolveFilename: Module._resolveFilename, require: Module.prototype.require, compile: Module.prototype._compile};
  const replaced = Object.keys(original).filter((key) => original[key] !== now[key]);
  writeFileSync(process.env.WGMESH_TEST_PROBE, JSON.stringify({replaced, files: Object.keys(Module._cache)}));
});
`;
const LOADER_PROBE_HOOKS = `
import {appendFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
export async function load(url, context, next) {
  if (url.startsWith('file:')) appendFileSync(process.env.WGMESH_TEST_PROBE + '.esm', fileURLToPath(url) + '\\n');
  return next(url, context);
}
`;

describe('daemon-client commands', () => {
  let sandbox: Sandbox;
  let server: IpcServer | undefined;
  let socket = '';
  let probe = '';
  const meshes: MeshSummary[] = [{meshId: 'a'.repeat(26), prefix: 'fd00:1::/64', interface: 'wgm1', members: 2}];
  const status: StatusView = {pid: 9, nodeId: 'b'.repeat(32), wgPublicKey: 'k', backends: {store: 's', transport: 't', wg: 'w'}, meshes};

  beforeAll(async () => {
    sandbox = await makeSandbox('wgmesh-cli-start-');
    socket = join(sandbox.dir, 'd.sock');
    probe = join(sandbox.dir, 'probe.mjs');
    await writeFile(probe, LOADER_PROBE);
    await writeFile(join(sandbox.dir, 'probe-hooks.mjs'), LOADER_PROBE_HOOKS);
    server = new IpcServer({
      socketPath: socket,
      logger: silentLogger(),
      handlers: {
        'mesh.list': async () => meshes,
        status: async () => status,
        // A result of the wrong shape: the CLI's one-line error.
        'mesh.show': async () => ({meshId: 'm'}) as unknown as MeshShowView,
      },
    });
    await server.start();
  });
  afterAll(async () => {
    try {
      await server?.close();
    } finally {
      await sandbox.cleanup();
    }
  });

  it.each([
    ['mesh list'],
    ['mesh list --json'],
    ['status'],
    ['status --json'],
    ['mesh list --bogus'],
    ['mesh list --bogus --json'],
    ['mesh list extra'],
    ['mesh list --socket'],
    ['mesh show'],
    ['mesh show not-a-mesh-id-but-the-daemon-decides'],
    ['mesh show abc --json'],
    ['service set onlykey'],
    ['mesh leave abc --socket /nonexistent/wgmesh.sock'],
    ['node describe --json --socket /nonexistent/wgmesh.sock'],
  ])('`%s` behaves as when started with every plugin', async (command) => {
    const argv = command.split(' ');
    // The shared daemon unless the case names its own socket.
    const args = argv.includes('--socket') ? argv : [...argv, '--socket', socket];
    const [started, normal] = await Promise.all([runCli(args, sandbox.env), runCliNormally(args, sandbox.env)]);
    expect(started).toEqual(normal);
  });

  it('`mesh list` prints the daemon’s meshes', async () => {
    const result = await runCli(['mesh', 'list', '--socket', socket], sandbox.env);
    expect(result).toMatchObject({code: 0, stderr: ''});
    expect(result.stdout).toMatch(new RegExp(`^${meshes[0]!.meshId}\\s+fd00:1::/64\\s+wgm1\\s+2\\s`, 'm'));
  });

  it.each([['mesh list'], ['mesh show'], ['status'], ['service set k v']])(
    '`%s` leaves Node’s module loader as it is and loads the bundled oclif and no other dependency',
    async (line) => {
      const command = line.split(' ');
      const output = join(sandbox.dir, `probe-${command.join('-')}.json`);
      await runNodeArgs(['--import', probe, BIN, ...command, '--socket', socket], {...sandbox.env, WGMESH_TEST_PROBE: output});
      const {replaced, files} = JSON.parse(await readFile(output, 'utf8')) as {replaced: string[]; files: string[]};
      const modules = (await readFile(`${output}.esm`, 'utf8')).split('\n').filter((line) => line !== '');
      expect(replaced).toEqual([]);
      // The probe saw oclif start and the command load: the checks are about a real run.
      expect(files).toContain(join(ROOT, 'dist', 'oclif.cjs'));
      expect(modules).toContain(join(ROOT, QUICK_COMMANDS_DIR, quickCommandFile(command.filter((word) => !word.startsWith('-')).slice(0, 2).join(':'))));
      // One copy of oclif (the commands' errors and classes are the bundle's), none of its index or semver,
      // and none of the dependencies only other commands or the daemon need (zod, pino, yaml, ...).
      expect([...files, ...modules].filter((file) => file.includes('/node_modules/'))).toEqual([]);
    },
  );

  it('help still works: a command’s, a topic’s and the root’s, which lists the plugins’ commands', async () => {
    const command = await runCli(['mesh', 'list', '--help'], sandbox.env);
    expect(command).toMatchObject({code: 0, stderr: ''});
    expect(command.stdout).toContain('$ wgmesh mesh list [--json] [--socket <value>]');
    const topic = await runCli(['mesh'], sandbox.env);
    expect(topic.code).toBe(0);
    expect(topic.stdout).toMatch(/^\s+mesh list\s+List the meshes/m);
    const root = await runCli(['--help'], sandbox.env);
    expect(root.code).toBe(0);
    // plugins: @oclif/plugin-plugins; autocomplete: @oclif/plugin-autocomplete.
    expect(root.stdout).toMatch(/^\s+plugins\s/m);
    expect(root.stdout).toMatch(/^\s+autocomplete\s/m);
  });
});

describe('an installed plugin’s commands', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await makeSandbox('wgmesh-cli-start-plugin-');
    const linked = await runCli(['plugins', 'link', fixturePath('wgmesh-plugin-command'), '--no-install'], sandbox.env);
    expect(linked.code, linked.stderr).toBe(0);
  });
  afterAll(() => sandbox.cleanup());

  it('run, as does one whose id extends a wgmesh command’s (`status extra`)', async () => {
    expect(await runCli(['hello', 'bob'], sandbox.env)).toMatchObject({code: 0, stdout: 'hello bob from wgmesh-plugin-command\n'});
    expect(await runCli(['status', 'extra'], sandbox.env)).toMatchObject({code: 0, stdout: 'status extra from wgmesh-plugin-command\n'});
  });

  it('exit with the code they give `this.exit` (the plugin’s own copy of oclif), printing nothing more', async () => {
    expect(await runCli(['bye'], sandbox.env)).toEqual({code: 3, stdout: 'bye from wgmesh-plugin-command\n', stderr: ''});
  });

  it('leave wgmesh’s own commands as they were', async () => {
    const status = await runCli(['status', '--socket', join(sandbox.dir, 'none.sock')], sandbox.env);
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/^Error: .*none\.sock/);
    const help = await runCli(['--help'], sandbox.env);
    expect(help.stdout).toMatch(/^\s+hello\s+Say hello \(test plugin\)/m);
  });
});
