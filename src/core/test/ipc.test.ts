import {spawn} from 'node:child_process';
import {once} from 'node:events';
import {lstat, mkdir, mkdtemp, rm, stat, writeFile} from 'node:fs/promises';
import {createServer, connect, type Server, type Socket} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {
  DaemonAlreadyRunningError,
  DaemonNotRunningError,
  InvalidInputError,
  IpcError,
  InternalError,
  IpcPermissionError,
  UnknownMeshError,
  WgmeshError,
} from '../src/errors.js';
import {connectError, IpcClient} from '../src/ipc/client.js';
import type {MeshView, StatusView} from '../src/ipc/methods.js';
import {IPC_ERROR_CODES, MAX_REQUEST_BYTES} from '../src/ipc/protocol.js';
import {IpcServer, type IpcServerHandlers} from '../src/ipc/server.js';
import {recordingLogger, silentLogger} from '@wgmesh/testkit';

const STATUS: StatusView = {pid: 4242, nodeId: 'n'.repeat(32), wgPublicKey: 'k', backends: {store: 's', transport: 't', wg: 'w'}, meshes: []};

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wgmesh-ipc-'));
});

afterEach(async () => {
  try {
    // Every cleanup runs even if one fails; the first failure is reported.
    const results = await Promise.allSettled(cleanups.splice(0).reverse().map(async (cleanup) => cleanup()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
});

async function startServer(handlers: IpcServerHandlers, socketPath = join(dir, 'wgmesh.sock'), logger = silentLogger()): Promise<IpcServer> {
  const server = new IpcServer({socketPath, logger, handlers});
  await server.start();
  cleanups.push(() => server.close());
  return server;
}

function client(socketPath: string, timeoutMs?: number): IpcClient {
  const c = new IpcClient(socketPath, timeoutMs === undefined ? {} : {timeoutMs});
  cleanups.push(() => c.close());
  return c;
}

/** A hand-driven connection for sending frames no IpcClient would send. */
async function raw(socketPath: string) {
  const socket = connect(socketPath);
  cleanups.push(() => void socket.destroy());
  await once(socket, 'connect');
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    buffered += text;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) !== -1) {
      lines.push(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
    waiters.splice(0).forEach((wake) => wake());
  });
  const closed = once(socket, 'close').then(() => undefined);
  return {
    socket,
    closed,
    send: (data: string | Buffer) => socket.write(data),
    /** The next reply frame, parsed. */
    async next(): Promise<Record<string, unknown>> {
      while (lines.length === 0) {
        await Promise.race([new Promise<void>((wake) => waiters.push(wake)), closed]);
        if (lines.length === 0 && socket.destroyed) throw new Error('connection closed with no reply');
      }
      return JSON.parse(lines.shift() ?? '') as Record<string, unknown>;
    },
  };
}

/** A plain Unix socket server that misbehaves as told. */
async function fakeDaemon(socketPath: string, onConnection: (socket: Socket) => void): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    onConnection(socket);
  });
  server.listen(socketPath);
  await once(server, 'listening');
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  );
  return server;
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return {promise, resolve};
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

describe('round trips', () => {
  it('answers a call with the handler result', async () => {
    const server = await startServer({status: async () => STATUS});
    expect(await client(server.socketPath).call('status', {})).toEqual(STATUS);
  });

  it('passes params through and serves several calls on one connection, out of order', async () => {
    const release = deferred<void>();
    const seen: unknown[] = [];
    const server = await startServer({
      'mesh.show': async (params) => {
        seen.push(params);
        await release.promise;
        return {meshId: (params as {meshId: string}).meshId, prefix: 'fd00::/64', nodes: []} satisfies MeshView;
      },
      status: async () => STATUS,
    });
    const c = client(server.socketPath);
    const slow = c.call('mesh.show', {meshId: 'abc'});
    expect(await c.call('status', {})).toEqual(STATUS);
    release.resolve();
    expect(await slow).toEqual({meshId: 'abc', prefix: 'fd00::/64', nodes: []});
    expect(seen).toEqual([{meshId: 'abc'}]);
  });

  it('answers pipelined requests from one write, each with its id', async () => {
    const server = await startServer({status: async () => STATUS, 'mesh.list': async () => []});
    const conn = await raw(server.socketPath);
    conn.send('{"v":1,"id":"a","method":"status","params":{}}\n{"v":1,"id":"b","method":"mesh.list","params":{}}\n');
    const replies = [await conn.next(), await conn.next()];
    expect(replies.find((r) => r.id === 'a')).toEqual({v: 1, id: 'a', ok: true, result: STATUS});
    expect(replies.find((r) => r.id === 'b')).toEqual({v: 1, id: 'b', ok: true, result: []});
  });

  it('gives handlers a signal that aborts when the client goes away', async () => {
    const started = deferred<void>();
    const aborted = deferred<unknown>();
    const server = await startServer({
      status: async (_params, {signal}) => {
        signal.addEventListener('abort', () => aborted.resolve(signal.reason));
        started.resolve();
        return new Promise<StatusView>(() => {});
      },
    });
    const conn = await raw(server.socketPath);
    conn.send('{"v":1,"id":1,"method":"status","params":{}}\n');
    await started.promise;
    conn.socket.destroy();
    expect(await aborted.promise).toBeInstanceOf(IpcError);
  });
});

