import {existsSync} from 'node:fs';
import {readFile, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, makeSandbox, runCli, startDaemon, type DaemonProcess, type Sandbox} from './helpers/cli.js';

interface StubInterface {
  name: string;
  listenPort: number;
  peers: unknown[];
  addresses: string[];
}

/** What the stub driver of a daemon was asked for, interfaces by name (read from the file it mirrors). */
async function stubState(daemon: DaemonProcess): Promise<{interfaces: Record<string, StubInterface>}> {
  const state = JSON.parse(await readFile(join(daemon.dataDir, 'wg-stub', 'state.json'), 'utf8')) as {interfaces: StubInterface[]};
  return {interfaces: Object.fromEntries(state.interfaces.map((iface) => [iface.name, iface]))};
}

describe('wgmesh daemon and the mesh commands (real processes, stub WireGuard)', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await makeSandbox();
  });
  afterEach(async () => {
    await killAllDaemons();
  });
  afterAll(async () => {
    await killAllDaemons();
    await sandbox.cleanup();
  });

  const cli = (daemon: DaemonProcess, ...args: string[]) => runCli([...args, '--socket', daemon.socket], sandbox.env);

  it('creates, lists, shows and leaves a mesh; status reports the node', async () => {
    const daemon = await startDaemon({sandbox, name: 'a', args: ['--wg', 'stub']});
    const created = await cli(daemon, 'mesh', 'create', '--endpoint', 'fd00::1', '--json');
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const {meshId} = JSON.parse(created.stdout) as {meshId: string};
    expect(meshId).toMatch(/^[a-z2-7]{26}$/);

    const list = JSON.parse((await cli(daemon, 'mesh', 'list', '--json')).stdout) as {meshId: string; prefix: string; interface: string; members: number}[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({meshId, members: 1});
    expect(list[0]!.prefix).toMatch(/^fd[0-9a-f:]+\/64$/);

    const show = JSON.parse((await cli(daemon, 'mesh', 'show', meshId, '--json')).stdout) as {meshId: string; prefix: string; nodes: Record<string, unknown>[]};
    expect(show.meshId).toBe(meshId);
    expect(show.nodes).toHaveLength(1);
    const self = show.nodes[0]!;
    for (const key of ['id', 'wgPublicKey', 'address', 'role', 'controlEndpoint', 'wgEndpoint', 'alias', 'description', 'services', 'routes']) {
      expect(self).toHaveProperty(key);
    }
    expect(self.role).toBe('peer');
    expect(self.controlEndpoint).toBe('[fd00::1]:4000');
    expect(self.wgEndpoint).toMatch(/^\[fd00::1\]:\d+$/);

    const status = JSON.parse((await cli(daemon, 'status', '--json')).stdout) as {pid: number; nodeId: string; wgPublicKey: string; backends: Record<string, string>; meshes: unknown[]};
    expect(status.pid).toBe(daemon.child.pid);
    expect(status.nodeId).toBe(self.id);
    expect(status.wgPublicKey).toBe(self.wgPublicKey);
    expect(status.backends).toMatchObject({store: 'twophase', wg: 'stub'});
    expect(status.meshes).toHaveLength(1);

    const iface = list[0]!.interface;
    expect((await stubState(daemon)).interfaces[iface]?.addresses).toEqual([`${self.address as string}/64`]);

    const human = await cli(daemon, 'mesh', 'show', meshId);
    expect(human.stdout).toContain(self.address as string);

    const left = await cli(daemon, 'mesh', 'leave', meshId);
    expect(left.code).toBe(0);
    expect(left.stdout).toContain(meshId);
    expect(JSON.parse((await cli(daemon, 'mesh', 'list', '--json')).stdout)).toEqual([]);
    expect((await stubState(daemon)).interfaces[iface]).toBeUndefined();
    expect(existsSync(join(daemon.dataDir, 'meshes', meshId))).toBe(false);
  });

  it('keeps node id, WireGuard key and meshes across a restart, and cleans up on SIGTERM', async () => {
    const first = await startDaemon({sandbox, name: 'restart', args: ['--wg', 'stub']});
    const {meshId} = JSON.parse((await cli(first, 'mesh', 'create', '--endpoint', '192.0.2.10', '--json')).stdout) as {meshId: string};
    const before = JSON.parse((await cli(first, 'status', '--json')).stdout) as {nodeId: string; wgPublicKey: string};
    const address = (JSON.parse((await cli(first, 'mesh', 'show', meshId, '--json')).stdout) as {nodes: {address: string}[]}).nodes[0]!.address;
    expect((await stat(join(first.dataDir, 'identity.json'))).mode & 0o777).toBe(0o600);

    expect(await first.stop('SIGTERM')).toBe(0);
    expect(existsSync(first.socket)).toBe(false);
    expect((await stubState(first)).interfaces).toEqual({});

    const second = await startDaemon({sandbox, name: 'restart', args: ['--wg', 'stub']});
    const after = JSON.parse((await cli(second, 'status', '--json')).stdout) as {nodeId: string; wgPublicKey: string; meshes: {meshId: string}[]};
    expect(after.nodeId).toBe(before.nodeId);
    expect(after.wgPublicKey).toBe(before.wgPublicKey);
    expect(after.meshes.map((m) => m.meshId)).toEqual([meshId]);
    const view = JSON.parse((await cli(second, 'mesh', 'show', meshId, '--json')).stdout) as {nodes: {address: string}[]};
    expect(view.nodes.map((n) => n.address)).toEqual([address]);
    expect(Object.keys((await stubState(second)).interfaces)).toHaveLength(1);
    expect(await second.stop('SIGINT')).toBe(0);
  });

  it('restores meshes after SIGKILL', async () => {
    const first = await startDaemon({sandbox, name: 'crash', args: ['--wg', 'stub']});
    const {meshId} = JSON.parse((await cli(first, 'mesh', 'create', '--endpoint', '192.0.2.11', '--json')).stdout) as {meshId: string};
    await first.stop('SIGKILL');
    const second = await startDaemon({sandbox, name: 'crash', args: ['--wg', 'stub']});
    const list = JSON.parse((await cli(second, 'mesh', 'list', '--json')).stdout) as {meshId: string; members: number}[];
    expect(list).toEqual([expect.objectContaining({meshId, members: 1})]);
  });

  it('refuses a second daemon on the same socket, leaving the first one working', async () => {
    const first = await startDaemon({sandbox, name: 'single', args: ['--wg', 'stub']});
    const second = await runCli(['daemon', '--wg', 'stub', '--data-dir', join(sandbox.dir, 'single-2'), '--socket', first.socket], sandbox.env);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/already running/);
    expect(second.stderr).not.toMatch(/\n\s+at /);
    expect((await cli(first, 'status', '--json')).code).toBe(0);
  });

  it('refuses a second daemon on the same data dir', async () => {
    const first = await startDaemon({sandbox, name: 'samedir', args: ['--wg', 'stub']});
    const second = await runCli(['daemon', '--wg', 'stub', '--data-dir', first.dataDir, '--socket', join(sandbox.dir, 'other.sock')], sandbox.env);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(`pid ${first.child.pid}`);
  });

  it('fails with the list of installed names for an unknown backend', async () => {
    const result = await runCli(['daemon', '--wg', 'nosuch', '--data-dir', join(sandbox.dir, 'unknown'), '--socket', join(sandbox.dir, 'unknown.sock')], sandbox.env);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/nosuch/);
    expect(result.stderr).toMatch(/stub/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('gives one clear line for unknown and malformed mesh ids and bad flags', async () => {
    const daemon = await startDaemon({sandbox, name: 'errors', args: ['--wg', 'stub']});
    const unknown = await cli(daemon, 'mesh', 'show', 'aaaaaaaaaaaaaaaaaaaaaaaaaa');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/not a member of mesh aaaaaaaaaaaaaaaaaaaaaaaaaa/);

    for (const command of [['mesh', 'show', 'Not-A-Mesh'], ['mesh', 'leave', '../etc']]) {
      const result = await cli(daemon, ...command);
      expect(result.code).not.toBe(0);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/is not a mesh id/);
    }
    const json = await cli(daemon, 'mesh', 'show', 'Not-A-Mesh', '--json');
    expect(json.code).not.toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({error: {code: 'INVALID_INPUT', message: expect.stringMatching(/is not a mesh id/)}});

    const badPort = await cli(daemon, 'mesh', 'create', '--port', '70000');
    expect(badPort.code).not.toBe(0);
    expect(badPort.stderr).toMatch(/70000|port/i);
    expect(badPort.stderr).not.toMatch(/\n\s+at /);

    const client = await cli(daemon, 'mesh', 'create', '--role', 'client');
    expect(client.code).not.toBe(0);
    expect(client.stderr).toMatch(/a client cannot create a mesh/);
    expect(JSON.parse((await cli(daemon, 'mesh', 'list', '--json')).stdout)).toEqual([]);
  });

  it('says the daemon is not running, in one line, for every daemon command', async () => {
    const socket = join(sandbox.dir, 'nobody.sock');
    for (const command of [['status'], ['mesh', 'list'], ['mesh', 'create'], ['mesh', 'show', 'aaaaaaaaaaaaaaaaaaaaaaaaaa'], ['mesh', 'leave', 'aaaaaaaaaaaaaaaaaaaaaaaaaa']]) {
      const result = await runCli([...command, '--socket', socket], sandbox.env);
      expect(result.code).not.toBe(0);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(`not running at ${socket}`);
      expect(result.stderr).toContain('wgmesh daemon');
    }
    const env = {...sandbox.env, WGMESH_SOCKET: socket};
    expect((await runCli(['status'], env)).stderr).toContain(`not running at ${socket}`);
  });

  it('reads the socket from the config file when no flag is given', async () => {
    const daemon = await startDaemon({sandbox, name: 'fromconfig', args: ['--wg', 'stub']});
    const config = join(sandbox.dir, 'fromconfig.yaml');
    await writeFile(config, `socket: ${daemon.socket}\n`);
    const result = await runCli(['status', '--json', '--config', config], sandbox.env);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).pid).toBe(daemon.child.pid);
  });
});
