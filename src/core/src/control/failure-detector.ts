/**
 * Failure detection without rewriting records (SWIM-like, with monitors).
 *
 * Every node sends a tiny heartbeat to each of its `MONITORS` ring successors
 * once per H, to one of them every H/MONITORS in turn; when one does not get
 * through, it is relayed by another peer, so a node that can reach anyone who
 * can reach its monitor keeps being heard. Each monitor watches the nodes
 * whose successor it is (its ring predecessors, and clients whose hashed
 * position falls just before it). A direct heartbeat also carries this node's
 * anti-entropy digests ({@link HeartbeatAntiEntropy}), so the idle
 * anti-entropy round costs no request of its own. After 3H/2 of silence a
 * monitor probes: a direct ping (peers only, clients are never dialled) and
 * `INDIRECT_PROBES` helpers asked "is it alive from where you stand?" (a helper
 * that heard it recently says yes without a ping). Only when
 * `SUSPECT_ROUNDS` consecutive rounds find nothing and at least one helper
 * answered "unreachable" does the monitor sign a claim. A round where no helper
 * answered at all says more about the monitor than about the target (it is the
 * one cut off), so it never leads to a claim: an isolated node keeps its view
 * instead of declaring everyone dead, and it cannot flood the mesh with stale
 * claims when it comes back.
 *
 * Heartbeats and pings carry a tag by their original sender for their final
 * receiver (liveness-auth.ts): only those, and tagged acks, are first-hand
 * evidence. Being self-authenticating, direct heartbeats and pings may go by
 * datagram (rpc.ts); relayed heartbeats and ping-reqs go over the stream. A helper's "alive" answer to a ping-req is second-hand and
 * untagged: it only postpones this monitor's own probing (see `vouched`), it
 * never refreshes `lastHeard`, so a lying helper can delay a claim by at most
 * one probe round per answer it gives, never keep a node alive by itself
 * (the other helpers, and the direct ping, still run every round).
 *
 * Costs per node and heartbeat period: MONITORS heartbeats out and about as
 * many in; per check: O(watched) with watched ~ MONITORS (+ clients homed
 * here). Nothing is O(N) per period. Watch sets are recomputed only when the
 * ring changes.
 */
import type {DigestAnswer} from './anti-entropy.js';
import type {ControlContext} from './context.js';
import type {LivenessAuth} from './liveness-auth.js';
import {ackedBy, sendTaggedPing} from './tagged-ping.js';
import type {ControlReply, ControlRequest} from './messages.js';
import type {PeriodicTask} from './scheduler.js';
import {INDIRECT_PROBES, MONITORS, SUSPECT_ROUNDS} from './settings.js';
import {sample} from './ring.js';
import {toWire} from './statements.js';

/** Anti-entropy that rides on heartbeats (see anti-entropy.ts). */
export interface HeartbeatAntiEntropy {
  /** The digests a direct heartbeat carries. */
  digests(): {sd: Uint8Array; md: Uint8Array};
  /** The monitor's answer to them came back with its ack: go on as after an anti-entropy request. */
  heartbeatAnswered(monitor: string, answer: DigestAnswer): void;
}

/** Relays a heartbeat is passed through when it does not get through directly. */
const RELAYS = 2;

/** Everything the detector needs. */
export interface FailureDetectorDeps extends ControlContext {
  auth: LivenessAuth;
  antiEntropy: HeartbeatAntiEntropy;
  /** Takes the endpoint a monitor says it sees this node's WireGuard packets come from (the `w` of its ack). */
  observedBy?: (monitor: string, endpoint: string) => void;
}

interface Suspicion {
  rounds: number;
  nextAt: number;
}

/** Heartbeats out, monitoring in. */
export class FailureDetector {
  private readonly deps: FailureDetectorDeps;
  /** Watched node id -> when watching began (a grace period: silence counts from then). */
  private watched = new Map<string, number>();
  /**
   * When a helper last vouched for a watched node. It defers this monitor's own
   * probing only: it is second-hand, so it never counts as evidence this node
   * passes on when others ask it (monitors vouching for each other would keep a
   * dead client alive forever).
   */
  private readonly vouched = new Map<string, number>();
  private watchedRingVersion = -1;
  private readonly suspicions = new Map<string, Suspicion>();
  private readonly probing = new Set<string>();
  private readonly beating = new Set<string>();
  /** Monitor -> when this node last sent it a heartbeat. */
  private readonly lastBeatAt = new Map<string, number>();
  /** When the last check ran, and when this node last found its own event loop stalled. */
  private lastCheckAt: number | undefined;
  private lastStallAt = -Infinity;

