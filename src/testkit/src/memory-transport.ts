/**
 * An in-memory {@link Transport}: daemons in one process reach each other by
 * endpoint name, with optional latency (on an injected clock), loss,
 * partitions and per-endpoint upload bandwidth. Used by tests and by the scale
 * simulation in bench/simulate.
 */
import {PeerUnreachableError} from '@wgmesh/core';
import type {Clock, RandomSource, RemotePeer, SyncSession, SyncStats, Transport, TransportHandlers} from '@wgmesh/core';

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
  /**
   * Upload bandwidth of every endpoint in bytes per second (needs `clock`);
   * unset or 0: unlimited. Messages an endpoint sends leave one after another
   * (a FIFO uplink), so a message waits for the ones before it and then takes
   * `bytes / bandwidth` to send, before the one-way latency. Delivery times are
   * rounded to whole milliseconds.
   */
  bandwidthBytesPerSecond?: number;
  /**
   * How a message that cannot arrive (lost, partitioned link, nothing listening)
   * shows to its sender. `false` (the default): at once, as a
   * PeerUnreachableError (a refused connection). `true`: not at all: it is
   * dropped silently and the sender waits until its own deadline aborts the
   * request (its AbortSignal), as on a real network where a lost packet, a cut
   * link or a powered-off host answers nothing.
   */
  silentFailures?: boolean;
}

/** What one endpoint sent and received, in messages and payload bytes. */
export interface MemoryEndpointStats {
  messagesSent: number;
  bytesSent: number;
  messagesReceived: number;
  bytesReceived: number;
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
  private readonly perEndpoint = new Map<string, MemoryEndpointStats>();
  /** When each endpoint's uplink is free again (clock ms, fractional), with a bandwidth limit. */
  private readonly uplinkFreeAt = new Map<string, number>();

  constructor(options: MemoryNetworkOptions = {}) {
    this.options = options;
  }

  /** A transport that listens at `endpoint` and, when `nodeId` is given, proves that node to those it calls. */
  transport(endpoint: string, nodeId?: string): MemoryTransport {
    return new MemoryTransport(this, endpoint, nodeId);
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

  /** What `endpoint` sent and received so far (messages that were lost or blocked are not counted). */
  statsOf(endpoint: string): MemoryEndpointStats {
    return {...(this.perEndpoint.get(endpoint) ?? {messagesSent: 0, bytesSent: 0, messagesReceived: 0, bytesReceived: 0})};
  }

  /** @internal */
  attach(endpoint: string, handlers: TransportHandlers): void {
    this.listeners.set(endpoint, handlers);
  }

  /** @internal */
  detach(endpoint: string): void {
    this.listeners.delete(endpoint);
  }

  /**
   * @internal Deliver one message of `bytes` from `from` to `to`: apply loss,
   * partition, bandwidth and latency, count it. `signal` (the sender's
   * deadline) ends a silently failed delivery.
   */
  async deliver(from: string, to: string, bytes: number, signal?: AbortSignal): Promise<TransportHandlers> {
    const {lossRate = 0, random, clock, latencyMs = 0, bandwidthBytesPerSecond = 0} = this.options;
    let failure: string | undefined;
    if (!this.listeners.has(to)) failure = 'nothing listens there';
    else if (this.blocked.has(`${from}|${to}`)) failure = 'partitioned';
    else if (lossRate > 0 && (random?.float() ?? Math.random()) < lossRate) failure = 'message lost';
    if (failure !== undefined) {
      if (this.options.silentFailures) await silence(signal);
      throw new PeerUnreachableError(to, failure);
    }
    this.stats.messages++;
    this.stats.bytes += bytes;
    this.count(from, to, bytes);
    let delay = latencyMs;
    if (clock && bandwidthBytesPerSecond > 0) {
      const now = clock.now();
      const freeAt = Math.max(now, this.uplinkFreeAt.get(from) ?? now) + (bytes * 1000) / bandwidthBytesPerSecond;
      this.uplinkFreeAt.set(from, freeAt);
      delay = Math.round(freeAt - now + latencyMs);
    }
    if (clock && delay > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, delay));
    // The receiver may have stopped listening while the message was on its way.
    const handlers = this.listeners.get(to);
    if (!handlers) {
      if (this.options.silentFailures) await silence(signal);
      throw new PeerUnreachableError(to, 'nothing listens there');
    }
    return handlers;
  }

  private count(from: string, to: string, bytes: number): void {
    const sender = this.endpointStats(from);
    sender.messagesSent++;
    sender.bytesSent += bytes;
    const receiver = this.endpointStats(to);
    receiver.messagesReceived++;
    receiver.bytesReceived += bytes;
  }

  private endpointStats(endpoint: string): MemoryEndpointStats {
    let stats = this.perEndpoint.get(endpoint);
    if (!stats) {
      stats = {messagesSent: 0, bytesSent: 0, messagesReceived: 0, bytesReceived: 0};
      this.perEndpoint.set(endpoint, stats);
    }
    return stats;
  }
}

/** Wait until `signal` aborts (forever without one: the caller's own deadline settles its promise). */
function silence(signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    signal?.addEventListener('abort', () => resolve(), {once: true});
  });
}

/** One node's endpoint on a {@link MemoryNetwork}. */
export class MemoryTransport implements Transport {
  readonly name = 'memory';
  private readonly network: MemoryNetwork;
  readonly endpoint: string;
  /** The node this transport speaks for (what a real transport proves with its TLS key), if given. */
  readonly nodeId: string | undefined;

  constructor(network: MemoryNetwork, endpoint: string, nodeId?: string) {
    this.network = network;
    this.endpoint = endpoint;
    this.nodeId = nodeId;
  }

  private get self(): RemotePeer {
    return {address: this.endpoint, authenticatedAs: this.endpoint, ...(this.nodeId === undefined ? {} : {nodeId: this.nodeId})};
  }

  async listen(handlers: TransportHandlers): Promise<{port: number}> {
    this.network.attach(this.endpoint, handlers);
    return {port: 0};
  }

  async fetchSnapshot(endpoint: string, meshId: string, signal?: AbortSignal): Promise<{storeKind: string; snapshot: Uint8Array}> {
    const handlers = await this.network.deliver(this.endpoint, endpoint, meshId.length, signal);
    const reply = await handlers.snapshot(meshId, this.self);
    await this.network.deliver(endpoint, this.endpoint, reply.snapshot.byteLength, signal);
    return reply;
  }

  async sync(endpoint: string, meshId: string, storeKind: string, session: SyncSession, signal?: AbortSignal): Promise<SyncStats> {
    let message: Uint8Array | null = session.start();
    const handlers = await this.network.deliver(this.endpoint, endpoint, message.byteLength, signal);
    const remote = handlers.openSync(meshId, storeKind, this.self);
    while (message) {
      const reply = remote.receive(message);
      if (!reply) break;
      await this.network.deliver(endpoint, this.endpoint, reply.byteLength, signal);
      message = session.receive(reply);
      if (message) await this.network.deliver(this.endpoint, endpoint, message.byteLength, signal);
    }
    return session.stats();
  }

  async message(endpoint: string, meshId: string, payload: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    const handlers = await this.network.deliver(this.endpoint, endpoint, payload.byteLength, signal);
    const reply = await handlers.message(meshId, payload, this.self);
    await this.network.deliver(endpoint, this.endpoint, reply.byteLength, signal);
    return reply;
  }

  async close(): Promise<void> {
    this.network.detach(this.endpoint);
  }
}
