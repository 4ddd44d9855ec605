/**
 * When a UAPI socket counts as served. A process being killed keeps its
 * listening socket for a moment after its connections closed (a zombie's
 * descriptors go one by one): it still accepts, but nobody reads. Taken for a
 * live wireguard-go, that made the driver adopt a dying process and fail to
 * rebuild the interface it served.
 */
import {mkdir, rm} from 'node:fs/promises';
import {createServer, type Server, type Socket} from 'node:net';
import {afterEach, describe, expect, it} from 'vitest';
import {AdoptedProcess} from '../src/adopted.js';
import {UAPI_DIR, uapiIsLive, uapiSocketPath} from '../src/userspace.js';

/** A stand-in UAPI listener for `name`: answers `get=1` while `mode.answers`, else accepts and reads nothing. */
async function fakeUapi(name: string, answers: boolean): Promise<{server: Server; connections: Socket[]; mode: {answers: boolean}}> {
  const mode = {answers};
  await mkdir(UAPI_DIR, {recursive: true});
  await rm(uapiSocketPath(name), {force: true});
  const connections: Socket[] = [];
  const server = createServer((socket) => {
    connections.push(socket);
    socket.on('error', () => undefined);
    if (!mode.answers) return socket.pause();
    socket.on('data', (chunk) => {
      if (chunk.toString().includes('get=1\n\n')) socket.write('private_key=00\nlisten_port=1\nerrno=0\n\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(uapiSocketPath(name), resolve));
  return {server, connections, mode};
}

describe('UAPI liveness', {timeout: 10_000}, () => {
  const servers: {server: Server; connections: Socket[]}[] = [];
  const name = `wgtl${process.pid.toString(36)}`;
  afterEach(async () => {
    for (const {server, connections} of servers.splice(0)) {
      for (const socket of connections) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
    await rm(uapiSocketPath(name), {force: true});
  });

  it('counts a socket that answers get=1 as served, one nothing listens on as not', async () => {
    expect(await uapiIsLive(name)).toBe(false);
    servers.push(await fakeUapi(name, true));
    expect(await uapiIsLive(name)).toBe(true);
  });

  it('counts a socket that accepts and then closes without answering (a dying process) as not served', async () => {
    const uapi = await fakeUapi(name, false);
    servers.push(uapi);
    const {server, connections} = uapi;
    const live = uapiIsLive(name);
    // The process finishes dying: its pending connections end with it.
    await new Promise<void>((resolve) => server.once('connection', () => resolve()));
    for (const socket of connections) socket.destroy();
    expect(await live).toBe(false);
  });

  it('reports an adopted process gone when its watch ends and its socket only accepts what it never answers', async () => {
    const uapi = await fakeUapi(name, true);
    servers.push(uapi);
    const exits: string[] = [];
    const adopted = new AdoptedProcess({name, onUnexpectedExit: (description) => exits.push(description)});
    await adopted.start();
    expect(adopted.running).toBe(true);
    // The process dies: its connections close, and its listener, for a moment, accepts what it never reads.
    uapi.mode.answers = false;
    uapi.server.on('connection', (socket) => setImmediate(() => socket.destroy()));
    for (const socket of uapi.connections) socket.destroy();
    await expect.poll(() => exits.length, {timeout: 3_000}).toBe(1);
    expect(adopted.running).toBe(false);
  });
});