  constructor(deps: FailureDetectorDeps) {
    this.deps = deps;
  }

  /** Heartbeats (one every `heartbeatGapMs`) and checks (every `checkPeriodMs`), for the mesh's scheduler to run. */
  periodicTasks(): PeriodicTask[] {
    const {timings} = this.deps;
    return [
      {name: 'failure check', periodMs: timings.checkPeriodMs, run: () => this.check()},
      {name: 'heartbeat', periodMs: timings.heartbeatGapMs, run: () => this.heartbeat()},
    ];
  }

  /** This node's monitors: the live peers that follow it on the ring. */
  monitors(): string[] {
    const {view, selfId} = this.deps;
    return view.ring().successors(selfId, view.selfPosition, MONITORS);
  }

  /** Nodes this node currently watches (for tests and status). */
  watching(): string[] {
    this.syncWatched();
    return [...this.watched.keys()];
  }

  // ---- heartbeats out ----

  /**
   * One heartbeat, to the monitor that waited longest (a new one first), unless
   * it had one less than H - gap/2 ago: with fewer monitors than MONITORS each
   * still gets one per H, not one per gap.
   */
  private heartbeat(): void {
    const {clock, timings} = this.deps;
    const monitors = this.monitors();
    for (const id of this.lastBeatAt.keys()) if (!monitors.includes(id)) this.lastBeatAt.delete(id);
    const lastAt = (id: string): number => this.lastBeatAt.get(id) ?? -Infinity;
    const due = monitors.filter((id) => !this.beating.has(id)).sort((x, y) => lastAt(x) - lastAt(y));
    const monitor = due[0];
    const now = clock.now();
    if (monitor === undefined || now - lastAt(monitor) < timings.heartbeatPeriodMs - timings.heartbeatGapMs / 2) return;
    this.lastBeatAt.set(monitor, now);
    this.beating.add(monitor);
    void this.beat(monitor).finally(() => this.beating.delete(monitor));
  }

  private async beat(monitor: string): Promise<void> {
    const {rpc, view, auth, selfId, stats, timings, antiEntropy} = this.deps;
    const incarnation = view.incarnationOf(selfId);
    const ts = auth.stamp();
    const a = auth.tag('hb', monitor, ts);
    // No usable key for the monitor (a malformed record): it could not count this heartbeat anyway.
    if (!a) return;
    try {
      stats.heartbeatsSent++;
      // Tagged and direct: it may go by datagram (rpc.ts).
      const reply = await rpc.request(monitor, {t: 'hb', f: selfId, i: incarnation, ts, a, ...antiEntropy.digests()}, 'ok', timings.probeTimeoutMs, {datagram: true});
      // Only an authentic ack's observation counts: a relay or a replay could say anything.
      if (ackedBy(this.deps, monitor, ts, reply) && reply.w !== undefined) this.deps.observedBy?.(monitor, reply.w);
      if (reply.u) view.merge(reply.u, monitor);
      if (reply.s !== undefined) antiEntropy.heartbeatAnswered(monitor, {s: reply.s, m: reply.m});
      return;
    } catch {
      // Fall through to a relay: the monitor may be reachable from elsewhere.
    }
    // Relays go out together: on a real network a failed one costs a whole timeout.
    // A fresh stamp: the direct one may have arrived after all, and then this one would not count.
    const relayTs = auth.stamp();
    const relayTag = auth.tag('hb', monitor, relayTs)!;
    const relays = this.relaysFor(monitor);
    stats.heartbeatsRelayed += relays.length;
    await Promise.all(
      relays.map(async (relay) => {
        try {
          const reply = await rpc.request(relay, {t: 'relay', f: selfId, to: monitor, i: incarnation, ts: relayTs, a: relayTag}, 'ok', timings.probeTimeoutMs);
          // The relay passes the monitor's ack back untouched.
          ackedBy(this.deps, monitor, relayTs, reply);
          if (reply.u) view.merge(reply.u, relay);
        } catch {
          // When every path fails, the monitor probes before it concludes anything.
        }
      }),
    );
  }

