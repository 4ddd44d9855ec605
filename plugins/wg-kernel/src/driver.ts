/**
 * The `wg:kernel` driver: real WireGuard through `ip` and `wg`, one interface
 * per mesh. It creates the interface with `ip link add NAME type wireguard`
 * and, where the kernel has no WireGuard module, falls back to a supervised
 * userspace implementation (`wireguard-go -f NAME`), as wg-quick does.
 *
 * Interfaces are supervised: a wireguard-go that dies (one this driver
 * started, or one an earlier daemon left and this one adopted) and a kernel
 * link deleted from outside are noticed, and the interface is rebuilt on the
 * same port with its last configuration; one that cannot be rebuilt is
 * reported ({@link WgInterfaceEvent}) and tried again later.
 *
 * Every method applies a complete desired state by difference against what
 * the kernel reports (`wg show NAME dump`, `ip -j`), so a second apply of the
 * same state runs no configuring command, and only what changed is touched.
 * Operations on one interface are serialised; interfaces it did not create
 * and routes it did not install are never modified. WireGuard's own packets
 * carry a firewall mark and never use a default route through an exit (see
 * exit-table.ts).
 */
import {readFile} from 'node:fs/promises';
import {canonicalAddresses, canonicalPeers, canonicalRoutes, checkInterfaceName, checkInterfaceSpec, PortInUseError, SerialQueue, systemClock, WgDriverError, WgInterfaceGoneError, wgPublicKeyFromPrivate} from '@wgmesh/core';
import type {Clock, Logger, TimerHandle, WgDriver, WgForwardingState, WgInterfaceEvent, WgInterfaceSpec, WgInterfaceState, WgPeerConfig, WgPeerStats, WgRoute} from '@wgmesh/core';
import {AdoptedProcess} from './adopted.js';
import {handshakeNowArgs, keepaliveResetArgs, peerChangeArgs, planAddresses, planPeers, planRoutes, reinitiateArgs, type InstalledRoute, type PeerChange, type RoutePlacement} from './diff.js';
import {DEFAULT_EXIT_RULE_PRIORITY, DEFAULT_EXIT_TABLE, DEFAULT_FWMARK} from './exit-defaults.js';
import {NO_SUCH_TABLE, checkExitRouting, exitRuleArgs, familyOf, hasExitRule, isDefaultRoute, type ExitRouting} from './exit-table.js';
import {ensureIpv6Forwarding} from './forwarding.js';
import {parseLink, parseLinkNames, parseManagedAddresses, parseRoutes, parseWgDump, type LinkInfo, type ListedRoute, type WgDump} from './parse.js';
import {CommandError, ExecRunner, firstLine, permissionMessage, type CommandRunner, type RunOptions} from './runner.js';
import {UserspaceProcess, removeStaleSocket, uapiIsLive, uapiSocketPath, waitUntil, type UserspaceImplementation} from './userspace.js';

/** Which WireGuard implementation to use: the kernel module, wireguard-go, or the module with wireguard-go as fallback. */
export type WgImplementationMode = 'auto' | 'kernel' | 'userspace';

/** The routing protocol number that marks routes wgmesh installs (`ip route ... proto 119`); unassigned in iproute2's list. */
export const DEFAULT_ROUTE_PROTOCOL = 119;

/** Metric of the routes wgmesh installs: the IPv6 default for user routes, so they never silently shadow an operator's. */
export const DEFAULT_ROUTE_METRIC = 1024;

/**
 * Metric of a default route (`::/0`) through an exit. It lives in the exit
 * table (see exit-table.ts), whose rule comes after `main`: a host's own
 * default route wins by the rule order, and the metric only ranks wgmesh's
 * default routes among themselves.
 */
export const DEFAULT_EXIT_ROUTE_METRIC = 100_000;

/** The serial-queue key of forwarding changes (not an interface name, so it never shares a queue with one). */
const FORWARDING_QUEUE = '/forwarding';

/** An interface lost again within this long after it was rebuilt is not rebuilt at once: it is failed, and retried later. */
export const RESTART_WINDOW_MS = 60_000;

/** First wait before a failed interface is tried again; each failed try doubles it, up to {@link RETRY_MAX_MS}. */
export const RETRY_MIN_MS = 10_000;

/** Longest wait between two tries of a failed interface. */
export const RETRY_MAX_MS = 5 * 60_000;

/**
 * How often kernel WireGuard links are looked for (one `ip -j link show type
 * wireguard` for all of them), to notice one deleted outside wgmesh. The
 * kernel sends no signal this driver could wait on short of a netlink monitor
 * process; userspace interfaces need no look: their process exits with them.
 */
export const LINK_CHECK_MS = 10_000;

/**
 * When an apply started handshakes at once (a peer added with an endpoint
 * and `handshakeNow`, as on a new device, for a peer added again or a key
 * replaced, or with a keepalive, as a punched path), how long after it each
 * check runs that they completed; a peer still without one is added afresh
 * and tried again ({@link reinitiateArgs}), instead of waiting out
 * WireGuard's own retry 5 s later. The first check leaves a handshake half a
 * second, far more than a round trip on any but a satellite link. Each wait
 * is stretched or shrunk by up to {@link HANDSHAKE_CHECK_JITTER}: two ends
 * whose first handshakes crossed (both sent one at once, as hole punching
 * does) must not try again at the same moment.
 */
export const HANDSHAKE_CHECKS_MS = [500, 1_500, 3_000] as const;
/** Share of a wait between two handshake checks by which it varies at random (±). */
export const HANDSHAKE_CHECK_JITTER = 0.25;

/** Most removed peer keys an interface remembers (see `ManagedInterface.removed`): a mesh's churn of hours, in 180 KB. */
const REMEMBERED_REMOVALS = 4096;

/** Remember the peers `changes` removed and forget the ones they added, keeping the newest {@link REMEMBERED_REMOVALS}. */
function noteRemovals(removed: Set<string>, changes: readonly PeerChange[]): void {
  for (const change of changes) {
    removed.delete(change.publicKey);
    if (change.kind === 'remove') removed.add(change.publicKey);
  }
  for (const key of removed) {
    if (removed.size <= REMEMBERED_REMOVALS) break;
    removed.delete(key);
  }
}

/** Peers per `wg set` command: keeps argument lists far below the kernel's limit on large meshes. */
const PEERS_PER_COMMAND = 256;

/** What `wg` prints for an interface that does not exist. */
const NO_SUCH_INTERFACE = /^Unable to (access|modify) interface: (No such device|No such file or directory|Protocol not supported)$/;

/** What `ip` (and `wg`, through {@link KernelWgDriver.wg}'s message) say about a link that is not there (any more). */
const LINK_GONE = /does not exist|Cannot find device|No such device/i;

