/**
 * What a new user meets first, through the real CLI: `help`, a mistyped
 * command, shell completion, `version`, `--json` on the plugin commands,
 * wording of `status` and errors, mesh ids in upper case, `mesh show` without
 * an id, a failed join on a terminal, and a daemon whose first start fails.
 */
import {execFile} from 'node:child_process';
import {existsSync} from 'node:fs';
import {readFile, rm, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';
import {commandNotFound, editDistance} from '../src/cli/suggest.js';
import {BIN, ROOT, daemonPaths, killAllDaemons, makeSandbox, runCli, startDaemon, type DaemonProcess, type Sandbox} from './helpers/cli.js';
import {freePorts} from './helpers/mesh-cluster.js';
import {fixturePath, makeHome, runCli as runPluginCli} from './plugins-helpers.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await makeSandbox('wgmesh-polish-');
});
afterEach(async () => {
  await killAllDaemons();
});
afterAll(async () => {
  await killAllDaemons();
  await sandbox.cleanup();
});

const wgmesh = (...args: string[]) => runCli(args, sandbox.env);
const packageVersion = async (dir: string): Promise<string> => (JSON.parse(await readFile(join(ROOT, dir, 'package.json'), 'utf8')) as {version: string}).version;

describe('did you mean', () => {
  const commands = ['mesh:create', 'mesh:list', 'mesh:show', 'mesh:admin:grant', 'status', 'node:alias'];
  const topics = ['mesh', 'mesh:admin', 'node'];

  it('counts edits, a swap of neighbours as one', () => {
    expect(editDistance('crate', 'create')).toBe(1);
    expect(editDistance('stauts', 'status')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('list', 'list')).toBe(0);
  });

  it('names the command as typed, without its arguments, and suggests the closest', () => {
    expect(commandNotFound(['mesh', 'crate', 'extra'], commands, topics)).toEqual({typed: 'mesh crate', suggestion: 'mesh create'});
    expect(commandNotFound(['mesh', 'admin', 'grnat', 'x'], commands, topics)).toEqual({typed: 'mesh admin grnat', suggestion: 'mesh admin grant'});
    expect(commandNotFound(['stauts'], commands, topics)).toEqual({typed: 'stauts', suggestion: 'status'});
  });

  it('suggests nothing for a word that is not a typo', () => {
    expect(commandNotFound(['mesh', 'frobnicate'], commands, topics)).toEqual({typed: 'mesh frobnicate'});
    expect(commandNotFound(['xy'], commands, topics)).toEqual({typed: 'xy'});
  });
});

