/**
 * How the driver runs `ip`, `wg` and wireguard-go: argument arrays (never a
 * shell), bounded time, secrets only on stdin, and failures turned into one
 * clear line. A runner can prefix every command (e.g. `ip netns exec NS`) so a
 * test drives several namespaces from one process; tests also wrap a runner to
 * record what the driver ran.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {closeSync, existsSync, openSync, unlinkSync, writeSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {WgDriverError} from '@wgmesh/core';

/** Output beyond this is refused (a `wg show dump` of a very large mesh stays far below it). */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/**
 * A read descriptor holding `input`, for a child's stdin. Not a pipe: Node
 * gives children a socket for piped stdin, and `wg ... private-key /dev/stdin`
 * opens /proc/self/fd/0, which fails for a socket (ENXIO). So the input goes
 * into a file created exclusively with mode 0600 in RAM-backed /dev/shm
 * (where there is one) and unlinked before the child even starts: it never
 * has a name while the command runs, and never appears on a command line.
 */
function inputFile(input: string): number {
  const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const path = join(dir, `wgmesh-input-${randomBytes(12).toString('hex')}`);
  const writer = openSync(path, 'wx', 0o600);
  try {
    writeSync(writer, input);
    return openSync(path, 'r');
  } finally {
    closeSync(writer);
    unlinkSync(path);
  }
}

/** What a finished command printed. */
export interface CommandOutput {
  /** Everything it printed on stdout. */
  stdout: string;
  /** Everything it printed on stderr (warnings of a command that succeeded). */
  stderr: string;
}

/** Options of {@link CommandRunner.run}. */
export interface RunOptions {
  /** Given as stdin, readable by opening `/dev/stdin` too (how private keys reach `wg`). */
  input?: string;
  /** Kill the command after this long; default: the runner's timeout. */
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
  /** Variables added to the runner's environment for this command. */
  env?: Record<string, string>;
}

/** Options of {@link CommandRunner.spawn}. */
export interface SpawnChildOptions {
  /** Variables added to the runner's environment. */
  env?: Record<string, string>;
}

/** Runs the driver's commands. */
export interface CommandRunner {
  /**
   * Run a command to completion.
   * @throws CommandError when it cannot start, fails, or runs out of time.
   */
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandOutput>;
  /** Start a long-running child (wireguard-go) with stdout and stderr piped. */
  spawn(command: string, args: readonly string[], options?: SpawnChildOptions): ChildProcess;
}

/** Why a command failed. */
export type CommandFailureKind = 'missing' | 'permission' | 'timeout' | 'aborted' | 'failed';

/** How to install each tool the driver runs. */
const INSTALL_HINTS: Record<string, string> = {
  ip: 'apt-get install iproute2',
  wg: 'apt-get install wireguard-tools',
  'wireguard-go': 'apt-get install wireguard-go (or set WG_USERSPACE_IMPLEMENTATION)',
};

/** `X is not installed: how to install it`, for a tool that was not found. */
export function missingToolMessage(command: string): string {
  const hint = INSTALL_HINTS[command];
  return hint ? `${command} is not installed: ${hint}` : `${command} was not found: install it or fix the path`;
}

/** The permission message, with what the tool said. */
export function permissionMessage(detail: string): string {
  return `permission denied: wgmesh needs root or CAP_NET_ADMIN to configure WireGuard interfaces (${detail})`;
}

/** What `ip netns exec` (or a shell-less exec) says when the command does not exist. */
const EXEC_NOT_FOUND = /exec of "([^"]+)" failed: No such file or directory/;
/** What the tools print when they lack privileges. */
const NO_PERMISSION = /operation not permitted|permission denied/i;

/** The first non-empty line of a tool's output, trimmed and bounded. */
export function firstLine(text: string): string {
  const line = text.split('\n').find((candidate) => candidate.trim().length > 0) ?? '';
  return line.trim().slice(0, 300);
}

/** A short display form of a command (long peer lists elided). */
export function displayCommand(command: string, args: readonly string[]): string {
  const shown = args.length > 8 ? [...args.slice(0, 8), '…'] : args;
  return [command, ...shown].join(' ');
}

/**
 * A command that failed. `message` is the line to show; `stderr` and
 * `exitCode` let the driver recognise specific failures (a port in use, a
 * name that exists) and say more.
 */
export class CommandError extends WgDriverError {
  /** Why it failed. */
  readonly kind: CommandFailureKind;
  /** The command (first word) that failed. */
  readonly command: string;
  /** Its stderr (never contains secrets: keys only go in on stdin). */
  readonly stderr: string;
  /** Exit code, when it ran and exited. */
  readonly exitCode: number | null;

  constructor(kind: CommandFailureKind, command: string, message: string, details: {stderr?: string; exitCode?: number | null; cause?: unknown} = {}) {
    super(message, details.cause === undefined ? undefined : {cause: details.cause});
    this.kind = kind;
    this.command = command;
    this.stderr = details.stderr ?? '';
    this.exitCode = details.exitCode ?? null;
  }
}