/** `ip link add ... type wireguard` failing this way means no kernel module: fall back to userspace. */
const NO_KERNEL_MODULE = /Unknown device type|Operation not supported|not supported/i;

/** Options of {@link KernelWgDriver}. */
export interface KernelWgDriverOptions {
  logger?: Logger | undefined;
  /** Time for the restart rate limit (default: the system clock). */
  clock?: Clock | undefined;
  /**
   * Run every command inside this network namespace (`ip netns exec NS`), so
   * one process can drive several hosts (tests). A daemon started inside the
   * namespace does not need it.
   */
  netns?: string | undefined;
  /** Runs the commands (default: an {@link ExecRunner} with `netns`); tests wrap it to record commands. */
  runner?: CommandRunner | undefined;
  /** `auto` (default): the kernel module, else wireguard-go. */
  implementation?: WgImplementationMode | undefined;
  /** Userspace implementation to run (default: `WG_USERSPACE_IMPLEMENTATION`, then `WG_QUICK_USERSPACE_IMPLEMENTATION`, then `wireguard-go`). */
  userspaceImplementation?: string | undefined;
  /** Where the `WG_*` variables are read (default: `process.env`). */
  env?: NodeJS.ProcessEnv | undefined;
  /** Routing protocol number marking wgmesh's routes (default {@link DEFAULT_ROUTE_PROTOCOL}). */
  routeProtocol?: number | undefined;
  /** Metric of wgmesh's routes (default {@link DEFAULT_ROUTE_METRIC}). */
  routeMetric?: number | undefined;
  /** Metric of a default route through an exit (default {@link DEFAULT_EXIT_ROUTE_METRIC}). */
  defaultRouteMetric?: number | undefined;
  /** Firewall mark of WireGuard's own packets on every interface (default {@link DEFAULT_FWMARK}). */
  fwmark?: number | undefined;
  /** Routing table of default routes through an exit (default {@link DEFAULT_EXIT_TABLE}). */
  defaultRouteTable?: number | undefined;
  /** Priority of the rule `not fwmark M lookup TABLE` (default {@link DEFAULT_EXIT_RULE_PRIORITY}). */
  defaultRouteRulePriority?: number | undefined;
  /**
   * Turn IPv6 forwarding on when the daemon needs it (default true); when
   * false, `ensureForwarding` only checks and says how to turn it on.
   */
  manageForwarding?: boolean | undefined;
  /** Time limit of one command, and of starting or stopping wireguard-go (default 5 s). */
  timeoutMs?: number | undefined;
}

/** Cancel the pending handshake checks of `managed`. */
function cancelHandshakeChecks(managed: ManagedInterface): void {
  for (const timer of managed.handshakeChecks) timer.cancel();
  managed.handshakeChecks.clear();
}

/** A userspace process the driver supervises: a child it started, or one it adopted. */
type Supervised = Pick<UserspaceProcess, 'running' | 'pid' | 'stop' | 'detach'>;

/** What the driver holds for one interface it set up. */
interface ManagedInterface {
  name: string;
  /** The last spec ensured (holds the private key, to rebuild after a crash; never logged). */
  spec: WgInterfaceSpec;
  /** The port actually bound, reused when the interface is rebuilt, so the advertised endpoint stays right. */
  listenPort: number;
  implementation: 'kernel' | 'userspace';
  /** The userspace process serving it: started by this driver, or adopted (absent for kernel interfaces). */
  process?: Supervised | undefined;
  /** The endpoint last desired for each peer (see `planPeers`: roamed endpoints are kept). */
  endpoints: Map<string, string | null>;
  /** True from the creation of the device until an apply added peers to it (see `planPeers`: they start handshakes at once). */
  fresh: boolean;
  /**
   * Keys of peers this device had and removed, oldest first, at most
   * {@link REMEMBERED_REMOVALS} (see `planPeers`: one added again starts a handshake at once).
   */
  removed: Set<string>;
  /** The last desired state, re-applied when a crashed userspace process is restarted. */
  peers?: WgPeerConfig[];
  addresses?: string[];
  routes?: WgRoute[];
  /** When the interface was last rebuilt after a loss. */
  lastRestartMs?: number;
  /** Set when the interface was lost and not rebuilt: every operation reports it. */
  failure?: string;
  /** The wait before the next try of a failed interface. */
  retryWaitMs?: number;
  /** The next try of a failed interface. */
  retryTimer?: TimerHandle;
  /** Pending checks that the handshakes an apply started completed (see {@link HANDSHAKE_CHECKS_MS}). */
  handshakeChecks: Set<TimerHandle>;
}

const silentLogger: Logger = {debug() {}, info() {}, warn() {}, error() {}, child: () => silentLogger};

/** The userspace implementation chosen by option, environment or default. */
export function chooseUserspace(options: Pick<KernelWgDriverOptions, 'userspaceImplementation' | 'env'>): UserspaceImplementation {
  const env = options.env ?? process.env;
  if (options.userspaceImplementation) return {command: options.userspaceImplementation, source: 'config'};
  const fromEnv = env.WG_USERSPACE_IMPLEMENTATION || env.WG_QUICK_USERSPACE_IMPLEMENTATION;
  if (fromEnv) return {command: fromEnv, source: 'environment'};
  return {command: 'wireguard-go', source: 'default'};
}

function isPortInUse(error: unknown): boolean {
  return error instanceof CommandError && /address already in use/i.test(error.stderr);
}

/** CAP_NET_ADMIN's bit in the capability sets of /proc/PID/status. */
const CAP_NET_ADMIN = 12n;

/** Whether a /proc/PID/status text shows CAP_NET_ADMIN in the effective set (true when the line is missing: not Linux-like, let the tools decide). */
export function hasNetAdmin(status: string): boolean {
  const match = /^CapEff:\s*([0-9a-f]+)$/im.exec(status);
  if (!match) return true;
  return ((BigInt(`0x${match[1]}`) >> CAP_NET_ADMIN) & 1n) === 1n;
}

/**
 * `wg` retries an endpoint host name that does not resolve for over a
 * minute; the daemon re-applies on every change anyway, so fail at once.
 */
const WG_SET_ENV = {WG_ENDPOINT_RESOLUTION_RETRIES: '0'};

/** A failure of one `wg set` that may be due to one of its peers (not a missing tool, permission or abort). */
function isPeerFailure(error: unknown): boolean {
  return error instanceof CommandError && (error.kind === 'failed' || error.kind === 'timeout');
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
}

