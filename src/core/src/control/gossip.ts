/**
 * Gossip of one mesh: eager push of news, digest-first anti-entropy, and the
 * probe of dead members that heals partitions.
 *
 * - Eager push: every store entry that newly wins here (own writes, entries
 *   received for the first time by push or sync) and every membership statement
 *   that newly wins is batched (one timer tick) and pushed to `branch` targets:
 *   the ring successor plus push partners of the own cluster (one from
 *   another cluster with probability `interClusterChance`). Receivers forward
 *   what is news to them, so a change spreads in O(log N) hops; the successor
 *   link makes the flood reach every node rather than the 1 - e^-branch share a
 *   purely random fan-out reaches. The partners are drawn at random once and
 *   kept while they stay on the ring ({@link Gossip.pushPartners}), so pushes
 *   go over connections already open. Bulk news (a join snapshot, a healed
 *   partition: more than MAX_PUSH_ENTRIES at once) is left to anti-entropy.
 * - `infectionCount`: a batch none of whose targets answered is pushed again
 *   in later rounds to fresh targets, at most `infectionCount` rounds in all
 *   (the original pushed every change in that many rounds, and kept gossiping
 *   forever with no reachable target, B-09; here it is per mesh and bounded).
 * - Anti-entropy at least every `syncInterval`: one small request with the
 *   store digest and the statement-table digest; when both agree that is the
 *   whole round. Otherwise statements are exchanged by summary and the store
 *   runs its own sync session. Every direct heartbeat carries the same digests
 *   to its monitor and brings back the answer with its ack
 *   ({@link Gossip.heartbeatAnswered}); a round in which that happened needs no
 *   request of its own. With the defaults a node heartbeats once a second (in
 *   turn to its monitors), so idle anti-entropy costs no message at all, and
 *   a node sends one request per second instead of two and a half. A round
 *   with no heartbeat answer in it (a monitor down, a longer H, a shorter
 *   `syncInterval`) runs on its own with a partner chosen as below.
 * - `pullInterval`: the original's idle pull is subsumed by the anti-entropy
 *   above, which already runs every round at digest cost. The setting now
 *   bounds the time between two rounds with a partner outside the own
 *   cluster, so clusters cannot drift apart even with `interClusterChance` 0.
 * - Clients are never dialled: they push only their own news, and pull (run
 *   anti-entropy) every `syncInterval` from one of their monitors.
 * - Every few rounds a node tries one member it considers dead; if it answers,
 *   the exchange hands it the claim against it, it refutes in its reply, and
 *   the refutation spreads: a healed partition restores every view on its own.
 *   An endpoint that keeps failing is tried ever less often (dial-backoff.ts),
 *   and after `deadProbeHorizon` only by the dead member's keeper, so that an
 *   endpoint a member advertised but nobody serves is not dialled by every
 *   node until the record expires.
 */
import type {Clock, RandomSource} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {MeshStore, StoreChange} from '../contracts/store.js';
import type {Role, SignedEntry, VerifiedEntry} from '../model/record.js';
import type {MembershipView} from './membership-view.js';
import {MAX_PUSH_ENTRIES, MAX_STATEMENTS, MAX_SUMMARIES, type ControlReply, type ControlRequest} from './messages.js';
import type {ControlRpc} from './rpc.js';
import type {Ring} from './ring.js';
import type {PeriodicTask, Scheduler} from './scheduler.js';
import {MONITORS, type ControlSettings, type ControlTimings} from './settings.js';
import type {StatementSummary} from './statement-table.js';
import {toWire, type VerifiedStatement} from './statements.js';
import type {ControlStats} from './stats.js';

/** Everything gossip needs. */
export interface GossipDeps {
  selfId: string;
  role: Role;
  store: MeshStore;
  view: MembershipView;
  rpc: ControlRpc;
  scheduler: Scheduler;
  clock: Clock;
  random: RandomSource;
  logger: Logger;
  stats: ControlStats;
  settings: ControlSettings;
  timings: ControlTimings;
  /** Takes the endpoint a member says it sees this node's WireGuard packets come from (the `w` of its `ae` answer). */
  observedBy?: (member: string, endpoint: string) => void;
}

