/**
 * The fast start of daemon-client commands (src/cli/fast-start.ts, used by
 * bin/run.js): which commands take it, the stand-ins for oclif's deferred
 * dependencies, and, above all, that a command started this way behaves
 * exactly as when oclif starts it normally (same stdout, stderr and exit code
 * for results, --json, flag errors and daemon errors). Needs `npm run build`.
 */
import {execFile} from 'node:child_process';
import {createRequire} from 'node:module';
import {join} from 'node:path';
import {IpcServer, type MeshShowView, type MeshSummary, type StatusView} from '@wgmesh/core';
import {silentLogger} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {DEFERRED_OCLIF_DEPENDENCIES, deferredModule, fastStartOptions} from '../src/cli/fast-start.js';
import {BIN, ROOT, makeSandbox, runCli, type CliResult, type Sandbox} from './helpers/cli.js';

/** Require as oclif's own files do (its dependencies resolve from its directory). */
const oclifRequire = createRequire(createRequire(import.meta.url).resolve('@oclif/core/package.json'));

describe('deferred oclif dependencies', () => {
  it.each(Object.entries(DEFERRED_OCLIF_DEPENDENCIES))('records what %s says about __esModule (%s)', (name, esModule) => {
    expect(Boolean((oclifRequire(name) as {__esModule?: unknown}).__esModule)).toBe(esModule);
  });

  it('stand in for a module that is a function: calls, properties, default import', () => {
    let loads = 0;
    const real = oclifRequire('wrap-ansi') as (text: string, columns: number, options?: object) => string;
    const standIn = deferredModule('wrap-ansi', false, () => (loads++, real)) as typeof real & {__esModule?: boolean};
    // What tsc's __importDefault does at start: it must not load the module.
    expect(standIn.__esModule).toBeUndefined();
    expect(loads).toBe(0);
    expect(standIn('aaa bbb ccc', 4, {hard: true})).toBe(real('aaa bbb ccc', 4, {hard: true}));
    expect(standIn.name).toBe(real.name);
    expect(loads).toBe(1);
    standIn('x', 1);
    expect(loads).toBe(1);
  });

  it('stand in for a module that is an object: members, `in`, keys, classes', () => {
    const real = oclifRequire('minimatch') as {minimatch: (p: string, g: string) => boolean; Minimatch: new (g: string) => {match(p: string): boolean}};
    const standIn = deferredModule('minimatch', true, () => real) as typeof real & {__esModule?: boolean};
    expect(standIn.__esModule).toBe(true);
    expect(standIn.minimatch('@wgmesh/wg-stub', '@wgmesh/*')).toBe(true);
    expect(new standIn.Minimatch('a*').match('abc')).toBe(true);
    expect(standIn.Minimatch).toBe(real.Minimatch);
    expect('minimatch' in standIn).toBe(true);
    expect(Object.keys(standIn)).toEqual(Object.keys(real));
    expect({...standIn}.minimatch).toBe(real.minimatch);
  });

  it('refuses, on first use, a module whose __esModule is not the recorded one', () => {
    const standIn = deferredModule('x', false, () => ({__esModule: true, f: () => 1})) as {f(): number};
    expect(() => standIn.f()).toThrow(/x's __esModule is not false; update DEFERRED_OCLIF_DEPENDENCIES/);
  });
});

describe('fastStartOptions', () => {
  it('is given for commands that need no plugins, without help flags', () => {
    for (const argv of [['mesh', 'list'], ['status', '--json'], ['mesh', 'show', 'abc', '--socket', 's'], ['service', 'set', 'k', 'v']]) {
      expect(fastStartOptions(argv, ROOT), argv.join(' ')).toMatchObject({root: ROOT, userPlugins: false, devPlugins: false, pjson: {oclif: {plugins: []}}});
    }
  });

  it('is not given for other commands, help, topics or unknown words', () => {
    for (const argv of [['daemon'], ['backends'], ['plugins'], ['mesh', 'list', '--help'], ['status', '-h'], ['mesh'], [], ['nope'], ['--version']]) {
      expect(fastStartOptions(argv, ROOT), argv.join(' ')).toBeUndefined();
    }
    expect(fastStartOptions(['mesh', 'list'], join(ROOT, 'no-such-dir'))).toBeUndefined();
  });
});

/** `wgmesh ARGS` started as oclif starts it without bin/run.js's fast start: every plugin, nothing deferred. */
function runCliNormally(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const script = `import {execute} from '@oclif/core/execute'; await execute({dir: ${JSON.stringify(BIN)}, args: JSON.parse(process.env.WGMESH_TEST_ARGV)});`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], {cwd: ROOT, env: {...env, WGMESH_TEST_ARGV: JSON.stringify(args)}}, (error, stdout, stderr) => {
      const code = error ? (typeof (error as {code?: unknown}).code === 'number' ? (error as {code: number}).code : 1) : 0;
      resolve({code, stdout, stderr});
    });
  });
}

describe('a fast-started command behaves as a normally started one', () => {
  let sandbox: Sandbox;
  let server: IpcServer | undefined;
  let socket = '';
  const meshes: MeshSummary[] = [{meshId: 'a'.repeat(26), prefix: 'fd00:1::/64', interface: 'wgm1', members: 2}];
  const status: StatusView = {pid: 9, nodeId: 'b'.repeat(32), wgPublicKey: 'k', backends: {store: 's', transport: 't', wg: 'w'}, meshes};

  beforeAll(async () => {
    sandbox = await makeSandbox('wgmesh-fast-start-');
    socket = join(sandbox.dir, 'd.sock');
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
  ])('`%s`', async (command) => {
    const argv = command.split(' ');
    // The shared daemon unless the case names its own socket.
    const args = argv.includes('--socket') ? argv : [...argv, '--socket', socket];
    const [fast, normal] = await Promise.all([runCli(args, sandbox.env), runCliNormally(args, sandbox.env)]);
    expect(fast).toEqual(normal);
  });
});
