/**
 * Attacks on a daemon's control port for the hostile tests, each bounded in
 * count and time and torn down on request: idle TCP connections that never
 * start TLS, TLS handshakes without a client certificate, and a hostile member
 * run in a child process (member-attacker-process.js).
 */
import {fork, type ChildProcess} from 'node:child_process';
import {setMaxListeners} from 'node:events';
import {connect, type Socket} from 'node:net';
import {join} from 'node:path';
import {connect as tlsConnect, type ConnectionOptions} from 'node:tls';

/** Where the attacker's sockets come from and where they go. */
export interface SocketTarget {
  host: string;
  port: number;
  /** Local address to bind (a loopback alias such as 127.0.0.2 keeps the attacker apart from the members on 127.0.0.1). */
  localAddress: string;
}

/** Connections that were opened and then left silent. */
export interface IdleFlood {
  /** Connections whose TCP handshake completed. */
  readonly connected: number;
  /** Attempts that failed or did not connect in time. */
  readonly failed: number;
  /** Connected sockets the daemon has closed since. */
  closedByPeer(): number;
  /** How long (ms) each socket the daemon closed had been connected, in the order they closed. */
  closedByPeerAfterMs(): readonly number[];
  /** Connected sockets still open. */
  open(): number;
  /** Close every socket (safe to call again). */
  close(): void;
}

/**
 * Open `count` TCP connections to `target`, `batch` at a time, and send
 * nothing on them (no TLS ClientHello). Each attempt gives up after
 * `connectTimeoutMs`. The sockets stay open until {@link IdleFlood.close}
 * or until the daemon closes them.
 */
export async function openIdleConnections(target: SocketTarget, count: number, batch = 100, connectTimeoutMs = 5_000): Promise<IdleFlood> {
  const sockets = new Set<Socket>();
  let connected = 0;
  let failed = 0;
  const closedByPeerAfterMs: number[] = [];
  let closing = false;
  const close = (): void => {
    closing = true;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  const attempt = () =>
    new Promise<void>((resolve) => {
      const socket = connect({host: target.host, port: target.port, localAddress: target.localAddress});
      let isConnected = false;
      let connectedAt = 0;
      const timer = setTimeout(() => socket.destroy(), connectTimeoutMs);
      socket.on('error', () => undefined);
      socket.once('connect', () => {
        clearTimeout(timer);
        isConnected = true;
        connectedAt = Date.now();
        connected++;
        sockets.add(socket);
        resolve();
      });
      socket.once('close', () => {
        clearTimeout(timer);
        if (isConnected) {
          sockets.delete(socket);
          if (!closing) closedByPeerAfterMs.push(Date.now() - connectedAt);
        } else {
          failed++;
          resolve();
        }
      });
    });
  try {
    for (let started = 0; started < count; started += batch) {
      await Promise.all(Array.from({length: Math.min(batch, count - started)}, attempt));
    }
  } catch (error) {
    close();
    throw error;
  }
  return {connected, failed, closedByPeer: () => closedByPeerAfterMs.length, closedByPeerAfterMs: () => closedByPeerAfterMs, open: () => sockets.size, close};
}

/** What became of a run of TLS handshakes without a client certificate. */
export interface HandshakeFlood {
  /** Handshakes started. */
  attempted: number;
  /** Handshakes the client saw complete (TLS 1.3 completes before the server checks the client's certificate). */
  completed: number;
  /** Of those, connections the daemon closed within the attempt's time limit (refused after checking). */
  closedAfterHandshake: number;
  /** Attempts cut by the attempt's time limit. */
  timedOut: number;
  /** Failures before the handshake completed, by error code. */
  errors: Record<string, number>;
}

/**
 * Run `count` TLS handshakes against `target` without a client certificate,
 * `concurrency` at a time, each waiting up to `attemptTimeoutMs` for the
 * daemon to close the connection. No new attempt starts after `deadline`
 * (ms since the epoch) or once `signal` is aborted; every socket is closed
 * when this resolves.
 */
export async function runBareTlsHandshakes(
  target: SocketTarget,
  options: {count: number; concurrency: number; attemptTimeoutMs: number; deadline: number; signal: AbortSignal},
): Promise<HandshakeFlood> {
  const result: HandshakeFlood = {attempted: 0, completed: 0, closedAfterHandshake: 0, timedOut: 0, errors: {}};
  // Each attempt in flight listens for the abort.
  setMaxListeners(options.concurrency + 10, options.signal);
  const attempt = () =>
    new Promise<void>((resolve) => {
      let handshook = false;
      let failure: string | undefined;
      let settled = false;
      // tls.connect takes the options of net.connect too (localAddress), which its type does not list.
      const connection: ConnectionOptions & {localAddress: string} = {
        host: target.host,
        port: target.port,
        localAddress: target.localAddress,
        servername: 'wgmesh.invalid',
        ALPNProtocols: ['h2'],
        rejectUnauthorized: false,
      };
      const socket = tlsConnect(connection);
      const finish = (outcome: 'closed' | 'timeout' | 'aborted') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal.removeEventListener('abort', onAbort);
        if (outcome === 'timeout') result.timedOut++;
        else if (outcome === 'closed' && handshook) result.closedAfterHandshake++;
        else if (outcome === 'closed') {
          const code = failure ?? 'closed before the handshake';
          result.errors[code] = (result.errors[code] ?? 0) + 1;
        }
        socket.destroy();
        resolve();
      };
      const onAbort = () => finish('aborted');
      const timer = setTimeout(() => finish('timeout'), options.attemptTimeoutMs);
      options.signal.addEventListener('abort', onAbort, {once: true});
      socket.once('secureConnect', () => {
        handshook = true;
        result.completed++;
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (!handshook) failure ??= error.code ?? error.message;
      });
      socket.once('close', () => finish('closed'));
    });
  const worker = async () => {
    while (result.attempted < options.count && Date.now() < options.deadline && !options.signal.aborted) {
      result.attempted++;
      await attempt();
    }
  };
  await Promise.all(Array.from({length: options.concurrency}, worker));
  return result;
}