describe('errors over the wire', () => {
  it('sends a WgmeshError with its code and message', async () => {
    const server = await startServer({'mesh.show': async (params) => Promise.reject(new UnknownMeshError((params as {meshId: string}).meshId))});
    const error = await client(server.socketPath)
      .call('mesh.show', {meshId: 'nope'})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownMeshError);
    expect(error).toBeInstanceOf(WgmeshError);
    expect(error).toMatchObject({code: 'UNKNOWN_MESH', message: new UnknownMeshError('nope').message});
  });

  it('maps a handler that rejects bad params to INVALID_INPUT', async () => {
    const server = await startServer({
      'mesh.leave': async (params) => {
        if (typeof (params as {meshId?: unknown}).meshId !== 'string') throw new InvalidInputError('mesh.leave: meshId: expected a string');
        return {meshId: 'x'};
      },
    });
    await expect(client(server.socketPath).call('mesh.leave', {meshId: 5} as unknown as {meshId: string})).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: 'mesh.leave: meshId: expected a string',
    });
  });

  it('logs an unexpected error with its stack and sends only INTERNAL and a short message', async () => {
    const logger = recordingLogger();
    const bug = new Error('secret detail: db at /var/lib/x exploded');
    const server = await startServer({status: async () => Promise.reject(bug)}, join(dir, 'wgmesh.sock'), logger);
    const error = (await client(server.socketPath)
      .call('status', {})
      .catch((e: unknown) => e)) as InternalError;
    expect(error).toBeInstanceOf(InternalError);
    expect(error.code).toBe(IPC_ERROR_CODES.internal);
    expect(error.message).not.toContain('secret');
    expect(error.message).not.toMatch(/\bat .*:\d+:\d+/);
    const logged = logger.lines.find((line) => line.level === 'error');
    expect(logged?.obj).toMatchObject({err: bug, method: 'status'});
    expect(bug.stack).toContain('secret detail');
  });

  it('answers UNKNOWN_METHOD for methods without a handler, including prototype names', async () => {
    const server = await startServer({status: async () => STATUS});
    await expect(client(server.socketPath).call('mesh.list', {})).rejects.toMatchObject({code: IPC_ERROR_CODES.unknownMethod});
    const conn = await raw(server.socketPath);
    for (const method of ['constructor', '__proto__', 'toString']) {
      conn.send(`${JSON.stringify({v: 1, id: 1, method, params: {}})}\n`);
      expect(await conn.next()).toMatchObject({id: 1, ok: false, error: {code: IPC_ERROR_CODES.unknownMethod}});
    }
  });
});