  /**
   * Up to RELAYS peers to pass a heartbeat through: first the cluster peer
   * this node reached most recently, then others it reached lately, then
   * random partners. A node cut off from most of the mesh thus keeps using the
   * one path it knows works (every success renews it), instead of betting on
   * random partners that, with one lifeline among many, usually miss it.
   * O(clusterSize).
   */
  private relaysFor(monitor: string): string[] {
    const {view, selfId, random, settings, timings} = this.deps;
    const ring = view.ring();
    const recent = ring
      .clusterOf(selfId, view.selfPosition)
      .filter((id) => id !== monitor && view.reachedWithin(id, timings.relayMemoryMs))
      .sort((x, y) => view.lastReachedAt(y)! - view.lastReachedAt(x)!);
    const chosen = [...recent.slice(0, 1), ...sample(recent.slice(1), RELAYS - 1, random)];
    if (chosen.length < RELAYS) {
      chosen.push(
        ...ring.pick(selfId, view.selfPosition, RELAYS - chosen.length, random, {
          exclude: new Set([monitor, ...chosen]),
          interClusterChance: settings.interClusterChance,
        }),
      );
    }
    return chosen;
  }

  // ---- monitoring ----

  /**
   * Recompute the watch set when the ring changed: ring predecessors, and
   * undialable nodes homed here. A node newly watched after the first time
   * counts as silent already (its last heartbeat went to the monitor it had
   * before): when a run of neighbours on the ring dies at once (a partition, a
   * rack), each one is then probed at the next check after its predecessor's
   * removal, instead of after a fresh 3H/2 of grace per step. A live one
   * answers the ping, or its other monitors vouch for it.
   */
  private syncWatched(): void {
    const {view, selfId, clock, timings} = this.deps;
    if (this.watchedRingVersion === view.ringVersion) return;
    const now = clock.now();
    const start = this.watchedRingVersion === -1 ? now : now - timings.silenceMs;
    this.watchedRingVersion = view.ringVersion;
    const ring = view.ring();
    const next = new Map<string, number>();
    if (ring.has(selfId)) {
      const keep = (id: string): void => void next.set(id, this.watched.get(id) ?? start);
      for (const id of ring.predecessors(selfId, MONITORS)) keep(id);
      for (const member of view.liveUndialable()) {
        if (ring.successors(member.id, member.position, MONITORS).includes(selfId)) keep(member.id);
      }
    }
    this.watched = next;
    for (const id of this.suspicions.keys()) if (!next.has(id)) this.suspicions.delete(id);
    for (const id of this.vouched.keys()) if (!next.has(id)) this.vouched.delete(id);
  }

  /**
   * True when this check ran more than a check period late: this node itself
   * was stalled (CPU starvation, a long GC pause). Its timers run before the
   * I/O that piled up meanwhile is read, so heartbeats that did arrive may be
   * sitting unread: silence measured now says nothing about the peers
   * (Lifeguard's point about local health). Without this, an overloaded
   * machine probes everyone after every stall, and the probes load it more.
   */
  private stalled(now: number): boolean {
    const {timings} = this.deps;
    const late = this.lastCheckAt !== undefined && now - this.lastCheckAt > 2 * timings.checkPeriodMs;
    this.lastCheckAt = now;
    if (late) {
      this.lastStallAt = now;
      this.deps.stats.stallsDetected++;
    }
    return late;
  }

  private check(): void {
    const {view, clock, timings} = this.deps;
    view.refresh();
    this.syncWatched();
    const now = clock.now();
    if (this.stalled(now)) return;
    for (const [id, since] of this.watched) {
      if (!view.isAlive(id)) continue;
      const last = Math.max(view.lastHeardAt(id) ?? 0, this.vouched.get(id) ?? 0, since);
      if (now - last <= timings.silenceMs) {
        this.suspicions.delete(id);
        continue;
      }
      if (this.probing.has(id)) continue;
      const suspicion = this.suspicions.get(id);
      if (suspicion && now < suspicion.nextAt) continue;
      this.probing.add(id);
      void this.probe(id).finally(() => this.probing.delete(id));
    }
  }

  /**
   * Helpers for probing `target`: its ring neighbours first, which hear from it
   * every H (its other monitors get its heartbeats, its predecessors the acks
   * of theirs) and so answer without a ping of their own, then random peers.
   */
  private helpersFor(target: string): string[] {
    const {view, selfId, random, settings} = this.deps;
    const ring = view.ring();
    const member = view.member(target);
    const neighbours = member ? new Set([...ring.successors(target, member.position, MONITORS), ...ring.predecessors(target, MONITORS)]) : new Set<string>();
    neighbours.delete(selfId);
    const chosen = [...neighbours].slice(0, INDIRECT_PROBES);
    if (chosen.length < INDIRECT_PROBES) {
      const more = ring.pick(selfId, view.selfPosition, INDIRECT_PROBES - chosen.length, random, {
        exclude: new Set([target, ...chosen]),
        interClusterChance: settings.interClusterChance,
      });
      chosen.push(...more);
    }
    return chosen;
  }