/** The real WireGuard driver (`wg:kernel`). */
export class KernelWgDriver implements WgDriver {
  /** Backend name. */
  readonly name = 'kernel';
  private readonly runner: CommandRunner;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly mode: WgImplementationMode;
  private readonly userspace: UserspaceImplementation;
  private readonly routeProtocol: string;
  private readonly routeMetric: string;
  private readonly defaultRouteMetric: string;
  private readonly exitRouting: ExitRouting;
  private readonly manageForwarding: boolean;
  private readonly timeoutMs: number;
  private readonly interfaces = new Map<string, ManagedInterface>();
  private readonly queues = new Map<string, SerialQueue>();
  /** Route changes of every interface, in the order asked for (see setRoutes). */
  private readonly routeQueue = new SerialQueue();
  /** Set after `ip link add type wireguard` said the kernel has no module, so later interfaces go straight to userspace. */
  private kernelModuleMissing = false;
  private closed = false;
  /** The next look for deleted kernel links, while there are kernel interfaces. */
  private linkCheckTimer: TimerHandle | undefined;
  private readonly listeners = new Set<(event: WgInterfaceEvent) => void>();

  constructor(options: KernelWgDriverOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.runner = options.runner ?? new ExecRunner({netns: options.netns, timeoutMs: this.timeoutMs});
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.mode = options.implementation ?? 'auto';
    this.userspace = chooseUserspace(options);
    const protocol = options.routeProtocol ?? DEFAULT_ROUTE_PROTOCOL;
    const metric = options.routeMetric ?? DEFAULT_ROUTE_METRIC;
    const defaultMetric = options.defaultRouteMetric ?? DEFAULT_EXIT_ROUTE_METRIC;
    // 0-4 are the kernel's own (unspec, redirect, kernel, boot, static): a mark must differ from what others use.
    if (!Number.isInteger(protocol) || protocol < 5 || protocol > 255) throw new WgDriverError(`route protocol ${protocol} is not from 5 to 255`);
    for (const [what, value] of [
      ['route metric', metric],
      ['default route metric', defaultMetric],
    ] as const) {
      if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new WgDriverError(`${what} ${value} is not from 0 to 4294967295`);
    }
    this.routeProtocol = String(protocol);
    this.routeMetric = String(metric);
    this.defaultRouteMetric = String(defaultMetric);
    this.exitRouting = {
      fwmark: options.fwmark ?? DEFAULT_FWMARK,
      table: options.defaultRouteTable ?? DEFAULT_EXIT_TABLE,
      priority: options.defaultRouteRulePriority ?? DEFAULT_EXIT_RULE_PRIORITY,
    };
    checkExitRouting(this.exitRouting);
    this.manageForwarding = options.manageForwarding ?? true;
  }

  /**
   * Check up front what every operation needs, so a daemon fails at start
   * with one clear line rather than at its first mesh: `ip` and `wg`
   * installed, and the process holding CAP_NET_ADMIN. (Whether wireguard-go
   * is needed is only known when the kernel refuses a WireGuard link, so its
   * absence is reported by the first `ensureInterface`.)
   * @throws WgDriverError naming what to install or which capability is missing.
   */
  async preflight(signal?: AbortSignal): Promise<void> {
    this.assertOpen();
    await this.runner.run('ip', ['-V'], {signal});
    await this.runner.run('wg', ['--version'], {signal});
    const status = await readFile('/proc/self/status', 'utf8').catch(() => undefined);
    if (status !== undefined && !hasNetAdmin(status)) {
      throw new WgDriverError(permissionMessage('this process lacks CAP_NET_ADMIN: run the daemon as root, or grant it with setcap/systemd AmbientCapabilities'));
    }
  }

  async ensureInterface(spec: WgInterfaceSpec, signal?: AbortSignal): Promise<WgInterfaceState> {
    checkInterfaceSpec(spec);
    return this.serial(spec.name, async () => {
      const wasFailed = this.interfaces.get(spec.name)?.failure !== undefined;
      const listenPort = await this.ensure(spec, signal);
      // A failed interface brought back by the daemon's own call (a key rotation) rather than by a retry.
      if (wasFailed) this.emit({name: spec.name, kind: 'restored', detail: `interface ${spec.name} was created again on port ${listenPort}`});
      return {name: spec.name, listenPort};
    });
  }

  async applyPeers(name: string, peers: readonly WgPeerConfig[], signal?: AbortSignal): Promise<void> {
    checkInterfaceName(name);
    const desired = canonicalPeers(name, peers);
    await this.serial(name, () => this.applyPeersNow(this.require(name), desired, signal));
  }

  async setAddresses(name: string, cidrs: readonly string[], signal?: AbortSignal): Promise<void> {
    checkInterfaceName(name);
    const desired = canonicalAddresses(name, cidrs);
    await this.serial(name, () => this.setAddressesNow(this.require(name), desired, signal));
  }

  /**
   * Routes of all interfaces share one routing table, and a destination the
   * daemon moves from one mesh to another is wanted on the new interface
   * while the old one still holds it. So route changes of every interface go
   * through one queue, in the order they were asked for (the queue is
   * entered synchronously, before anything is awaited): a newer wish always
   * runs after an older one, and a route still held by another wgmesh
   * interface is moved over (see setRoutesNow).
   */
  async setRoutes(name: string, routes: readonly WgRoute[], signal?: AbortSignal): Promise<void> {
    checkInterfaceName(name);
    const desired = canonicalRoutes(name, routes);
    this.assertOpen();
    await this.routeQueue.run(() => this.serial(name, () => this.setRoutesNow(this.require(name), desired, signal)));
  }

  /**
   * Turn IPv6 forwarding on in the driver's namespace if it is off (see
   * forwarding.ts: accept_ra 1 becomes 2 first, so uplinks configured by
   * router advertisements keep their default route). One `cat` when it is
   * already on.
   */
  async ensureForwarding(signal?: AbortSignal): Promise<WgForwardingState> {
    return this.serial(FORWARDING_QUEUE, async () => {
      const outcome = await ensureIpv6Forwarding(this.runner, {manage: this.manageForwarding, signal});
      if (outcome.changed) {
        this.logger.warn(
          {acceptRaRaised: outcome.acceptRaRaised},
          `turned IPv6 forwarding on (net.ipv6.conf.all.forwarding=1): this node relays for other nodes${
            outcome.acceptRaRaised.length > 0 ? `; accept_ra raised from 1 to 2 on ${outcome.acceptRaRaised.join(', ')} so router advertisements keep configuring them` : ''
          }`,
        );
      }
      return {changed: outcome.changed};
    });
  }

  /** Start a handshake at once with every peer that has an endpoint (see `handshakeNowArgs`). */
  async handshakeNow(name: string, signal?: AbortSignal): Promise<void> {
    checkInterfaceName(name);
    await this.serial(name, async () => {
      this.require(name);
      const args = handshakeNowArgs((await this.dump(name, signal)).peers);
      if (args.length > 0) await this.wg(name, ['set', name, ...args], {signal, env: WG_SET_ENV});
    });
  }

