/**
 * The CLI's end of the IPC socket. One client keeps one connection (opened on
 * the first call) and may have several calls in flight on it; replies are
 * matched by id. Every failure is a named error whose message tells the user
 * what to do: no daemon, no permission, no answer in time, or the daemon's own
 * error, rebuilt into its class from its code ({@link errorFromWire}).
 */
import {connect, type Socket} from 'node:net';
import {MAX_SOCKET_PATH_BYTES, socketPathFits} from '../config/paths.js';
import {DaemonNotRunningError, errorFromWire, IpcError, IpcPermissionError, type WgmeshError} from '../errors.js';
import type {IpcMethod, IpcMethods} from './methods.js';
import {FrameSplitter, IPC_PROTOCOL_VERSION, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, decodeResponse, encodeFrame, type IpcResponse} from './frame.js';

/** Options of {@link IpcClient}. */
export interface IpcClientOptions {
  /** How long one call may wait for its reply, connecting included (default 30 s). */
  timeoutMs?: number;
}

/** Options of one {@link IpcClient.call}. */
export interface IpcCallOptions {
  /** Overrides the client's timeout for this call. */
  timeoutMs?: number;
  /** Gives up waiting (the daemon may still finish the work). */
  signal?: AbortSignal;
}

/** Default time a call may take. Generous: `mesh join` waits on the network. */
export const DEFAULT_IPC_TIMEOUT_MS = 30_000;

interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** A connection to a daemon's IPC socket. */
export class IpcClient {
  readonly #socketPath: string;
  readonly #timeoutMs: number;
  #socket: Promise<Socket> | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  /** The calls written on each connection: when one dies, exactly its calls fail. */
  readonly #inFlight = new WeakMap<Socket, Set<number>>();

  /** @param socketPath the daemon's socket (see `resolveSocketPath`). */
  constructor(socketPath: string, options: IpcClientOptions = {}) {
    this.#socketPath = socketPath;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_IPC_TIMEOUT_MS;
  }

  /** The socket this client dials. */
  get socketPath(): string {
    return this.#socketPath;
  }