/** What one push carries. */
interface Batch {
  entries: SignedEntry[];
  statements: VerifiedStatement[];
  /** Nodes the news came from (not pushed back to them), and the targets of earlier rounds that all failed. */
  exclude: Set<string>;
}

/** An answer to anti-entropy digests: an `ae` reply, or the `ok` of a heartbeat that carried them. */
export interface DigestAnswer {
  /** True when the store digests were equal. */
  s: boolean;
  /** Statement summaries, present when the statement tables differed. */
  m?: readonly StatementSummary[] | undefined;
}

/** Store sync sessions that anti-entropy rounds may leave running at once (see {@link Gossip.reconcileWith}). */
const MAX_BACKGROUND_SYNCS = 2;

/** Failed batches kept for later rounds; more than this and the oldest is left to anti-entropy. */
const MAX_RETRY_BATCHES = 16;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

function wireEntry(entry: SignedEntry): SignedEntry {
  return {body: entry.body, signature: entry.signature};
}

/** Push, anti-entropy and dead-member probes of one mesh. */
export class Gossip {
  private readonly deps: GossipDeps;
  private readonly pendingEntries = new Map<string, VerifiedEntry>();
  private readonly pendingStatements = new Map<string, VerifiedStatement>();
  private readonly pendingExclude = new Set<string>();
  private flushScheduled = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private retries: {batch: Batch; roundsLeft: number}[] = [];
  /** Sender of the push being merged right now (store change events are synchronous). */
  private source: string | undefined;
  private lastOutsideAt: number;
  /** A heartbeat's digests were answered since the last anti-entropy round: that round is done. */
  private comparedSinceRound = false;
  private backgroundSyncs = 0;
  private unsubscribe: (() => void) | undefined;
  /** This node's push partners besides its successor, and the ring they were checked against. */
  private partners: {ring: Ring | undefined; ids: string[]} = {ring: undefined, ids: []};

  constructor(deps: GossipDeps) {
    this.deps = deps;
    this.lastOutsideAt = deps.clock.now();
  }

  /** Follow store changes and announce this node's own entry (the rounds are {@link periodicTasks}). */
  start(): void {
    const {store, selfId} = this.deps;
    this.unsubscribe = store.onChange((change) => this.storeChanged(change));
    const own = store.get(selfId);
    if (own) this.queueEntry(own, undefined);
  }

  /** Anti-entropy rounds and dead-member probes, for the mesh's scheduler to run. */
  periodicTasks(): PeriodicTask[] {
    const {settings, timings} = this.deps;
    return [
      {name: 'anti-entropy', periodMs: settings.syncIntervalMs, run: () => this.antiEntropyRound()},
      {name: 'dead-member probe', periodMs: timings.deadProbePeriodMs, run: () => this.probeDeadMember()},
    ];
  }

  /** Stop following the store (timers belong to the scheduler). */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** A client forwards nothing but its own news: it is a leaf, the peers spread the rest. */
  private forwards(id: string): boolean {
    return this.deps.role === 'peer' || id === this.deps.selfId;
  }

  private storeChanged(change: StoreChange): void {
    if (this.forwards(change.id)) this.queueEntry(change.current, this.source);
  }

  private queueEntry(entry: VerifiedEntry, from: string | undefined): void {
    this.pendingEntries.set(entry.value.id, entry);
    if (from !== undefined) this.pendingExclude.add(from);
    this.scheduleFlush();
  }