  /** Per-peer statistics from `wg show NAME dump` (works on any WireGuard interface, read only). */
  async stats(name: string, signal?: AbortSignal): Promise<WgPeerStats[]> {
    checkInterfaceName(name);
    this.assertOpen();
    const failure = this.interfaces.get(name)?.failure;
    if (failure) throw new WgDriverError(failure);
    const dump = await this.dump(name, signal);
    return dump.peers.map((peer) => ({
      publicKey: peer.publicKey,
      endpoint: peer.endpoint,
      latestHandshakeMs: peer.latestHandshake > 0 ? peer.latestHandshake * 1000 : null,
      rxBytes: peer.rxBytes,
      txBytes: peer.txBytes,
    }));
  }

  /**
   * Delete the interface (its peers, addresses and routes go with it), stop
   * its wireguard-go, and remove a UAPI socket left behind; then remove the
   * exit table's rule if no default route through an exit is left.
   * Idempotent. A link with this name that is not a WireGuard interface (a
   * name clash) is left alone.
   */
  async removeInterface(name: string, signal?: AbortSignal): Promise<void> {
    checkInterfaceName(name);
    const removed = await this.serial(name, async () => {
      const managed = this.interfaces.get(name);
      // Forget it first: from here on a dying wireguard-go is expected, not restarted.
      this.interfaces.delete(name);
      managed?.retryTimer?.cancel();
      if (managed) cancelHandshakeChecks(managed);
      let link: LinkInfo | null = null;
      let deletedTun = false;
      try {
        link = await this.readLink(name, signal);
        const served = link?.kind === 'tun' && (managed?.process?.running === true || (await uapiIsLive(name)));
        if (link && (link.kind === 'wireguard' || served)) {
          await this.ip(['link', 'del', 'dev', name], signal).catch((error: unknown) => {
            // Gone meanwhile (its wireguard-go exited): that is what we wanted.
            if (!(error instanceof CommandError && LINK_GONE.test(error.stderr))) throw error;
          });
          deletedTun = link.kind === 'tun';
        } else if (link) {
          this.logger.warn({interface: name, kind: link.kind}, `not removing ${name}: it is not a WireGuard interface wgmesh manages`);
        }
      } finally {
        // Whatever failed above, our own child never outlives its removal (and its TUN device goes with it).
        await managed?.process?.stop();
      }
      // An adopted wireguard-go (not our child) exits by itself once its link is gone.
      if (deletedTun && !(await waitUntil(async () => !(await uapiIsLive(name)), this.timeoutMs, signal))) {
        this.logger.warn({interface: name}, `the userspace WireGuard process of ${name} still serves ${uapiSocketPath(name)}`);
      }
      await removeStaleSocket(name);
      if (managed || link) this.logger.info({interface: name}, 'WireGuard interface removed');
      return deletedTun || link?.kind === 'wireguard';
    });
    // Its default routes went with the link.
    if (removed) await this.routeQueue.run(() => this.syncExitRules(new Set(), new Set([6, 4]), signal));
  }

  /**
   * Stop supervising: wait for running operations, then let wireguard-go
   * processes run on unsupervised (interfaces are left as they are; the daemon
   * removes them on shutdown, and a later driver adopts the ones left). Later
   * calls fail.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.linkCheckTimer?.cancel();
    await Promise.all([...this.queues.values()].map((queue) => queue.idle()));
    for (const managed of this.interfaces.values()) {
      managed.retryTimer?.cancel();
      cancelHandshakeChecks(managed);
      managed.process?.detach();
    }
    this.interfaces.clear();
    this.listeners.clear();
  }

  onInterfaceEvent(listener: (event: WgInterfaceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Process id of the wireguard-go this driver runs for `name`, if any (diagnostics and tests). */
  userspacePid(name: string): number | undefined {
    return this.interfaces.get(name)?.process?.pid;
  }

  // ---- interface lifecycle --------------------------------------------------

  /** Create or adopt the interface and set key, port, MTU and up; returns the bound port. */
  private async ensure(spec: WgInterfaceSpec, signal?: AbortSignal): Promise<number> {
    const {name} = spec;
    const existing = this.interfaces.get(name);
    const link = await this.readLink(name, signal);
    let created: {implementation: 'kernel' | 'userspace'; process?: UserspaceProcess} | undefined;
    if (link) {
      await this.assertOurs(link, existing);
    } else {
      await existing?.process?.stop();
      await this.assertNameFree(name);
      created = await this.create(name, signal);
    }
    try {
      const listenPort = await this.configure(spec, created ? null : link, signal);
      const managed: ManagedInterface = existing ?? {
        name,
        spec,
        listenPort,
        implementation: link?.kind === 'wireguard' ? 'kernel' : 'userspace',
        endpoints: new Map(),
        fresh: false,
        removed: new Set(),
        handshakeChecks: new Set(),
      };
      if (created) {
        managed.implementation = created.implementation;
        managed.process = created.process;
        // A new device has no peers: every endpoint will be set afresh, and every peer with one is sent a handshake.
        managed.endpoints = new Map();
        managed.fresh = true;
        managed.removed = new Set();
      } else if (link?.kind === 'tun' && !managed.process?.running) {
        managed.process = await this.adopt(name);
      }
      managed.spec = {...spec};
      managed.listenPort = listenPort;
      delete managed.failure;
      managed.retryTimer?.cancel();
      delete managed.retryTimer;
      this.interfaces.set(name, managed);
      if (managed.implementation === 'kernel') this.scheduleLinkCheck();
      this.logger.info(
        {interface: name, listenPort, implementation: managed.implementation, created: created !== undefined, pid: managed.process?.pid},
        created ? 'WireGuard interface created' : 'WireGuard interface configured',
      );
      return listenPort;
    } catch (error) {
      // A failed create leaves nothing behind.
      if (created) await this.teardown(name, created.process);
      throw error;
    }
  }

  /** Refuse a link with our name that is not a WireGuard interface this driver may manage. */
  private async assertOurs(link: LinkInfo, managed: ManagedInterface | undefined): Promise<void> {
    const {name} = link;
    if (link.kind === 'wireguard') return;
    if (link.kind === 'tun') {
      if (managed?.process?.running) return;
      // Left running by an earlier daemon (the names are derived from mesh and node, so nobody else picks this one): adopted.
      if (await uapiIsLive(name)) return;
      throw new WgDriverError(`interface name clash: ${name} already exists and is a TUN device no WireGuard process serves; wgmesh will not touch it (delete it with 'ip link del ${name}' if it is stale)`);
    }
    throw new WgDriverError(
      `interface name clash: ${name} already exists and is not a WireGuard interface (kind ${link.kind ?? 'unknown'}); wgmesh will not touch it (delete it with 'ip link del ${name}' if it is stale)`,
    );
  }