/**
 * Classify a failed run: a missing binary (ENOENT, or `ip netns exec`'s
 * "exec of X failed"), missing privileges, or a plain failure.
 */
export function classifyFailure(command: string, args: readonly string[], stderr: string, exitCode: number | null, errno?: string): CommandError {
  const notFound = EXEC_NOT_FOUND.exec(stderr);
  if (errno === 'ENOENT' || notFound) {
    const missing = notFound?.[1] ?? command;
    return new CommandError('missing', missing, missingToolMessage(missing), {stderr, exitCode});
  }
  if (errno === 'EACCES') return new CommandError('permission', command, `${command} is not executable by this user`, {stderr, exitCode});
  const line = firstLine(stderr);
  if (NO_PERMISSION.test(line)) return new CommandError('permission', command, permissionMessage(`'${displayCommand(command, args)}' said: ${line}`), {stderr, exitCode});
  return new CommandError('failed', command, `'${displayCommand(command, args)}' failed: ${line || `exit code ${exitCode ?? 'unknown'}`}`, {stderr, exitCode});
}

/** Options of {@link ExecRunner}. */
export interface ExecRunnerOptions {
  /** Run every command in this network namespace (`ip netns exec NS ...`). */
  netns?: string | undefined;
  /** Run every command after this prefix (after the netns one), e.g. a privilege-dropping wrapper in tests. */
  prefix?: readonly string[] | undefined;
  /** Environment of every command (default: this process's). */
  env?: NodeJS.ProcessEnv | undefined;
  /** Default time limit of one command (default 5 s). */
  timeoutMs?: number | undefined;
}

/** The default runner: `child_process.spawn` with argument arrays, optionally inside a namespace. */
export class ExecRunner implements CommandRunner {
  private readonly prefix: string[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly timeoutMs: number;

  constructor(options: ExecRunnerOptions = {}) {
    this.prefix = [...(options.netns === undefined ? [] : ['ip', 'netns', 'exec', options.netns]), ...(options.prefix ?? [])];
    this.env = options.env ?? process.env;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** The program and arguments actually executed for `command args`. */
  private argv(command: string, args: readonly string[]): [string, string[]] {
    const all = [...this.prefix, command, ...args];
    return [all[0]!, all.slice(1)];
  }

  run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandOutput> {
    const [file, argv] = this.argv(command, args);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const shown = displayCommand(command, args);
    options.signal?.throwIfAborted();
    const stdin = options.input === undefined ? 'ignore' : inputFile(options.input);
    let child: ChildProcess;
    try {
      child = spawn(file, argv, {env: options.env ? {...this.env, ...options.env} : this.env, stdio: [stdin, 'pipe', 'pipe']});
    } finally {
      // The child has its own copy of the descriptor now.
      if (typeof stdin === 'number') closeSync(stdin);
    }
    return new Promise((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let size = 0;
      let failure: CommandError | undefined;
      const stop = (error: CommandError): void => {
        failure ??= error;
        child.kill('SIGKILL');
      };
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_OUTPUT_BYTES) stop(new CommandError('failed', command, `'${shown}' printed more than ${MAX_OUTPUT_BYTES} bytes`));
        else into.push(chunk);
      };
      child.stdout?.on('data', collect(stdout));
      child.stderr?.on('data', collect(stderr));
      const timer = setTimeout(() => stop(new CommandError('timeout', command, `'${shown}' did not finish within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = (): void => stop(new CommandError('aborted', command, `'${shown}' was aborted`));
      options.signal?.addEventListener('abort', onAbort, {once: true});
      let spawnError: NodeJS.ErrnoException | undefined;
      child.once('error', (error: NodeJS.ErrnoException) => {
        spawnError = error;
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        const out = Buffer.concat(stdout).toString('utf8');
        const err = Buffer.concat(stderr).toString('utf8');
        if (failure) return reject(failure);
        // ENOENT of the prefix itself names the prefix (e.g. `ip`), which is what is missing.
        if (spawnError) return reject(classifyFailure(spawnError.code === 'ENOENT' ? file : command, args, err, null, spawnError.code));
        if (code !== 0) return reject(classifyFailure(command, args, err, code));
        resolve({stdout: out, stderr: err});
      });
    });
  }

  spawn(command: string, args: readonly string[], options: SpawnChildOptions = {}): ChildProcess {
    const [file, argv] = this.argv(command, args);
    // A process group of its own: the SIGHUP of a closing terminal and the Ctrl-C or Ctrl-\ sent to
    // the daemon's group reach the daemon alone, which keeps its interfaces or stops them in order.
    return spawn(file, argv, {env: {...this.env, ...options.env}, stdio: ['ignore', 'pipe', 'pipe'], detached: true});
  }
}
