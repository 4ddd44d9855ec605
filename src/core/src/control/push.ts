/**
 * Eager push of one mesh's news.
 *
 * - Every store entry that newly wins here (own writes, entries received for
 *   the first time by push or sync) and every membership statement that newly
 *   wins is batched (one microtask) and pushed to `branch` targets: the ring
 *   successor plus push partners of the own cluster (one from another cluster
 *   with probability `interClusterChance`). Receivers forward what is news to
 *   them, so a change spreads in O(log N) hops; the successor link makes the
 *   flood reach every node rather than the 1 - e^-branch share a purely random
 *   fan-out reaches. The partners are drawn at random once and kept while they
 *   stay on the ring ({@link Push.pushPartners}), so pushes go over
 *   connections already open. Bulk news (a join snapshot, a healed partition:
 *   more than MAX_PUSH_ENTRIES at once) is left to anti-entropy.
 * - `infectionCount`: a batch none of whose targets answered is pushed again
 *   to fresh targets once per anti-entropy period ({@link Push.retryFailed}),
 *   at most `infectionCount` rounds in all and at most MAX_RETRY_BATCHES
 *   batches kept, so a node with no reachable target stops pushing.
 * - Clients are never dialled and forward nothing but their own news: they are
 *   leaves, the peers spread the rest.
 */
import type {MeshStore, StoreChange} from '../contracts/store.js';
import type {Role, SignedEntry, VerifiedEntry} from '../model/record.js';
import type {ControlContext} from './context.js';
import {MAX_PUSH_ENTRIES, MAX_STATEMENTS, type ControlReply, type ControlRequest} from './messages.js';
import type {Ring} from './ring.js';
import {toWire, type VerifiedStatement} from './statements.js';

/** Everything eager push needs. */
export interface PushDeps extends ControlContext {
  role: Role;
  store: MeshStore;
}

/** What one push carries. */
interface Batch {
  entries: SignedEntry[];
  statements: VerifiedStatement[];
  /** Nodes the news came from (not pushed back to them), and the targets of earlier rounds that all failed. */
  exclude: Set<string>;
}

/** Failed batches kept for later rounds; more than this and the oldest is left to anti-entropy. */
const MAX_RETRY_BATCHES = 16;

function wireEntry(entry: SignedEntry): SignedEntry {
  return {body: entry.body, signature: entry.signature};
}

/** Eager push of one mesh's news, and the answer to pushes from others. */
export class Push {
  private readonly deps: PushDeps;
  private readonly pendingEntries = new Map<string, VerifiedEntry>();
  private readonly pendingStatements = new Map<string, VerifiedStatement>();
  private readonly pendingExclude = new Set<string>();
  private flushScheduled = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private retries: {batch: Batch; roundsLeft: number}[] = [];
  /** Sender of the push being merged right now (store change events are synchronous). */
  private source: string | undefined;
  private unsubscribe: (() => void) | undefined;
  /** This node's push partners besides its successor, and the ring they were checked against. */
  private partners: {ring: Ring | undefined; ids: string[]} = {ring: undefined, ids: []};

  constructor(deps: PushDeps) {
    this.deps = deps;
  }

  /** Follow store changes and announce this node's own entry. */
  start(): void {
    const {store, selfId} = this.deps;
    this.unsubscribe = store.onChange((change) => this.storeChanged(change));
    const own = store.get(selfId);
    if (own) this.queueEntry(own, undefined);
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

  /** Push again, to fresh targets, every batch that no target took last time (once per anti-entropy period). */
  retryFailed(): void {
    const retries = this.retries;
    this.retries = [];
    for (const {batch, roundsLeft} of retries) this.pushBatch(batch, roundsLeft);
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
   * Pushes then go over connections that are already open, where partners
   * drawn afresh for every batch would cost a new TLS connection for nearly
   * every push. The spare is drawn on its own: `Ring.pick` puts its partner
   * from another cluster last, and a spare used only now and then must not
   * take the flood's links between clusters.
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
}