  /**
   * Queue statements that newly won here. Two go out at once besides: a claim
   * against a node heard from recently goes straight to it, so it refutes at
   * once; and this node's own refutation goes straight back to whoever brought
   * the claim and to the peer it reached last, so that a node reachable through
   * one peer only does not wait for a random push to find that peer while
   * others count down their confirmation window.
   */
  queueStatements(statements: readonly VerifiedStatement[], from: string | undefined): void {
    const {view, timings, selfId} = this.deps;
    for (const statement of statements) {
      const id = statement.value.x;
      if (!this.forwards(id)) continue;
      this.pendingStatements.set(id, statement);
      if (statement.value.k === 'dead' && id !== from && id !== selfId && view.heardWithin(id, timings.evidenceMs) && view.endpointOf(id) !== undefined) {
        this.track(this.send({entries: [], statements: [statement], exclude: new Set()}, [id]));
      }
      if (statement.value.k === 'alive' && id === selfId) this.sendRefutation(statement, from);
    }
    if (from !== undefined) this.pendingExclude.add(from);
    if (this.pendingStatements.size > 0) this.scheduleFlush();
  }

  private sendRefutation(refutation: VerifiedStatement, claimFrom: string | undefined): void {
    const {view} = this.deps;
    const targets = new Set<string>();
    if (claimFrom !== undefined && view.endpointOf(claimFrom) !== undefined) targets.add(claimFrom);
    const freshest = view.freshestReached(claimFrom);
    if (freshest !== undefined) targets.add(freshest);
    if (targets.size > 0) this.track(this.send({entries: [], statements: [refutation], exclude: new Set()}, [...targets]));
  }

  /**
   * Push what is queued once the code that queued it is done: a microtask, so
   * the entries of one merge go out in one batch, and before anything else the
   * node has to do about them (reconciling WireGuard, saving state). On a busy
   * host every hop of a push waits for CPU; a timer would also wait behind all
   * of that work.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      if (!this.deps.scheduler.stopped) this.flush();
    });
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise)).catch(() => undefined);
    return promise;
  }

  /** Push what is pending now. */
  private flush(): void {
    const {selfId} = this.deps;
    if (this.pendingEntries.size === 0 && this.pendingStatements.size === 0) return;
    let entries = [...this.pendingEntries.values()];
    if (entries.length > MAX_PUSH_ENTRIES) {
      // Bulk news is anti-entropy's job; only this node's own entry is news to everyone.
      entries = entries.filter((entry) => entry.value.id === selfId);
    }
    const batch: Batch = {
      entries: entries.map(wireEntry),
      statements: [...this.pendingStatements.values()].slice(0, MAX_STATEMENTS),
      exclude: new Set(this.pendingExclude),
    };
    this.pendingEntries.clear();
    this.pendingStatements.clear();
    this.pendingExclude.clear();
    if (batch.entries.length === 0 && batch.statements.length === 0) return;
    this.pushBatch(batch, this.deps.settings.infectionCount);
  }

  /**
   * Push a batch to its targets; when none of them took it, keep it for a
   * later round (at most `roundsLeft` - 1 more), to targets other than these:
   * the kept partners would fail the same way.
   */
  private pushBatch(batch: Batch, roundsLeft: number): void {
    const targets = this.pushTargets(batch.exclude);
    this.track(
      this.send(batch, targets).then((delivered) => {
        if (!delivered && roundsLeft > 1) this.keepForRetry({...batch, exclude: new Set([...batch.exclude, ...targets])}, roundsLeft - 1);
      }),
    );
  }

  private keepForRetry(batch: Batch, roundsLeft: number): void {
    this.retries.push({batch, roundsLeft});
    if (this.retries.length > MAX_RETRY_BATCHES) this.retries.shift();
  }

  /**
   * The successor on the ring (when this node is on it), then push partners,
   * then (in place of those the batch came from) random peers, up to `branch`.
   */
  private pushTargets(exclude: ReadonlySet<string>): string[] {
    const {view, selfId, settings, random} = this.deps;
    const ring = view.ring();
    const successor = ring.has(selfId) ? ring.successors(selfId, view.selfPosition, 1)[0] : undefined;
    const targets: string[] = [];
    if (successor !== undefined && !exclude.has(successor)) targets.push(successor);
    for (const partner of this.pushPartners(ring, successor)) {
      if (targets.length >= settings.branch) return targets;
      if (!exclude.has(partner)) targets.push(partner);
    }
    const more = ring.pick(selfId, view.selfPosition, settings.branch - targets.length, random, {
      exclude: new Set([...exclude, ...targets]),
      interClusterChance: settings.interClusterChance,
    });
    return [...targets, ...more];
  }

