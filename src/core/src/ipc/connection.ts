/**
 * One client connection of the IPC server, with its flow control: at most
 * {@link IpcConnectionLimits.maxInFlight} requests are handled at once, and
 * the connection is not read while requests wait or while the replies the
 * client has not read exceed {@link IpcConnectionLimits.maxUnreadBytes}. A
 * client that pipelines requests without reading the replies therefore costs
 * a bounded amount of memory: the kernel's socket buffers fill and its writes
 * block. A connection without a request being handled and without any
 * progress for {@link IpcConnectionLimits.idleTimeoutMs} is closed.
 */
import type {Socket} from 'node:net';
import type {Logger} from '../contracts/logger.js';
import {IpcError} from '../errors.js';

/** Limits of one IPC connection. */
export interface IpcConnectionLimits {
  /** Requests of one connection handled at once; later ones wait, and the connection is not read meanwhile. */
  maxInFlight: number;
  /** Reply bytes written but not yet taken by the client above which the connection is not read. */
  maxUnreadBytes: number;
  /** Close the connection after this long without reads or writes while no request is being handled. */
  idleTimeoutMs: number;
}

/** Answers one request frame with the reply frame to write (never rejects). */
export type IpcFrameHandler = (frame: Buffer, signal: AbortSignal) => Promise<string>;

/** A connection's request queue, handlers in flight, and idle tracking. */
export class IpcConnection {
  /** Aborted when the connection closes: handlers stop work nobody will read. */
  readonly abort = new AbortController();
  readonly #socket: Socket;
  readonly #limits: IpcConnectionLimits;
  readonly #handle: IpcFrameHandler;
  readonly #queue: Buffer[] = [];
  #inFlight = 0;
  #lastActive = Date.now();

  constructor(socket: Socket, limits: IpcConnectionLimits, handle: IpcFrameHandler, logger: Logger) {
    this.#socket = socket;
    this.#limits = limits;
    this.#handle = handle;
    socket.setTimeout(limits.idleTimeoutMs);
    socket.on('timeout', () => {
      // Activity (a read, or a write the client took) re-arms the timer; a handler still running keeps the connection.
      if (this.#inFlight > 0) return;
      logger.debug({idleTimeoutMs: limits.idleTimeoutMs, unreadBytes: socket.writableLength}, 'closing an idle IPC connection');
      socket.destroy();
    });
    socket.on('drain', () => this.#pump());
    socket.on('close', () => this.abort.abort(new IpcError('the client disconnected')));
  }

  /** True while no request of this connection is being handled (it may be closed to make room for another). */
  get idle(): boolean {
    return this.#inFlight === 0;
  }

  /** When a request last arrived or a reply was written (ms since the epoch). */
  get lastActive(): number {
    return this.#lastActive;
  }

  /** Queue request frames just received and handle what the limits allow. */
  receive(frames: readonly Buffer[]): void {
    this.#lastActive = Date.now();
    this.#queue.push(...frames);
    this.#pump();
  }

  /** Start queued requests while the limits allow, and read the socket only when nothing waits. */
  #pump(): void {
    const socket = this.#socket;
    if (socket.destroyed) return;
    while (this.#queue.length > 0 && this.#inFlight < this.#limits.maxInFlight && socket.writableLength <= this.#limits.maxUnreadBytes) {
      const frame = this.#queue.shift()!;
      this.#inFlight++;
      void this.#handle(frame, this.abort.signal).then((reply) => {
        this.#inFlight--;
        this.#lastActive = Date.now();
        if (socket.writable) socket.write(reply);
        this.#pump();
      });
    }
    if (this.#queue.length > 0 || socket.writableLength > this.#limits.maxUnreadBytes) socket.pause();
    else if (socket.isPaused()) socket.resume();
  }
}
