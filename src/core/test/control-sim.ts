/**
 * A simulated mesh for control-plane tests: N nodes with real identities,
 * twophase stores, MeshControls and MemoryTransports on one SimulatedClock.
 * Each node signs its record once (signing and verifying are the slow part).
 */
import type {Clock, TimerHandle} from '../src/contracts/clock.js';
import type {SyncSession, SyncStats} from '../src/contracts/store.js';
import type {RemotePeer, Transport, TransportHandlers} from '../src/contracts/transport.js';
import type {MeshStore} from '../src/contracts/store.js';
import {MeshControl} from '../src/control/mesh-control.js';
import {decodeControlRequest} from '../src/control/messages.js';
import type {LiveViewChange} from '../src/control/membership-view.js';
import type {ControlSettings} from '../src/control/settings.js';
import {generateIdentity, type NodeIdentity} from '../src/identity/identity.js';
import type {NodeRecord, Role, VerifiedEntry} from '../src/model/record.js';
import {MemoryNetwork, MemoryTransport, SeededRandom, makeTestNode, silentLogger, testMeshId, type TestNode, SimulatedClock} from '@wgmesh/testkit';
import {TwoPhaseStore} from '@wgmesh/store-twophase';

/** The defaults. */
export const DEFAULT_SETTINGS: ControlSettings = {
  syncIntervalMs: 1_000,
  heartbeatIntervalMs: 2_000,
  pullIntervalMs: 20_000,
  branch: 3,
  clusterSize: 64,
  interClusterChance: 0.15,
  infectionCount: 3,
  timeoutMs: 5_000,
  maxClockSkewMs: 5 * 60_000,
};

/**
 * A transport that records every endpoint it dials, so tests can prove clients
 * are never dialled, and (in `pushedTo`) where its node's pushes went.
 */
export class RecordingTransport implements Transport {
  readonly name = 'recording';
  readonly dialled: string[] = [];
  private readonly inner: Transport;

  constructor(
    inner: Transport,
    private readonly sink: string[],
    private readonly silent: ReadonlySet<string> = new Set(),
    /** Resolves when the sending node may read a reply (see {@link Simulation.stall}). */
    private readonly awake: () => Promise<void> = () => Promise.resolve(),
    private readonly pushedTo: string[] = [],
    /** Called with every endpoint dialled (see {@link Simulation.dials}). */
    private readonly onDial: (endpoint: string) => void = () => undefined,
  ) {
    this.inner = inner;
  }

  /** A request to a silenced endpoint gets no answer at all: it hangs until the caller gives up (a real network's timeout). */
  private hang<T>(endpoint: string, signal?: AbortSignal): Promise<T> | undefined {
    if (!this.silent.has(endpoint)) return undefined;
    return new Promise<T>((_, reject) => signal?.addEventListener('abort', () => reject(new Error(`${endpoint} did not answer`)), {once: true}));
  }

  listen(handlers: TransportHandlers): Promise<{port: number}> {
    return this.inner.listen(handlers);
  }

  fetchSnapshot(endpoint: string, meshId: string, signal?: AbortSignal): Promise<{storeKind: string; snapshot: Uint8Array}> {
    this.sink.push(endpoint);
    this.onDial(endpoint);
    return this.inner.fetchSnapshot(endpoint, meshId, signal);
  }

  sync(endpoint: string, meshId: string, storeKind: string, session: SyncSession, signal?: AbortSignal): Promise<SyncStats> {
    this.sink.push(endpoint);
    this.onDial(endpoint);
    return this.hang(endpoint, signal) ?? this.inner.sync(endpoint, meshId, storeKind, session, signal);
  }

