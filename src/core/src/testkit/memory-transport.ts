/**
 * An in-memory {@link Transport}: daemons in one process reach each other by
 * endpoint name, with optional latency (on an injected clock), loss and
 * partitions. Used by tests and by the scale simulation in bench/.
 */
import type {Clock, RandomSource} from '../contracts/clock.js';
import type {SyncSession, SyncStats} from '../contracts/store.js';
import type {RemotePeer, Transport, TransportHandlers} from '../contracts/transport.js';
import {PeerUnreachableError} from '../errors.js';

/** Network conditions of a {@link MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /** Clock that delays deliveries; without one, delivery is immediate. */
  clock?: Clock;
  /** One-way latency per message in ms (needs `clock`). */
  latencyMs?: number;
  /** Probability that a request is lost (the caller sees it unreachable). */
  lossRate?: number;
  /** Randomness for loss. */
  random?: RandomSource;
}

/** Counters of what crossed the network. */
export interface MemoryNetworkStats {
  messages: number;
  bytes: number;
}

/** The medium connecting {@link MemoryTransport}s. */
export class MemoryNetwork {
  private readonly listeners = new Map<string, TransportHandlers>();
  private readonly blocked = new Set<string>();
  readonly stats: MemoryNetworkStats = {messages: 0, bytes: 0};
  private readonly options: MemoryNetworkOptions;

  constructor(options: MemoryNetworkOptions = {}) {
    this.options = options;
  }

  /** A transport that listens at `endpoint`. */
  transport(endpoint: string): MemoryTransport {
    return new MemoryTransport(this, endpoint);
  }

  /** Cut every link between the two groups of endpoints (both directions). */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) for (const y of b) {
      this.blocked.add(`${x}|${y}`);
      this.blocked.add(`${y}|${x}`);
    }
  }

  /** Restore every link. */
  heal(): void {
    this.blocked.clear();
  }

  /** @internal */
  attach(endpoint: string, handlers: TransportHandlers): void {
    this.listeners.set(endpoint, handlers);
  }

  /** @internal */
  detach(endpoint: string): void {
    this.listeners.delete(endpoint);
  }

  /** @internal Deliver one request from `from` to `to`: count it, apply loss, partition and latency. */
  async deliver(from: string, to: string, bytes: number): Promise<TransportHandlers> {
    const handlers = this.listeners.get(to);
    if (!handlers) throw new PeerUnreachableError(to, 'nothing listens there');
    if (this.blocked.has(`${from}|${to}`)) throw new PeerUnreachableError(to, 'partitioned');
    const {lossRate = 0, random, clock, latencyMs = 0} = this.options;
    if (lossRate > 0 && (random?.float() ?? Math.random()) < lossRate) throw new PeerUnreachableError(to, 'message lost');
    this.stats.messages++;
    this.stats.bytes += bytes;
    if (clock && latencyMs > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, latencyMs));
    return handlers;
  }
}

/** One node's endpoint on a {@link MemoryNetwork}. */
export class MemoryTransport implements Transport {
  readonly name = 'memory';
  private readonly network: MemoryNetwork;
  readonly endpoint: string;

  constructor(network: MemoryNetwork, endpoint: string) {
    this.network = network;
    this.endpoint = endpoint;
  }

  private get self(): RemotePeer {
    return {address: this.endpoint, authenticatedAs: this.endpoint};
  }

  async listen(handlers: TransportHandlers): Promise<{port: number}> {
    this.network.attach(this.endpoint, handlers);
    return {port: 0};
  }

  async fetchSnapshot(endpoint: string, meshId: string): Promise<{storeKind: string; snapshot: Uint8Array}> {
    const handlers = await this.network.deliver(this.endpoint, endpoint, meshId.length);
    const reply = await handlers.snapshot(meshId, this.self);
    await this.network.deliver(endpoint, this.endpoint, reply.snapshot.byteLength);
    return reply;
  }

  async sync(endpoint: string, meshId: string, storeKind: string, session: SyncSession): Promise<SyncStats> {
    let message: Uint8Array | null = session.start();
    const handlers = await this.network.deliver(this.endpoint, endpoint, message.byteLength);
    const remote = handlers.openSync(meshId, storeKind, this.self);
    while (message) {
      const reply = remote.receive(message);
      if (!reply) break;
      await this.network.deliver(endpoint, this.endpoint, reply.byteLength);
      message = session.receive(reply);
      if (message) await this.network.deliver(this.endpoint, endpoint, message.byteLength);
    }
    return session.stats();
  }

  async message(endpoint: string, meshId: string, payload: Uint8Array): Promise<Uint8Array> {
    const handlers = await this.network.deliver(this.endpoint, endpoint, payload.byteLength);
    const reply = await handlers.message(meshId, payload, this.self);
    await this.network.deliver(endpoint, this.endpoint, reply.byteLength);
    return reply;
  }

  async close(): Promise<void> {
    this.network.detach(this.endpoint);
  }
}
