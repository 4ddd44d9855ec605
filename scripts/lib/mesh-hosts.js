/**
 * Hosts running real `wgmesh daemon` processes, for `npm run demo` and
 * bench/join-to-ping.js (the vitest suites have the TypeScript equivalent in
 * test/helpers/netns-cluster.ts, which plain Node cannot import).
 *
 * Two modes:
 * - `netns`: one daemon per network namespace of a core test kit lab (veth to
 *   a private bridge, ULA IPv6 underlay), the `kernel` WireGuard driver
 *   (wireguard-go where the kernel has no module), control port 4000 on each
 *   host's underlay address. Needs root, /dev/net/tun, ip, wg, wireguard-go, ping.
 *   With NAT sites (`natSites`, needs nft and conntrack too) the lab's bridge
 *   also carries IPv4: the hosts on the bridge listen and advertise their
 *   IPv4 address (the LANs behind NAT reach them over IPv4 only), and a
 *   daemon runs on every host behind every NAT site too.
 * - `loopback`: the same daemons on 127.0.0.1 with the in-memory `stub`
 *   driver; needs nothing, configures no real WireGuard.
 *
 * No certificate files: each daemon's TLS identity is its own node key, and
 * nodes join with invites (`wgmesh mesh invite`). Every config file, data dir
 * and IPC socket lives in one temp dir. `close()` stops
 * the daemons and removes the lab and the temp dir; a synchronous last resort
 * on exit, Ctrl-C and SIGTERM does the same for the daemons and the temp dir
 * (the lab registers its own, which then ends the process by the signal).
 */
import {execFile, spawn} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {createServer} from 'node:net';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {formatEndpoint} from '@wgmesh/core';
import {IpcClient} from '@wgmesh/core/client';
import {createNetnsLab} from '@wgmesh/testkit';
import {stringify} from 'yaml';

/** Repository root. */
export const ROOT = resolve(import.meta.dirname, '..', '..');
/** The CLI entry point. */
export const BIN = join(ROOT, 'bin', 'run.js');
/** Control port of every daemon in `netns` mode (each namespace has its own ports). */
export const NETNS_CONTROL_PORT = 4000;

/**
 * Poll `condition` every 20 ms until it holds; reject with `what` after `timeoutMs`.
 * @param {() => boolean | Promise<boolean>} condition
 * @param {number} timeoutMs
 * @param {string} what
 */
export async function waitFor(condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Run a command to completion (no shell).
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{env?: NodeJS.ProcessEnv, timeoutMs?: number}} [options]
 * @returns {Promise<{code: number, stdout: string, stderr: string}>}
 */
export function run(command, args, options = {}) {
  return new Promise((resolveRun) => {
    execFile(command, args, {env: options.env ?? process.env, timeout: options.timeoutMs ?? 60_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024}, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolveRun({code, stdout, stderr});
    });
  });
}

/** @returns {Promise<number[]>} `count` TCP ports of 127.0.0.1 that were free a moment ago (held together, so distinct). */
async function freePorts(count) {
  const servers = await Promise.all(
    Array.from(
      {length: count},
      () =>
        new Promise((resolveServer, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolveServer(server));
        }),
    ),
  );
  const ports = servers.map((server) => server.address().port);
  await Promise.all(servers.map((server) => new Promise((r) => server.close(() => r()))));
  return ports;
}

/**
 * One host: a daemon, its files, and where it runs.
 * @typedef {object} Host
 * @property {string} name          h0, h1, ... on the bridge; n0h0, n0h1, ... behind NAT site n0
 * @property {string} configFile    its YAML config (pass with --config)
 * @property {string} socket        its IPC socket
 * @property {string} dataDir       its data dir
 * @property {string} address       underlay address (netns) or 127.0.0.1
 * @property {string} endpoint      control endpoint for `mesh join --via`
 * @property {string | undefined} netns  its network namespace (netns mode)
 * @property {import('@wgmesh/testkit').NatSite | undefined} site  the NAT site it is behind (none: on the bridge)
 * @property {import('node:child_process').ChildProcess} daemon
 * @property {() => string} logs    what the daemon printed so far
 */