describe('hostile frames', () => {
  it('answers garbage with an error and keeps serving the same connection', async () => {
    const server = await startServer({status: async () => STATUS});
    const conn = await raw(server.socketPath);
    conn.send('this is not json\n');
    expect(await conn.next()).toMatchObject({v: 1, id: null, ok: false, error: {code: IPC_ERROR_CODES.badFrame}});
    conn.send('[1,2,3]\n');
    expect(await conn.next()).toMatchObject({id: null, ok: false, error: {code: IPC_ERROR_CODES.badFrame}});
    conn.send(Buffer.concat([Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('\n')]));
    expect(await conn.next()).toMatchObject({id: null, ok: false, error: {code: IPC_ERROR_CODES.badFrame}});
    conn.send('{"v":1,"id":3,"method":{"x":1}}\n');
    expect(await conn.next()).toMatchObject({id: 3, ok: false, error: {code: IPC_ERROR_CODES.badFrame}});
    conn.send('{"v":1,"id":4,"method":"status","params":{}}\n');
    expect(await conn.next()).toEqual({v: 1, id: 4, ok: true, result: STATUS});
  });

  it('accepts a frame of exactly 1 MiB', async () => {
    const server = await startServer({status: async () => STATUS});
    const conn = await raw(server.socketPath);
    const empty = JSON.stringify({v: 1, id: 1, method: 'status', params: {pad: ''}});
    const frame = JSON.stringify({v: 1, id: 1, method: 'status', params: {pad: 'x'.repeat(MAX_REQUEST_BYTES - empty.length)}});
    expect(Buffer.byteLength(frame)).toBe(MAX_REQUEST_BYTES);
    conn.send(`${frame}\n`);
    expect(await conn.next()).toMatchObject({id: 1, ok: true});
  });

  it('answers an oversized frame with FRAME_TOO_LARGE, closes that connection, and keeps serving others', async () => {
    const server = await startServer({status: async () => STATUS});
    const conn = await raw(server.socketPath);
    conn.send(Buffer.alloc(MAX_REQUEST_BYTES + 10, 0x61));
    expect(await conn.next()).toMatchObject({id: null, ok: false, error: {code: IPC_ERROR_CODES.frameTooLarge}});
    await conn.closed;
    expect(await client(server.socketPath).call('status', {})).toEqual(STATUS);
  });

  it('answers another protocol version with an error naming both versions', async () => {
    const server = await startServer({status: async () => STATUS});
    const conn = await raw(server.socketPath);
    conn.send('{"v":2,"id":9,"method":"status","params":{}}\n');
    const reply = await conn.next();
    expect(reply).toMatchObject({v: 1, id: 9, ok: false, error: {code: IPC_ERROR_CODES.protocolVersion}});
    expect((reply.error as {message: string}).message).toMatch(/version 2 .*version 1/);
  });
});

