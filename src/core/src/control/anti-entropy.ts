/**
 * Anti-entropy of one mesh: digest-first reconciliation with one partner per
 * period, and the probe of dead members that heals partitions.
 *
 * - At least every `syncInterval`: one small request with the store digest and
 *   the statement-table digest; when both agree that is the whole round. A
 *   periodic round asks in a tagged ping, which may go by datagram (rpc.ts)
 *   like a heartbeat, so an idle mesh opens no stream for its rounds either;
 *   a member whose answer to it compares nothing gets an `ae` request.
 *   Otherwise statements are exchanged by summary and the store runs its own
 *   sync session. Every direct heartbeat carries the same digests to its
 *   monitor and brings back the answer with its ack
 *   ({@link AntiEntropy.heartbeatAnswered}); a round in which that happened
 *   needs no request of its own, so while heartbeats are answered, idle
 *   anti-entropy costs no message besides them. A round with no heartbeat
 *   answer in it (a monitor down, a longer heartbeat period, a shorter
 *   `syncInterval`) runs on its own with a partner chosen as below.
 * - `pullInterval` bounds the time between two rounds with a partner outside
 *   the own cluster, so clusters cannot drift apart even with
 *   `interClusterChance` 0.
 * - Clients are never dialled: they pull (run anti-entropy) every
 *   `syncInterval` from one of their monitors.
 * - Every few rounds a node tries one member it considers dead; if it answers,
 *   the exchange hands it the claim against it, it refutes in its reply, and
 *   the refutation spreads: a healed partition restores every view on its own.
 *   An endpoint that keeps failing is tried ever less often (dial-backoff.ts),
 *   and after `deadProbeHorizon` only by the dead member's keeper, so that an
 *   endpoint a member advertised but nobody serves is not dialled by every
 *   node until the record expires.
 */
import {createHash} from 'node:crypto';
import type {MeshStore} from '../contracts/store.js';
import {ControlProtocolError} from '../errors.js';
import type {Role} from '../model/record.js';
import type {ControlContext} from './context.js';
import type {LivenessAuth} from './liveness-auth.js';
import {MAX_STATEMENTS, MAX_SUMMARIES, type ControlReply, type ControlRequest} from './messages.js';
import type {PeriodicTask} from './scheduler.js';
import {MONITORS} from './settings.js';
import {sendTaggedPing} from './tagged-ping.js';
import type {StatementSummary} from './statement-table.js';
import {toWire, type VerifiedStatement} from './statements.js';

/** Everything anti-entropy needs. */
export interface AntiEntropyDeps extends ControlContext {
  /** Tags the ping that carries a periodic round's digests, and checks its ack. */
  auth: LivenessAuth;
  role: Role;
  store: MeshStore;
  /** Run at the start of every periodic round, whether or not the round sends anything (push retries ride on it). */
  everyRound?: () => void;
  /** Takes the endpoint a member says it sees this node's WireGuard packets come from (the `w` of its `ae` answer). */
  observedBy?: (member: string, endpoint: string) => void;
}

/** An answer to anti-entropy digests: an `ae` reply, or the `ok` of a heartbeat that carried them. */
export interface DigestAnswer {
  /** True when the store digests were equal. */
  s: boolean;
  /** Statement summaries, present when the statement tables differed. */
  m?: readonly StatementSummary[] | undefined;
}

/** Store sync sessions that anti-entropy rounds may leave running at once (see {@link AntiEntropy.reconcileWith}). */
const MAX_BACKGROUND_SYNCS = 2;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/**
 * Bytes of the store digest as requests carry it (every heartbeat, so every
 * byte counts): SHA-256 of the store's own digest, truncated. Equal on two
 * replicas exactly when their digests are, but for a 2^-128 chance that
 * one round takes unequal stores for equal ones.
 */
export const WIRE_STORE_DIGEST_BYTES = 16;

/** {@link WIRE_STORE_DIGEST_BYTES} of a store digest; the last one is kept, since the digest changes only with the store. */
class WireStoreDigest {
  private full: Uint8Array | undefined;
  private wire: Uint8Array | undefined;