/** Options of the member attacker (see member-attacker-process.js for each). */
export interface MemberAttackerOptions {
  endpoint: string;
  meshId: string;
  dataDir: string;
  messagesPerRound: number;
  syncsPerRound: number;
  maxFrameRounds: number;
  oversizedBytes: number;
  badEntries: number;
  badSessions: number;
  windowMs: number;
  timeoutMs: number;
}

/** Frames of one kind the member sent, and what became of them ('answered', or the code or gRPC status each ended with). */
export interface FrameReport {
  sent: number;
  /** Payload bytes sent. */
  bytes: number;
  outcomes: Record<string, number>;
}

/** One bad sync session: how it ended (the wgmesh error code A refused it with, or 'completed') and what the member's session counted. */
export interface BadSyncReport {
  ms: number;
  code: string;
  messagesSent: number;
  bytesSent: number;
  bytesReceived: number;
  /** The error it ended with (code and message), when it did not complete. */
  error?: string;
}

/** What the member attacker reports at the end. */
export interface MemberAttackReport {
  frames: {maximalMessages: FrameReport; maximalSyncs: FrameReport; oversizedMessages: FrameReport; oversizedSyncs: FrameReport; rounds: number};
  syncs: BadSyncReport[];
}

type AttackerMessage = {type: 'member'; nodeId: string} | {type: 'ready'; buildMs: number} | ({type: 'done'} & MemberAttackReport) | {type: 'failed'; error: string};

/**
 * A hostile member in a child process: it pushes its own record to the
 * target, builds its entries, then on {@link MemberAttacker.attack} sends
 * maximal and oversized frames and bad sync sessions. {@link MemberAttacker.kill} ends
 * it at any point (safe to call again).
 */
export class MemberAttacker {
  private readonly child: ChildProcess;
  private readonly messages: AttackerMessage[] = [];
  private output = '';

  private constructor(child: ChildProcess) {
    this.child = child;
    child.on('message', (message: AttackerMessage) => this.messages.push(message));
    child.stdout?.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-4_000)));
    child.stderr?.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-4_000)));
  }

  /**
   * Start the child: it pushes its own record to the target and resolves
   * with its node id once it has (within `timeoutMs`); then it builds its
   * entries (see {@link MemberAttacker.ready}).
   */
  static async start(options: MemberAttackerOptions, timeoutMs: number): Promise<{attacker: MemberAttacker; nodeId: string}> {
    const child = fork(join(import.meta.dirname, 'member-attacker-process.js'), [], {execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc']});
    const attacker = new MemberAttacker(child);
    try {
      child.send({type: 'prepare', options});
      return {attacker, nodeId: (await attacker.next('member', timeoutMs)).nodeId};
    } catch (error) {
      attacker.kill();
      throw error;
    }
  }

  /** Wait (up to `timeoutMs`) until its entries are built; resolves with the time that took. */
  async ready(timeoutMs: number): Promise<number> {
    return (await this.next('ready', timeoutMs)).buildMs;
  }

  /** Start the attack; resolves with the report (or rejects) within `timeoutMs`. */
  async attack(timeoutMs: number): Promise<MemberAttackReport> {
    this.child.send({type: 'attack'});
    const {frames, syncs} = await this.next('done', timeoutMs);
    return {frames, syncs};
  }

  /** Kill the child (SIGKILL) if it still runs. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private async next<T extends AttackerMessage['type']>(type: T, timeoutMs: number): Promise<Extract<AttackerMessage, {type: T}>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((message) => message.type === type || message.type === 'failed');
      if (found?.type === 'failed') throw new Error(`the member attacker failed: ${found.error}\n${this.output}`);
      if (found) return found as Extract<AttackerMessage, {type: T}>;
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`the member attacker exited (${this.child.exitCode ?? this.child.signalCode}) before '${type}':\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`the member attacker did not report '${type}' within ${timeoutMs} ms:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