describe('wgmesh without a daemon', () => {
  it('`wgmesh help` lists the commands, and `wgmesh help mesh show` is the command help', async () => {
    const help = await wgmesh('help');
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^USAGE/m);
    expect(help.stdout).toMatch(/^\s+status\s/m);
    expect(help.stdout).toMatch(/^\s+mesh\s/m);
    const show = await wgmesh('help', 'mesh', 'show');
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('$ wgmesh mesh show [MESHID]');
  });

  it('a mistyped command is named as typed, with the command it is likely a typo of', async () => {
    const typo = await wgmesh('mesh', 'crate', '--endpoint', 'fd00::1');
    expect(typo.code).toBe(127);
    expect(typo.stderr).toBe('Error: `wgmesh mesh crate` is not a wgmesh command; did you mean `wgmesh mesh create`?\n');
    expect(typo.stderr).not.toContain('mesh:crate');
    const unknown = await wgmesh('frobnicate');
    expect(unknown.code).toBe(127);
    expect(unknown.stderr).toBe('Error: `wgmesh frobnicate` is not a wgmesh command; see `wgmesh help` for the commands\n');
  });

  it('`wgmesh autocomplete bash` explains the set-up, and the completion it sets up completes commands and flags in bash', async () => {
    const result = await wgmesh('autocomplete', 'bash');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('wgmesh autocomplete script bash');
    expect(result.stdout).toContain('.bashrc');
    // What the user's ~/.bashrc evaluates, then bash's completion as a Tab press calls it.
    const setup = await wgmesh('autocomplete', 'script', 'bash');
    expect(setup.code, setup.stderr).toBe(0);
    const complete = async (...words: string[]): Promise<string[]> => {
      const script = `${setup.stdout}\nCOMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _wgmesh_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const output = await new Promise<string>((resolve, reject) => {
        execFile('bash', ['-c', script], {env: sandbox.env, timeout: 10_000}, (error, stdout) => (error ? reject(error) : resolve(stdout)));
      });
      return output.split('\n').filter((line) => line !== '');
    };
    expect(await complete('wgmesh', 'mesh', 'cr')).toEqual(['create']);
    expect(await complete('wgmesh', 'sta')).toEqual(['status']);
    expect(await complete('wgmesh', 'mesh', 'show', '--wi')).toEqual(['--wide']);
  });

  it('`wgmesh version --json` gives the versions of the CLI, core, every bundled plugin and Node', async () => {
    const result = await wgmesh('version', '--json');
    expect(result.code, result.stderr).toBe(0);
    const view = JSON.parse(result.stdout) as {cli: string; core: string; node: string; platform: string; plugins: {name: string; version: string; source: string}[]};
    expect(view.cli).toBe(await packageVersion('.'));
    expect(view.core).toBe(await packageVersion('src/core'));
    expect(view.node).toBe(process.version);
    expect(view.platform).toBe(`${process.platform}-${process.arch}`);
    expect(view.plugins).toContainEqual({name: '@wgmesh/wg-stub', version: await packageVersion('plugins/wg-stub'), source: 'bundled'});
    expect(view.plugins.map((plugin) => plugin.name)).toEqual(expect.arrayContaining(['@oclif/plugin-autocomplete', '@oclif/plugin-help', '@oclif/plugin-plugins', '@wgmesh/transport-grpc']));
    const text = await wgmesh('version');
    expect(text.stdout.split('\n')[0]).toBe(`wgmesh/${view.cli} core/${view.core} ${view.platform} node-${view.node}`);
  });

  it('a failed join on a terminal prints its error once', async () => {
    const socket = join(sandbox.dir, 'nobody.sock');
    // `script` gives the CLI a terminal, so listr2 uses its interactive renderer.
    const command = [process.execPath, BIN, 'mesh', 'join', '--invite', 'wgm1-abc', '--socket', socket].map((word) => `'${word}'`).join(' ');
    const transcript = await new Promise<string>((resolve) => {
      execFile('script', ['-qec', command, '/dev/null'], {env: {...sandbox.env, TERM: 'xterm'}, timeout: 30_000}, (_error, stdout) => resolve(stdout));
    });
    // Without the terminal's control sequences (the renderer shows and hides the cursor).
    const errorLines = transcript
      .replace(/\u001b\[[0-9;?]*[a-zA-Z]/g, '')
      .split(/\r?\n/)
      .filter((line) => line.includes(socket));
    expect(errorLines, transcript).toHaveLength(1);
    expect(errorLines[0]).toMatch(/^Error: /);
  });
});

describe('wgmesh plugins link and uninstall --json', () => {
  let home: string;
  beforeAll(async () => {
    home = await makeHome();
  });
  afterAll(async () => {
    await rm(home, {recursive: true, force: true});
  });

  it('prints what they did as JSON, and errors as the JSON error object', async () => {
    const path = fixturePath('wgmesh-plugin-recorder');
    const linked = await runPluginCli(home, ['plugins', 'link', path, '--no-install', '--json']);
    expect(linked.code, linked.stderr).toBe(0);
    expect(JSON.parse(linked.stdout)).toEqual({linked: path});
    const removed = await runPluginCli(home, ['plugins', 'uninstall', 'wgmesh-plugin-recorder', '--json']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual({uninstalled: ['wgmesh-plugin-recorder']});
    const again = await runPluginCli(home, ['plugins', 'uninstall', 'wgmesh-plugin-recorder', '--json']);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toEqual({error: {code: 'INVALID_INPUT', message: expect.stringContaining('wgmesh-plugin-recorder is not installed')}});
  });
});

describe('wgmesh with a daemon (stub WireGuard)', () => {
  let daemon: DaemonProcess;
  const cli = (...args: string[]) => runCli([...args, '--socket', daemon.socket], sandbox.env);
  const createMesh = async (): Promise<string> => {
    const created = await cli('mesh', 'create', '--endpoint', 'fd00::1', '--json');
    expect(created.code, created.stderr).toBe(0);
    return (JSON.parse(created.stdout) as {meshId: string}).meshId;
  };

  it('says "1 member", takes mesh ids in upper case, shows the only mesh without an id, and words errors for the user', async () => {
    // Its own control port: 4000 may be another daemon's on a shared machine.
    const {dataDir, socket} = daemonPaths(sandbox, 'one');
    const [port] = await freePorts(1);
    const config = join(sandbox.dir, 'one.yaml');
    await writeFile(config, `dataDir: ${dataDir}\nsocket: ${socket}\ngRPCPort: ${port}\n`);
    daemon = await startDaemon({sandbox, name: 'one', config, args: ['--wg', 'stub']});
    const none = await cli('mesh', 'show');
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('Error: this node is in no mesh (create one with `wgmesh mesh create` or join one with `wgmesh mesh join`)\n');

    const meshId = await createMesh();
    const status = await cli('status');
    expect(status.stdout).toContain(`${meshId} (1 member,`);

    const upper = await cli('mesh', 'show', meshId.toUpperCase(), '--json');
    expect(upper.code, upper.stderr).toBe(0);
    expect((JSON.parse(upper.stdout) as {meshId: string}).meshId).toBe(meshId);
    const described = await cli('node', 'describe', 'lab', '--mesh', meshId.toUpperCase());
    expect(described.code, described.stderr).toBe(0);

    const only = await cli('mesh', 'show', '--json');
    expect(only.code, only.stderr).toBe(0);
    expect((JSON.parse(only.stdout) as {meshId: string}).meshId).toBe(meshId);
    expect((await cli('mesh', 'show')).stdout.split('\n')[0]).toMatch(new RegExp(`^mesh ${meshId}  prefix \\S+  1 node(  |$)`));

    const tooLong = await cli('node', 'describe', 'x'.repeat(10_000));
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(/^Error: invalid description: must be at most \d+ characters\n$/);

    const second = await createMesh();
    const two = await cli('mesh', 'show');
    expect(two.code).toBe(1);
    expect(two.stderr).toContain('this node is in 2 meshes: give the mesh id');
    expect(two.stderr).toContain(meshId);
    expect(two.stderr).toContain(second);
  });

  it('a daemon whose certificate does not load names the config file and leaves no identity behind', async () => {
    const {dataDir, socket} = daemonPaths(sandbox, 'badcert');
    const configFile = join(sandbox.dir, 'badcert.yaml');
    const certificatePath = join(sandbox.dir, 'not-a-certificate.pem');
    await writeFile(certificatePath, 'not PEM\n');
    const [port] = await freePorts(1);
    await writeFile(configFile, `dataDir: ${dataDir}\nsocket: ${socket}\ngRPCPort: ${port}\ncaCertificatePath: ${certificatePath}\ncertificatePath: ${certificatePath}\n`);
    const result = await runCli(['daemon', '--config', configFile, '--wg', 'stub', '--log-level', 'warn'], sandbox.env, 20_000);
    expect(result.code).not.toBe(0);
    const errorLines = result.stderr.split('\n').filter((line) => line.startsWith('Error:'));
    expect(errorLines, result.stderr).toHaveLength(1);
    expect(errorLines[0]).toContain(`config ${configFile}: config key`);
    expect(existsSync(join(dataDir, 'identity.json'))).toBe(false);
  });
});