  /** One probe round of a silent node; a claim after SUSPECT_ROUNDS conclusive failures. */
  private async probe(target: string): Promise<void> {
    const {view, rpc, selfId, stats, timings, clock, logger} = this.deps;
    stats.probeRounds++;
    const startedAt = clock.now();
    const helpers = this.helpersFor(target);
    const direct = view.endpointOf(target) === undefined ? Promise.resolve(false) : this.ping(target, timings.probeTimeoutMs);
    const indirect = helpers.map((helper) =>
      rpc.request(helper, {t: 'preq', f: selfId, x: target}, 'probe', timings.probeTimeoutMs).then(
        (reply) => reply.alive,
        () => undefined,
      ),
    );
    const [reached, ...answers] = await Promise.all([direct, ...indirect]);
    if (reached || answers.includes(true)) {
      // A direct answer is already first-hand evidence (the request layer recorded it);
      // a helper's word only postpones the next round.
      if (!reached) this.vouched.set(target, clock.now());
      this.suspicions.delete(target);
      return;
    }
    const now = clock.now();
    if (now - startedAt > timings.probeTimeoutMs + timings.checkPeriodMs || this.lastStallAt >= startedAt) {
      // The deadlines fired late: this node was stalled, and the answers may be unread. Not a round.
      return;
    }
    const lastHeard = view.lastHeardAt(target);
    if (lastHeard !== undefined && now - lastHeard <= timings.silenceMs) {
      // A heartbeat got through while the probes were out.
      this.suspicions.delete(target);
      return;
    }
    if (helpers.length > 0 && !answers.includes(false)) {
      logger.debug({nodeId: target}, 'no probe helper answered: this node may be the one cut off, so it claims nothing');
      this.suspicions.delete(target);
      return;
    }
    const rounds = (this.suspicions.get(target)?.rounds ?? 0) + 1;
    if (rounds < SUSPECT_ROUNDS) {
      this.suspicions.set(target, {rounds, nextAt: now + timings.probeGapMs});
      // The next round runs right after the gap rather than at the check after it.
      this.deps.scheduler.after(timings.probeGapMs, () => this.check());
      return;
    }
    this.suspicions.delete(target);
    if (view.isAlive(target)) view.accuse(target);
  }

  /** A tagged direct ping; true only when answered with the target's own ack (a reply from whoever holds its address is not enough). */
  private async ping(target: string, timeoutMs: number): Promise<boolean> {
    try {
      return (await sendTaggedPing(this.deps, target, timeoutMs))?.acked ?? false;
    } catch {
      return false;
    }
  }

  // ---- requests in ----

  /** A heartbeat (direct or relayed; its tag already checked by the caller): a claim against the sender goes back so it can refute. */
  answerHeartbeat(from: string, incarnation: number): ControlReply {
    const claim = this.deps.view.claimAgainst(from);
    return claim && claim.value.i >= incarnation ? {t: 'ok', u: [toWire(claim)]} : {t: 'ok'};
  }

  /**
   * Pass a heartbeat on to `to` for `from`, whose own attempt failed, with its
   * stamp and tag untouched (they are for `to`: this node can neither check
   * nor forge them, so it counts nothing); returns the monitor's reply, whose
   * ack is for `from`. A relay addressed to this node is answered by the caller as a heartbeat.
   */
  async relay(request: Extract<ControlRequest, {t: 'relay'}>): Promise<ControlReply> {
    const {view, rpc, timings} = this.deps;
    if (!view.isAlive(request.to) || view.endpointOf(request.to) === undefined) return {t: 'err', reason: 'relay target is not a live peer here'};
    return rpc.request(request.to, {t: 'hb', f: request.f, i: request.i, ts: request.ts, a: request.a}, 'ok', timings.hopTimeoutMs);
  }

  /** Indirect probe: alive when heard within half a heartbeat interval, else ping it (peers only). */
  async answerProbe(target: string): Promise<ControlReply> {
    const {view, timings} = this.deps;
    if (!view.isMember(target)) return {t: 'err', reason: 'not a member here'};
    if (view.heardWithin(target, timings.heartbeatPeriodMs)) return {t: 'probe', alive: true};
    if (view.endpointOf(target) === undefined) return {t: 'probe', alive: view.heardWithin(target, timings.silenceMs)};
    return {t: 'probe', alive: await this.ping(target, timings.hopTimeoutMs)};
  }
}