  /** Refuse a name a userspace WireGuard in another namespace serves (UAPI sockets are per host); clear a stale socket. */
  private async assertNameFree(name: string): Promise<void> {
    if (await uapiIsLive(name)) {
      throw new WgDriverError(
        `interface name clash: ${name} is served by a userspace WireGuard process in another network namespace of this host (${uapiSocketPath(name)} is live); interface names must be unique per host`,
      );
    }
    await removeStaleSocket(name);
  }

  /** Create the link: kernel module first (unless told otherwise), else a supervised userspace process. */
  private async create(name: string, signal?: AbortSignal): Promise<{implementation: 'kernel' | 'userspace'; process?: UserspaceProcess}> {
    if (this.mode !== 'userspace' && !this.kernelModuleMissing) {
      try {
        await this.ip(['link', 'add', 'dev', name, 'type', 'wireguard'], signal);
        return {implementation: 'kernel'};
      } catch (error) {
        if (!(error instanceof CommandError) || error.kind !== 'failed' || !NO_KERNEL_MODULE.test(error.stderr)) {
          if (error instanceof CommandError && /File exists/i.test(error.stderr)) {
            throw new WgDriverError(`interface name clash: ${name} was created by someone else meanwhile; wgmesh will not touch it`);
          }
          throw error;
        }
        if (this.mode === 'kernel') {
          throw new WgDriverError(
            `this kernel has no WireGuard module ('ip link add type wireguard' said: ${firstLine(error.stderr)}): load it with 'modprobe wireguard', or set kernel.implementation to auto to use wireguard-go`,
          );
        }
        this.kernelModuleMissing = true;
        this.logger.info({implementation: this.userspace.command}, 'the kernel has no WireGuard module: using a userspace implementation, as wg-quick does');
      }
    }
    const child: UserspaceProcess = new UserspaceProcess({
      name,
      implementation: this.userspace,
      runner: this.runner,
      logger: this.logger,
      startTimeoutMs: this.timeoutMs,
      stopTimeoutMs: Math.min(this.timeoutMs, 3_000),
      onUnexpectedExit: (description) => this.processExited(name, child, description),
    });
    await child.start(signal);
    return {implementation: 'userspace', process: child};
  }

  /** Set key, port, MTU and up where they differ (`link`: the existing link, null when just created); returns the port actually bound. */
  private async configure(spec: WgInterfaceSpec, link: LinkInfo | null, signal?: AbortSignal): Promise<number> {
    const {name} = spec;
    const current = (await this.dump(name, signal)).interface;
    const args: string[] = [];
    // Port 0 keeps the port an existing interface has: its endpoint is already advertised.
    if (spec.listenPort !== 0 && current.listenPort !== spec.listenPort) args.push('listen-port', String(spec.listenPort));
    const setKey = current.publicKey !== wgPublicKeyFromPrivate(spec.privateKey);
    // WireGuard's own packets carry the mark that keeps them off exit routes.
    if (current.fwmark !== this.exitRouting.fwmark) args.push('fwmark', String(this.exitRouting.fwmark));
    // The key goes in on stdin, never on a command line (visible in ps).
    if (setKey) args.push('private-key', '/dev/stdin');
    if (args.length > 0) {
      await this.wg(name, ['set', name, ...args], {signal, ...(setKey ? {input: `${spec.privateKey}\n`} : {})}).catch((error: unknown) => {
        throw isPortInUse(error) ? new PortInUseError(spec.listenPort) : error;
      });
    }
    if (!link || link.mtu !== spec.mtu || !link.up) {
      // The kernel module binds the port when the link comes up: a port in use is reported here.
      await this.ip(['link', 'set', 'dev', name, 'mtu', String(spec.mtu), 'up'], signal).catch((error: unknown) => {
        throw isPortInUse(error) ? new PortInUseError(spec.listenPort) : error;
      });
    }
    let bound = 0;
    const ready = await waitUntil(
      async () => {
        bound = Number((await this.wg(name, ['show', name, 'listen-port'], {signal})).stdout.trim());
        return Number.isInteger(bound) && bound > 0;
      },
      this.timeoutMs,
      signal,
    );
    if (!ready) throw new WgDriverError(`interface ${name} did not bind a UDP port within ${this.timeoutMs} ms`);
    if (spec.listenPort !== 0 && bound !== spec.listenPort) throw new PortInUseError(spec.listenPort);
    return bound;
  }

  /** Undo a failed create: delete the link, stop the process, remove its socket. Best effort, never throws. */
  private async teardown(name: string, child: UserspaceProcess | undefined): Promise<void> {
    try {
      const link = await this.readLink(name);
      if (link && (link.kind === 'wireguard' || link.kind === 'tun')) await this.ip(['link', 'del', 'dev', name]);
    } catch (error) {
      this.logger.warn({interface: name, err: error}, `could not delete ${name} after a failed create`);
    }
    await child?.stop();
    await removeStaleSocket(name).catch(() => undefined);
  }

  /**
   * Supervise a userspace process an earlier daemon left serving `name`
   * (see adopted.ts): from now on its death is noticed like a child's.
   */
  private async adopt(name: string): Promise<AdoptedProcess> {
    const adopted: AdoptedProcess = new AdoptedProcess({name, onUnexpectedExit: (description) => this.processExited(name, adopted, description)});
    await adopted.start();
    this.logger.info({interface: name}, `adopting ${name}: its userspace WireGuard process was started by an earlier daemon; it is supervised through its UAPI socket`);
    return adopted;
  }

  /** The userspace process serving `name` is gone without having been asked to. */
  private processExited(name: string, process: Supervised, description: string): void {
    const managed = this.interfaces.get(name);
    if (!managed || managed.process !== process) return;
    this.lost(managed, `the userspace WireGuard process of ${name} exited unexpectedly (${description})`);
  }

  /**
   * Supervision: an interface this driver set up is gone (`what` says how).
   * It is rebuilt at once on the same port, unless it was rebuilt already
   * within {@link RESTART_WINDOW_MS}: then it is failed, and tried again later.
   */
  private lost(managed: ManagedInterface, what: string): void {
    const {name} = managed;
    if (this.closed || this.interfaces.get(name) !== managed || managed.failure !== undefined) return;
    const now = this.clock.now();
    if (managed.lastRestartMs !== undefined && now - managed.lastRestartMs < RESTART_WINDOW_MS) {
      this.fail(managed, `interface ${name} is gone: ${what}, the second time within ${RESTART_WINDOW_MS / 1000} s of a rebuild`);
      return;
    }
    managed.lastRestartMs = now;
    delete managed.retryWaitMs;
    this.logger.warn({interface: name}, `${what}: rebuilding interface ${name}`);
    this.emit({name, kind: 'lost', detail: what});
    this.tryRebuild(managed);
  }

