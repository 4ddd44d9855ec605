/**
 * NAT traversal of one mesh on one node: the observed endpoints both ways
 * (this node tells each member that heartbeats it where its WireGuard sees
 * that member's packets; members tell this node the same), what this node
 * publishes about its NAT, and on a client the hole punching towards other
 * clients, checked every `checkIntervalMs` against WireGuard's statistics.
 */
import type {Clock, TimerHandle} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {WgDriver, WgPeerStats} from '../contracts/wg-driver.js';
import {MAX_NAT_DIRECT_PEERS, type NatInfo, type NodeRecord} from '../model/record.js';
import {directPeersOf} from '../runtime/wg-plan.js';
import {ObservedEndpoints, sameNatInfo, type LocalSocket, type ObservationLimits, DEFAULT_OBSERVATION_LIMITS} from './observations.js';
import {DEFAULT_PUNCH_SETTINGS, mayPunch, Punches, type PunchCandidate, type PunchEntry, type PunchSettings} from './punch.js';

/** NAT traversal settings of a node (config: `natTraversal*`). */
export interface NatSettings {
  /** Off: no direct paths, no punching, no observations published (clients relay through their home peer only). */
  enabled: boolean;
  /** How often a client checks its punched paths (ms). */
  checkIntervalMs: number;
  punch: PunchSettings;
  observations: ObservationLimits;
}

/** Defaults: off (as the `natTraversal` config key), checked every second when on. */
export const DEFAULT_NAT_SETTINGS: NatSettings = {enabled: false, checkIntervalMs: 1_000, punch: DEFAULT_PUNCH_SETTINGS, observations: DEFAULT_OBSERVATION_LIMITS};

/**
 * An endpoint is reported to a member only while WireGuard has a recent
 * handshake with it: an older one may describe a NAT mapping long gone.
 */
export const OBSERVED_HANDSHAKE_MAX_AGE_MS = 180_000;

/**
 * Longest an answer to a member's heartbeat waits for WireGuard's statistics
 * (a `wg show` process, slow to start on a loaded host): well below the
 * heartbeat's probe timeout, so the answer is never late for it.
 */
export const OBSERVED_WAIT_MS = 100;

/** Statistics older than this are read again before an answer uses them. */
const STATS_MAX_AGE_MS = 1_000;

/** Statistics at most this old are read again for a member they do not show yet (bounds the reads members can cause). */
const FRESH_STATS_MS = 250;

/** How often a client checks while a punch attempt waits for its handshake (a `wg show` each time). */
const TRYING_CHECK_MS = 250;

/** Everything a NatAgent needs. */
export interface NatAgentDeps {
  settings: NatSettings;
  clock: Clock;
  logger: Logger;
  driver: WgDriver;
  interfaceName: string;
  /** True while the interface is up and configured (statistics can be read). */
  active: () => boolean;
  /** This node's record, if it has one. */
  self: () => NodeRecord | undefined;
  /** The live records of the mesh. */
  live: () => readonly NodeRecord[];
  /** This node's WireGuard socket (port and host addresses). */
  localSocket: () => LocalSocket;
  /** What this node publishes about its NAT changed: publish the record again. */
  publish: () => void;
  /** The punched entries changed: reconcile WireGuard. */
  reconcile: () => void;
}

/** NAT traversal of one mesh on one node. */
export class NatAgent {
  private readonly deps: NatAgentDeps;
  private readonly observed: ObservedEndpoints;
  private readonly punches: Punches;
  private stats: {at: number; byKey: Map<string, WgPeerStats>} | undefined;
  private reading: Promise<Map<string, WgPeerStats>> | undefined;
  private timer: TimerHandle | undefined;
  /** When {@link timer} fires. */
  private nextAt = Infinity;
  private started = false;
  private ticking = false;
  private tickAgain = false;
  private stopped = false;
  /** What this node publishes now (undefined: nothing observed yet). */
  private info: NatInfo | undefined;
  /** On a client: the peers with a direct entry whose handshake completed lately, by id, sorted. */
  private direct: string[] = [];

  constructor(deps: NatAgentDeps) {
    this.deps = deps;
    this.observed = new ObservedEndpoints(deps.settings.observations);
    this.punches = new Punches(deps.settings.punch);
  }