/** Daemons on hosts; see the module comment. */
export class MeshHosts {
  /**
   * @param {'netns' | 'loopback'} mode
   * @param {string} dir
   * @param {NodeJS.ProcessEnv} env
   * @param {import('@wgmesh/testkit').NetnsLab | undefined} lab
   */
  constructor(mode, dir, env, lab) {
    /** @type {'netns' | 'loopback'} */
    this.mode = mode;
    /** The temp dir holding every file. */
    this.dir = dir;
    /** The environment every CLI and daemon runs with (HOME and WGMESH_CONFIG inside the temp dir). */
    this.env = env;
    /** The namespace lab (netns mode). */
    this.lab = lab;
    /** @type {Host[]} */
    this.hosts = [];
    /** @type {Map<Host, IpcClient>} */
    this.clients = new Map();
    this.closed = false;
    this.lastResort = () => {
      for (const host of this.hosts) if (host.daemon.exitCode === null && host.daemon.signalCode === null) host.daemon.kill('SIGKILL');
      rmSync(this.dir, {recursive: true, force: true});
    };
  }

  /** Run the last resort on exit, and on Ctrl-C and SIGTERM before the lab's own handler ends the process. */
  armLastResort() {
    process.on('exit', this.lastResort);
    for (const signal of ['SIGINT', 'SIGTERM']) process.prependOnceListener(signal, this.lastResort);
  }

  /**
   * Run `wgmesh ARGS --config HOST's file` (in the test's own namespace: the CLI only talks to the socket).
   * @param {Host} host
   * @param {readonly string[]} args
   */
  cli(host, args) {
    return run(process.execPath, [BIN, ...args, '--config', host.configFile], {env: this.env});
  }

  /**
   * One IPC call to a host's daemon over a long-lived connection (cheap enough to poll).
   * @template {import('@wgmesh/core/client').IpcMethod} M
   * @param {Host} host
   * @param {M} method
   * @param {import('@wgmesh/core/client').IpcMethods[M]['params']} params
   * @param {{timeoutMs?: number}} [options] timeoutMs: instead of the client's 10 s (a join on a busy machine can take longer)
   * @returns {Promise<import('@wgmesh/core/client').IpcMethods[M]['result']>}
   */
  call(host, method, params, options) {
    let client = this.clients.get(host);
    if (!client) {
      client = new IpcClient(host.socket, {timeoutMs: 10_000});
      this.clients.set(host, client);
    }
    return client.call(method, params, options);
  }

  /**
   * Run a command inside a host's namespace (netns mode).
   * @param {Host} host
   * @param {string} command
   * @param {readonly string[]} args
   */
  exec(host, command, args) {
    if (!host.netns) throw new Error(`${host.name} has no network namespace (loopback mode)`);
    return run('ip', ['netns', 'exec', host.netns, command, ...args], {timeoutMs: 15_000});
  }

  /**
   * Ping `address` from a host until the first answer (netns mode): one
   * `ping` process sending every `intervalMs` until a reply or `timeoutMs`.
   * Resolves with the milliseconds to the first reply, or null when none came.
   * @param {Host} host
   * @param {string} address
   * @param {{timeoutMs?: number, intervalMs?: number}} [options]
   * @returns {Promise<number | null>}
   */
  async firstPing(host, address, options = {}) {
    const timeoutS = Math.max(1, Math.ceil((options.timeoutMs ?? 10_000) / 1000));
    const interval = ((options.intervalMs ?? 20) / 1000).toFixed(3);
    const start = performance.now();
    const {code} = await this.exec(host, 'ping', ['-6', '-n', '-q', '-i', interval, '-c', '1', '-w', String(timeoutS), address]);
    return code === 0 ? performance.now() - start : null;
  }

  /**
   * Wait until each of `among` (default: every host) sees `count` members of `meshId`.
   * @param {string} meshId
   * @param {number} count
   * @param {{among?: Host[], timeoutMs?: number}} [options]
   */
  async waitForMembers(meshId, count, options = {}) {
    const among = options.among ?? this.hosts;
    await waitFor(
      async () => (await Promise.all(among.map((host) => this.call(host, 'mesh.show', {meshId})))).every((view) => view.nodes.length === count),
      options.timeoutMs ?? 15_000,
      `${among.map((host) => host.name).join(', ')} to see ${count} members of mesh ${meshId}`,
    );
  }

