/**
 * Network-namespace labs for end-to-end tests with real WireGuard: N "hosts"
 * (namespaces) joined by veth pairs to one bridge that lives in a namespace of
 * its own, so a lab never touches the host's root namespace. Underlay
 * addresses come from an IPv6 ULA /64 picked at random per lab, so endpoints
 * are bracketed IPv6 (`[fdxx::2]:51820`) and parallel labs never collide.
 *
 * A lab may also carry IPv4 on the shared bridge (`198.18.0.0/16`, the
 * benchmarking range) and NAT sites: a router namespace on the bridge that
 * masquerades a LAN of its own (`10.K.0.0/24`) behind its one public IPv4
 * address, with the mapping behaviour chosen per site (see {@link NatBehaviour}),
 * so tests see NAT as it is in practice.
 *
 * Everything a lab creates is named with the owner's pid and a random suffix
 * and removed by `cleanup()`, which is also registered for process exit,
 * SIGINT and SIGTERM, so a failing or interrupted test run leaves no
 * namespace behind; and the labs of a process that was SIGKILLed (no handler
 * runs) are removed by the next lab created on the host.
 */
import {execFile, execFileSync, spawn as spawnChild, type ChildProcess, type SpawnOptions} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {accessSync, constants as fsConstants, existsSync, unlinkSync} from 'node:fs';
import {connect} from 'node:net';
import {setTimeout as delay} from 'node:timers/promises';
import type {Availability} from './requirements.js';

/** Whether this machine can run namespace labs, and if not, why. */
export type NetnsAvailability = Availability;

/** What {@link netnsAvailable} checks besides root, `/dev/net/tun` and `ip netns`. */
export interface NetnsAvailableOptions {
  /** Also require `wg` and `wireguard-go` (default true). */
  wireguard?: boolean;
  /** Also require `nft` and `conntrack`, which NAT sites need (default false). */
  nat?: boolean;
}

/** One host of a lab: a network namespace with one underlay interface. */
export interface NetnsHost {
  /** Short name within the lab: `h0`, `h1`, ... on the shared bridge; `n0h0`, ... behind NAT site `n0`. */
  name: string;
  /** The network namespace (unique per run), for `ip netns exec` / `ip -n`. */
  netns: string;
  /**
   * The host's own underlay address (no prefix length): IPv6 on the shared
   * bridge; the private IPv4 address behind a NAT site (such a host has no
   * other way out than its router).
   */
  address: string;
  /** The host's IPv4 address: on the shared bridge when the lab has `ipv4`; the private one behind a NAT site. */
  ipv4?: string;
  /** The underlay interface inside the namespace. */
  interface: string;
}

/**
 * How a NAT site maps its LAN's outgoing UDP and TCP flows onto its public address.
 * - `endpoint-independent`: Linux masquerade, which keeps the source port when
 *   it is free, so one LAN socket has one public ip:port for every destination
 *   (what hole punching needs);
 * - `symmetric`: masquerade with random ports, a new public port for every
 *   destination (address-and-port-dependent mapping).
 * Either way only replies to flows the LAN opened come in (the router has no
 * other forwarding), and {@link NetnsLab.forgetMappings} drops every mapping,
 * as a router that reboots or times its table out does.
 */
export type NatBehaviour = 'endpoint-independent' | 'symmetric';

/** A NAT site to create in a lab. */
export interface NatSiteOptions {
  behaviour: NatBehaviour;
  /** Hosts on the site's LAN (1 to 50). */
  hosts: number;
}

/** A router namespace with one public IPv4 address on the shared bridge and a LAN behind it. */
export interface NatSite {
  /** `n0`, `n1`, ... */
  name: string;
  behaviour: NatBehaviour;
  /** The router's namespace. */
  router: string;
  /** The router's address on the shared bridge: what every host outside sees the LAN's packets come from. */
  publicAddress: string;
  /** The LAN's hosts, each with a private IPv4 address and a default route through the router. */
  hosts: readonly NetnsHost[];
}