  /**
   * The partners besides the successor (`branch` - 1 of them, or `branch`
   * off the ring), then one spare for a batch that came from one of them,
   * drawn with the cluster rules of {@link Ring.pick} and kept while they
   * are on the ring: a partner that leaves it is replaced, the others stay.
   * Pushes then go over connections that are already open; partners drawn
   * afresh for every batch meant a new TLS connection for nearly every push
   * in a mesh of 100 (BENCHMARKS.md, "Third pass"). The spare is drawn on its
   * own: `Ring.pick` puts its partner from another cluster last, and a spare
   * used only now and then must not take the flood's links between clusters.
   */
  private pushPartners(ring: Ring, successor: string | undefined): readonly string[] {
    const {view, selfId, settings, random} = this.deps;
    if (this.partners.ring === ring) return this.partners.ids;
    const valid = (id: string | undefined): id is string => id !== undefined && id !== successor && ring.has(id);
    const wanted = settings.branch - (successor === undefined ? 0 : 1);
    const draw = (count: number, taken: readonly string[]): string[] =>
      ring.pick(selfId, view.selfPosition, count, random, {
        exclude: new Set(successor === undefined ? taken : [...taken, successor]),
        interClusterChance: settings.interClusterChance,
      });
    const kept = this.partners.ids.slice(0, -1).filter(valid);
    const partners = [...kept, ...draw(wanted - kept.length, kept)];
    const oldSpare = this.partners.ids.at(-1);
    const spare = valid(oldSpare) && !partners.includes(oldSpare) ? [oldSpare] : draw(1, partners);
    this.partners = {ring, ids: [...partners, ...spare]};
    return this.partners.ids;
  }

  /** Push a batch to each target; true when at least one took it. */
  private async send(batch: Batch, targets: readonly string[]): Promise<boolean> {
    const {rpc, view, stats, selfId, timings} = this.deps;
    const request: ControlRequest = {t: 'push', f: selfId};
    if (batch.entries.length > 0) request.e = batch.entries;
    if (batch.statements.length > 0) request.u = batch.statements.map(toWire);
    const results = await Promise.all(
      targets.map(async (target) => {
        stats.pushesSent++;
        stats.entriesPushed += batch.entries.length;
        try {
          const reply = await rpc.request(target, request, 'ok', timings.requestTimeoutMs);
          if (reply.u) view.merge(reply.u, target);
          return true;
        } catch (error) {
          this.deps.logger.debug({err: error, target}, 'push failed');
          return false;
        }
      }),
    );
    return results.includes(true);
  }

  /**
   * Push this node's own current entry (its tombstone, when leaving) right
   * away and wait until the pushes in flight are answered or time out.
   */
  async flushNow(): Promise<void> {
    const own = this.deps.store.get(this.deps.selfId);
    if (own) this.pendingEntries.set(own.value.id, own);
    this.flush();
    await Promise.allSettled([...this.inFlight]);
  }

  // ---- rounds ----

  /**
   * One anti-entropy round, unless a heartbeat already carried one since the
   * last (the round that `pullInterval` sends outside the cluster always runs);
   * a partner that fails is replaced once, so a dead partner does not cost a whole round.
   */
  private async antiEntropyRound(): Promise<void> {
    this.retryFailedBatches();
    const compared = this.comparedSinceRound;
    this.comparedSinceRound = false;
    if (compared && !this.outsideRoundDue()) return;
    const tried = new Set<string>();
    for (let attempt = 0; attempt < 2; attempt++) {
      const partner = this.pickPartner(tried);
      if (partner === undefined) return;
      tried.add(partner);
      try {
        await this.reconcileWith(partner, {background: true});
        return;
      } catch (error) {
        this.deps.logger.debug({err: error, partner}, 'anti-entropy round failed');
      }
    }
  }

