/**
 * An in-memory WgDriver for tests and CI: it touches no kernel state, records
 * exactly what it was asked to configure, and lets tests read that back
 * (`snapshot()`, or the mirrored state file for a daemon in another process).
 * It checks its inputs with core's driver rules, the kernel driver's too, so
 * daemon bugs still fail; it records them as it was asked.
 */
import {createSocket} from 'node:dgram';
import {canonicalAddresses, canonicalPeers, canonicalRoutes, checkInterfaceName, checkInterfaceSpec, WgDriverError, wgPublicKeyFromPrivate, writeFileAtomic} from '@wgmesh/core';
import type {Logger, WgDriver, WgForwardingState, WgInterfaceSpec, WgInterfaceState, WgPeerConfig, WgPeerStats, WgRoute} from '@wgmesh/core';
import {STUB_STATE_VERSION, type StubCallCounts, type StubInterfaceSnapshot, type StubSnapshot} from './state.js';

/** Options of {@link StubWgDriver}. */
export interface StubWgDriverOptions {
  /** Mirror the state to this JSON file (atomically) after every call that changes it. */
  stateFile?: string | undefined;
  /**
   * Picks the port of an interface asked for port 0. Default: a UDP port the
   * kernel reports free, so daemons sharing a host advertise distinct
   * endpoints, as they would with real WireGuard.
   */
  allocatePort?: () => Promise<number>;
  /** Debug log of every call (never with the private key). */
  logger?: Logger | undefined;
}

/**
 * Counters a test can set to simulate traffic and handshakes on one peer, and
 * optionally the endpoint WireGuard learned from the peer's packets (reported
 * in place of the configured one, as `wg show` does).
 */
export type StubPeerStats = Pick<WgPeerStats, 'latestHandshakeMs' | 'rxBytes' | 'txBytes'> & {endpoint?: string};

/** One interface as the stub holds it. */
interface InterfaceState {
  name: string;
  publicKey: string;
  listenPort: number;
  mtu: number;
  peers: WgPeerConfig[];
  addresses: string[];
  routes: WgRoute[];
  calls: StubCallCounts;
  /** Test-injected statistics by peer public key. */
  stats: Map<string, StubPeerStats>;
}

/** Ask the kernel for a free UDP port (bind to 0, read it, release it). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    return socket.address().port;
  } finally {
    socket.close();
  }
}

function copyPeer(peer: WgPeerConfig): WgPeerConfig {
  return {
    publicKey: peer.publicKey,
    endpoint: peer.endpoint,
    allowedIps: [...peer.allowedIps],
    ...(peer.keepaliveSeconds === undefined ? {} : {keepaliveSeconds: peer.keepaliveSeconds}),
  };
}

function copyRoute(route: WgRoute): WgRoute {
  return route.via === undefined ? {destination: route.destination} : {destination: route.destination, via: route.via};
}

/** The in-memory WireGuard driver (`wg:stub`). */
export class StubWgDriver implements WgDriver {
  /** Backend name. */
  readonly name = 'stub';
  private readonly options: StubWgDriverOptions;
  private readonly interfaces = new Map<string, InterfaceState>();
  private readonly removed: string[] = [];
  /** Whether the (simulated) host forwards IPv6; once on, it stays on, as with the real driver. */
  private forwarding = false;
  private forwardingCalls = 0;
  /** Mirror writes, chained so the file always ends at the latest state. */
  private mirror: Promise<void> = Promise.resolve();
  /** The mirror write queued behind the one in progress, not started yet: later changes join it. */
  private queuedWrite: Promise<void> | undefined;
  private closed = false;

  constructor(options: StubWgDriverOptions = {}) {
    this.options = options;
  }

  async ensureInterface(spec: WgInterfaceSpec, signal?: AbortSignal): Promise<WgInterfaceState> {
    this.begin(signal);
    checkInterfaceSpec(spec);
    // Port 0 on an existing interface keeps its port: the endpoint other nodes
    // know must not move just because the daemon restated "any port".
    let listenPort = spec.listenPort;
    if (listenPort === 0 && !this.interfaces.has(spec.name)) listenPort = await this.allocatePort();
    // Read after the await: a concurrent call may have created it meanwhile.
    const existing = this.interfaces.get(spec.name);
    if (spec.listenPort === 0 && existing) listenPort = existing.listenPort;
    const state: InterfaceState = existing ?? {
      name: spec.name,
      publicKey: '',
      listenPort,
      mtu: spec.mtu,
      peers: [],
      addresses: [],
      routes: [],
      calls: {ensureInterface: 0, applyPeers: 0, setAddresses: 0, setRoutes: 0},
      stats: new Map(),
    };
    state.publicKey = wgPublicKeyFromPrivate(spec.privateKey);
    state.listenPort = listenPort;
    state.mtu = spec.mtu;
    state.calls.ensureInterface += 1;
    this.interfaces.set(spec.name, state);
    this.options.logger?.debug({interface: spec.name, listenPort, mtu: spec.mtu, created: !existing}, 'wg-stub: ensureInterface');
    await this.persist();
    return {name: spec.name, listenPort};
  }

  async applyPeers(name: string, peers: readonly WgPeerConfig[], signal?: AbortSignal): Promise<void> {
    this.begin(signal);
    checkInterfaceName(name);
    // Refused exactly where the kernel driver refuses; recorded as asked.
    canonicalPeers(name, peers);
    const state = this.get(name);
    state.peers = peers.map(copyPeer);
    for (const key of state.stats.keys()) {
      if (!peers.some((peer) => peer.publicKey === key)) state.stats.delete(key);
    }
    state.calls.applyPeers += 1;
    this.options.logger?.debug({interface: name, peers: peers.length}, 'wg-stub: applyPeers');
    await this.persist();
  }