/** Options of {@link createNetnsLab}. */
export interface NetnsLabOptions {
  /** Number of hosts (1 to 200). */
  hosts: number;
  /** Underlay /64 such as `fd12:3456:789a:1::/64`; default: a random ULA /64. */
  prefix?: string;
  /** Start of every namespace name (default `wgmt`); a random suffix follows. */
  namePrefix?: string;
  /** Give the hosts on the shared bridge IPv4 addresses too, `198.18.0.N/16` for host `hN-1` (implied by `natSites`). */
  ipv4?: boolean;
  /** NAT sites on the shared bridge (at most 50); their routers are `198.18.1.K/16`. */
  natSites?: readonly NatSiteOptions[];
}

/** Output of a command run in a lab host. */
export interface NetnsExecResult {
  stdout: string;
  stderr: string;
}

/** Options of {@link NetnsLab.exec}. */
export interface NetnsExecOptions {
  /** Written to the command's stdin. */
  input?: string;
  /** Kill the command after this long (default 10 s). */
  timeoutMs?: number;
}

/** A running lab. */
export interface NetnsLab {
  /** The hosts, in order. */
  readonly hosts: readonly NetnsHost[];
  /** The underlay /64. */
  readonly prefix: string;
  /** The namespace holding the bridge. */
  readonly bridgeNetns: string;
  /** The NAT sites, in the order of the option. */
  readonly natSites: readonly NatSite[];
  /** Make a NAT site forget every mapping it holds (`conntrack -F` in its router). */
  forgetMappings(site: NatSite): Promise<void>;
  /**
   * Run `command args` inside a host's namespace (argument array, no shell).
   * @throws Error with the command's stderr when it fails.
   */
  exec(host: NetnsHost, command: string, args: readonly string[], options?: NetnsExecOptions): Promise<NetnsExecResult>;
  /** Start a long-running process inside a host's namespace; `cleanup()` kills it. */
  spawn(host: NetnsHost, command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** `[address]:port` of a host (`address:port` for a host behind a NAT site). */
  endpoint(host: NetnsHost, port: number): string;
  /**
   * Kill every process in the lab's namespaces (those started with `spawn` and
   * any other, e.g. a driver's wireguard-go), remove UAPI sockets they left,
   * and delete the namespaces (which deletes the veths). Idempotent.
   */
  cleanup(): Promise<void>;
}

const UAPI_DIR = '/var/run/wireguard';

/** Run a command quietly; true when it exits 0. */
function succeeds(command: string, args: readonly string[]): boolean {
  try {
    execFileSync(command, args, {stdio: 'ignore', timeout: 10_000});
    return true;
  } catch {
    return false;
  }
}

/**
 * Can this machine run a lab? Checks root, `/dev/net/tun`, `ip`, that a
 * namespace can actually be created, `ping`, and (unless told otherwise) `wg`
 * and `wireguard-go`. Tests pass the answer to `skipWithout`, which decides.
 */
export function netnsAvailable(options: NetnsAvailableOptions = {}): NetnsAvailability {
  if (process.platform !== 'linux') return {ok: false, reason: `network namespaces need Linux (this is ${process.platform})`};
  if (process.getuid?.() !== 0) return {ok: false, reason: 'network namespace tests need root'};
  try {
    accessSync('/dev/net/tun', fsConstants.R_OK | fsConstants.W_OK);
  } catch {
    return {ok: false, reason: '/dev/net/tun is missing or not accessible (modprobe tun, or give the container the device)'};
  }
  if (!succeeds('ip', ['-V'])) return {ok: false, reason: 'ip is not installed (apt-get install iproute2)'};
  if (!succeeds('ping', ['-V'])) return {ok: false, reason: 'ping is not installed (apt-get install iputils-ping)'};
  const probe = `wgmtprobe-${randomBytes(4).toString('hex')}`;
  if (!succeeds('ip', ['netns', 'add', probe])) return {ok: false, reason: "'ip netns add' does not work here (no CAP_SYS_ADMIN, or /var/run/netns is not writable)"};
  succeeds('ip', ['netns', 'del', probe]);
  if (options.wireguard ?? true) {
    if (!succeeds('wg', ['--version'])) return {ok: false, reason: 'wg is not installed (apt-get install wireguard-tools)'};
    if (!succeeds('wireguard-go', ['--version'])) return {ok: false, reason: 'wireguard-go is not installed (apt-get install wireguard-go)'};
  }
  if (options.nat ?? false) {
    if (!succeeds('nft', ['--version'])) return {ok: false, reason: 'nft is not installed (apt-get install nftables)'};
    if (!succeeds('conntrack', ['--version'])) return {ok: false, reason: 'conntrack is not installed (apt-get install conntrack)'};
  }
  return {ok: true};
}

/** Run a command, resolving with its output or rejecting with its stderr. */
function run(command: string, args: readonly string[], options: NetnsExecOptions = {}): Promise<NetnsExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, {timeout: options.timeoutMs ?? 10_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024}, (error, stdout, stderr) => {
      if (error) {
        const detail = stderr.trim() || error.message;
        reject(new Error(`'${command} ${args.join(' ')}' failed: ${detail}`));
      } else {
        resolve({stdout, stderr});
      }
    });
    // The command may exit without reading its input; that is its business, not an error here.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input);
  });
}

