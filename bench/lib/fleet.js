/**
 * A fleet of real `wgmesh daemon` processes on this machine, for benchmarks:
 * one temp dir, one CA and one node certificate shared by every daemon (they
 * all listen on 127.0.0.1, so one SAN fits all and saves a certificate per
 * node), one YAML config, data dir and IPC socket per daemon, and one
 * long-lived IPC client per daemon so the bench observes without paying a CLI
 * start (~0.5 s of CPU) per sample.
 *
 * As root the daemons run in a network namespace of their own: its loopback
 * then carries nothing but their control plane, so its interface counters are
 * an exact byte count (a host loopback is shared with everything else on the
 * machine), and their ports cannot collide with other daemons on the host.
 * The IPC sockets are files, reachable from the host namespace.
 *
 * Everything the fleet creates (processes, namespace, temp dir) is removed by
 * `close()`, and by a synchronous last resort on exit, Ctrl-C and SIGTERM.
 */
import {execFile, execFileSync, spawn} from 'node:child_process';
import {createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {IpcClient} from '@wgmesh/core/client';
import {unitCommandForHost} from '../../dist/cli/systemd-unit.js';
import {loopbackCounters, processStats} from './proc-stats.js';

/** Repository root. */
export const ROOT = resolve(import.meta.dirname, '..', '..');
/** The CLI entry point. */
export const BIN = join(ROOT, 'bin', 'run.js');

/** What `wgmesh systemd install` would run on this host: node's options and jemalloc when the host has it. */
const UNIT_COMMAND = await unitCommandForHost(ROOT, {jemalloc: true});

/**
 * The environment the systemd unit gives the daemon on this host (the
 * `Environment=NAME=VALUE` lines of systemd/wgmesh.service, and jemalloc's
 * where `systemd install` would add them): daemons run here as they run installed.
 */
export const DAEMON_ENV = {
  ...Object.fromEntries([...readFileSync(join(ROOT, 'systemd', 'wgmesh.service'), 'utf8').matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=(.*)$/gm)].map((match) => [match[1], match[2]])),
  ...UNIT_COMMAND.environment?.variables,
};
/** The node options the unit starts the daemon with (`--expose-gc`). */
export const DAEMON_NODE_OPTIONS = UNIT_COMMAND.nodeOptions ?? [];

/** Resolve after `ms` milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Run `wgmesh ARGS` to completion.
 * @param {readonly string[]} args
 * @param {NodeJS.ProcessEnv} env
 * @returns {Promise<{code: number, stdout: string, stderr: string}>}
 */
export function runCli(args, env, timeoutMs = 60_000) {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [BIN, ...args], {env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024}, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolvePromise({code, stdout, stderr});
    });
  });
}

/**
 * Run `fn` on every item with at most `limit` calls in flight; results in item order.
 * @template T, R
 * @param {readonly T[]} items
 * @param {number} limit
 * @param {(item: T, index: number) => Promise<R>} fn
 * @returns {Promise<R[]>}
 */
export async function mapPool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    // After one failure no new item starts: the caller is about to clean up.
    while (next < items.length && !failed) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker));
  return results;
}

/** Whether this process may create network namespaces with `ip netns` (root and iproute2 present). */
export function canUseNetns() {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('ip', ['-V'], {stdio: 'ignore'});
    return true;
  } catch {
    return false;
  }
}

/** Bytes kept of each daemon's log (stderr), for error reports. */
const LOG_TAIL_BYTES = 64 * 1024;
/** How long daemons run with `--cpu-prof` get to stop: dozens of them writing profiles at once take far longer than 3 s. */
const PROFILE_GRACE_MS = 120_000;