  message(endpoint: string, meshId: string, payload: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    this.sink.push(endpoint);
    this.onDial(endpoint);
    if (decodeControlRequest(payload).t === 'push') this.pushedTo.push(endpoint);
    return this.hang(endpoint, signal) ?? this.inner.message(endpoint, meshId, payload, signal).then(async (reply) => (await this.awake(), reply));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * A node's view of the shared clock that can stall: a timer due while the
 * node is stalled fires when the stall ends, as a process frozen by CPU
 * starvation or a long GC pause runs its overdue timers once it gets the CPU
 * back (and before the I/O that piled up meanwhile: see {@link Simulation.stall}).
 */
class StallableClock implements Clock {
  constructor(
    private readonly base: Clock,
    private readonly stalledUntil: () => number,
  ) {}

  now(): number {
    return this.base.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    let cancelled = false;
    let handle: TimerHandle;
    const fire = (): void => {
      if (cancelled) return;
      const wait = this.stalledUntil() - this.base.now();
      if (wait > 0) handle = this.base.setTimeout(fire, wait);
      else fn();
    };
    handle = this.base.setTimeout(fire, ms);
    return {
      cancel: () => {
        cancelled = true;
        handle.cancel();
      },
    };
  }
}

/** One simulated node. */
export interface SimNode {
  readonly index: number;
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly identity: NodeIdentity;
  readonly test: TestNode;
  store: MeshStore;
  transport: MemoryTransport;
  control: MeshControl;
  /** False once crashed or stopped. */
  up: boolean;
  /** Until when (simulated ms) the node's process is frozen; see {@link Simulation.stall}. */
  stalledUntil: number;
  /** Endpoints this node pushed to, one per push (tests may empty it). */
  pushedTo: string[];
}

/** A liveness transition seen by one node. */
export interface ViewEvent {
  at: number;
  observer: string;
  target: string;
  kind: 'died' | 'revived';
}

/** Options of a simulation. */
export interface SimOptions {
  peers: number;
  clients?: number;
  seed: number;
  settings?: Partial<ControlSettings>;
  latencyMs?: number;
  lossRate?: number;
}

const START = Date.UTC(2026, 0, 1);

/** A mesh of simulated nodes. */
export class Simulation {
  readonly clock = new SimulatedClock(START);
  readonly meshId: string;
  readonly network: MemoryNetwork;
  readonly nodes: SimNode[] = [];
  readonly events: ViewEvent[] = [];
  /** Every endpoint any node dialled. */
  readonly dialled: string[] = [];
  /** Every request any node sent: when, from which node (name), to which endpoint. */
  readonly dials: {at: number; from: string; to: string}[] = [];
  /** Endpoints that swallow requests without answering (see {@link silence}). */
  private readonly silenced = new Set<string>();
  readonly settings: ControlSettings;
  private readonly random: SeededRandom;

  constructor(options: SimOptions) {
    this.random = new SeededRandom(options.seed);
    this.meshId = testMeshId((n) => this.random.bytes(n));
    this.settings = {...DEFAULT_SETTINGS, ...options.settings};
    this.network = new MemoryNetwork({
      clock: this.clock,
      latencyMs: options.latencyMs ?? 5,
      lossRate: options.lossRate ?? 0,
      random: this.random.fork(),
    });
    const roles: Role[] = [...Array<Role>(options.peers).fill('peer'), ...Array<Role>(options.clients ?? 0).fill('client')];
    const tests = roles.map((role, index) => {
      const name = role === 'peer' ? `peer-${index}` : `client-${index}`;
      const test = makeTestNode(this.meshId, {identity: generateIdentity((n) => this.random.bytes(n)), now: START});
      const record = test.record({
        role,
        controlEndpoint: role === 'peer' ? name : null,
        wgEndpoint: role === 'peer' ? `${name}:51820` : null,
      });
      return {role, name, test, record};
    });
    const records: VerifiedEntry[] = tests.map((t) => t.record);
    tests.forEach(({role, name, test}, index) => {
      const store = this.openStore();
      store.merge(records);
      const node = {index, id: test.id, name, role, identity: test.identity, test, store, up: true, stalledUntil: -Infinity, pushedTo: []} as SimNode;
      this.attach(node, store);
      this.nodes.push(node);
    });
  }

  private openStore(): MeshStore {
    return new TwoPhaseStore({meshId: this.meshId, clock: this.clock, logger: silentLogger(), gcHorizonMs: 24 * 3_600_000, maxClockSkewMs: 60_000});
  }

  /** Give `node` a transport and a control plane over `store`, and record its view events. */
  private attach(node: SimNode, store: MeshStore): void {
    const transport = this.network.transport(node.name);
    const control = new MeshControl({
      meshId: this.meshId,
      identity: node.identity,
      role: node.role,
      store,
      transport: new RecordingTransport(transport, this.dialled, this.silenced, () => this.awake(node), node.pushedTo, (to) =>
        this.dials.push({at: this.clock.now(), from: node.name, to}),
      ),
      clock: new StallableClock(this.clock, () => node.stalledUntil),
      random: this.random.fork(),
      logger: silentLogger(),
      settings: this.settings,
    });
    control.onLiveViewChange((change: LiveViewChange) => {
      for (const target of change.died) this.events.push({at: this.clock.now(), observer: node.id, target, kind: 'died'});
      for (const target of change.revived) this.events.push({at: this.clock.now(), observer: node.id, target, kind: 'revived'});
    });
    node.store = store;
    node.transport = transport;
    node.control = control;
    node.up = true;
  }

  /**
   * Bring a crashed node back as a daemon restart would: same identity, state
   * from `source`'s snapshot (a restored or re-joined store), fresh control plane.
   */
  async restart(node: SimNode, source: SimNode): Promise<void> {
    const store = this.openStore();
    store.load(source.store.save());
    this.attach(node, store);
    await node.transport.listen(node.role === 'peer' ? this.handlers(node) : this.trap(node));
    node.control.start();
  }

  /** Requests that reached a client (must stay empty: clients are never dialled). */
  readonly clientInbound: string[] = [];

  /**
   * Start every node. The MemoryNetwork delivers a reply only to an endpoint
   * that listens, so clients listen too, with handlers that only record what
   * reaches them: nothing ever should.
   */
  async start(): Promise<void> {
    for (const node of this.nodes) {
      await node.transport.listen(node.role === 'peer' ? this.handlers(node) : this.trap(node));
      node.control.start();
    }
  }

  private trap(node: SimNode): TransportHandlers {
    const refuse = (what: string, peer: RemotePeer): never => {
      this.clientInbound.push(`${what} from ${peer.address} to ${node.name}`);
      throw new Error('a client is never dialled');
    };
    return {
      snapshot: async (_meshId, peer) => refuse('snapshot', peer),
      openSync: (_meshId, _kind, peer) => refuse('sync', peer),
      message: async (_meshId, _payload, peer) => refuse('message', peer),
    };
  }

  private handlers(node: SimNode): TransportHandlers {
    return {
      snapshot: async () => ({storeKind: node.store.kind, snapshot: node.store.save()}),
      openSync: () => node.store.openSync('responder'),
      message: async (_meshId: string, payload: Uint8Array, peer: RemotePeer) => {
        await this.awake(node);
        return node.control.handleMessage(payload, peer);
      },
    };
  }

  /** Nodes still running. */
  get upNodes(): SimNode[] {
    return this.nodes.filter((node) => node.up);
  }

  /** Stop a node the hard way: timers stopped, transport closed, no leave. */
  async crash(node: SimNode): Promise<void> {
    node.up = false;
    await node.control.stop();
    await node.transport.close();
  }

  /**
   * Crash a node so that requests to it time out instead of failing at once,
   * as on a real network where a dead host does not answer.
   */
  async crashSilently(node: SimNode): Promise<void> {
    this.silenced.add(node.name);
    await this.crash(node);
  }

  /**
   * Freeze `node`'s process for `ms`: no timer of it runs and nothing it
   * receives (requests, replies) is read until the stall ends; then its
   * overdue timers run first and the messages that piled up right after, in
   * the order Node.js's event loop would (timers before I/O).
   */
  stall(node: SimNode, ms: number): void {
    node.stalledUntil = this.clock.now() + ms;
  }

  /** Resolves once `node` is not stalled, a millisecond after its overdue timers. */
  private awake(node: SimNode): Promise<void> {
    const wait = node.stalledUntil - this.clock.now();
    if (wait <= 0) return Promise.resolve();
    return new Promise((resolve) => this.clock.setTimeout(resolve, wait + 1));
  }

  /** Advance simulated time. */
  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  /**
   * Advance in `stepMs` steps until `condition` holds; returns the simulated
   * time it took. Fails the test when it does not hold within `limitMs`.
   */
  async until(condition: () => boolean, limitMs: number, what: string, stepMs = 5): Promise<number> {
    const start = this.clock.now();
    while (!condition()) {
      if (this.clock.now() - start >= limitMs) throw new Error(`${what}: not reached within ${limitMs} ms of simulated time`);
      await this.clock.advance(stepMs);
    }
    return this.clock.now() - start;
  }

  /** Live view (ids) of a node. */
  view(node: SimNode): Set<string> {
    return new Set(node.control.liveRecords().map((record) => record.id));
  }

  /** True when every running node's live view is exactly `expected` (ids). */
  allViewsAre(expected: readonly SimNode[], observers: readonly SimNode[] = this.upNodes): boolean {
    const want = new Set(expected.map((node) => node.id));
    return observers.every((observer) => {
      const view = this.view(observer);
      return view.size === want.size && [...want].every((id) => view.has(id));
    });
  }

  /** Sign and merge a new version of `node`'s record (what a `node set alias` does); returns its version. */
  publish(node: SimNode, patch: Partial<NodeRecord>): number {
    const current = node.store.get(node.id)!.value as NodeRecord;
    const now = this.clock.now();
    const version = Math.max(current.version + 1, now);
    const result = node.store.merge([node.test.record({...current, ...patch, version, updatedAt: now})]);
    if (result.accepted.length !== 1) throw new Error('own record not accepted');
    return version;
  }

  /** Sign and merge `node`'s tombstone (what leaving does before the push). */
  tombstone(node: SimNode): void {
    const current = node.store.get(node.id)!.value;
    const now = this.clock.now();
    node.store.merge([node.test.tombstone({version: Math.max(current.version + 1, now), updatedAt: now})]);
  }

  /** Stop everything. */
  async stop(): Promise<void> {
    for (const node of this.nodes) {
      node.up = false;
      await node.control.stop();
      await node.transport.close();
    }
  }
}
