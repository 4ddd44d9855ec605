/**
 * The daemon's end of the IPC socket: listens on a Unix socket, decodes
 * request frames, validates params, calls the handler and writes the reply.
 *
 * The socket file is mode 0600 and its directory 0700 when created here:
 * whoever can connect can create and leave meshes, which rewrites the host's
 * WireGuard interfaces and routes, so only the daemon's own user (normally
 * root) may drive it. With a socket group (config `socketGroup`) the socket is
 * 0660 with that group, and a directory created here 0750 with that group, so
 * the group's members may drive it too. A hostile or broken frame gets an
 * error reply and never takes the daemon down. Each connection is flow-controlled and closed when
 * idle (see {@link IpcConnection}); at the connection cap, the connection idle
 * longest makes room for a new one, so idle clients cannot lock the CLI out.
 */
import {chmod, chown, lstat, mkdir, rm, stat} from 'node:fs/promises';
import {createServer, type Server, type Socket} from 'node:net';
import {dirname} from 'node:path';
import {MAX_SOCKET_PATH_BYTES, socketPathFits} from '../config/paths.js';
import type {Logger} from '../contracts/logger.js';
import {DaemonAlreadyRunningError, DaemonNotRunningError, IpcError, IpcPermissionError, WgmeshError} from '../errors.js';
import {IpcClient} from './client.js';
import {IpcConnection, type IpcConnectionLimits} from './connection.js';
import type {IpcMethod, IpcMethods} from './methods.js';
import {
  FrameSplitter,
  IPC_ERROR_CODES,
  IPC_PROTOCOL_VERSION,
  MAX_REQUEST_BYTES,
  MAX_RESPONSE_BYTES,
  decodeRequest,
  encodeFrame,
  errorReply,
  type IpcId,
  type IpcRequest,
  type IpcResponse,
} from './protocol.js';

/** What a handler knows about the request besides its params. */
export interface IpcRequestContext {
  /** Aborted when the client disconnects or the server closes: stop work nobody will read. */
  signal: AbortSignal;
}

/**
 * How the daemon serves one method. `params` is whatever the client sent
 * (another process's bytes, decoded but not checked): the handler validates it
 * with zod and throws `InvalidInputError` when it does not fit. Throw a
 * {@link WgmeshError} for any error the user should read; anything else is
 * logged and answered as `INTERNAL`.
 */
export type IpcHandler<M extends IpcMethod> = (params: unknown, context: IpcRequestContext) => Promise<IpcMethods[M]['result']>;

/** The methods a server serves; a method without a handler is answered with `UNKNOWN_METHOD`. */
export type IpcServerHandlers = {[M in IpcMethod]?: IpcHandler<M>};

/** Options of {@link IpcServer}. */
export interface IpcServerOptions {
  socketPath: string;
  logger: Logger;
  handlers: IpcServerHandlers;
  /**
   * Most simultaneous client connections (default 64). A new one beyond that
   * closes the connection idle longest, or is itself closed when every
   * connection has a request being handled.
   */
  maxConnections?: number;
  /** Close a connection after this long without progress while none of its requests is handled (config `ipcIdleTimeout`, default 60 s). */
  idleTimeoutMs?: number;
  /** Group id whose members may connect (config `socketGroup`): socket mode 0660 with this group. Unset: 0600. */
  groupId?: number;
}

/** Requests of one connection handled at once. */
const MAX_IN_FLIGHT_PER_CONNECTION = 16;
/** Unread reply bytes above which a connection is not read (its client is not keeping up). */
const MAX_UNREAD_REPLY_BYTES = 1024 * 1024;
/** Default of {@link IpcServerOptions.idleTimeoutMs}. */
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/** How long a starting daemon waits for an existing one to say its pid. */
const PROBE_TIMEOUT_MS = 2000;

