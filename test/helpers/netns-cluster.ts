/**
 * Real wgmesh daemons with real WireGuard, one per network namespace: the
 * namespace variant of {@link MeshCluster}. A lab from the core test kit gives
 * N hosts on a private bridge with a ULA IPv6 underlay; each node runs on its
 * own host with the `kernel` WireGuard driver (wireguard-go where the kernel
 * has no module), listens for control traffic on its underlay address,
 * advertises that address as its WireGuard endpoint, and proves its node key
 * in TLS (no certificate files). Every host can use the same control port:
 * each namespace has a network stack of its own.
 *
 * The IPC sockets and config files live in the sandbox (a directory of the
 * test's own namespace), so the test drives every daemon with IPC calls and
 * the CLI exactly as on loopback, and looks at each host's kernel state with
 * `ip`, `wg` and `ping` run inside that host's namespace.
 *
 * {@link NetnsCluster.close} kills every daemon, removes the namespaces (which
 * ends the wireguard-go processes and their interfaces) and the sandbox; it is
 * safe after any failure and when called twice.
 */
import {spawn} from 'node:child_process';
import {createNetnsLab, type NatSiteOptions, type NetnsExecOptions, type NetnsExecResult, type NetnsHost, type NetnsLab} from '@wgmesh/testkit';
import {parseWgDump, type WgDump} from '@wgmesh/wg-kernel';
import {makeSandbox, waitFor, type Sandbox} from './cli.js';
import {MeshNode, writeNodeFiles, type MeshNodeOptions, type NodeSpec} from './mesh-cluster.js';

/** The control port of every daemon (one per namespace, so they never collide). */
export const NETNS_CONTROL_PORT = 4000;

/** One `ip -j addr` entry, as far as the helpers read it. */
interface IpAddrEntry {
  ifname?: string;
  addr_info?: Array<{family?: string; local?: string; prefixlen?: number; scope?: string}>;
}

/** One `ip -j route` entry, as far as the helpers read it (`dst` is `default` for a default route). */
export interface IpRouteEntry {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  metric?: number;
}

/** A daemon on one lab host: a {@link MeshNode} plus the host's kernel state. */
export class NetnsNode extends MeshNode {
  /** The lab host (namespace) the daemon runs in. */
  readonly host: NetnsHost;
  private readonly lab: NetnsLab;

  constructor(lab: NetnsLab, host: NetnsHost, options: MeshNodeOptions) {
    super(options);
    this.lab = lab;
    this.host = host;
  }

  /** Run `command args` in this host's namespace; rejects with its stderr when it fails. */
  exec(command: string, args: readonly string[], options?: NetnsExecOptions): Promise<NetnsExecResult> {
    return this.lab.exec(this.host, command, args, options);
  }

  /** One ICMPv6 echo to `address` from this host (`ping -6 -c 1 -W 1`): true when it was answered. */
  async ping(address: string): Promise<boolean> {
    try {
      await this.exec('ping', ['-6', '-n', '-c', '1', '-W', '1', address], {timeoutMs: 5_000});
      return true;
    } catch {
      return false;
    }
  }

  /** Names of every link in this host's namespace, sorted. */
  async links(): Promise<string[]> {
    const {stdout} = await this.exec('ip', ['-j', 'link', 'show']);
    return (JSON.parse(stdout || '[]') as Array<{ifname?: unknown}>)
      .map((link) => link.ifname)
      .filter((name): name is string => typeof name === 'string')
      .sort();
  }

  /** True when a link called `name` exists in this host's namespace. */
  async hasLink(name: string): Promise<boolean> {
    return (await this.links()).includes(name);
  }

  /** The global-scope addresses of `iface` as `address/length`, sorted; empty when there is no such link here. */
  async addresses(iface: string): Promise<string[]> {
    if (!(await this.hasLink(iface))) return [];
    const {stdout} = await this.exec('ip', ['-j', 'addr', 'show', 'dev', iface]);
    return (JSON.parse(stdout || '[]') as IpAddrEntry[])
      .flatMap((entry) => entry.addr_info ?? [])
      .filter((info) => info.scope === 'global' && typeof info.local === 'string')
      .map((info) => `${info.local}/${info.prefixlen}`)
      .sort();
  }

  /**
   * `wg show IFACE dump` of an interface of this host, parsed; undefined when
   * the namespace has no such link. (wireguard-go's UAPI sockets are shared by
   * every namespace, so `wg` alone would also answer for another host's
   * interface: the link is looked up in this namespace first.)
   */
  async wgShow(iface: string): Promise<WgDump | undefined> {
    if (!(await this.hasLink(iface))) return undefined;
    const {stdout} = await this.exec('wg', ['show', iface, 'dump']);
    return parseWgDump(iface, stdout);
  }

  /** `ip -6 -j route show ARGS` in this host's namespace, parsed (e.g. `['proto', '119']` for wgmesh's routes). */
  async ipv6Routes(args: readonly string[] = []): Promise<IpRouteEntry[]> {
    const {stdout} = await this.exec('ip', ['-6', '-j', 'route', 'show', ...args]);
    return JSON.parse(stdout || '[]') as IpRouteEntry[];
  }

  /** A sysctl of this host's namespace by its /proc/sys path, e.g. `net/ipv6/conf/all/forwarding`. */
  async sysctl(path: string): Promise<string> {
    return (await this.exec('cat', [`/proc/sys/${path}`])).stdout.trim();
  }
}