  private retryFailedBatches(): void {
    const retries = this.retries;
    this.retries = [];
    for (const {batch, roundsLeft} of retries) this.pushBatch(batch, roundsLeft);
  }

  /** A peer picks inside its cluster (sometimes outside); a client pulls from one of its monitors. Never one in `exclude`. */
  private pickPartner(exclude: ReadonlySet<string>): string | undefined {
    const {view, selfId, settings, random, clock, role} = this.deps;
    const ring = view.ring();
    if (role === 'client' || !ring.has(selfId)) {
      let candidates = ring.successors(selfId, view.selfPosition, MONITORS).filter((id) => !exclude.has(id));
      // All monitors tried: any other peer will do.
      if (candidates.length === 0) candidates = ring.pick(selfId, view.selfPosition, 1, random, {exclude, interClusterChance: settings.interClusterChance});
      return candidates[Math.floor(random.float() * candidates.length)];
    }
    const forceOutside = this.outsideRoundDue();
    if (forceOutside) this.lastOutsideAt = clock.now();
    return ring.pick(selfId, view.selfPosition, 1, random, {exclude, interClusterChance: settings.interClusterChance, forceOutside})[0];
  }

  /** True when a peer on the ring owes a round outside its cluster (`pullInterval`). */
  private outsideRoundDue(): boolean {
    const {view, selfId, settings, clock, role} = this.deps;
    if (role !== 'peer' || settings.pullIntervalMs <= 0 || !view.ring().has(selfId)) return false;
    return clock.now() - this.lastOutsideAt >= settings.pullIntervalMs;
  }

  /**
   * Try one member considered dead: if it answers, the exchange lets it refute
   * and come back. Only members whose endpoint is out of backoff
   * (dial-backoff.ts), and past `deadProbeHorizon` of failing only those this
   * node keeps ({@link keeps}). The member counts as having answered only if it
   * is alive here after the exchange: an endpoint that answers as someone
   * else backs off like one that does not answer at all.
   */
  private async probeDeadMember(): Promise<void> {
    const {view, random, rpc, timings} = this.deps;
    const candidates = view.deadIds().filter((id) => rpc.mayDial(id) && (rpc.unreachableFor(id) < timings.deadProbeHorizonMs || this.keeps(id)));
    if (candidates.length === 0) return;
    const target = candidates[Math.floor(random.float() * candidates.length)]!;
    try {
      await this.reconcileWith(target);
    } catch {
      // Still unreachable: it stays dead here.
    }
    rpc.probed(target, view.isAlive(target));
  }

  /** True when this node is the keeper of dead member `id`: the first live peer after its ring position. */
  private keeps(id: string): boolean {
    const {view, selfId} = this.deps;
    const member = view.member(id);
    return member !== undefined && view.ring().successors(id, member.position, 1)[0] === selfId;
  }

  /**
   * One anti-entropy round with `target`: digests, then statements and store
   * only when they differ. With `background`, a store sync session it starts
   * runs on its own (at most MAX_BACKGROUND_SYNCS at a time) and the round
   * ends: a session that lost a message waits out the whole `timeout`, and
   * meanwhile the next rounds must still reach other partners, or a node that
   * every push missed stays behind for that long.
   */
  async reconcileWith(target: string, options: {background?: boolean} = {}): Promise<void> {
    const {rpc, stats, selfId, timings} = this.deps;
    stats.antiEntropyRounds++;
    const reply = await rpc.request(target, {t: 'ae', f: selfId, ...this.digests()}, 'ae', timings.roundTimeoutMs);
    if (reply.w !== undefined) this.deps.observedBy?.(target, reply.w);
    await this.followUp(target, reply, options.background === true);
  }

  /** This node's anti-entropy digests, for a request to carry (an `ae`, or a heartbeat). */
  digests(): {sd: Uint8Array; md: Uint8Array} {
    return {sd: this.deps.store.digest(), md: this.deps.view.table.digest()};
  }