/** A random ULA /64 (`fdXX:XXXX:XXXX:XXXX::/64`, RFC 4193 style: 40 random bits + a random subnet). */
function randomUlaPrefix(): string {
  const bytes = randomBytes(7);
  const groups = [0xfd00 | bytes[0]!, bytes.readUInt16BE(1), bytes.readUInt16BE(3), bytes.readUInt16BE(5)];
  return `${groups.map((group) => group.toString(16)).join(':')}::/64`;
}

/** The `n`-th host address of a `xxxx:xxxx:xxxx:xxxx::/64` prefix. */
function hostAddress(prefix: string, n: number): string {
  const network = prefix.replace(/::\/64$/, '');
  return `${network}::${n.toString(16)}`;
}

/** Every live lab's synchronous last-resort cleanup, run on exit and on signals. */
const pendingCleanups = new Set<() => void>();
let handlersInstalled = false;

/**
 * Install the process-wide exit and signal handlers once. Process exit is
 * global by nature, so one registry serves every lab in the process (and keeps
 * the listener count at one however many labs a test file makes).
 */
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const runAll = (): void => {
    for (const cleanup of [...pendingCleanups]) cleanup();
  };
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      runAll();
      // Re-raise with the default action, so the process still dies of the signal.
      process.kill(process.pid, signal);
    });
  }
}