describe('the socket file', () => {
  it('is a socket of mode 0600, in a directory created 0700, and is removed on close', async () => {
    const socketPath = join(dir, 'run', 'deeper', 'wgmesh.sock');
    const server = await startServer({status: async () => STATUS}, socketPath);
    const info = await lstat(socketPath);
    expect(info.isSocket()).toBe(true);
    expect(info.mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'run'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'run', 'deeper'))).mode & 0o777).toBe(0o700);
    await server.close();
    expect(await exists(socketPath)).toBe(false);
    await server.close();
  });

  it('leaves the mode of an existing directory alone', async () => {
    const parent = join(dir, 'shared');
    await mkdir(parent, {mode: 0o755});
    await startServer({status: async () => STATUS}, join(parent, 'wgmesh.sock'));
    expect((await stat(parent)).mode & 0o777).toBe(0o755);
  });

  it.skipIf(process.geteuid?.() !== 0)('with a socket group: socket 0660 and a created directory 0750, both of that group, whatever the umask', async () => {
    const users = 100;
    const socketPath = join(dir, 'grouped', 'wgmesh.sock');
    const server = new IpcServer({socketPath, logger: silentLogger(), handlers: {status: async () => STATUS}, groupId: users});
    const umask = process.umask(0o077);
    try {
      await server.start();
    } finally {
      process.umask(umask);
    }
    const socket = await lstat(socketPath);
    expect([socket.mode & 0o777, socket.gid]).toEqual([0o660, users]);
    const parent = await stat(join(dir, 'grouped'));
    expect([parent.mode & 0o777, parent.gid]).toEqual([0o750, users]);
    await server.close();
  });

  it.skipIf(process.geteuid?.() !== 0)('with a socket group: warns when an existing directory keeps the group out', async () => {
    const parent = join(dir, 'private');
    await mkdir(parent, {mode: 0o700});
    const logger = recordingLogger();
    const server = new IpcServer({socketPath: join(parent, 'wgmesh.sock'), logger, handlers: {status: async () => STATUS}, groupId: 100});
    await server.start();
    expect(logger.lines.filter((line) => line.level === 'warn').map((line) => line.msg)).toEqual([
      `the socket group cannot enter ${parent}, so its members cannot reach the socket: set socket (or --socket) to a path outside it, such as /run/wgmesh/wgmesh.sock`,
    ]);
    await server.close();
  });

  it('close() drops open connections and aborts their requests', async () => {
    const started = deferred<void>();
    const aborted = deferred<void>();
    const server = await startServer({
      status: async (_params, {signal}) =>
        new Promise<StatusView>((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            aborted.resolve();
            reject(signal.reason as Error);
          });
          started.resolve();
        }),
    });
    const idle = await raw(server.socketPath);
    const outcome = client(server.socketPath)
      .call('status', {})
      .catch((e: unknown) => e);
    await started.promise;
    await server.close();
    await aborted.promise;
    await idle.closed;
    expect(await outcome).toBeInstanceOf(IpcError);
    expect(((await outcome) as Error).message).toContain('closed the connection before answering status');
  });

  it('serves a client that connects while the server is still setting the socket mode', async () => {
    // The socket exists (mode 0600 from the umask) a few file-system calls before start()
    // returns; a client that connects then was admitted by that mode and must be served.
    for (let round = 0; round < 5; round++) {
      const socketPath = join(dir, `early-${round}.sock`);
      const server = new IpcServer({socketPath, logger: silentLogger(), handlers: {status: async () => STATUS}});
      let started = false;
      const starting = server.start().then(() => {
        started = true;
      });
      cleanups.push(() => server.close());
      const answers: unknown[] = [];
      const deadline = Date.now() + 5000;
      while (!started && Date.now() < deadline) {
        const attempt = await client(socketPath, 2000).call('status', {}).catch((error: unknown) => error);
        if (!(attempt instanceof DaemonNotRunningError)) answers.push(attempt);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await starting;
      for (const answer of answers) expect(answer).toEqual(STATUS);
    }
  });

  it('replaces a stale socket file left by a daemon that was killed', async () => {
    const socketPath = join(dir, 'wgmesh.sock');
    const script = `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`;
    const child = spawn(process.execPath, ['-e', script], {stdio: 'ignore'});
    await once(child, 'exit');
    expect((await lstat(socketPath)).isSocket()).toBe(true);
    await expect(client(socketPath).call('status', {})).rejects.toThrow(new DaemonNotRunningError(socketPath));
    const server = await startServer({status: async () => STATUS}, socketPath);
    expect(await client(server.socketPath).call('status', {})).toEqual(STATUS);
  });

  it('refuses to start a second server on a live socket, naming its pid, and leaves the first one working', async () => {
    const first = await startServer({status: async () => STATUS});
    const second = new IpcServer({socketPath: first.socketPath, logger: silentLogger(), handlers: {}});
    const error = await second.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DaemonAlreadyRunningError);
    expect((error as Error).message).toBe(new DaemonAlreadyRunningError(first.socketPath, STATUS.pid).message);
    expect((error as Error).message).toContain(`at ${first.socketPath} (pid 4242)`);
    expect(await client(first.socketPath).call('status', {})).toEqual(STATUS);
    await second.close();
    expect(await exists(first.socketPath)).toBe(true);
  });

  it('refuses when something that is not a wgmesh daemon listens there', async () => {
    const socketPath = join(dir, 'other.sock');
    await fakeDaemon(socketPath, (socket) => socket.end('HTTP/1.0 400 Bad Request\n'));
    const error = await new IpcServer({socketPath, logger: silentLogger(), handlers: {}}).start().catch((e: unknown) => e);
    expect(error).toEqual(new DaemonAlreadyRunningError(socketPath));
  });

  it('will not delete a file that is not a socket', async () => {
    const socketPath = join(dir, 'not-a-socket');
    await writeFile(socketPath, 'precious');
    await expect(new IpcServer({socketPath, logger: silentLogger(), handlers: {}}).start()).rejects.toThrow(
      new IpcError(`${socketPath} exists and is not a socket; move it away or choose another --socket`),
    );
    expect((await lstat(socketPath)).isFile()).toBe(true);
  });

  it('refuses a socket path longer than a Unix socket address holds, on both ends', async () => {
    const socketPath = join(dir, `${'x'.repeat(120)}.sock`);
    await expect(new IpcServer({socketPath, logger: silentLogger(), handlers: {}}).start()).rejects.toThrow(/over the 107-byte limit/);
    await expect(client(socketPath).call('status', {})).rejects.toThrow(/over the 107-byte limit/);
  });
});