  /** Start checking punched paths (a client only does any punching). */
  start(): void {
    if (!this.deps.settings.enabled || this.started || this.stopped) return;
    this.started = true;
    this.schedule(this.deps.settings.checkIntervalMs);
  }

  /**
   * The next check in `ms` (sooner replaces later): every `checkIntervalMs`,
   * every `TRYING_CHECK_MS` while an attempt waits for its handshake, and at
   * once after a change of the mesh's view.
   */
  private schedule(ms: number): void {
    if (this.stopped || !this.started) return;
    const at = this.deps.clock.now() + ms;
    if (this.timer !== undefined && this.nextAt <= at) return;
    this.timer?.cancel();
    this.nextAt = at;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      void this.tick().finally(() => this.schedule(this.punches.attempting() ? TRYING_CHECK_MS : this.deps.settings.checkIntervalMs));
    }, ms);
  }

  /** The mesh's view changed (a member's record, or liveness): check at once, a candidate may have appeared. */
  viewChanged(): void {
    this.schedule(0);
  }

  /** Stop the checks. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /**
   * What this node publishes about its NAT in its record: undefined while
   * off; `unknown` before any report (the field's presence tells members
   * that this node takes direct paths).
   */
  natInfo(): NatInfo | undefined {
    return this.deps.settings.enabled ? (this.info ?? {endpoint: null, mapping: 'unknown'}) : undefined;
  }

  /** True when direct paths to and from public peers are planned. */
  get directToPeers(): boolean {
    return this.deps.settings.enabled;
  }

  /** On a client: the punched WireGuard entries, by remote client id. */
  punched(): Map<string, PunchEntry> {
    return this.deps.settings.enabled ? this.punches.entries() : new Map();
  }

  /** The path to client `id` as punching sees it. */
  pathTo(id: string): 'direct' | 'trying' | 'relayed' {
    return this.punches.pathTo(id);
  }

  /** Member `monitor` answered a heartbeat saying it sees this node's WireGuard packets come from `endpoint`. */
  observedBy(monitor: string, endpoint: string): void {
    if (!this.deps.settings.enabled) return;
    this.observed.report(monitor, endpoint, this.deps.clock.now());
    this.summarise();
  }

  /** The port changed (or the interface was rebuilt on another): the reports describe the old socket. */
  forgetObservations(): void {
    this.observed.clear();
    this.summarise();
  }

  /** Compute what to publish; ask for a publish when it changed. */
  private summarise(): void {
    const observed = this.observed.summary(this.deps.clock.now(), this.deps.localSocket());
    const next = this.direct.length > 0 ? {...observed, direct: this.direct} : observed;
    if (sameNatInfo(next, this.natInfo())) return;
    this.info = next;
    this.deps.publish();
  }

  /**
   * Where this node's WireGuard sees member `id`'s packets come from, when it
   * had a handshake with it lately (the answer to its heartbeat carries it).
   */
  async observedFor(id: string): Promise<string | undefined> {
    if (!this.deps.settings.enabled || !this.deps.active()) return undefined;
    const record = this.deps.live().find((member) => member.id === id);
    if (!record) return undefined;
    let peer: WgPeerStats | undefined;
    const deadline = this.deps.clock.now() + OBSERVED_WAIT_MS;
    try {
      peer = (await this.statsBy(deadline, STATS_MAX_AGE_MS))?.get(record.wgPublicKey);
      // A member that just joined may have handshaken since the last read: look again, a little fresher.
      if (!peer?.endpoint || peer.latestHandshakeMs === null) peer = (await this.statsBy(deadline, FRESH_STATS_MS))?.get(record.wgPublicKey);
    } catch {
      return undefined;
    }
    if (!peer?.endpoint || peer.latestHandshakeMs === null || this.deps.clock.now() - peer.latestHandshakeMs > OBSERVED_HANDSHAKE_MAX_AGE_MS) return undefined;
    return peer.endpoint;
  }

  /**
   * WireGuard's statistics no older than `maxAgeMs`, waiting for a read no
   * later than `deadline`: past it, the last read (undefined before the
   * first). A read still running goes on and serves later callers.
   */
  private async statsBy(deadline: number, maxAgeMs: number): Promise<Map<string, WgPeerStats> | undefined> {
    const reading = this.readStats(maxAgeMs);
    // A read that fails after the wait ended has no one to tell.
    reading.catch(() => undefined);
    const waitMs = deadline - this.deps.clock.now();
    let timer: TimerHandle | undefined;
    const late = new Promise<undefined>((resolve) => (timer = this.deps.clock.setTimeout(() => resolve(undefined), Math.max(0, waitMs))));
    try {
      return (await Promise.race([reading, late])) ?? this.stats?.byKey;
    } finally {
      timer?.cancel();
    }
  }

  /** WireGuard's statistics by key, read at most once per STATS_MAX_AGE_MS (concurrent callers share one read). */
  private async readStats(maxAgeMs = STATS_MAX_AGE_MS): Promise<Map<string, WgPeerStats>> {
    const now = this.deps.clock.now();
    if (this.stats && now - this.stats.at < maxAgeMs) return this.stats.byKey;
    this.reading ??= this.deps.driver
      .stats(this.deps.interfaceName)
      .then((list) => {
        const byKey = new Map(list.map((peer) => [peer.publicKey, peer]));
        this.stats = {at: this.deps.clock.now(), byKey};
        return byKey;
      })
      .finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** One check: expire old reports, and on a client advance every punch. */
  private async tick(): Promise<void> {
    if (this.ticking) {
      // A check asked for while one runs (a change of the view) runs right after it.
      this.tickAgain = true;
      return;
    }
    if (!this.deps.active()) return;
    this.ticking = true;
    try {
      const self = this.deps.self();
      const live = this.deps.live();
      const peers = self ? directPeersOf(self, live) : [];
      const candidates = new Map<string, PunchCandidate>();
      if (self?.role === 'client') {
        for (const other of live) {
          const candidate = mayPunch(self, other);
          if (candidate) candidates.set(other.id, candidate);
        }
      }
      if (peers.length === 0 && candidates.size === 0 && this.punches.entries().size === 0) {
        this.direct = [];
        this.summarise();
        return;
      }
      const stats = await this.readStats(this.punches.attempting() ? TRYING_CHECK_MS : STATS_MAX_AGE_MS);
      this.direct = handshakenPeers(peers, stats, this.deps.clock.now());
      this.summarise();
      const events = this.punches.tick(this.deps.clock.now(), candidates, stats);
      for (const event of events) this.deps.logger.info({peer: event.id, path: event.kind}, `direct path to ${event.id}: ${event.kind}`);
      if (events.length > 0) this.deps.reconcile();
    } catch (error) {
      this.deps.logger.debug({err: error}, 'NAT traversal check failed; tried again at the next one');
    } finally {
      this.ticking = false;
      if (this.tickAgain) {
        this.tickAgain = false;
        this.schedule(0);
      }
    }
  }
}