/** Pids of the processes inside a namespace (empty when it is gone). */
function netnsPidsSync(netns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', netns], {encoding: 'utf8', timeout: 5_000})
      .split(/\s+/)
      .filter((text) => /^\d+$/.test(text))
      .map(Number);
  } catch {
    return [];
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** True when something accepts connections on the UNIX socket at `path`. */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Lab namespace names: `PREFIX-pPID-RANDOM-` then `br`, `hN`, `nK` (a NAT router) or `nKhM` (a host behind it). */
const LAB_NETNS = /^[A-Za-z][A-Za-z0-9-]{0,15}-p(\d+)-[0-9a-f]{8}-(br|h\d+|n\d+|n\d+h\d+)$/;

/** IPv4 of the shared bridge: hosts `198.18.0.N`, NAT routers `198.18.1.N`. */
const IPV4_BRIDGE_PREFIX_LENGTH = 16;

/** The masquerade rule set of a NAT site's router, for `nft -f -`. */
function natRuleset(behaviour: NatBehaviour): string {
  const masquerade = behaviour === 'symmetric' ? 'masquerade random' : 'masquerade';
  // The input firewall every home router has: a packet from outside that opens nothing is dropped before
  // conntrack confirms an entry for it. Without it such a packet (the other side's first punch) leaves an
  // entry that makes masquerade move the LAN's next flow to that address to another port.
  return (
    `table ip nat {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname "wan0" ${masquerade}\n  }\n}\n` +
    `table ip filter {\n  chain input {\n    type filter hook input priority filter; policy accept;\n    iifname "wan0" ct state new drop\n  }\n}\n`
  );
}

/** Names of the TUN devices (wireguard-go interfaces) in a namespace. */
async function tunDevices(netns: string): Promise<string[]> {
  try {
    const {stdout} = await run('ip', ['-n', netns, '-j', 'link', 'show', 'type', 'tun']);
    return (JSON.parse(stdout || '[]') as Array<{ifname?: unknown}>)
      .map((link) => link.ifname)
      .filter((name): name is string => typeof name === 'string' && /^[A-Za-z0-9_=+][A-Za-z0-9_.=+-]{0,14}$/.test(name));
  } catch {
    return [];
  }
}

/** Remove the UAPI sockets of `names` that no live process serves. */
async function removeDeadSockets(names: readonly string[]): Promise<void> {
  for (const name of names) {
    const socket = `${UAPI_DIR}/${name}.sock`;
    if (existsSync(socket) && !(await socketIsLive(socket))) {
      try {
        unlinkSync(socket);
      } catch {
        // Removed meanwhile.
      }
    }
  }
}

/**
 * Remove labs whose owning process is gone (it was SIGKILLed, so no exit
 * handler ran): kill what runs in their namespaces, delete them, and remove
 * the UAPI sockets their wireguard-go processes left.
 */
async function collectAbandonedLabs(): Promise<void> {
  let listing = '';
  try {
    listing = (await run('ip', ['netns', 'list'])).stdout;
  } catch {
    return;
  }
  for (const netns of listing.split('\n').map((line) => line.split(' ')[0] ?? '')) {
    const owner = LAB_NETNS.exec(netns)?.[1];
    if (owner === undefined || isAlive(Number(owner))) continue;
    const tuns = await tunDevices(netns);
    for (const pid of netnsPidsSync(netns)) signal(pid, 'SIGKILL');
    await run('ip', ['netns', 'del', netns]).catch(() => undefined);
    await removeDeadSockets(tuns);
  }
}

/**
 * Create one NAT site: its router on the shared bridge as `wan0` (through the
 * bridge port `bridgePort`), a LAN bridge `lan0` in the router, and its hosts
 * on that LAN with a default route through the router, which forwards and
 * masquerades their IPv4 traffic as its behaviour says.
 */
async function createNatSite(site: NatSite, bridgePort: string, inBridge: (...args: string[]) => Promise<NetnsExecResult>): Promise<void> {
  const lan = site.hosts[0]!.address.replace(/\.\d+$/, '');
  await run('ip', ['netns', 'add', site.router]);
  const inRouter = (...args: string[]): Promise<NetnsExecResult> => run('ip', ['-n', site.router, ...args]);
  await inRouter('link', 'set', 'lo', 'up');
  await inBridge('link', 'add', bridgePort, 'type', 'veth', 'peer', 'name', 'wan0', 'netns', site.router);
  await inBridge('link', 'set', bridgePort, 'master', 'br0', 'up');
  await inRouter('addr', 'add', `${site.publicAddress}/${IPV4_BRIDGE_PREFIX_LENGTH}`, 'dev', 'wan0');
  await inRouter('link', 'set', 'wan0', 'up');
  await inRouter('link', 'add', 'lan0', 'type', 'bridge');
  await inRouter('addr', 'add', `${lan}.1/24`, 'dev', 'lan0');
  await inRouter('link', 'set', 'lan0', 'up');
  await run('ip', ['netns', 'exec', site.router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await run('ip', ['netns', 'exec', site.router, 'nft', '-f', '-'], {input: natRuleset(site.behaviour)});
  await Promise.all(
    site.hosts.map(async (host, m) => {
      await run('ip', ['netns', 'add', host.netns]);
      const inHost = (...args: string[]): Promise<NetnsExecResult> => run('ip', ['-n', host.netns, ...args]);
      await inHost('link', 'set', 'lo', 'up');
      await inRouter('link', 'add', `l${m}`, 'type', 'veth', 'peer', 'name', host.interface, 'netns', host.netns);
      await inRouter('link', 'set', `l${m}`, 'master', 'lan0', 'up');
      await inHost('addr', 'add', `${host.address}/24`, 'dev', host.interface);
      await inHost('link', 'set', host.interface, 'up');
      await inHost('route', 'add', 'default', 'via', `${lan}.1`);
    }),
  );
}

/**
 * Create a lab of `hosts` namespaces on one private bridge. On failure
 * everything created so far is removed before the error is thrown.
 */
export async function createNetnsLab(options: NetnsLabOptions): Promise<NetnsLab> {
  if (!Number.isInteger(options.hosts) || options.hosts < 1 || options.hosts > 200) {
    throw new Error(`a lab has 1 to 200 hosts, not ${options.hosts}`);
  }
  const prefix = options.prefix ?? randomUlaPrefix();
  if (!/^[0-9a-f]{1,4}(:[0-9a-f]{1,4}){3}::\/64$/i.test(prefix)) {
    throw new Error(`lab prefix '${prefix}' must be a /64 written as a:b:c:d::/64`);
  }
  const namePrefix = options.namePrefix ?? 'wgmt';
  if (!/^[a-z][a-z0-9-]{0,15}$/i.test(namePrefix)) throw new Error(`lab name prefix '${namePrefix}' must be 1-16 letters, digits or '-'`);
  const siteOptions = options.natSites ?? [];
  if (siteOptions.length > 50) throw new Error(`a lab has at most 50 NAT sites, not ${siteOptions.length}`);
  for (const site of siteOptions) {
    if (!Number.isInteger(site.hosts) || site.hosts < 1 || site.hosts > 50) throw new Error(`a NAT site has 1 to 50 hosts, not ${site.hosts}`);
  }
  const ipv4 = (options.ipv4 ?? false) || siteOptions.length > 0;
  await collectAbandonedLabs();
  // The owner's pid in every name lets a later lab remove this one if this process is SIGKILLed.
  const runId = `p${process.pid}-${randomBytes(4).toString('hex')}`;
  const bridgeNetns = `${namePrefix}-${runId}-br`;
  const hosts: NetnsHost[] = Array.from({length: options.hosts}, (_, index) => ({
    name: `h${index}`,
    netns: `${namePrefix}-${runId}-h${index}`,
    address: hostAddress(prefix, index + 1),
    ...(ipv4 ? {ipv4: `198.18.0.${index + 1}`} : {}),
    interface: 'eth0',
  }));
  const natSites: NatSite[] = siteOptions.map((site, k) => ({
    name: `n${k}`,
    behaviour: site.behaviour,
    router: `${namePrefix}-${runId}-n${k}`,
    publicAddress: `198.18.1.${k + 1}`,
    hosts: Array.from({length: site.hosts}, (_, m) => {
      const address = `10.${k + 1}.0.${m + 2}`;
      return {name: `n${k}h${m}`, netns: `${namePrefix}-${runId}-n${k}h${m}`, address, ipv4: address, interface: 'eth0'};
    }),
  }));
  const namespaces = [bridgeNetns, ...hosts.map((host) => host.netns), ...natSites.flatMap((site) => [site.router, ...site.hosts.map((host) => host.netns)])];
  const children = new Set<ChildProcess>();
  let cleaned = false;

  /** Last resort on process exit: kill synchronously and delete the namespaces. */
  const cleanupSync = (): void => {
    if (cleaned) return;
    cleaned = true;
    for (const child of children) if (child.pid !== undefined) signal(child.pid, 'SIGKILL');
    for (const netns of namespaces) {
      for (const pid of netnsPidsSync(netns)) signal(pid, 'SIGKILL');
      succeeds('ip', ['netns', 'del', netns]);
    }
  };

  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    // Names of the TUN devices (wireguard-go interfaces), so sockets left by
    // a process that had to be SIGKILLed can be removed afterwards.
    const tunNames = (await Promise.all(namespaces.map((netns) => tunDevices(netns)))).flat();
    const pids = new Set<number>();
    for (const child of children) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) pids.add(child.pid);
    for (const netns of namespaces) for (const pid of netnsPidsSync(netns)) pids.add(pid);
    for (const pid of pids) signal(pid, 'SIGTERM');
    // Give them a bounded chance to exit cleanly (wireguard-go removes its socket).
    for (let waited = 0; waited < 3_000 && [...pids].some(isAlive); waited += 25) await delay(25);
    for (const pid of pids) if (isAlive(pid)) signal(pid, 'SIGKILL');
    cleanupSync();
    pendingCleanups.delete(cleanupSync);
    await removeDeadSockets(tunNames);
  };

  installExitHandlers();
  pendingCleanups.add(cleanupSync);
  try {
    await run('ip', ['netns', 'add', bridgeNetns]);
    const inBridge = (...args: string[]): Promise<NetnsExecResult> => run('ip', ['-n', bridgeNetns, ...args]);
    await inBridge('link', 'set', 'lo', 'up');
    // No multicast snooping: neighbour discovery must flood without a querier.
    await inBridge('link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
    await inBridge('link', 'set', 'br0', 'up');
    await Promise.all(
      hosts.map(async (host, index) => {
        await run('ip', ['netns', 'add', host.netns]);
        const inHost = (...args: string[]): Promise<NetnsExecResult> => run('ip', ['-n', host.netns, ...args]);
        await inHost('link', 'set', 'lo', 'up');
        // Both ends are created from the bridge namespace: nothing passes through the root namespace.
        await inBridge('link', 'add', `v${index}`, 'type', 'veth', 'peer', 'name', host.interface, 'netns', host.netns);
        await inBridge('link', 'set', `v${index}`, 'master', 'br0', 'up');
        // nodad: the address is usable at once instead of after a second of duplicate detection.
        await inHost('addr', 'add', `${host.address}/64`, 'dev', host.interface, 'nodad');
        if (host.ipv4 !== undefined) await inHost('addr', 'add', `${host.ipv4}/${IPV4_BRIDGE_PREFIX_LENGTH}`, 'dev', host.interface);
        await inHost('link', 'set', host.interface, 'up');
      }),
    );
    await Promise.all(natSites.map((site, k) => createNatSite(site, `w${k}`, inBridge)));
  } catch (error) {
    await cleanup();
    throw error;
  }

  return {
    hosts,
    prefix,
    bridgeNetns,
    natSites,
    forgetMappings: async (site) => {
      await run('ip', ['netns', 'exec', site.router, 'conntrack', '-F']);
    },
    exec: (host, command, args, execOptions) => run('ip', ['netns', 'exec', host.netns, command, ...args], execOptions),
    spawn(host, command, args, spawnOptions = {}) {
      if (cleaned) throw new Error('this lab was cleaned up');
      const child = spawnChild('ip', ['netns', 'exec', host.netns, command, ...args], spawnOptions);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    endpoint: (host, port) => (host.address.includes(':') ? `[${host.address}]:${port}` : `${host.address}:${port}`),
    cleanup,
  };
}