/** The IPC server of one daemon. */
export class IpcServer {
  readonly #socketPath: string;
  readonly #logger: Logger;
  readonly #handlers: IpcServerHandlers;
  readonly #maxConnections: number;
  readonly #limits: IpcConnectionLimits;
  readonly #groupId: number | undefined;
  #server: Server | undefined;
  /**
   * Whether new connections are served: from the bind (the socket is born 0600, so only
   * the daemon's own user can connect before its final mode is set) until close().
   */
  #accepting = false;
  /** Inode of the socket file this server created, so close() never removes another daemon's socket. */
  #socketIno: number | undefined;
  readonly #connections = new Map<Socket, IpcConnection>();

  constructor(options: IpcServerOptions) {
    this.#socketPath = options.socketPath;
    this.#logger = options.logger.child({component: 'ipc'});
    this.#handlers = options.handlers;
    this.#maxConnections = options.maxConnections ?? 64;
    this.#groupId = options.groupId;
    this.#limits = {
      maxInFlight: MAX_IN_FLIGHT_PER_CONNECTION,
      maxUnreadBytes: MAX_UNREAD_REPLY_BYTES,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    };
  }

  /** The Unix socket path. */
  get socketPath(): string {
    return this.#socketPath;
  }

  /**
   * Listen. Creates the socket's directory (mode 0700) when missing, replaces a
   * stale socket file that nothing listens on, and refuses when a daemon answers.
   * @throws DaemonAlreadyRunningError when another process listens on the socket.
   * @throws IpcError when the path is unusable (too long, not a socket, not listenable).
   */
  async start(): Promise<void> {
    if (this.#server !== undefined) throw new IpcError(`the IPC server is already listening on ${this.#socketPath}`);
    if (!socketPathFits(this.#socketPath)) {
      throw new IpcError(`the socket path ${this.#socketPath} is over the ${MAX_SOCKET_PATH_BYTES}-byte limit of a Unix socket; choose a shorter --socket`);
    }
    await this.#prepareDirectory();
    let server: Server;
    try {
      server = await this.#listen();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw this.#listenError(error);
      await this.#replaceStaleSocket();
      try {
        server = await this.#listen();
      } catch (retryError) {
        // Another daemon took the path between our check and our listen.
        if ((retryError as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new DaemonAlreadyRunningError(this.#socketPath);
        throw this.#listenError(retryError);
      }
    }
    try {
      if (this.#groupId !== undefined) await chown(this.#socketPath, -1, this.#groupId);
      await chmod(this.#socketPath, this.#groupId === undefined ? 0o600 : 0o660);
      this.#socketIno = (await lstat(this.#socketPath)).ino;
    } catch (error) {
      this.#dropConnections(new IpcError('the daemon could not start'));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw this.#listenError(error);
    }
    this.#server = server;
    server.on('error', (error) => this.#logger.error({err: error}, 'IPC socket error'));
    this.#logger.info({socket: this.#socketPath}, 'IPC socket listening');
  }

  /** Stop accepting, drop open connections (aborting their requests) and remove the socket file. */
  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.#dropConnections(new IpcError('the daemon is stopping'));
    await closed;
    await this.#removeOwnSocketFile();
    this.#logger.info({socket: this.#socketPath}, 'IPC socket closed');
  }

  /**
   * Create the socket's directory when missing (0700, or 0750 with the socket
   * group); with a socket group, warn when an existing directory keeps the
   * group out, since the socket's mode alone does not let it in.
   */
  async #prepareDirectory(): Promise<void> {
    const dir = dirname(this.#socketPath);
    const group = this.#groupId;
    const created = await mkdir(dir, {recursive: true, mode: group === undefined ? 0o700 : 0o750});
    if (group === undefined) return;
    if (created !== undefined) {
      // Explicit mode: the umask (0077 in the systemd unit) would have taken the group's bits.
      await chown(dir, -1, group);
      await chmod(dir, 0o750);
      return;
    }
    const info = await stat(dir);
    const searchable = (info.mode & 0o001) !== 0 || (info.gid === group && (info.mode & 0o010) !== 0);
    if (!searchable) {
      this.#logger.warn(
        {socket: this.#socketPath, directory: dir, mode: (info.mode & 0o777).toString(8), socketGroup: group},
        `the socket group cannot enter ${dir}, so its members cannot reach the socket: set socket (or --socket) to a path outside it, such as /run/wgmesh/wgmesh.sock`,
      );
    }
  }

  /** Stop serving: abort every open connection's requests with `reason` and close it. */
  #dropConnections(reason: IpcError): void {
    this.#accepting = false;
    for (const [socket, connection] of this.#connections) {
      connection.abort.abort(reason);
      socket.destroy();
    }
    this.#connections.clear();
  }

  #listen(): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.#onConnection(socket));
      server.once('error', (error) => {
        this.#accepting = false;
        reject(error);
      });
      this.#accepting = true;
      // bind() happens inside listen(), synchronously: with umask 0177 the socket is
      // born 0600, so nobody else can connect before the chmod in start().
      const umask = setUmask(0o177);
      try {
        server.listen(this.#socketPath, () => {
          server.off('error', reject);
          resolve(server);
        });
      } finally {
        if (umask !== undefined) setUmask(umask);
      }
    });
  }

  #listenError(error: unknown): IpcError {
    return new IpcError(`cannot listen on the IPC socket ${this.#socketPath}: ${(error as Error).message}`, {cause: error});
  }

  /** The path is taken: refuse if a daemon answers there, else remove the stale socket file. */
  async #replaceStaleSocket(): Promise<void> {
    const probe = await this.#probe();
    if (probe.alive) throw new DaemonAlreadyRunningError(this.#socketPath, probe.pid);
    const stat = await lstat(this.#socketPath).catch(() => undefined);
    if (stat === undefined) return;
    if (!stat.isSocket()) {
      throw new IpcError(`${this.#socketPath} exists and is not a socket; move it away or choose another --socket`);
    }
    this.#logger.info({socket: this.#socketPath}, 'removing stale IPC socket left by a daemon that did not stop cleanly');
    await rm(this.#socketPath, {force: true});
  }

  /** Ask whatever is at the socket for its status: alive (with its pid when it says), or nothing listening. */
  async #probe(): Promise<{alive: true; pid?: number} | {alive: false}> {
    const client = new IpcClient(this.#socketPath, {timeoutMs: PROBE_TIMEOUT_MS});
    try {
      const status: unknown = await client.call('status', {});
      // The answer is another process's: read the pid defensively.
      const pid = typeof status === 'object' && status !== null ? (status as {pid?: unknown}).pid : undefined;
      return typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 0 ? {alive: true, pid} : {alive: true};
    } catch (error) {
      if (error instanceof DaemonNotRunningError) return {alive: false};
      if (error instanceof IpcPermissionError) throw error;
      // Connected but no usable answer (an older daemon, another program): something listens all the same.
      return {alive: true};
    } finally {
      client.close();
    }
  }

  async #removeOwnSocketFile(): Promise<void> {
    // Node already unlinks a Unix socket it listened on when the server closes; this
    // covers the rest, but never removes a socket file another daemon has since created.
    const stat = await lstat(this.#socketPath).catch(() => undefined);
    if (stat !== undefined && stat.ino === this.#socketIno) await rm(this.#socketPath, {force: true});
    this.#socketIno = undefined;
  }

  #onConnection(socket: Socket): void {
    if (!this.#accepting) {
      // Arrived while closing.
      socket.destroy();
      return;
    }
    if (this.#connections.size >= this.#maxConnections && !this.#closeLongestIdle()) {
      this.#logger.warn({limit: this.#maxConnections}, 'IPC connection refused: every connection has a request in progress');
      socket.destroy();
      return;
    }
    const connection = new IpcConnection(socket, this.#limits, (frame, signal) => this.#serve(frame, signal), this.#logger);
    this.#connections.set(socket, connection);
    const splitter = new FrameSplitter(MAX_REQUEST_BYTES);
    socket.on('data', (chunk: Buffer) => {
      if (splitter.overflowed) return;
      connection.receive(splitter.push(chunk));
      if (splitter.overflowed) {
        this.#logger.warn({limit: MAX_REQUEST_BYTES}, 'IPC client sent an oversized frame; closing its connection');
        const reply = errorReply(null, IPC_ERROR_CODES.frameTooLarge, `a request frame is over the ${MAX_REQUEST_BYTES}-byte limit; closing the connection`);
        // Unix sockets have no reset: the client reads the reply, then EOF.
        socket.end(encodeFrame(reply), () => socket.destroy());
      }
    });
    socket.on('error', (error) => this.#logger.debug({err: error}, 'IPC connection error'));
    socket.on('close', () => this.#connections.delete(socket));
  }

  /** Close the connection idle longest to make room; false when every connection has a request in progress. */
  #closeLongestIdle(): boolean {
    let victim: [Socket, IpcConnection] | undefined;
    for (const entry of this.#connections) {
      if (entry[1].idle && (victim === undefined || entry[1].lastActive < victim[1].lastActive)) victim = entry;
    }
    if (victim === undefined) return false;
    this.#logger.debug({limit: this.#maxConnections}, 'IPC connection cap reached: closing the connection idle longest');
    victim[0].destroy();
    this.#connections.delete(victim[0]);
    return true;
  }

  /** The reply frame to a request frame. Never rejects. */
  async #serve(frame: Buffer, signal: AbortSignal): Promise<string> {
    const decoded = decodeRequest(frame);
    const reply = decoded.ok ? await this.#dispatch(decoded.value, signal) : errorReply(decoded.id, decoded.code, decoded.message);
    return this.#encode(reply);
  }

  async #dispatch(request: IpcRequest, signal: AbortSignal): Promise<IpcResponse> {
    const {id, method} = request;
    // hasOwn: a method named "constructor" or "__proto__" must not reach Object.prototype.
    const handler: IpcHandler<IpcMethod> | undefined = Object.hasOwn(this.#handlers, method) ? this.#handlers[method as IpcMethod] : undefined;
    if (handler === undefined) {
      return errorReply(id, IPC_ERROR_CODES.unknownMethod, `this daemon does not serve the IPC method '${method}'; use the wgmesh CLI that came with the daemon`);
    }
    try {
      const result: unknown = await handler(request.params ?? {}, {signal});
      return {v: IPC_PROTOCOL_VERSION, id, ok: true, result};
    } catch (error) {
      if (error instanceof WgmeshError) return failure(id, error);
      this.#logger.error({err: error, method}, 'IPC handler failed');
      return errorReply(id, IPC_ERROR_CODES.internal, `the daemon failed to handle ${method} (an internal error; its log has the details)`);
    }
  }

  /** A reply as a frame, within the frame limit (an INTERNAL error frame when it cannot be). */
  #encode(reply: IpcResponse): string {
    let text: string;
    try {
      text = encodeFrame(reply);
    } catch (error) {
      this.#logger.error({err: error}, 'IPC reply cannot be encoded as JSON');
      text = encodeFrame(errorReply(reply.id, IPC_ERROR_CODES.internal, 'the daemon could not encode its reply'));
    }
    if (Buffer.byteLength(text) > MAX_RESPONSE_BYTES + 1) {
      this.#logger.error({bytes: Buffer.byteLength(text)}, 'IPC reply is over the frame limit');
      text = encodeFrame(errorReply(reply.id, IPC_ERROR_CODES.internal, `the reply is over the ${MAX_RESPONSE_BYTES}-byte limit`));
    }
    return text;
  }
}

function failure(id: IpcId, error: WgmeshError): IpcResponse {
  return errorReply(id, error.code, error.message);
}

/** Set the process umask, returning the old one; `undefined` where it cannot be set (worker threads). */
function setUmask(mask: number): number | undefined {
  try {
    return process.umask(mask);
  } catch {
    return undefined;
  }
}