  /** Rebuild `managed` in its queue; announce it back, or fail it again. */
  private tryRebuild(managed: ManagedInterface): void {
    const {name} = managed;
    this.serial(name, () => this.rebuild(managed)).then(
      (rebuilt) => {
        if (rebuilt) this.emit({name, kind: 'restored', detail: `interface ${name} was rebuilt on port ${managed.listenPort} with its configuration`});
      },
      (error: unknown) => this.fail(managed, `interface ${name} is gone: rebuilding it failed: ${error instanceof Error ? error.message : String(error)}`),
    );
  }

  /**
   * The interface is gone and was not rebuilt: every call about it fails with
   * `reason`, listeners are told (each time, the reason may change), the
   * first failure of a run is logged at error and the later ones at debug,
   * and it is tried again after a wait that doubles each time.
   */
  private fail(managed: ManagedInterface, reason: string): void {
    const {name} = managed;
    if (this.closed || this.interfaces.get(name) !== managed) return;
    const first = managed.failure === undefined;
    const waitMs = managed.retryWaitMs ?? RETRY_MIN_MS;
    managed.failure = `${reason}; this mesh has no tunnels on this node until it is back: wgmesh tries again in ${Math.round(waitMs / 1000)} s (see the daemon's log for the cause; restarting the daemon also tries again)`;
    if (first) this.logger.error({interface: name}, managed.failure);
    else this.logger.debug({interface: name}, managed.failure);
    this.emit({name, kind: 'failed', detail: managed.failure});
    managed.retryWaitMs = Math.min(waitMs * 2, RETRY_MAX_MS);
    managed.retryTimer?.cancel();
    managed.retryTimer = this.clock.setTimeout(() => {
      managed.retryTimer = undefined;
      if (!this.closed && this.interfaces.get(name) === managed && managed.failure !== undefined) this.tryRebuild(managed);
    }, waitMs);
  }

  /**
   * Recreate a lost interface on the same port and re-apply the last desired
   * peers, addresses and routes. False when there was nothing to do (the
   * driver closed, the interface was removed meanwhile).
   */
  private async rebuild(managed: ManagedInterface): Promise<boolean> {
    if (this.closed || this.interfaces.get(managed.name) !== managed) return false;
    const wasFailed = managed.failure !== undefined;
    managed.process = undefined;
    // The checks were for the device that is gone; the new one's apply starts its own.
    cancelHandshakeChecks(managed);
    // A killed wireguard-go's TUN link can outlive the end of its UAPI connections by a moment: rebuilt
    // before it goes, the interface would be taken for one a live process serves.
    if (managed.implementation === 'userspace') await waitUntil(async () => !(await this.readLink(managed.name)) || (await uapiIsLive(managed.name)), this.timeoutMs);
    await this.ensure({...managed.spec, listenPort: managed.listenPort});
    if (managed.addresses) await this.setAddressesNow(managed, managed.addresses);
    if (managed.peers) await this.applyPeersNow(managed, managed.peers);
    if (managed.routes) await this.setRoutesNow(managed, managed.routes);
    const fields = {interface: managed.name, listenPort: managed.listenPort, pid: this.userspacePid(managed.name)};
    if (wasFailed) this.logger.info(fields, `interface ${managed.name} is back: rebuilt on port ${managed.listenPort} with its configuration restored`);
    else this.logger.info(fields, `rebuilt interface ${managed.name} on port ${managed.listenPort} and restored its configuration`);
    return true;
  }

