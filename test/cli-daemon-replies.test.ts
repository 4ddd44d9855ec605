/**
 * What the CLI does with what a daemon answers. Whatever listens on `--socket`
 * is untrusted: a reply or a result of the wrong shape is one clear error line
 * (or a JSON error with `--json`) and exit 1, never a stack trace; a good one
 * prints. The "daemon" here is core's IPC server with hand-written handlers,
 * so the answers can be anything.
 */
import {createServer} from 'node:net';
import {join} from 'node:path';
import {IpcServer, type IpcServerHandlers, type MeshSummary, type StatusView} from '@wgmesh/core';
import {silentLogger} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {makeSandbox, runCli, type Sandbox} from './helpers/cli.js';

const MESHES: MeshSummary[] = [{meshId: 'm1', prefix: 'fd00:1::/64', interface: 'wgm1', members: 3}];
const STATUS: StatusView = {pid: 7, nodeId: 'a'.repeat(32), wgPublicKey: 'k', backends: {store: 's', transport: 't', wg: 'w'}, meshes: MESHES};

describe('the CLI against a daemon that answers oddly', () => {
  let sandbox: Sandbox;
  const servers: IpcServer[] = [];

  /** A daemon on its own socket serving `handlers`; returns the socket. */
  async function daemon(name: string, handlers: IpcServerHandlers): Promise<string> {
    const server = new IpcServer({socketPath: join(sandbox.dir, `${name}.sock`), logger: silentLogger(), handlers});
    await server.start();
    servers.push(server);
    return server.socketPath;
  }

  beforeAll(async () => {
    sandbox = await makeSandbox('wgmesh-replies-');
  });
  afterAll(async () => {
    try {
      await Promise.allSettled(servers.map((s) => s.close()));
    } finally {
      await sandbox.cleanup();
    }
  });

  it('prints results of the right shape', async () => {
    const socket = await daemon('good', {'mesh.list': async () => MESHES, status: async () => STATUS});
    const list = await runCli(['mesh', 'list', '--socket', socket], sandbox.env);
    expect(list).toMatchObject({code: 0, stderr: ''});
    expect(list.stdout).toMatch(/^MESH +PREFIX +INTERFACE +MEMBERS +ADMIN\nm1 +fd00:1::\/64 +wgm1 +3 +-\n$/);
    expect(JSON.parse((await runCli(['mesh', 'list', '--json', '--socket', socket], sandbox.env)).stdout)).toEqual(MESHES);
    const status = await runCli(['status', '--socket', socket], sandbox.env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^pid +7$/m);
  });

  it.each([
    ['mesh list', {'mesh.list': async () => ({meshes: MESHES}) as never}, 'mesh.list result this CLI cannot read (expected an array)'],
    ['mesh list', {'mesh.list': async () => [{...MESHES[0], members: '3'}] as never}, '(0.members: expected an integer'],
    ['status', {status: async () => ({...STATUS, backends: null}) as never}, 'status result this CLI cannot read (backends: expected an object)'],
  ] as const)('refuses a `%s` result of the wrong shape in one line', async (command, handlers, message) => {
    const socket = await daemon(`bad-${servers.length}`, handlers as IpcServerHandlers);
    const argv = [...command.split(' '), '--socket', socket];
    const text = await runCli(argv, sandbox.env);
    expect(text).toMatchObject({code: 1, stdout: ''});
    expect(text.stderr.startsWith(`Error: the wgmesh daemon at ${socket} sent a `)).toBe(true);
    expect(text.stderr).toContain(message);
    expect(text.stderr.split('\n')).toHaveLength(2); // one line and its newline
    const json = await runCli([...argv, '--json'], sandbox.env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({error: {code: 'IPC', message: expect.stringContaining(message) as unknown}});
  });

  it('refuses a reply frame that is not of the protocol', async () => {
    // Not core's server: one that answers every line with a frame whose `ok` is no boolean.
    const socket = join(sandbox.dir, 'raw.sock');
    const server = createServer((connection) => {
      connection.on('data', () => connection.write('{"v":1,"id":1,"ok":"yes","result":[]}\n'));
      connection.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const text = await runCli(['mesh', 'list', '--socket', socket], sandbox.env);
      expect(text.code).toBe(1);
      expect(text.stderr).toBe(
        `Error: the wgmesh daemon at ${socket} sent a reply this CLI cannot read: the reply is not a frame of IPC protocol version 1 (ok: expected true or false)\n`,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