  async setAddresses(name: string, cidrs: readonly string[], signal?: AbortSignal): Promise<void> {
    this.begin(signal);
    checkInterfaceName(name);
    canonicalAddresses(name, cidrs);
    const state = this.get(name);
    state.addresses = [...cidrs];
    state.calls.setAddresses += 1;
    this.options.logger?.debug({interface: name, addresses: cidrs}, 'wg-stub: setAddresses');
    await this.persist();
  }

  async setRoutes(name: string, routes: readonly WgRoute[], signal?: AbortSignal): Promise<void> {
    this.begin(signal);
    checkInterfaceName(name);
    canonicalRoutes(name, routes);
    const state = this.get(name);
    state.routes = routes.map(copyRoute);
    state.calls.setRoutes += 1;
    this.options.logger?.debug({interface: name, routes: routes.length}, 'wg-stub: setRoutes');
    await this.persist();
  }

  /**
   * Record that the host must forward IPv6 (host-wide, like the real
   * setting): the snapshot's `forwarding` turns true and stays true.
   */
  async ensureForwarding(signal?: AbortSignal): Promise<WgForwardingState> {
    this.begin(signal);
    this.forwardingCalls += 1;
    const changed = !this.forwarding;
    this.forwarding = true;
    if (changed) this.options.logger?.debug({}, 'wg-stub: ensureForwarding turned forwarding on');
    await this.persist();
    return {changed};
  }

  /**
   * One entry per configured peer: its configured endpoint and, unless a test
   * set them (or a learned endpoint) with {@link setPeerStats}, no handshake and zero bytes. That is
   * exactly what `wg show` reports for peers that never connected, and it
   * lets the daemon's statistics path run against the stub.
   */
  async stats(name: string, signal?: AbortSignal): Promise<WgPeerStats[]> {
    this.begin(signal);
    checkInterfaceName(name);
    const state = this.get(name);
    return state.peers.map((peer) => ({
      publicKey: peer.publicKey,
      endpoint: peer.endpoint,
      ...(state.stats.get(peer.publicKey) ?? {latestHandshakeMs: null, rxBytes: 0, txBytes: 0}),
    }));
  }

  /** Idempotent: removing an interface that does not exist succeeds. */
  async removeInterface(name: string, signal?: AbortSignal): Promise<void> {
    this.begin(signal);
    checkInterfaceName(name);
    if (!this.interfaces.delete(name)) return;
    this.removed.push(name);
    this.options.logger?.debug({interface: name}, 'wg-stub: removeInterface');
    await this.persist();
  }

  /** Waits for pending mirror writes; later calls fail. Interfaces stay as they are (in the snapshot). */
  async close(): Promise<void> {
    this.closed = true;
    await this.mirror.catch(() => undefined);
  }

  /**
   * Test hook: make {@link stats} report these counters for one configured peer
   * (e.g. a recent handshake), until the peer is removed from the interface.
   * @throws WgDriverError when the interface or peer is not configured.
   */
  setPeerStats(name: string, publicKey: string, stats: StubPeerStats): void {
    const state = this.get(name);
    if (!state.peers.some((peer) => peer.publicKey === publicKey)) {
      throw new WgDriverError(`interface ${name} has no peer ${publicKey}`);
    }
    state.stats.set(publicKey, {...stats});
  }

  /** Everything the stub holds, as a deep copy (interfaces sorted by name). */
  snapshot(): StubSnapshot {
    const interfaces: StubInterfaceSnapshot[] = [...this.interfaces.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((state) => ({
        name: state.name,
        publicKey: state.publicKey,
        listenPort: state.listenPort,
        mtu: state.mtu,
        peers: state.peers.map(copyPeer),
        addresses: [...state.addresses],
        routes: state.routes.map(copyRoute),
        calls: {...state.calls},
      }));
    return {version: STUB_STATE_VERSION, interfaces, removed: [...this.removed], forwarding: this.forwarding, forwardingCalls: this.forwardingCalls};
  }

  /** Refuse calls after close and honour an already-aborted signal. */
  private begin(signal?: AbortSignal): void {
    if (this.closed) throw new WgDriverError('the wg-stub driver is closed');
    signal?.throwIfAborted();
  }

  private get(name: string): InterfaceState {
    const state = this.interfaces.get(name);
    if (!state) throw new WgDriverError(`no interface named ${name}; create it with ensureInterface first`);
    return state;
  }

  private async allocatePort(): Promise<number> {
    const allocate = this.options.allocatePort ?? freeUdpPort;
    const taken = new Set([...this.interfaces.values()].map((state) => state.listenPort));
    // A handful of tries is plenty: a collision needs the kernel to hand back
    // a port this very driver already reported for another interface.
    for (let attempt = 0; attempt < 16; attempt += 1) {
      const port = await allocate();
      if (!taken.has(port)) return port;
    }
    throw new WgDriverError('could not find a free listen port for the interface; set one explicitly');
  }

  /**
   * Mirror the state; resolves once a write that started after this call (and
   * every earlier write) is on disk. Calls made while a write is in progress
   * share the one queued behind it, which takes the state when it starts: a
   * reconcile makes several driver calls in a row, and one write covers them.
   */
  private persist(): Promise<void> {
    const file = this.options.stateFile;
    if (file === undefined) return Promise.resolve();
    if (this.queuedWrite) return this.queuedWrite;
    const write = this.mirror
      .catch(() => undefined)
      .then(() => {
        this.queuedWrite = undefined;
        return writeFileAtomic(file, `${JSON.stringify(this.snapshot(), null, 2)}\n`);
      });
    this.queuedWrite = write;
    this.mirror = write;
    return write;
  }
}