  /** Tell every listener; a listener that throws is logged, not propagated. */
  private emit(event: WgInterfaceEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error({err: error, interface: event.name}, 'a listener of WireGuard interface events failed');
      }
    }
  }

  /** Look for deleted kernel links every {@link LINK_CHECK_MS} while this driver manages kernel interfaces. */
  private scheduleLinkCheck(): void {
    if (this.closed || this.linkCheckTimer !== undefined) return;
    this.linkCheckTimer = this.clock.setTimeout(() => {
      void this.checkKernelLinks()
        .catch((error: unknown) => this.logger.debug({err: error}, 'the look for deleted WireGuard links failed'))
        .finally(() => {
          this.linkCheckTimer = undefined;
          if ([...this.interfaces.values()].some((managed) => managed.implementation === 'kernel')) this.scheduleLinkCheck();
        });
    }, LINK_CHECK_MS);
  }

  /** One `ip -j link show type wireguard`; a kernel interface missing from it (still missing in its own queue) is lost. */
  private async checkKernelLinks(): Promise<void> {
    const watched = [...this.interfaces.values()].filter((managed) => managed.implementation === 'kernel' && managed.failure === undefined);
    if (watched.length === 0 || this.closed) return;
    let present: Set<string>;
    try {
      present = new Set(parseLinkNames((await this.ip(['-j', 'link', 'show', 'type', 'wireguard'])).stdout));
    } catch (error) {
      this.logger.debug({err: error}, 'could not list the WireGuard links');
      return;
    }
    for (const managed of watched.filter((one) => !present.has(one.name))) {
      // Looked at again in the interface's own queue: it may have been removed or rebuilt meanwhile.
      const gone = await this.serial(managed.name, async () => this.interfaces.get(managed.name) === managed && (await this.readLink(managed.name)) === null).catch(() => false);
      if (gone) this.lost(managed, `the WireGuard link ${managed.name} was deleted outside wgmesh`);
    }
  }

  // ---- desired state --------------------------------------------------------

  /**
   * Apply the peer difference in batches. When a batch fails, its peers are
   * applied one by one, so one bad peer (say, an endpoint host name that
   * does not resolve) cannot keep every other peer of the mesh unconfigured;
   * the failures are reported together afterwards, and retried on the next
   * apply.
   */
  private async applyPeersNow(managed: ManagedInterface, desired: WgPeerConfig[], signal?: AbortSignal): Promise<void> {
    const {name} = managed;
    const dump = await this.dump(name, signal);
    const changes = planPeers(dump.peers, desired, managed.endpoints, {fresh: managed.fresh, returning: managed.removed});
    const failed = new Map<string, string>();
    const apply = (batch: readonly PeerChange[]): Promise<unknown> => this.wg(name, ['set', name, ...peerChangeArgs(batch)], {signal, env: WG_SET_ENV});
    for (const batch of chunks(changes, PEERS_PER_COMMAND)) {
      try {
        await apply(batch);
      } catch (error) {
        if (!isPeerFailure(error)) throw error;
        for (const change of batch) {
          try {
            await apply([change]);
          } catch (single) {
            if (!isPeerFailure(single)) throw single;
            failed.set(change.publicKey, (single as Error).message);
          }
        }
      }
    }
    const reset = keepaliveResetArgs(changes.filter((change) => !failed.has(change.publicKey)));
    if (reset.length > 0) await this.wg(name, ['set', name, ...reset], {signal, env: WG_SET_ENV});
    // A peer that failed keeps its previous desired endpoint, so the next apply tries it again.
    const endpoints = new Map(desired.filter((peer) => !failed.has(peer.publicKey)).map((peer) => [peer.publicKey, peer.endpoint] as const));
    for (const key of failed.keys()) if (managed.endpoints.has(key)) endpoints.set(key, managed.endpoints.get(key) ?? null);
    managed.endpoints = endpoints;
    managed.peers = desired;
    if (changes.some((change) => change.kind === 'add' && !failed.has(change.publicKey))) managed.fresh = false;
    // A peer added with an endpoint and a handshake at once, or with a keepalive (WireGuard sends the first keepalive at once, so it starts one).
    const started = changes.filter(
      (change) => change.kind === 'add' && change.endpoint !== undefined && (change.handshakeNow === true || (change.keepaliveSeconds ?? 0) > 0) && !failed.has(change.publicKey),
    );
    if (started.length > 0) this.checkHandshakes(managed, started.map((change) => change.publicKey));
    noteRemovals(managed.removed, changes.filter((change) => !failed.has(change.publicKey)));
    if (changes.length > 0) {
      const count = (kind: string): number => changes.filter((change) => change.kind === kind).length;
      this.logger.debug({interface: name, added: count('add'), updated: count('update'), removed: count('remove'), failed: failed.size}, 'WireGuard peers applied');
    }
    if (failed.size > 0) {
      const [key, message] = [...failed][0]!;
      throw new WgDriverError(`interface ${name}: ${failed.size} of ${changes.length} peer changes failed, the others were applied; peer ${key}: ${message}`);
    }
  }

  /**
   * Check, {@link HANDSHAKE_CHECKS_MS} after an apply, that the handshakes it
   * started with the peers `keys` completed; add afresh and try again those
   * still without one, and check them again at the next step. Stops when the
   * interface is removed or rebuilt, or the driver closes; a check that fails
   * is logged (debug) and ends the checks: WireGuard's own retries go on.
   */
  private checkHandshakes(managed: ManagedInterface, keys: readonly string[], step = 0): void {
    const at = HANDSHAKE_CHECKS_MS[step];
    if (at === undefined) return;
    const timer = this.clock.setTimeout(() => {
      managed.handshakeChecks.delete(timer);
      if (this.closed || this.interfaces.get(managed.name) !== managed) return;
      this.serial(managed.name, async () => {
        // Removed or replaced while this check waited in the queue: the device it was for is gone.
        if (this.interfaces.get(managed.name) !== managed) return [];
        const waiting = new Set(keys);
        const stalled = (await this.dump(managed.name)).peers.filter((peer) => waiting.has(peer.publicKey) && peer.latestHandshake === 0 && peer.endpoint !== null);
        if (stalled.length > 0) {
          await this.wg(managed.name, ['set', managed.name, ...reinitiateArgs(stalled)], {env: WG_SET_ENV});
          this.logger.debug({interface: managed.name, peers: stalled.length, after: at}, 'no handshake yet: peers added afresh to start one again');
        }
        return stalled.map((peer) => peer.publicKey);
      }).then(
        (again) => {
          if (again.length > 0) this.checkHandshakes(managed, again, step + 1);
        },
        (error: unknown) => this.logger.debug({err: error, interface: managed.name}, 'checking that handshakes completed failed'),
      );
    }, Math.round((at - (HANDSHAKE_CHECKS_MS[step - 1] ?? 0)) * (1 + HANDSHAKE_CHECK_JITTER * (2 * Math.random() - 1))));
    managed.handshakeChecks.add(timer);
  }

  private async setAddressesNow(managed: ManagedInterface, desired: string[], signal?: AbortSignal): Promise<void> {
    const {name} = managed;
    const actual = parseManagedAddresses(name, (await this.ip(['-j', 'addr', 'show', 'dev', name], signal)).stdout);
    const plan = planAddresses(actual, desired);
    for (const cidr of plan.remove) await this.ip(['addr', 'del', cidr, 'dev', name], signal);
    for (const cidr of plan.add) await this.ip(['addr', 'add', cidr, 'dev', name], signal);
    managed.addresses = desired;
    if (plan.add.length + plan.remove.length > 0) this.logger.debug({interface: name, added: plan.add, removed: plan.remove}, 'interface addresses applied');
  }

  /**
   * Routes wgmesh installs carry its protocol mark, so the listing (and every
   * deletion) only ever sees its own; an operator's route to the same
   * destination and metric makes the add fail, and is reported, not replaced.
   * Default routes go into the exit table, the others into `main` (see
   * {@link placeOf}); the exit table's rule follows its default routes.
   */
  private async setRoutesNow(managed: ManagedInterface, desired: WgRoute[], signal?: AbortSignal): Promise<void> {
    const {name} = managed;
    const actual: InstalledRoute[] = [];
    for (const family of [6, 4] as const) {
      for (const table of ['main', String(this.exitRouting.table)]) {
        for (const route of await this.listRoutes(family, table, ['dev', name], signal)) actual.push({...route, table});
      }
    }
    const plan = planRoutes(actual, desired, (route) => this.placeOf(route));
    for (const route of plan.remove) {
      await this.ip(['route', 'del', route.destination, ...(route.via ? ['via', route.via] : []), ...this.routeSelector(name, route.table), 'metric', String(route.metric)], signal);
    }
    const refused: string[] = [];
    for (const route of plan.add) {
      // onlink: WireGuard routes by allowed IPs, so the next hop needs no neighbour entry or covering prefix.
      const via = route.via ? ['via', route.via, 'onlink'] : [];
      const placement = this.placeOf(route);
      const target = [...via, ...this.routeSelector(name, placement.table), 'metric', String(placement.metric)];
      try {
        await this.ip(['route', 'add', route.destination, ...target], signal);
      } catch (error) {
        if (!(error instanceof CommandError && /File exists/i.test(error.stderr))) throw error;
        if (await this.heldByWgmesh(route.destination, placement, signal)) {
          // Ours, on another mesh interface: the destination moved between meshes. Take it over in one step.
          await this.ip(['route', 'replace', route.destination, ...target], signal);
          this.logger.debug({interface: name, destination: route.destination}, 'route moved here from another wgmesh interface');
        } else {
          refused.push(`${route.destination} (${placement.table === 'main' ? '' : `table ${placement.table}, `}metric ${placement.metric})`);
        }
      }
    }
    managed.routes = desired;
    const families = (routes: ReadonlyArray<{destination: string}>): Set<4 | 6> => new Set(routes.filter((route) => isDefaultRoute(route.destination)).map((route) => familyOf(route.destination)));
    await this.syncExitRules(families(desired), families(plan.remove), signal);
    if (plan.add.length + plan.remove.length > 0) this.logger.debug({interface: name, added: plan.add.length, removed: plan.remove.length}, 'routes applied');
    if (refused.length > 0) {
      throw new WgDriverError(
        `interface ${name}: route${refused.length > 1 ? 's' : ''} to ${refused.join(', ')} not installed: a route wgmesh did not install already exists there with that metric; remove it or set kernel.routeMetric (kernel.defaultRouteMetric or kernel.defaultRouteTable for a default route)`,
      );
    }
  }

  /** Where a route goes: a default route into the exit table with the default route metric, the others into `main`. */
  private placeOf(route: WgRoute): RoutePlacement {
    return isDefaultRoute(route.destination)
      ? {table: String(this.exitRouting.table), metric: Number(this.defaultRouteMetric)}
      : {table: 'main', metric: Number(this.routeMetric)};
  }

  /** The `ip route` selector of wgmesh's routes on `name` in `table`. */
  private routeSelector(name: string, table: string): string[] {
    return ['dev', name, 'proto', this.routeProtocol, 'table', table];
  }

  /** wgmesh's routes of `family` in `table` matching `selector` (none when the table does not exist yet). */
  private async listRoutes(family: 4 | 6, table: string, selector: readonly string[], signal?: AbortSignal): Promise<ListedRoute[]> {
    try {
      const {stdout} = await this.ip([`-${family}`, '-j', 'route', 'show', ...selector, 'proto', this.routeProtocol, 'table', table], signal);
      return parseRoutes(`(routing table ${table})`, family, stdout);
    } catch (error) {
      if (error instanceof CommandError && error.kind === 'failed' && NO_SUCH_TABLE.test(error.stderr)) return [];
      throw error;
    }
  }

  /** True when the route to exactly `destination` where `placement` puts it carries wgmesh's mark (on any interface). */
  private async heldByWgmesh(destination: string, placement: RoutePlacement, signal?: AbortSignal): Promise<boolean> {
    const routes = await this.listRoutes(familyOf(destination), placement.table, ['exact', destination], signal);
    return routes.some((route) => route.metric === placement.metric);
  }

  /**
   * Keep the exit table's rule in step with its routes: present for each
   * family in `wanted` (this interface wants a default route of it), and
   * removed for each family in `released` (this interface let go of one)
   * once no wgmesh route of that family is left in the table. Runs in the
   * route queue, so it never races another interface's routes.
   */
  private async syncExitRules(wanted: ReadonlySet<4 | 6>, released: ReadonlySet<4 | 6>, signal?: AbortSignal): Promise<void> {
    const table = String(this.exitRouting.table);
    for (const family of [6, 4] as const) {
      if (!wanted.has(family) && !released.has(family)) continue;
      const present = hasExitRule((await this.ip(['-N', '-j', `-${family}`, 'rule', 'show', 'priority', String(this.exitRouting.priority)], signal)).stdout, this.exitRouting);
      if (wanted.has(family)) {
        if (present) continue;
        await this.ip([`-${family}`, 'rule', 'add', ...exitRuleArgs(this.exitRouting)], signal).catch((error: unknown) => {
          if (!(error instanceof CommandError && /File exists/i.test(error.stderr))) throw error;
        });
        this.logger.info(
          {family, ...this.exitRouting},
          `default routes through an exit are in routing table ${table}, used after the host's own routes; WireGuard's own packets (fwmark ${this.exitRouting.fwmark}) never use them`,
        );
      } else if (present && (await this.listRoutes(family, table, [], signal)).length === 0) {
        await this.ip([`-${family}`, 'rule', 'del', ...exitRuleArgs(this.exitRouting)], signal).catch((error: unknown) => {
          if (!(error instanceof CommandError && /No such file/i.test(error.stderr))) throw error;
        });
        this.logger.debug({family, ...this.exitRouting}, 'no default route through an exit is left: policy rule removed');
      }
    }
  }

  // ---- helpers --------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new WgDriverError('the wg-kernel driver is closed');
  }

  /** Run `task` after every earlier operation on interface `name`. */
  private serial<T>(name: string, task: () => Promise<T>): Promise<T> {
    this.assertOpen();
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new SerialQueue();
      this.queues.set(name, queue);
    }
    return queue.run(task).catch((error: unknown) => {
      throw this.goneOr(name, error);
    });
  }

  /**
   * `error`, or a {@link WgInterfaceGoneError} when it says that interface
   * `name`, one this driver manages and so supervises, vanished under the
   * operation: the supervision rebuilds it and reports it restored, and the
   * caller applies its wish again then.
   */
  private goneOr(name: string, error: unknown): unknown {
    if (!this.interfaces.has(name) || error instanceof WgInterfaceGoneError) return error;
    const text = error instanceof CommandError ? error.stderr : error instanceof WgDriverError ? error.message : '';
    return LINK_GONE.test(text) ? new WgInterfaceGoneError(name, firstLine(text), {cause: error}) : error;
  }

  /** The managed interface `name`, or a clear error. */
  private require(name: string): ManagedInterface {
    const managed = this.interfaces.get(name);
    if (!managed) throw new WgDriverError(`interface ${name} is not set up by this driver: ensureInterface must come first`);
    if (managed.failure) throw new WgDriverError(managed.failure);
    return managed;
  }

  private ip(args: readonly string[], signal?: AbortSignal): Promise<{stdout: string}> {
    return this.runner.run('ip', args, {signal});
  }

  /** Run `wg`, turning "no such interface" into a clear line. */
  private async wg(name: string, args: readonly string[], options: RunOptions = {}): Promise<{stdout: string}> {
    try {
      return await this.runner.run('wg', args, options);
    } catch (error) {
      // "No such device" from the kernel module; "Protocol not supported" when there is no module and no UAPI socket either.
      if (error instanceof CommandError && error.kind === 'failed' && NO_SUCH_INTERFACE.test(firstLine(error.stderr))) {
        throw new WgDriverError(`interface ${name} does not exist (removed outside wgmesh, or its userspace WireGuard process exited): ${firstLine(error.stderr)}`);
      }
      throw error;
    }
  }

  /** `wg show NAME dump`, parsed. Its first line holds the private key: the text is never logged. */
  private async dump(name: string, signal?: AbortSignal): Promise<WgDump> {
    return parseWgDump(name, (await this.wg(name, ['show', name, 'dump'], {signal})).stdout);
  }

  /** The link called `name` in the driver's namespace, or null. */
  private async readLink(name: string, signal?: AbortSignal): Promise<LinkInfo | null> {
    try {
      return parseLink(name, (await this.ip(['-j', '-d', 'link', 'show', 'dev', name], signal)).stdout);
    } catch (error) {
      if (error instanceof CommandError && error.kind === 'failed' && /does not exist/i.test(error.stderr)) return null;
      throw error;
    }
  }
}