/**
 * One daemon of the fleet.
 * @typedef {object} FleetNode
 * @property {number} index position in the fleet, 0-based
 * @property {string} name `n<index>`
 * @property {number} port its gRPC control port
 * @property {string} endpoint `127.0.0.1:<port>`, what `mesh join --via` takes
 * @property {string} socket its IPC socket
 * @property {string} configPath its YAML config
 * @property {string} logPath its log (stderr) file
 * @property {import('node:child_process').ChildProcess | undefined} child
 * @property {number | undefined} pid
 * @property {IpcClient | undefined} client open IPC client (after start)
 * @property {string | undefined} nodeId its node id (after start)
 * @property {boolean} alive started and not stopped
 * @property {number} warnings log lines at level warn or above
 * @property {() => string} logTail the end of its log
 */

/**
 * Options of {@link Fleet.create}.
 * @typedef {object} FleetOptions
 * @property {number} nodes how many daemons
 * @property {'auto' | 'on' | 'off'} [netns] run them in their own network namespace (default auto: when root)
 * @property {number} [basePort] gRPC port of the first daemon; the others follow
 * @property {string} [logLevel] daemon log level (default info: it is quiet when idle and says "daemon ready")
 * @property {Record<string, unknown>} [extraConfig] more top-level config keys for every daemon
 * @property {boolean} [keep] keep the temp dir (logs, configs) after close
 * @property {string[]} [daemonNodeArgs] Node flags for the daemons besides the unit's {@link DAEMON_NODE_OPTIONS} (e.g. `--cpu-prof --cpu-prof-dir DIR`: profiles written when they stop)
 * @property {(text: string) => void} [log] progress output
 */

/** A set of daemon processes and everything they need. */
export class Fleet {
  /** @type {string} */ dir;
  /** @type {string | null} network namespace name, or null on the host's */ netns;
  /** @type {FleetNode[]} */ nodes = [];
  /** @type {NodeJS.ProcessEnv} */ env;
  #keep;
  #nodeArgs = [];
  #closed = false;
  #log;
  #onExit;
  #onSignal;

  /** Use {@link Fleet.create}. */
  constructor(dir, netns, env, keep, log) {
    this.dir = dir;
    this.netns = netns;
    this.env = env;
    this.#keep = keep;
    this.#log = log;
    // Last resort: whatever path the bench leaves by, no daemon, namespace or temp dir survives it.
    this.#onExit = () => this.closeSync();
    this.#onSignal = (signal) => {
      this.#log(`\n${signal}: cleaning up`);
      this.closeSync();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('exit', this.#onExit);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, this.#onSignal);
  }

  /**
   * Make the temp dir, certificates, namespace and configs (no process started yet).
   * @param {FleetOptions} options
   * @returns {Promise<Fleet>}
   */
  static async create(options) {
    const log = options.log ?? (() => undefined);
    const wantNetns = options.netns ?? 'auto';
    const useNetns = wantNetns === 'on' || (wantNetns === 'auto' && canUseNetns());
    if (wantNetns === 'on' && !canUseNetns()) throw new Error('--netns on needs root and iproute2 (`ip`)');
    const dir = mkdtempSync(join(tmpdir(), 'wgmesh-bench-'));
    // The CLI and daemons never touch the real user's files.
    const env = {
      PATH: process.env.PATH,
      HOME: dir,
      XDG_DATA_HOME: join(dir, 'xdg-data'),
      XDG_CONFIG_HOME: join(dir, 'xdg-config'),
      XDG_CACHE_HOME: join(dir, 'xdg-cache'),
      XDG_STATE_HOME: join(dir, 'xdg-state'),
      NO_COLOR: '1',
    };
    const netns = useNetns ? `wgmesh-bench-${process.pid}` : null;
    const fleet = new Fleet(dir, netns, env, options.keep ?? false, log);
    fleet.#nodeArgs = [...DAEMON_NODE_OPTIONS, ...(options.daemonNodeArgs ?? [])];
    try {
      if (netns !== null) {
        execFileSync('ip', ['netns', 'add', netns], {stdio: 'pipe'});
        execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up'], {stdio: 'pipe'});
      }
      const basePort = options.basePort ?? (netns !== null ? 4000 : 47000);
      for (let index = 0; index < options.nodes; index++) fleet.#addNode(index, basePort + index, options);
      return fleet;
    } catch (error) {
      await fleet.close();
      throw error;
    }
  }

  #addNode(index, port, options) {
    const name = `n${index}`;
    const config = {
      gRPCPort: port,
      wgDriver: 'stub',
      dataDir: join(this.dir, name),
      socket: join(this.dir, `${name}.sock`),
      logLevel: options.logLevel ?? 'info',
      baseConfiguration: {publicEndpoint: '127.0.0.1'},
      ...options.extraConfig,
    };
    const configPath = join(this.dir, `${name}.yaml`);
    // JSON is YAML: no need for the yaml package here.
    writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
    let tail = '';
    this.nodes.push({
      index,
      name,
      port,
      endpoint: `127.0.0.1:${port}`,
      socket: config.socket,
      configPath,
      logPath: join(this.dir, `${name}.log`),
      child: undefined,
      pid: undefined,
      client: undefined,
      nodeId: undefined,
      alive: false,
      warnings: 0,
      logTail: () => tail,
      appendLog(text) {
        tail = (tail + text).slice(-LOG_TAIL_BYTES);
      },
    });
  }