describe('client failures', () => {
  it('says the daemon is not running, with the socket path, when there is no socket', async () => {
    const socketPath = join(dir, 'absent.sock');
    const error = await client(socketPath)
      .call('status', {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DaemonNotRunningError);
    expect((error as Error).message).toContain(socketPath);
    expect((error as Error).message).toContain("start it with 'wgmesh daemon'");
  });

  it('maps connect errors to what the user should do', () => {
    const errno = (code: string) => Object.assign(new Error(`connect ${code}`), {code});
    expect(connectError('/s', errno('ECONNREFUSED'))).toBeInstanceOf(DaemonNotRunningError);
    expect(connectError('/s', errno('ENOTDIR'))).toBeInstanceOf(DaemonNotRunningError);
    const denied = connectError('/run/w.sock', errno('EACCES'));
    expect(denied).toBeInstanceOf(IpcPermissionError);
    expect(denied.message).toBe(
      'permission denied on the wgmesh daemon socket /run/w.sock; run this command as root or as the user the daemon runs as, ' +
        "or as a member of the group the daemon's config names in socketGroup (log in again after being added to it)",
    );
    expect(connectError('/s', errno('EPERM'))).toBeInstanceOf(IpcPermissionError);
    expect(connectError('/s', errno('EMFILE'))).toMatchObject({code: 'IPC', message: 'cannot connect to the wgmesh daemon at /s: connect EMFILE'});
  });

  it('times out with a clear error when the daemon does not answer', async () => {
    const socketPath = join(dir, 'silent.sock');
    await fakeDaemon(socketPath, () => {});
    await expect(client(socketPath, 100).call('status', {})).rejects.toThrow(
      new IpcError(`the wgmesh daemon at ${socketPath} did not answer status within 100 ms; check its log, or retry with a longer timeout`),
    );
  });

  it('fails a call when the daemon hangs up, and dials again for the next one', async () => {
    const socketPath = join(dir, 'flaky.sock');
    let connections = 0;
    await fakeDaemon(socketPath, (socket) => {
      connections += 1;
      socket.once('data', (chunk: Buffer) => {
        const {id} = JSON.parse(chunk.toString('utf8')) as {id: number};
        // First connection: hang up. Later ones: answer.
        if (connections === 1) socket.destroy();
        else socket.write(`${JSON.stringify({v: 1, id, ok: true, result: STATUS})}\n`);
      });
    });
    const c = client(socketPath);
    await expect(c.call('status', {})).rejects.toThrow(/closed the connection before answering status/);
    expect(await c.call('status', {})).toEqual(STATUS);
    expect(connections).toBe(2);
  });

  it('refuses replies of another protocol version or shape', async () => {
    const socketPath = join(dir, 'future.sock');
    await fakeDaemon(socketPath, (socket) => {
      socket.once('data', (chunk: Buffer) => {
        const {id} = JSON.parse(chunk.toString('utf8')) as {id: number};
        socket.write(`${JSON.stringify({v: 2, id, ok: true, result: {}})}\n`);
      });
    });
    const error = await client(socketPath)
      .call('status', {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IpcError);
    expect((error as Error).message).toMatch(/protocol version 2 but this CLI speaks version 1/);
  });

  it('stops waiting when the call is aborted', async () => {
    const server = await startServer({status: async () => new Promise<StatusView>(() => {})});
    const abort = new AbortController();
    const call = client(server.socketPath).call('status', {}, {signal: abort.signal});
    abort.abort(new Error('user pressed ctrl-c'));
    await expect(call).rejects.toThrow('user pressed ctrl-c');
  });

  it('fails calls still waiting when the client is closed', async () => {
    const server = await startServer({status: async () => new Promise<StatusView>(() => {})});
    const c = new IpcClient(server.socketPath);
    const call = c.call('status', {});
    c.close();
    await expect(call).rejects.toThrow(new IpcError('the IPC client was closed before the daemon answered'));
  });
});