/** Options of {@link NetnsCluster.create}. */
export interface NetnsClusterOptions {
  /** Number of lab hosts; each node takes the next free one. */
  hosts: number;
  /** Start of the sandbox directory name. */
  prefix?: string;
  /** NAT sites of the lab (see createNetnsLab); their hosts take nodes with {@link NetnsCluster.addNodesOn}. */
  natSites?: readonly NatSiteOptions[];
}

/** Real daemons with real WireGuard, one per lab host. */
export class NetnsCluster {
  readonly lab: NetnsLab;
  readonly sandbox: Sandbox;
  readonly nodes: NetnsNode[] = [];
  private closed = false;

  private constructor(lab: NetnsLab, sandbox: Sandbox) {
    this.lab = lab;
    this.sandbox = sandbox;
  }

  /** A lab of `hosts` namespaces and a sandbox; no daemons yet. Whatever was made is removed again on failure. */
  static async create(options: NetnsClusterOptions): Promise<NetnsCluster> {
    const sandbox = await makeSandbox(options.prefix ?? 'wgmesh-netns-');
    let lab: NetnsLab | undefined;
    try {
      lab = await createNetnsLab({hosts: options.hosts, ...(options.natSites ? {natSites: options.natSites} : {})});
      return new NetnsCluster(lab, sandbox);
    } catch (error) {
      await lab?.cleanup();
      await sandbox.cleanup();
      throw error;
    }
  }

  /** The node called `name`. */
  node(name: string): NetnsNode {
    const found = this.nodes.find((node) => node.name === name);
    if (!found) throw new Error(`no node ${name} in this cluster`);
    return found;
  }

  /**
   * Put each spec's daemon on the next free host (certificate for the host's
   * underlay address, `wgDriver: kernel`) and start them in parallel;
   * resolves when every one is ready.
   */
  async addNodes(specs: readonly NodeSpec[]): Promise<NetnsNode[]> {
    const first = this.nodes.length;
    if (first + specs.length > this.lab.hosts.length) throw new Error(`the lab has ${this.lab.hosts.length} hosts, not enough for ${first + specs.length} nodes`);
    return this.addNodesOn(specs.map((spec, index) => ({spec, host: this.lab.hosts[first + index]!})));
  }

  /**
   * Start each spec's daemon on the host given with it (a bridge host or one
   * behind a NAT site), reached at `address` (default: the host's underlay
   * address; a bridge host's `ipv4` for IPv4 endpoints); resolves when every one is ready.
   */
  async addNodesOn(placements: readonly {spec: NodeSpec; host: NetnsHost; address?: string}[]): Promise<NetnsNode[]> {
    const nodes = await Promise.all(
      placements.map(async ({spec, host, address}) => {
        const options = await writeNodeFiles(this.sandbox, null, spec, {port: NETNS_CONTROL_PORT, host: address ?? host.address, netns: host.netns, wgDriver: 'kernel'});
        return new NetnsNode(this.lab, host, options);
      }),
    );
    this.nodes.push(...nodes);
    await Promise.all(nodes.map((node) => node.start()));
    return nodes;
  }

  /** Kill every daemon, remove the lab (namespaces, wireguard-go, interfaces) and the sandbox. Safe after failures and twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.nodes.map((node) => node.kill('SIGKILL')));
    await this.lab.cleanup();
    await this.sandbox.cleanup();
  }
}

/**
 * Wait until `from` gets an answer from `address` over the mesh; resolves with
 * the milliseconds it took. Each attempt waits up to 1 s for its answer; a
 * first handshake can take a few seconds, so callers give a bound, never a sleep.
 */
export async function waitForPing(from: NetnsNode, address: string, timeoutMs: number): Promise<number> {
  const start = Date.now();
  await waitFor(() => from.ping(address), timeoutMs, `${from.name} to get a ping answer from ${address}`);
  return Date.now() - start;
}

/** The names of every link of a node's namespace that is not there in `before` (e.g. an interface a failed command left). */
export async function newLinks(node: NetnsNode, before: readonly string[]): Promise<string[]> {
  return (await node.links()).filter((name) => !before.includes(name));
}

/** Seconds between the pings of {@link startPinger}. */
export const PING_INTERVAL_S = 0.1;

/** One answered ping: when it was sent and when its answer came (ms since the epoch). */
export interface Answer {
  seq: number;
  sentMs: number;
  receivedMs: number;
}

/** A `ping` running in a host's namespace; its answers are parsed as they come. */
export interface Pinger {
  readonly answers: Answer[];
  /** Stop it (SIGINT) and wait for it to exit. */
  stop(): Promise<void>;
}

/** Answer lines of `ping -D -n`: `[1765000000.123456] 64 bytes from ADDR: icmp_seq=N ttl=64 time=0.123 ms`. */
const ANSWER = /^\[(\d+\.\d+)\] \d+ bytes from [^ ]+: icmp_seq=(\d+) .*time=([\d.]+) ms/;

/** Ping `address` from `from` every {@link PING_INTERVAL_S} (`ping -D`, so each answer carries its receive and round-trip time), for at most `seconds`. */
export function startPinger(from: NetnsNode, address: string, seconds: number): Pinger {
  const child = spawn('ip', ['netns', 'exec', from.host.netns, 'ping', '-6', '-n', '-D', '-i', String(PING_INTERVAL_S), '-w', String(seconds), address], {stdio: ['ignore', 'pipe', 'ignore']});
  const answers: Answer[] = [];
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const match = ANSWER.exec(line);
      if (!match) continue;
      const receivedMs = Number(match[1]) * 1000;
      answers.push({seq: Number(match[2]), receivedMs, sentMs: receivedMs - Number(match[3])});
    }
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    answers,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}
