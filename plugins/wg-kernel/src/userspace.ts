/**
 * wireguard-go (or another userspace WireGuard) as a supervised child: started
 * in the foreground (`-f NAME`), ready once its UAPI socket accepts
 * connections, stopped with SIGTERM (SIGKILL if it does not go), and reported
 * when it dies on its own.
 *
 * UAPI sockets live in one directory shared by every network namespace of the
 * host, which is how the driver tells that a name is taken in another
 * namespace and why interface names must be unique per host.
 */
import type {ChildProcess} from 'node:child_process';
import {unlink} from 'node:fs/promises';
import {connect, type Socket} from 'node:net';
import {createInterface} from 'node:readline';
import {setTimeout as delay} from 'node:timers/promises';
import {WgDriverError, type Logger} from '@wgmesh/core';
import {firstLine, missingToolMessage, permissionMessage, type CommandRunner} from './runner.js';

/** Where `wg` and wireguard-go put UAPI sockets (compiled into both). */
export const UAPI_DIR = '/var/run/wireguard';

/** The UAPI socket of interface `name`. */
export function uapiSocketPath(name: string): string {
  return `${UAPI_DIR}/${name}.sock`;
}

/**
 * How long a process that accepted a UAPI connection may take to answer
 * `get=1` and still count as serving it without an answer: a busy process is
 * not a dead one, and a socket taken for dead is removed.
 */
const UAPI_ANSWER_MS = 2_000;
/** Bytes kept of an answer while looking for its end (a `get` lists every peer; only the last line matters). */
const ANSWER_TAIL = 64;

/**
 * Connect to the UAPI socket of `name` and ask `get=1`. Resolves with the
 * connection once the process answers (or, connected, has not within
 * `answerMs`), undefined when nothing accepts or the connection closes
 * unanswered: a process being killed keeps its listening socket for a moment
 * after its other descriptors closed, and accepts connections it never reads.
 * The caller owns the connection; it stays usable (wireguard-go serves a
 * connection until its client closes it).
 */
export function askUapi(name: string, answerMs = UAPI_ANSWER_MS): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect(uapiSocketPath(name));
    let connected = false;
    let tail = '';
    const settle = (answered: boolean): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (answered) return resolve(socket);
      socket.destroy();
      resolve(undefined);
    };
    const onData = (chunk: Buffer): void => {
      tail = (tail + chunk.toString('latin1')).slice(-ANSWER_TAIL);
      if (/errno=-?\d+\n\n$/.test(tail)) settle(true);
    };
    const onClose = (): void => settle(false);
    const timer = setTimeout(() => settle(connected), answerMs);
    socket.once('connect', () => {
      connected = true;
      socket.write('get=1\n\n');
    });
    socket.on('data', onData);
    socket.on('close', onClose);
    // An error is followed by 'close'.
    socket.on('error', () => undefined);
  });
}

/** True when a process serves the UAPI socket of `name` (it answers a `get`; see {@link askUapi}). */
export async function uapiIsLive(name: string): Promise<boolean> {
  const socket = await askUapi(name);
  socket?.destroy();
  return socket !== undefined;
}

/** Remove the UAPI socket of `name` unless a live process serves it; true when none is left. */
export async function removeStaleSocket(name: string): Promise<boolean> {
  if (await uapiIsLive(name)) return false;
  await unlink(uapiSocketPath(name)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw new WgDriverError(`could not remove the stale UAPI socket ${uapiSocketPath(name)}: ${error.message}`);
  });
  return true;
}

/**
 * Poll `probe` until it returns true, at most `timeoutMs`. The conditions
 * waited for here (a socket accepting, a port bound) have no event to wait on
 * from another process, so a short poll with a hard bound is the wait.
 */
export async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let interval = 5; ; interval = Math.min(interval * 2, 50)) {
    signal?.throwIfAborted();
    if (await probe()) return true;
    if (Date.now() >= deadline) return false;
    await delay(interval, undefined, signal ? {signal} : undefined);
  }
}

/** Which userspace implementation to run and where that choice came from (for error messages). */
export interface UserspaceImplementation {
  /** Command or path. */
  command: string;
  /** Where it was configured; `default` means plain `wireguard-go` from PATH. */
  source: 'default' | 'environment' | 'config';
}

/** Options of {@link UserspaceProcess}. */
export interface UserspaceProcessOptions {
  /** The interface it serves. */
  name: string;
  /** What to run. */
  implementation: UserspaceImplementation;
  /** Starts it (in the driver's namespace). */
  runner: CommandRunner;
  /** Gets its log lines (debug) and errors (warn). */
  logger: Logger;
  /** Bound on the wait for the UAPI socket. */
  startTimeoutMs: number;
  /** Bound on the wait for the process to exit after SIGTERM, before SIGKILL. */
  stopTimeoutMs: number;
  /** Called once when the process exits without having been asked to. */
  onUnexpectedExit(description: string): void;
}

/** Strip wireguard-go's `LEVEL: (iface) date time ` prefix from a log line. */
function logText(line: string): string {
  return line.replace(/^[A-Z]+: \([^)]*\) \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /, '').trim();
}

/** One supervised userspace WireGuard process serving one interface. */
export class UserspaceProcess {
  private readonly options: UserspaceProcessOptions;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private exitDescription: string | undefined;
  private spawnError: NodeJS.ErrnoException | undefined;
  /** The last lines it printed, for error messages. */
  private readonly lastLines: string[] = [];
  private stopping = false;
  private detached = false;
  /** Set once the UAPI socket answered: an exit before that is a start failure, after it an unexpected death. */
  private ready = false;