/**
 * The ids of `peers` (a client's direct entries) whose WireGuard handshake
 * completed within OBSERVED_HANDSHAKE_MAX_AGE_MS, sorted, at most
 * MAX_NAT_DIRECT_PEERS: what the client publishes as `nat.direct`. A
 * handshake needs both ends' keys and the path both ways, so a peer is
 * listed only once packets crossed the direct path; one the path lost
 * (no handshake since, sessions expire after 180 s) leaves the list.
 */
export function handshakenPeers(peers: readonly NodeRecord[], stats: ReadonlyMap<string, WgPeerStats>, now: number): string[] {
  const out: string[] = [];
  for (const peer of peers) {
    const at = stats.get(peer.wgPublicKey)?.latestHandshakeMs;
    if (at != null && now - at <= OBSERVED_HANDSHAKE_MAX_AGE_MS) out.push(peer.id);
  }
  return out.sort().slice(0, MAX_NAT_DIRECT_PEERS);
}

/** The config keys of NAT traversal (see config/docs.ts). */
export interface NatConfig {
  natTraversal: boolean;
  natPunchTimeoutMs: number;
  natMaxPunches: number;
  natMaxDirectPaths: number;
}

/** NAT traversal settings from the daemon's config; the rest are the defaults. */
export function natSettings(config: NatConfig): NatSettings {
  const punch = {...DEFAULT_PUNCH_SETTINGS, punchTimeoutMs: config.natPunchTimeoutMs, maxAttempts: config.natMaxPunches, maxDirect: config.natMaxDirectPaths};
  return {...DEFAULT_NAT_SETTINGS, enabled: config.natTraversal, punch};
}
