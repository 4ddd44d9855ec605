/**
 * A userspace WireGuard process this driver did not start (an earlier daemon
 * did, and was killed), supervised without being its parent: a connection to
 * its UAPI socket is held open, idle, once the process answered a `get` on
 * it. wireguard-go serves every UAPI connection until its client closes it,
 * and the kernel closes the connection when the process exits, whatever the
 * cause (a signal, a crash, its TUN link deleted). So the end of the
 * connection is taken as the end of the process, after one more dial of the
 * socket: a process that still answers closed only this connection, and is
 * watched again (a dying one may still accept for a moment, but answers nothing).
 */
import type {Socket} from 'node:net';
import {WgDriverError} from '@wgmesh/core';
import {askUapi, uapiSocketPath} from './userspace.js';

/** A watch connection that closes within this long of being opened, while the process still answers, is not opened again: the process is reported gone. */
const REWATCH_MIN_MS = 1_000;

/** Options of {@link AdoptedProcess}. */
export interface AdoptedProcessOptions {
  /** The interface it serves. */
  name: string;
  /** Called once when the process is gone without having been asked to. */
  onUnexpectedExit(description: string): void;
}

/** Open an idle connection to the UAPI socket of `name`, once its process answered on it. @throws WgDriverError when nothing serves it */
async function openWatch(name: string): Promise<Socket> {
  const socket = await askUapi(name);
  if (!socket) throw new WgDriverError(`cannot watch the userspace WireGuard process of ${name}: nothing serves ${uapiSocketPath(name)}`);
  // A watch never keeps the daemon's event loop alive by itself.
  socket.unref();
  return socket;
}

/** One adopted userspace WireGuard process, watched through its UAPI socket. */
export class AdoptedProcess {
  private readonly options: AdoptedProcessOptions;
  private socket: Socket | undefined;
  private openedAt = 0;
  /** Set by stop/detach: the end of the connection is then expected. */
  private ended = false;

  constructor(options: AdoptedProcessOptions) {
    this.options = options;
  }

  /** Its process id is not known (it is no child of this process). */
  get pid(): undefined {
    return undefined;
  }

  /** True while the watch connection is open. */
  get running(): boolean {
    return this.socket !== undefined;
  }

  /** Start watching. @throws WgDriverError when nothing serves its UAPI socket */
  async start(): Promise<void> {
    const socket = await openWatch(this.options.name);
    if (this.ended) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    this.openedAt = Date.now();
    // Its closing is what matters; an error (ECONNRESET) is followed by it.
    socket.on('error', () => undefined);
    if (socket.closed) void this.closed(socket);
    else socket.once('close', () => void this.closed(socket));
  }

  private async closed(socket: Socket): Promise<void> {
    if (this.socket !== socket) return;
    this.socket = undefined;
    if (this.ended) return;
    if (Date.now() - this.openedAt >= REWATCH_MIN_MS) {
      try {
        await this.start();
        return;
      } catch {
        // Nothing accepts any more: the process is gone.
      }
    }
    if (!this.ended) this.options.onUnexpectedExit('its UAPI socket closed: the process exited, or its link was deleted');
  }

  /** Stop watching (the process itself is left alone: it exits once its link is deleted). */
  async stop(): Promise<void> {
    this.detach();
  }

  /** Stop watching; nothing is reported any more. */
  detach(): void {
    this.ended = true;
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
  }
}