  constructor(options: UserspaceProcessOptions) {
    this.options = options;
  }

  /** Process id while running. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** True from start until the process exits. */
  get running(): boolean {
    return this.child !== undefined && this.exitDescription === undefined && this.spawnError === undefined;
  }

  /**
   * Start the process and wait until its UAPI socket accepts connections.
   * @throws WgDriverError naming what to install or which permission is missing when it cannot start.
   */
  async start(signal?: AbortSignal): Promise<void> {
    const {name, implementation, runner, logger} = this.options;
    // WG_PROCESS_FOREGROUND: we are its supervisor, so no daemonising and no
    // "you should use the kernel module" banner on stderr.
    const child = runner.spawn(implementation.command, ['-f', name], {env: {WG_PROCESS_FOREGROUND: '1'}});
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('error', (error: NodeJS.ErrnoException) => {
        this.spawnError = error;
        resolve();
      });
      child.once('exit', (code, exitSignal) => {
        this.exitDescription = exitSignal ? `killed by ${exitSignal}` : `exit code ${code ?? 'unknown'}`;
        if (!this.stopping && !this.detached && this.ready) this.options.onUnexpectedExit(this.describeExit());
        resolve();
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({input: stream}).on('line', (line) => {
        this.lastLines.push(line);
        if (this.lastLines.length > 20) this.lastLines.shift();
        const text = logText(line);
        if (text.length === 0) return;
        // Its log never carries key material; errors are worth seeing at warn.
        if (line.startsWith('ERROR')) logger.warn({interface: name, pid: child.pid}, `wireguard-go: ${text}`);
        else logger.debug({interface: name, pid: child.pid}, `wireguard-go: ${text}`);
      });
    }
    let exitedEarly = false;
    void this.exited.then(() => {
      exitedEarly = true;
    });
    const ready = await waitUntil(async () => exitedEarly || (await uapiIsLive(name)), this.options.startTimeoutMs, signal).catch(async (error: unknown) => {
      await this.stop();
      throw error;
    });
    if (exitedEarly || !this.running) {
      // Let the output streams drain, so the error can quote the last line.
      await this.exited;
      await delay(0);
      throw this.startFailure();
    }
    if (!ready) {
      await this.stop();
      throw new WgDriverError(`${implementation.command} did not open ${uapiSocketPath(name)} within ${this.options.startTimeoutMs} ms`);
    }
    this.ready = true;
    logger.debug({interface: name, pid: child.pid, implementation: implementation.command}, 'userspace WireGuard started');
  }

  /** The error for a process that exited (or never started) before it was ready. */
  private startFailure(): WgDriverError {
    const {name, implementation} = this.options;
    const tool = implementation.source === 'default' ? 'wireguard-go' : implementation.command;
    const missing = (): WgDriverError =>
      implementation.source === 'default'
        ? new WgDriverError(missingToolMessage('wireguard-go'))
        : new WgDriverError(
            `the userspace WireGuard implementation '${implementation.command}' (from ${implementation.source === 'environment' ? 'WG_USERSPACE_IMPLEMENTATION' : 'the kernel.userspaceImplementation setting'}) was not found`,
          );
    if (this.spawnError?.code === 'ENOENT') return missing();
    if (this.spawnError?.code === 'EACCES') return new WgDriverError(`${tool} is not executable by this user`);
    if (this.spawnError) return new WgDriverError(`could not start ${tool}: ${this.spawnError.message}`);
    const output = this.lastLines.map(logText).join('\n');
    if (/exec of "[^"]+" failed: No such file or directory/.test(output)) return missing();
    const errorLine = firstLine(this.lastLines.filter((line) => line.startsWith('ERROR')).map(logText).join('\n')) || firstLine(output);
    if (/operation not permitted|permission denied/i.test(errorLine)) return new WgDriverError(permissionMessage(`${tool} said: ${errorLine}`));
    if (/Failed to create TUN device: no such file or directory/i.test(errorLine)) {
      return new WgDriverError(`${tool} could not create interface ${name}: /dev/net/tun is missing (modprobe tun, or give the container the device)`);
    }
    if (/UAPI listen error|address already in use/i.test(errorLine)) {
      return new WgDriverError(`interface name ${name} is already used by another userspace WireGuard process on this host (its UAPI socket ${uapiSocketPath(name)} is live)`);
    }
    return new WgDriverError(`${tool} exited while creating interface ${name} (${this.describeExit()})${errorLine ? `: ${errorLine}` : ''}`);
  }

  /** `exit code N` / `killed by SIG` and its last error line. */
  describeExit(): string {
    const errorLine = firstLine(this.lastLines.filter((line) => line.startsWith('ERROR')).map(logText).reverse().join('\n'));
    return `${this.exitDescription ?? 'still running'}${errorLine ? `; last error: ${errorLine}` : ''}`;
  }

  /** Stop the process: SIGTERM, then SIGKILL after the stop timeout. Resolves once it has exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || !this.running) return this.exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), this.options.stopTimeoutMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stop supervising but leave the process running (the driver was closed and
   * interfaces stay): no more exit reports, and nothing of it keeps this
   * process's event loop alive.
   */
  detach(): void {
    this.detached = true;
    const child = this.child;
    if (!child) return;
    child.unref();
    for (const stream of [child.stdout, child.stderr]) (stream as {unref?: () => void} | null)?.unref?.();
  }
}
