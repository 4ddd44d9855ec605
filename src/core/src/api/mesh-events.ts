/**
 * The source of the HTTP API's events: membership changes reported by each
 * mesh runtime, meshes added and removed by the daemon, and the WireGuard
 * handshake state of every peer, polled from the driver only while at least
 * one stream is open. Everything goes through one {@link EventHub}.
 */
import type {Clock, TimerHandle} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {WgPeerStats} from '../contracts/wg-driver.js';
import type {MemberChange, MeshRuntime} from '../runtime/mesh-runtime.js';
import {EventHub} from './event-hub.js';
import {handshakeState, type HandshakeState} from '../views/handshake.js';

/** How often handshakes are polled while a stream is open. */
export const HANDSHAKE_POLL_MS = 2_000;

/** Settings of {@link MeshEvents}. */
export interface MeshEventsOptions {
  clock: Clock;
  logger: Logger;
  /** The daemon's running meshes. */
  meshes: () => Iterable<MeshRuntime>;
  /** Events a stream may fall behind before it is dropped. */
  maxQueue: number;
}

/** The daemon's events. */
export class MeshEvents {
  readonly hub: EventHub;
  private readonly options: MeshEventsOptions;
  private pollTimer: TimerHandle | undefined;
  /** Mesh id -> node id -> the state last seen (a baseline is taken at the first poll of a mesh, without events). */
  private readonly handshakes = new Map<string, Map<string, HandshakeState>>();

  constructor(options: MeshEventsOptions) {
    this.options = options;
    this.hub = new EventHub({clock: options.clock, maxQueue: options.maxQueue});
    this.hub.onSubscriberCount((count) => {
      if (count > 0 && this.pollTimer === undefined) this.schedulePoll();
      if (count === 0) this.stopPolling();
    });
  }

  /** Report a change of a member of `runtime` (called by the daemon for its registered meshes only). */
  member(runtime: MeshRuntime, change: MemberChange): void {
    const {hub} = this;
    if (hub.size === 0) return;
    const {meshId} = runtime;
    if ('record' in change) {
      hub.publish(change.kind === 'joined' ? 'member.joined' : 'record.changed', {meshId, nodeId: change.record.id, node: runtime.nodeView(change.record)});
    } else {
      hub.publish(`member.${change.kind}`, {meshId, nodeId: change.nodeId});
    }
  }

  /** Report a mesh this node now runs. */
  meshAdded(meshId: string): void {
    this.hub.publish('mesh.added', {meshId});
  }

  /** Report a mesh this node no longer runs. */
  meshRemoved(meshId: string): void {
    this.handshakes.delete(meshId);
    this.hub.publish('mesh.removed', {meshId});
  }

  /** Stop polling and end every stream. */
  close(): void {
    this.stopPolling();
    this.hub.endAll('shutdown');
  }

  private schedulePoll(): void {
    this.pollTimer = this.options.clock.setTimeout(() => {
      void this.poll().finally(() => {
        if (this.pollTimer !== undefined) this.schedulePoll();
      });
    }, HANDSHAKE_POLL_MS);
  }

  private stopPolling(): void {
    this.pollTimer?.cancel();
    this.pollTimer = undefined;
    this.handshakes.clear();
  }

  /** Read every mesh's peer statistics and publish the peers whose handshake state changed. */
  private async poll(): Promise<void> {
    const running = new Set<string>();
    for (const runtime of this.options.meshes()) {
      running.add(runtime.meshId);
      let stats: WgPeerStats[];
      try {
        stats = await runtime.peerStats();
      } catch (error) {
        this.options.logger.debug({err: error, meshId: runtime.meshId}, 'could not read WireGuard statistics for the event stream');
        continue;
      }
      this.compare(runtime, stats);
    }
    for (const meshId of this.handshakes.keys()) if (!running.has(meshId)) this.handshakes.delete(meshId);
  }

  private compare(runtime: MeshRuntime, stats: readonly WgPeerStats[]): void {
    const {meshId} = runtime;
    const now = this.options.clock.now();
    const byKey = new Map(stats.map((peer) => [peer.publicKey, peer]));
    const previous = this.handshakes.get(meshId);
    const current = new Map<string, HandshakeState>();
    const self = runtime.self()?.id;
    for (const record of runtime.liveRecords()) {
      if (record.id === self) continue;
      const latest = byKey.get(record.wgPublicKey)?.latestHandshakeMs ?? null;
      const state = handshakeState(latest, now);
      current.set(record.id, state);
      const before = previous?.get(record.id);
      // A member new since the last poll that has had no handshake yet is no news.
      if (previous !== undefined && before !== state && !(before === undefined && state === 'none')) {
        this.hub.publish('handshake.changed', {meshId, nodeId: record.id, state, latestHandshakeAt: latest !== null && latest > 0 ? latest : null});
      }
    }
    this.handshakes.set(meshId, current);
  }
}
