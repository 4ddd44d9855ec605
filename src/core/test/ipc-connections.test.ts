/** The IPC server's connection cap: idle connections make room, busy ones are never cut. */
import {once} from 'node:events';
import {mkdtemp, rm} from 'node:fs/promises';
import {connect, type Socket} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {IpcClient} from '../src/ipc/client.js';
import type {StatusView} from '../src/ipc/methods.js';
import {IpcServer} from '../src/ipc/server.js';
import {silentLogger} from '@wgmesh/testkit';

const STATUS: StatusView = {pid: 1, nodeId: 'n'.repeat(32), wgPublicKey: 'k', backends: {store: 's', transport: 't', wg: 'w'}, meshes: []};

describe('IPC connection cap', () => {
  let dir: string;
  let server: IpcServer;
  /** Resolves the pending `mesh.list` calls. */
  let release: () => void = () => undefined;
  /** How many `mesh.list` calls are in progress. */
  let inProgress = 0;
  const sockets: Socket[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgmesh-ipc-cap-'));
    inProgress = 0;
    const released = new Promise<void>((resolve) => (release = resolve));
    server = new IpcServer({
      socketPath: join(dir, 's.sock'),
      logger: silentLogger(),
      maxConnections: 2,
      handlers: {
        status: async () => STATUS,
        'mesh.list': async () => {
          inProgress++;
          await released;
          return [];
        },
      },
    });
    await server.start();
  });

  afterEach(async () => {
    release();
    for (const socket of sockets) socket.destroy();
    await server.close();
    await rm(dir, {recursive: true, force: true});
  });

  async function open(): Promise<Socket> {
    const socket = connect(server.socketPath);
    socket.on('error', () => undefined);
    sockets.push(socket);
    await once(socket, 'connect');
    return socket;
  }

  /** A connection with a `mesh.list` request in progress. */
  async function busy(): Promise<Socket> {
    const socket = await open();
    socket.write('{"v":1,"id":1,"method":"mesh.list","params":{}}\n');
    return socket;
  }

  it('closes the idle connection, never the busy one, to serve a new client', async () => {
    const working = await busy();
    const idle = await open();
    const idleClosed = once(idle, 'close');
    const cli = new IpcClient(server.socketPath, {timeoutMs: 2_000});
    try {
      expect(await cli.call('status', {})).toEqual(STATUS);
    } finally {
      cli.close();
    }
    await idleClosed;
    expect(working.destroyed).toBe(false);
    const reply = once(working, 'data');
    release();
    expect(String((await reply)[0])).toContain('"ok":true');
  });

  it('refuses a new connection when every connection has a request in progress', async () => {
    await busy();
    await busy();
    // The server must be handling both requests before the third connection arrives.
    const deadline = Date.now() + 2_000;
    while (inProgress < 2) {
      if (Date.now() > deadline) throw new Error('the server never started both requests');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const probe = new IpcClient(server.socketPath, {timeoutMs: 2_000});
    try {
      await expect(probe.call('status', {})).rejects.toThrow(/closed the connection|ECONNRESET|EPIPE/);
    } finally {
      probe.close();
    }
  });
});