  /**
   * A monitor answered the digests a heartbeat carried: that is this period's
   * anti-entropy round, and it goes on (statements, a background store sync)
   * exactly as a round of its own would.
   */
  heartbeatAnswered(target: string, answer: DigestAnswer): void {
    this.deps.stats.antiEntropyRounds++;
    this.comparedSinceRound = true;
    this.followUp(target, answer, true).catch((error: unknown) => this.deps.logger.debug({err: error, partner: target}, 'anti-entropy after a heartbeat failed'));
  }

  /** After the digests: statements when the tables differ, a store sync session when the stores do. */
  private async followUp(target: string, reply: DigestAnswer, background: boolean): Promise<void> {
    const {rpc, stats, timings} = this.deps;
    if (reply.m) await this.exchangeStatements(target, reply.m);
    if (!reply.s) {
      if (!background) {
        stats.storeSyncs++;
        await rpc.syncStore(target, timings.requestTimeoutMs);
      } else if (this.backgroundSyncs < MAX_BACKGROUND_SYNCS) {
        stats.storeSyncs++;
        this.backgroundSyncs++;
        // Not tracked with the pushes: `flushNow` (join, leave) must not wait for a repair session.
        // The scheduler aborts it on stop like any request.
        void rpc
          .syncStore(target, timings.requestTimeoutMs)
          .catch((error: unknown) => this.deps.logger.debug({err: error, partner: target}, 'anti-entropy sync session failed'))
          .finally(() => this.backgroundSyncs--);
      }
    } else if (!reply.m) {
      stats.antiEntropyEqual++;
    }
  }

  private async exchangeStatements(target: string, theirs: readonly StatementSummary[]): Promise<void> {
    const {rpc, view, selfId, timings} = this.deps;
    const {give, want} = view.table.diff(theirs, MAX_STATEMENTS);
    if (give.length === 0 && want.length === 0) return;
    const reply = await rpc.request(target, {t: 'mx', f: selfId, u: give.map(toWire), w: want}, 'mx', timings.roundTimeoutMs);
    view.merge(reply.u, target);
  }

  // ---- requests in ----

  /** A push: merge entries (forwarded on as news) and statements; send back statements that beat the sender's. */
  answerPush(request: Extract<ControlRequest, {t: 'push'}>, known: boolean): ControlReply {
    const {store, view} = this.deps;
    if (request.e && request.e.length > 0) {
      this.source = request.f;
      try {
        store.merge(request.e);
      } finally {
        this.source = undefined;
      }
    }
    const better = request.u && request.u.length > 0 ? view.merge(request.u, known ? request.f : undefined).better : [];
    return better.length > 0 ? {t: 'ok', u: better.map(toWire)} : {t: 'ok'};
  }

  /** Anti-entropy: compare digests; summaries of the statement table only when the tables differ (and the sender is a member). */
  answerAntiEntropy(request: Extract<ControlRequest, {t: 'ae'}>, known: boolean): ControlReply {
    return {t: 'ae', ...this.answerDigests(request.sd, request.md, known)};
  }

  /** The answer to digests from another node (in an `ae`, or on a heartbeat from a member). */
  answerDigests(sd: Uint8Array, md: Uint8Array, known: boolean): {s: boolean; m?: StatementSummary[]} {
    const {store, view} = this.deps;
    const s = sameBytes(store.digest(), sd);
    if (!known || sameBytes(view.table.digest(), md)) return {s};
    return {s, m: view.table.summaries(MAX_SUMMARIES)};
  }

  /** Statement exchange: merge what the sender gives, answer what it wants and what beats what it gave. */
  answerExchange(request: Extract<ControlRequest, {t: 'mx'}>): ControlReply {
    const {view} = this.deps;
    const {better} = view.merge(request.u, request.f);
    const out = new Map<string, VerifiedStatement>();
    for (const statement of better) out.set(statement.value.x, statement);
    for (const id of request.w) {
      const statement = view.table.get(id);
      if (statement) out.set(id, statement);
    }
    return {t: 'mx', u: [...out.values()].slice(0, MAX_STATEMENTS).map(toWire)};
  }
}