  /** The command line that runs `argv` inside the fleet's namespace (or as is). */
  #wrap(argv) {
    return this.netns === null ? argv : ['ip', 'netns', 'exec', this.netns, ...argv];
  }

  /**
   * Start the daemons, at most `concurrency` starting at once (start-up is
   * CPU-bound: ~1 s of CPU each), and wait until each says "daemon ready" and
   * answers `status` on its socket.
   * @param {{concurrency?: number, readyTimeoutMs?: number}} [options]
   */
  async start({concurrency = 4, readyTimeoutMs = 90_000} = {}) {
    let started = 0;
    await mapPool(this.nodes, concurrency, async (node) => {
      await this.#startNode(node, readyTimeoutMs);
      started++;
      if (started % 10 === 0 || started === this.nodes.length) this.#log(`  ${started}/${this.nodes.length} daemons ready`);
    });
  }

  async #startNode(node, readyTimeoutMs) {
    const [command, ...args] = this.#wrap([process.execPath, ...this.#nodeArgs, BIN, 'daemon', '--config', node.configPath]);
    // `ip netns exec` execs the command in place, so the child's pid is the daemon's.
    const child = spawn(command, args, {env: {...this.env, ...DAEMON_ENV}, stdio: ['ignore', 'ignore', 'pipe']});
    node.child = child;
    node.pid = child.pid;
    node.alive = true;
    let ready = false;
    let partial = '';
    // The whole log goes to a file (kept with --keep, for diagnosis), its tail stays in memory for error reports.
    const logFile = createWriteStream(node.logPath);
    child.stderr.pipe(logFile);
    child.stderr.on('data', (chunk) => {
      const text = chunk.toString();
      node.appendLog(text);
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('"msg":"daemon ready"')) ready = true;
        const level = /"level":(\d+)/.exec(line);
        if (level && Number(level[1]) >= 40) node.warnings++;
      }
    });
    child.on('exit', () => {
      node.alive = false;
    });
    const deadline = Date.now() + readyTimeoutMs;
    while (!ready) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`daemon ${node.name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${node.logTail()}`);
      if (Date.now() > deadline) throw new Error(`daemon ${node.name} was not ready within ${readyTimeoutMs} ms:\n${node.logTail()}`);
      await sleep(50);
    }
    node.client = new IpcClient(node.socket, {timeoutMs: 30_000});
    node.nodeId = (await node.client.call('status', {})).nodeId;
  }

  /** Daemons still running. */
  alive() {
    return this.nodes.filter((node) => node.alive);
  }

  /**
   * Kill one daemon with `signal` and wait until it has exited.
   * @param {FleetNode} node
   * @param {NodeJS.Signals} [signal]
   * @returns {Promise<void>}
   */
  async stop(node, signal = 'SIGKILL') {
    node.client?.close();
    node.client = undefined;
    const child = node.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  /**
   * Counters of the namespace's loopback, read from a live daemon's
   * /proc/PID/net/dev (which shows the namespace the process is in). Each
   * packet crosses loopback once, so tx = rx = every byte any daemon sent,
   * IP and TCP headers included. Null outside a namespace: the host loopback
   * carries other traffic too.
   * @returns {{txBytes: number, txPackets: number} | null}
   */
  loopbackCounters() {
    if (this.netns === null) return null;
    const node = this.alive()[0];
    return node === undefined ? null : loopbackCounters(node.pid);
  }

  /**
   * Every TCP socket of the fleet's daemons with its byte counters, from
   * `ss -tinpH` (run inside the namespace when there is one).
   * @returns {Promise<Map<string, {pid: number, sent: number, received: number}>>} by "local peer" address pair
   */
  async tcpSockets() {
    const [command, ...args] = this.#wrap(['ss', '-tinpH']);
    const stdout = await new Promise((resolveRun, reject) =>
      execFile(command, args, {maxBuffer: 64 * 1024 * 1024}, (error, out) => (error ? reject(error) : resolveRun(out))),
    );
    const pids = new Set(this.nodes.map((n) => n.pid));
    const sockets = new Map();
    let current;
    for (const line of stdout.split('\n')) {
      if (line.startsWith('\t') || line.startsWith(' ')) {
        if (current === undefined) continue;
        const sent = /bytes_sent:(\d+)/.exec(line);
        const received = /bytes_received:(\d+)/.exec(line);
        current.sent = sent ? Number(sent[1]) : 0;
        current.received = received ? Number(received[1]) : 0;
        continue;
      }
      current = undefined;
      const parts = line.trim().split(/\s+/);
      const pid = /pid=(\d+)/.exec(line);
      if (parts.length < 5 || pid === null || !pids.has(Number(pid[1]))) continue;
      current = {pid: Number(pid[1]), sent: 0, received: 0};
      sockets.set(`${parts[3]} ${parts[4]}`, current);
    }
    return sockets;
  }

  /**
   * CPU time (user + system, ms) and resident memory (MiB) of each live daemon, by pid.
   * @returns {Map<number, {cpuMs: number, rssMiB: number}>}
   */
  processStats() {
    return processStats(this.alive().map((node) => node.pid));
  }

  /** Stop every daemon (SIGTERM, then SIGKILL after `graceMs`: 3 s, longer for profiled daemons), delete the namespace and the temp dir. */
  async close(graceMs = this.#nodeArgs.some((arg) => arg.startsWith('--cpu-prof')) ? PROFILE_GRACE_MS : 3_000) {
    if (this.#closed) return;
    for (const node of this.nodes) {
      node.client?.close();
      node.client = undefined;
    }
    const running = this.nodes.map((n) => n.child).filter((c) => c !== undefined && c.exitCode === null && c.signalCode === null);
    await Promise.all(
      running.map(async (child) => {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
    this.closeSync();
  }

  /** The synchronous part of {@link close} (also the exit/signal handler): SIGKILL whatever still runs, then remove. */
  closeSync() {
    if (this.#closed) return;
    this.#closed = true;
    for (const node of this.nodes) {
      node.client?.close();
      const child = node.child;
      if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    if (this.netns !== null) {
      try {
        execFileSync('ip', ['netns', 'del', this.netns], {stdio: 'ignore'});
      } catch {
        // Already gone.
      }
    }
    if (this.#keep) this.#log(`kept ${this.dir}`);
    else rmSync(this.dir, {recursive: true, force: true});
    process.off('exit', this.#onExit);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.off(signal, this.#onSignal);
  }
}