  /**
   * Call a method and wait for its result.
   * @throws DaemonNotRunningError when nothing listens on the socket.
   * @throws IpcPermissionError when this user may not connect.
   * @throws the daemon's error, rebuilt into its class from its code (a RemoteError for a code this build does not know), when the daemon answers with an error.
   * @throws IpcError on a timeout, a broken connection or a malformed reply.
   */
  async call<M extends IpcMethod>(method: M, params: IpcMethods[M]['params'], options: IpcCallOptions = {}): Promise<IpcMethods[M]['result']> {
    const id = this.#nextId++;
    const text = encodeFrame({v: IPC_PROTOCOL_VERSION, id, method, params});
    if (Buffer.byteLength(text) > MAX_REQUEST_BYTES + 1) throw new IpcError(`the ${method} request is over the ${MAX_REQUEST_BYTES}-byte IPC frame limit`);
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const {signal} = options;
    signal?.throwIfAborted();

    const answer = new Promise<unknown>((resolve, reject) => this.#pending.set(id, {method, resolve, reject}));
    const timer = setTimeout(() => {
      this.#settle(id, new IpcError(`the wgmesh daemon at ${this.#socketPath} did not answer ${method} within ${timeoutMs} ms; check its log, or retry with a longer timeout`));
    }, timeoutMs);
    const onAbort = () => this.#settle(id, signal?.reason instanceof Error ? signal.reason : new IpcError(`${method} was cancelled`));
    signal?.addEventListener('abort', onAbort, {once: true});
    try {
      this.#connected()
        .then((socket) => {
          if (!this.#pending.has(id) || socket.destroyed) return;
          this.#inFlight.get(socket)?.add(id);
          socket.ref();
          socket.write(text);
        })
        .catch((error: Error) => this.#settle(id, error));
      // The daemon's result is trusted to match its method: it comes over a 0600 socket
      // from the daemon this CLI was built with, and the frame around it is validated.
      return (await answer) as IpcMethods[M]['result'];
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Close the connection; calls still waiting fail with an {@link IpcError}. */
  close(): void {
    const socket = this.#socket;
    this.#socket = undefined;
    this.#failAll(new IpcError('the IPC client was closed before the daemon answered'));
    socket?.then((s) => s.destroy()).catch(() => undefined);
  }

  /** Resolve or reject one pending call, once. */
  #settle(id: number, outcome: {ok: true; value: unknown} | Error): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome.value);
    this.#unrefWhenIdle();
  }

  #failAll(error: Error, ids: Iterable<number> = this.#pending.keys()): void {
    for (const id of [...ids]) this.#settle(id, error);
  }

  // An idle connection must not keep the CLI's process alive if it forgets close().
  #unrefWhenIdle(): void {
    if (this.#pending.size > 0) return;
    this.#socket?.then((s) => s.unref()).catch(() => undefined);
  }

  #connected(): Promise<Socket> {
    this.#socket ??= this.#open();
    return this.#socket;
  }

  #open(): Promise<Socket> {
    if (!socketPathFits(this.#socketPath)) {
      return Promise.reject(new IpcError(`the socket path ${this.#socketPath} is over the ${MAX_SOCKET_PATH_BYTES}-byte limit of a Unix socket; choose a shorter --socket`));
    }
    const opening: Promise<Socket> = new Promise<Socket>((resolve, reject) => {
      const socket = connect(this.#socketPath);
      socket.once('error', (error) => reject(connectError(this.#socketPath, error)));
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        this.#attach(socket, () => {
          if (this.#socket === opening) this.#socket = undefined;
        });
        resolve(socket);
      });
    });
    // A failed connect is forgotten so that the next call dials again.
    opening.catch(() => {
      if (this.#socket === opening) this.#socket = undefined;
    });
    return opening;
  }

  /** Wire up a connected socket; `forget` makes the next call dial a new connection. */
  #attach(socket: Socket, forget: () => void): void {
    const splitter = new FrameSplitter(MAX_RESPONSE_BYTES);
    const ids = new Set<number>();
    this.#inFlight.set(socket, ids);
    let dead = false;
    const drop = (error: WgmeshError | undefined) => {
      if (dead) return;
      dead = true;
      forget();
      if (error !== undefined) this.#failAll(error, ids);
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      for (const frame of splitter.push(chunk)) {
        if (dead) return;
        const decoded = decodeResponse(frame);
        if (!decoded.ok) return drop(new IpcError(`the wgmesh daemon at ${this.#socketPath} sent a reply this CLI cannot read: ${decoded.message}`));
        this.#onReply(decoded.value, ids);
      }
      if (splitter.overflowed) drop(new IpcError(`the wgmesh daemon at ${this.#socketPath} sent a reply over the ${MAX_RESPONSE_BYTES}-byte limit`));
    });
    socket.on('error', (error) => drop(new IpcError(`the connection to the wgmesh daemon at ${this.#socketPath} failed: ${error.message}`, {cause: error})));
    socket.on('close', () => {
      const waiting = [...ids].flatMap((id) => this.#pending.get(id)?.method ?? []);
      if (waiting.length === 0) return drop(undefined);
      const methods = [...new Set(waiting)].join(', ');
      drop(new IpcError(`the wgmesh daemon at ${this.#socketPath} closed the connection before answering ${methods} (did it stop? see its log)`));
    });
  }

  #onReply(reply: IpcResponse, ids: Set<number>): void {
    if (reply.id === null) {
      // A complaint about the connection itself (e.g. a frame it could not read): every call on it is lost.
      if (!reply.ok) this.#failAll(errorFromWire(reply.error.code, reply.error.message), ids);
      return;
    }
    // Ids are ours and numeric; anything else (or a reply after a timeout) answers nothing pending.
    if (typeof reply.id !== 'number' || !ids.has(reply.id)) return;
    ids.delete(reply.id);
    this.#settle(reply.id, reply.ok ? {ok: true, value: reply.result} : errorFromWire(reply.error.code, reply.error.message));
  }
}

/** The error a CLI user should see when dialling `socketPath` failed with `error`. */
export function connectError(socketPath: string, error: Error): WgmeshError {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
    case 'ENOTDIR':
      return new DaemonNotRunningError(socketPath);
    case 'EACCES':
    case 'EPERM':
      return new IpcPermissionError(socketPath);
    default:
      return new IpcError(`cannot connect to the wgmesh daemon at ${socketPath}: ${error.message}`, {cause: error});
  }
}
