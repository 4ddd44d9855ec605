/**
 * Run the real `wgmesh` CLI (bin/run.js, after `npm run build`) and real daemons
 * as child processes, with every user directory pointed at a temp dir.
 */
import {execFile, spawn, type ChildProcess} from 'node:child_process';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';

/** Repository root. */
export const ROOT = resolve(import.meta.dirname, '..', '..');
/** The CLI entry point. */
export const BIN = join(ROOT, 'bin', 'run.js');

/** The result of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A sandbox: temp HOME/XDG dirs so the CLI never touches the real user's files. */
export interface Sandbox {
  dir: string;
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

/** Make a sandbox directory and the environment that confines the CLI to it. */
export async function makeSandbox(prefix = 'wgmesh-test-'): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    XDG_STATE_HOME: join(dir, 'state'),
    WGMESH_CONFIG: join(dir, 'config.yaml'),
    NO_COLOR: '1',
  };
  return {dir, env, cleanup: () => rm(dir, {recursive: true, force: true})};
}

/** Run `wgmesh ARGS` to completion. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [BIN, ...args], {env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024}, (error, stdout, stderr) => {
      const code = error ? (typeof (error as {code?: unknown}).code === 'number' ? (error as {code: number}).code : 1) : 0;
      resolvePromise({code, stdout, stderr});
    });
  });
}

/** A daemon child process. */
export interface DaemonProcess {
  child: ChildProcess;
  socket: string;
  dataDir: string;
  /** Everything it logged so far. */
  logs(): string;
  /** Resolves with the exit code when it exits. */
  exited: Promise<number | null>;
  /** Send a signal and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Options for {@link startDaemon}. */
export interface StartDaemonOptions {
  sandbox: Sandbox;
  name: string;
  args?: readonly string[];
  /** Wait for the 'daemon ready' log line (default true). */
  waitReady?: boolean;
  /**
   * A config file, passed with `--config`. The data dir and socket flags are
   * still passed (sandbox/NAME and sandbox/NAME.sock) and win over the file,
   * so a file should name the same paths (see {@link daemonPaths}).
   */
  config?: string;
  /** `--log-level` (default debug); null passes no flag, so the config decides. */
  logLevel?: string | null;
  /**
   * Run the daemon inside this network namespace (`ip netns exec NETNS node ...`).
   * `ip netns exec` execs the command rather than forking, so the child's pid
   * is the daemon's own and a signal sent to it reaches the daemon.
   */
  netns?: string;
}

/** The data dir and socket {@link startDaemon} gives the daemon NAME of a sandbox. */
export function daemonPaths(sandbox: Sandbox, name: string): {dataDir: string; socket: string} {
  return {dataDir: join(sandbox.dir, name), socket: join(sandbox.dir, `${name}.sock`)};
}

/**
 * More environment for every daemon a test starts, set by hand for a
 * measurement: WGMESH_TEST_DAEMON_ENV holds a JSON object of variables (say
 * `{"NODE_OPTIONS":"--max-semi-space-size=1"}` or glibc's MALLOC_* tunables).
 * @throws Error when it is not a JSON object of strings
 */
function extraDaemonEnv(): Record<string, string> {
  const text = process.env.WGMESH_TEST_DAEMON_ENV;
  if (text === undefined || text === '') return {};
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.values(value).some((one) => typeof one !== 'string')) {
    throw new Error('WGMESH_TEST_DAEMON_ENV must be a JSON object of strings, e.g. {"NODE_OPTIONS":"--max-semi-space-size=1"}');
  }
  return value as Record<string, string>;
}

/** Start `wgmesh daemon` with its own data dir and socket inside the sandbox; waits until it is ready. */
export async function startDaemon(options: StartDaemonOptions): Promise<DaemonProcess> {
  const {dataDir, socket} = daemonPaths(options.sandbox, options.name);
  const config = options.config === undefined ? [] : ['--config', options.config];
  const argv = [BIN, 'daemon', ...config, '--data-dir', dataDir, '--socket', socket, ...(options.logLevel === null ? [] : ['--log-level', options.logLevel ?? 'debug']), ...(options.args ?? [])];
  const command = options.netns === undefined ? process.execPath : 'ip';
  const args = options.netns === undefined ? argv : ['netns', 'exec', options.netns, process.execPath, ...argv];
  const child = spawn(command, args, {env: {...options.sandbox.env, ...extraDaemonEnv()}, stdio: ['ignore', 'pipe', 'pipe']});
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
  running.add(child);
  void exited.then(() => running.delete(child));
  const daemon: DaemonProcess = {
    child,
    socket,
    dataDir,
    logs: () => output,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  if (options.waitReady !== false) {
    try {
      await waitFor(() => output.includes('daemon ready') || child.exitCode !== null, 20_000, 'daemon to be ready');
    } catch (error) {
      // Not ready in time: do not leave it running behind the caller's back.
      await daemon.stop('SIGKILL');
      throw new Error(`${(error as Error).message}; it logged:\n${output}`);
    }
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}:\n${output}`);
  }
  return daemon;
}

const running = new Set<ChildProcess>();
/** Kill every daemon still running (for afterAll/afterEach, also after failures). */
export async function killAllDaemons(): Promise<void> {
  await Promise.all(
    // A child that has exited but whose exit is not yet processed would never emit 'exit' again.
    [...running].filter((child) => child.exitCode === null && child.signalCode === null).map(
      (child) =>
        new Promise<void>((resolveKill) => {
          child.once('exit', () => resolveKill());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** Poll `condition` every 20 ms until it holds; fail with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