  of(full: Uint8Array): Uint8Array {
    if (this.full === undefined || this.wire === undefined || !sameBytes(this.full, full)) {
      this.full = Uint8Array.from(full);
      this.wire = createHash('sha256').update(full).digest().subarray(0, WIRE_STORE_DIGEST_BYTES);
    }
    return this.wire;
  }

  /** True when `theirs` (the short form, or a whole store digest as earlier versions sent it) is the digest of the same store as `full`. */
  matches(full: Uint8Array, theirs: Uint8Array): boolean {
    return theirs.byteLength === WIRE_STORE_DIGEST_BYTES ? sameBytes(this.of(full), theirs) : sameBytes(full, theirs);
  }
}

/** Anti-entropy rounds and dead-member probes of one mesh, and the answers to them. */
export class AntiEntropy {
  private readonly deps: AntiEntropyDeps;
  private lastOutsideAt: number;
  /** A heartbeat's digests were answered since the last anti-entropy round: that round is done. */
  private comparedSinceRound = false;
  private backgroundSyncs = 0;
  private readonly storeDigest = new WireStoreDigest();

  constructor(deps: AntiEntropyDeps) {
    this.deps = deps;
    this.lastOutsideAt = deps.clock.now();
  }

  /** Anti-entropy rounds and dead-member probes, for the mesh's scheduler to run. */
  periodicTasks(): PeriodicTask[] {
    const {settings, timings} = this.deps;
    return [
      {name: 'anti-entropy', periodMs: settings.syncIntervalMs, run: () => this.round()},
      {name: 'dead-member probe', periodMs: timings.deadProbePeriodMs, run: () => this.probeDeadMember()},
    ];
  }

  /**
   * One anti-entropy round, unless a heartbeat already carried one since the
   * last (the round that `pullInterval` sends outside the cluster always runs);
   * a partner that fails is replaced once, so a dead partner does not cost a whole round.
   */
  private async round(): Promise<void> {
    this.deps.everyRound?.();
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
    const background = options.background === true;
    let answer = background ? await this.compareInPing(target) : undefined;
    if (answer === undefined) {
      const reply = await rpc.request(target, {t: 'ae', f: selfId, ...this.digests()}, 'ae', timings.roundTimeoutMs);
      if (reply.w !== undefined) this.deps.observedBy?.(target, reply.w);
      answer = reply;
    }
    await this.followUp(target, answer, background);
  }

  /**
   * The digests in a tagged ping, which may go by datagram; the answer, or
   * undefined when the member compared nothing (it does not answer digests
   * on pings: ask with an `ae`).
   * @throws PeerUnreachableError and the other errors of ControlRpc.request; ControlProtocolError when the ack is not `target`'s
   */
  private async compareInPing(target: string): Promise<DigestAnswer | undefined> {
    const sent = await sendTaggedPing(this.deps, target, this.deps.timings.roundTimeoutMs, this.digests());
    if (sent === undefined) return undefined;
    const {reply, acked} = sent;
    // An answer from whoever holds the address, not the member, compares nothing.
    if (!acked) throw new ControlProtocolError(`the answer to a ping for ${target} does not carry its ack`);
    if (reply.w !== undefined) this.deps.observedBy?.(target, reply.w);
    return reply.s === undefined ? undefined : {s: reply.s, m: reply.m};
  }

  /** This node's anti-entropy digests, for a request to carry (an `ae`, or a heartbeat). */
  digests(): {sd: Uint8Array; md: Uint8Array} {
    return {sd: this.storeDigest.of(this.deps.store.digest()), md: this.deps.view.table.digest()};
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

  /** Anti-entropy: compare digests; summaries of the statement table only when the tables differ (and the sender is a member). */
  answerAntiEntropy(request: Extract<ControlRequest, {t: 'ae'}>, known: boolean): ControlReply {
    return {t: 'ae', ...this.answerDigests(request.sd, request.md, known)};
  }

  /** The answer to digests from another node (in an `ae`, or on a heartbeat from a member). */
  answerDigests(sd: Uint8Array, md: Uint8Array, known: boolean): {s: boolean; m?: StatementSummary[]} {
    const {store, view} = this.deps;
    const s = this.storeDigest.matches(store.digest(), sd);
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