  /** Stop every daemon (SIGTERM, then SIGKILL after 5 s), remove the lab and the temp dir. Idempotent. */
  async close() {
    if (this.closed) return;
    this.closed = true;
    for (const client of this.clients.values()) client.close();
    await Promise.all(
      this.hosts.map(async (host) => {
        const child = host.daemon;
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await this.lab?.cleanup();
    rmSync(this.dir, {recursive: true, force: true});
    for (const event of ['exit', 'SIGINT', 'SIGTERM']) process.off(event, this.lastResort);
  }
}

/**
 * Make `count` hosts (plus the hosts behind `natSites`) and start a daemon on
 * each; resolves when every one is ready. On failure everything made so far
 * is removed before the error is thrown.
 * @param {{count: number, mode: 'netns' | 'loopback', logLevel?: string, natSites?: readonly import('@wgmesh/testkit').NatSiteOptions[], config?: Record<string, unknown>}} options
 *   natSites: NAT sites of the lab (netns mode only); config: more top-level config keys for every daemon
 * @returns {Promise<MeshHosts>}
 */
export async function startMeshHosts({count, mode, logLevel = 'warn', natSites = [], config: extraConfig = {}}) {
  if (natSites.length > 0 && mode !== 'netns') throw new Error('NAT sites need netns mode');
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-hosts-'));
  const env = {PATH: process.env.PATH, HOME: dir, WGMESH_CONFIG: join(dir, 'none.yaml'), NO_COLOR: '1'};
  let lab;
  /** @type {MeshHosts | undefined} */
  let hosts;
  try {
    lab = mode === 'netns' ? await createNetnsLab({hosts: count, namePrefix: 'wgmdemo', natSites}) : undefined;
    hosts = new MeshHosts(mode, dir, env, lab);
    hosts.armLastResort();
    const ports = mode === 'loopback' ? await freePorts(count) : [];
    /** Where each daemon runs: the bridge hosts, then every NAT site's hosts. */
    const placements = lab
      ? [...lab.hosts.map((labHost) => ({labHost, site: undefined})), ...lab.natSites.flatMap((site) => site.hosts.map((labHost) => ({labHost, site})))]
      : Array.from({length: count}, () => ({labHost: undefined, site: undefined}));
    const made = await Promise.all(
      placements.map(async ({labHost, site}, index) => {
        const name = labHost?.name ?? `h${index}`;
        // With NAT sites the bridge hosts are reached over IPv4, as the LANs behind NAT reach them.
        const address = (natSites.length > 0 ? labHost?.ipv4 : labHost?.address) ?? '127.0.0.1';
        const port = ports[index] ?? NETNS_CONTROL_PORT;
        const configFile = join(dir, `${name}.yaml`);
        const dataDir = join(dir, name, 'data');
        const socket = join(dir, `${name}.sock`);
        const config = {
          gRPCPort: port,
          wgDriver: mode === 'netns' ? 'kernel' : 'stub',
          dataDir,
          socket,
          logLevel,
          baseConfiguration: {publicEndpoint: address},
          grpc: {listenAddress: address},
          ...extraConfig,
        };
        writeFileSync(configFile, stringify(config));
        const argv = [BIN, 'daemon', '--config', configFile];
        const daemon = labHost ? lab.spawn(labHost, process.execPath, argv, {env, stdio: ['ignore', 'pipe', 'pipe']}) : spawn(process.execPath, argv, {env, stdio: ['ignore', 'pipe', 'pipe']});
        let output = '';
        daemon.stdout.on('data', (chunk) => (output += chunk));
        daemon.stderr.on('data', (chunk) => (output += chunk));
        /** @type {Host} */
        const host = {name, configFile, socket, dataDir, address, endpoint: formatEndpoint(address, port), netns: labHost?.netns, site, daemon, logs: () => output};
        return host;
      }),
    );
    hosts.hosts.push(...made);
    // Ready once the socket answers (the daemon may log nothing at a quiet level); fail at once if it exits.
    // Each start costs about a second of CPU, so many at once on a busy machine take a while.
    const readyMs = Math.max(30_000, made.length * 10_000);
    await Promise.all(
      made.map((host) =>
        waitFor(
          async () => {
            if (host.daemon.exitCode !== null || host.daemon.signalCode !== null) throw new Error(`the daemon of ${host.name} exited:\n${host.logs()}`);
            return socketAnswers(host);
          },
          readyMs,
          `the daemon of ${host.name} to answer on ${host.socket}`,
        ),
      ),
    );
    return hosts;
  } catch (error) {
    if (hosts) await hosts.close();
    else {
      await lab?.cleanup();
      rmSync(dir, {recursive: true, force: true});
    }
    throw error;
  }
}

/**
 * True when the daemon answers `status` on its socket.
 * @param {Host} host
 */
async function socketAnswers(host) {
  const client = new IpcClient(host.socket, {timeoutMs: 2_000});
  try {
    await client.call('status', {});
    return true;
  } catch {
    return false;
  } finally {
    client.close();
  }
}
