/**
 * One node's view of a mesh's membership: who is a member (the store's live
 * records), what the membership statements say, what this node has heard first
 * hand, and from those, who is dead. Also the hash ring of the live dialable
 * peers, rebuilt lazily when that set changes.
 *
 * A member is dead here when the winning statement about it is a claim that
 * reached this node at least `confirmDelayMs` ago (time for a live node to
 * hear of it and refute) and this node has not heard from it within
 * `evidenceMs`. First-hand contact outranks a
 * claim only for that window: it keeps a node this node is talking to in the
 * view while the node learns of the claim and refutes it (after a partition
 * heals, claims made by the other side arrive at nodes that never lost
 * contact), and it can never keep a crashed node, since a claim is only made
 * after a longer silence.
 */
import type {Clock} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {MeshStore, StoreChange} from '../contracts/store.js';
import {EntryRejectedError} from '../errors.js';
import type {NodeIdentity} from '../identity/identity.js';
import type {NodeRecord, Role} from '../model/record.js';
import {Ring, ringPosition} from './ring.js';
import type {ControlStats} from './stats.js';
import {compareRanks, incarnationBoundReason, rankOf, signStatement, verifyStatement, type VerifiedStatement, type WireStatement} from './statements.js';
import {StatementTable} from './statement-table.js';

/**
 * What the view keeps about a member: derived from its record alone, and
 * immutable, so views that hold the same record object share one (see
 * {@link memberInfoOf}).
 */
export interface MemberInfo {
  readonly id: string;
  readonly role: Role;
  /** Control endpoint; null for clients and for peers that advertise none (never dialled). */
  readonly endpoint: string | null;
  readonly signingKey: string;
  /** WireGuard public key: the pair keys that authenticate liveness messages derive from it. */
  readonly wgPublicKey: string;
  /** Position on the ring. */
  readonly position: number;
}

/**
 * The member info of each record object, made once. A record object comes
 * from the store's verified entry, so in one process every view holding that
 * entry (a simulation runs thousands of nodes in one process) shares one
 * info instead of each keeping its own object and ring position: ~90 bytes
 * per node and member. Weak, so an info goes when its record does.
 */
const infoByRecord = new WeakMap<NodeRecord, MemberInfo>();

/**
 * The immutable info of a member of mesh `meshId` from its record, shared by
 * every view that holds the same record object.
 */
function memberInfoOf(meshId: string, record: NodeRecord): MemberInfo {
  // A record always belongs to the mesh of the store it came from; the check only keeps the cache exact if one did not.
  const shared = record.meshId === meshId;
  const cached = shared ? infoByRecord.get(record) : undefined;
  if (cached !== undefined) return cached;
  const info: MemberInfo = Object.freeze({
    id: record.id,
    role: record.role,
    endpoint: record.role === 'peer' ? record.controlEndpoint : null,
    signingKey: record.signingKey,
    wgPublicKey: record.wgPublicKey,
    position: ringPosition(meshId, record.id),
  });
  if (shared) infoByRecord.set(record, info);
  return info;
}

/** Members whose liveness changed in this node's view. */
export interface LiveViewChange {
  /** Members now considered dead. */
  readonly died: readonly string[];
  /** Members considered alive again. */
  readonly revived: readonly string[];
}

/** Result of merging statements received from another node. */
export interface StatementMerge {
  /** Statements that now win here (including refutations this node signed): to be gossiped. */
  readonly news: VerifiedStatement[];
  /** Statements held here that beat ones the sender offered: to be sent back to it. */
  readonly better: VerifiedStatement[];
}

/** Everything the view needs. */
export interface MembershipViewDeps {
  meshId: string;
  identity: NodeIdentity;
  store: MeshStore;
  clock: Clock;
  logger: Logger;
  stats: ControlStats;
  clusterSize: number;
  evidenceMs: number;
  confirmDelayMs: number;
  /** How far ahead of this node's clock an incarnation may be (statements.ts, incarnationBoundReason). */
  maxClockSkewMs: number;
  /** Run `fn` after `ms` (the control plane's scheduler; cancelled on stop). */
  after(ms: number, fn: () => void): void;
  /** Called with statements that newly won here and the node they came from, for gossip. */
  onNews(statements: readonly VerifiedStatement[], from: string | undefined): void;
}

/** One node's view of one mesh's membership. */
export class MembershipView {
  /** The winning statement per member. */
  readonly table = new StatementTable();
  private readonly deps: MembershipViewDeps;
  private readonly members = new Map<string, MemberInfo>();
  private readonly lastHeard = new Map<string, number>();
  /** When this node last got an answer from a member: unlike `lastHeard`, proof of a working path from here. */
  private readonly lastReached = new Map<string, number>();
  /** When this node last heard from or reached any member (the latest of every `lastHeard` and `lastReached`). */
  private lastContact: number | undefined;
  private readonly dead = new Set<string>();
  /** Claimed members not dead yet (confirmation window or fresh evidence); re-evaluated on every check. */
  private readonly pending = new Set<string>();
  /** When the claim now winning about a member first reached this node. */
  private readonly claimSeenAt = new Map<string, number>();
  private readonly listeners = new Set<(change: LiveViewChange) => void>();
  private died: string[] = [];
  private revived: string[] = [];
  private ringCache: Ring | undefined;
  private ringVersionCounter = 0;
  private unsubscribe: (() => void) | undefined;
  private readonly selfPositionValue: number;

  constructor(deps: MembershipViewDeps) {
    this.deps = deps;
    this.selfPositionValue = ringPosition(deps.meshId, deps.identity.nodeId);
  }

  /** This node's id. */
  get selfId(): string {
    return this.deps.identity.nodeId;
  }

  /** This node's ring position (also meaningful for a client, which is not on the ring). */
  get selfPosition(): number {
    return this.selfPositionValue;
  }

  /** Load the members from the store and follow its changes. */
  start(): void {
    for (const record of this.deps.store.records()) this.upsert(record);
    this.unsubscribe = this.deps.store.onChange((change) => this.storeChanged(change));
  }

  /** Stop following the store. */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Subscribe to liveness transitions; returns the unsubscribe function. */
  onChange(listener: (change: LiveViewChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- members ----

  /** The member `id`, if it has a live record. */
  member(id: string): MemberInfo | undefined {
    return this.members.get(id);
  }

  /** True when `id` has a live record (dead or alive). */
  isMember(id: string): boolean {
    return this.members.has(id);
  }

  /** True when `id` is a member this node does not consider dead (self always counts as alive). */
  isAlive(id: string): boolean {
    return this.members.has(id) && !this.dead.has(id);
  }

  /** The control endpoint of a member, or undefined when it must not be dialled (clients, no endpoint). */
  endpointOf(id: string): string | undefined {
    return this.members.get(id)?.endpoint ?? undefined;
  }

  /** Members considered dead, in no particular order. */
  deadIds(): string[] {
    return [...this.dead];
  }

  /** Alive members that cannot be dialled (clients): monitors watch them through their heartbeats. */
  liveUndialable(): MemberInfo[] {
    const out: MemberInfo[] = [];
    for (const member of this.members.values()) {
      if (member.endpoint === null && member.id !== this.selfId && !this.dead.has(member.id)) out.push(member);
    }
    return out;
  }

  /** The store's live records minus members considered dead. */
  liveRecords(): NodeRecord[] {
    return this.deps.store.records().filter((record) => !this.dead.has(record.id));
  }

  /** The ring of alive dialable peers (self included when dialable). */
  ring(): Ring {
    if (!this.ringCache) {
      // The infos themselves are ring members: no copy per member and rebuild.
      const peers: MemberInfo[] = [];
      for (const member of this.members.values()) {
        if (member.endpoint !== null && !this.dead.has(member.id)) peers.push(member);
      }
      this.ringCache = new Ring(peers, this.deps.clusterSize);
    }
    return this.ringCache;
  }

  /** Grows whenever the ring may have changed (cheap change detection for watch sets). */
  get ringVersion(): number {
    return this.ringVersionCounter;
  }

  private invalidateRing(): void {
    this.ringCache = undefined;
    this.ringVersionCounter++;
  }

  private storeChanged(change: StoreChange): void {
    if (change.current.value.kind === 'record') this.upsert(change.current.value);
    else this.remove(change.id);
    this.emit();
  }

  private upsert(record: NodeRecord): void {
    const previous = this.members.get(record.id);
    const endpoint = record.role === 'peer' ? record.controlEndpoint : null;
    if (previous && previous.role === record.role && previous.endpoint === endpoint && previous.signingKey === record.signingKey && previous.wgPublicKey === record.wgPublicKey) return;
    this.members.set(record.id, memberInfoOf(this.deps.meshId, record));
    this.invalidateRing();
  }

  /**
   * A member left (tombstone), was revoked or expired: forget everything about it, and
   * every claim it signed (a node that left speaks for nobody: its claims
   * stop counting, and the nodes it accused are alive here again unless
   * someone else claims them). Not a death.
   */
  private remove(id: string): void {
    if (!this.members.delete(id)) return;
    for (const subject of this.table.deleteClaimsBy(id)) this.evaluate(subject);
    this.table.delete(id);
    this.lastHeard.delete(id);
    this.lastReached.delete(id);
    this.claimSeenAt.delete(id);
    this.dead.delete(id);
    this.pending.delete(id);
    this.invalidateRing();
  }

  // ---- first-hand evidence ----

  /**
   * Record first-hand evidence that `id` is alive. Only for messages `id`
   * authenticated itself (tagged heartbeats, pings and acks: liveness-auth.ts);
   * the sender id of any other request is just a claim.
   */
  heard(id: string): void {
    if (!this.members.has(id) || id === this.selfId) return;
    this.lastHeard.set(id, this.deps.clock.now());
    this.lastContact = this.deps.clock.now();
    if (this.dead.has(id)) {
      this.evaluate(id);
      this.emit();
    }
  }

  /**
   * A request from this node to `id`'s endpoint was answered: evidence of a
   * path that works (for choosing relays), not of life: whoever answered did
   * not prove to be `id` (an authenticated ack is passed to {@link heard}).
   */
  reached(id: string): void {
    if (!this.members.has(id) || id === this.selfId) return;
    this.lastReached.set(id, this.deps.clock.now());
    this.lastContact = this.deps.clock.now();
  }

  /** When this node last heard from or reached any member, first hand; undefined before the first time. O(1). */
  lastContactAt(): number | undefined {
    return this.lastContact;
  }

  /** How many members other than this node it considers alive. O(1). */
  othersAlive(): number {
    return this.members.size - this.dead.size - (this.members.has(this.selfId) ? 1 : 0);
  }

  /** True when a request from this node to `id` was answered within `withinMs`. */
  reachedWithin(id: string, withinMs: number): boolean {
    const at = this.lastReached.get(id);
    return at !== undefined && this.deps.clock.now() - at < withinMs;
  }

  /**
   * The live peer a request from this node reached last, other than `except`:
   * the path most likely to work for a node cut off from most of the mesh.
   * O(peers reached).
   */
  freshestReached(except: string | undefined): string | undefined {
    let best: string | undefined;
    let bestAt = -Infinity;
    for (const [id, at] of this.lastReached) {
      if (at > bestAt && id !== except && this.isAlive(id) && this.endpointOf(id) !== undefined) [best, bestAt] = [id, at];
    }
    return best;
  }

  /** When a request from this node to `id` was last answered, if ever. */
  lastReachedAt(id: string): number | undefined {
    return this.lastReached.get(id);
  }

  /** When this node last had evidence that `id` is alive. */
  lastHeardAt(id: string): number | undefined {
    return this.lastHeard.get(id);
  }

  /** True when `id` was heard from within `withinMs`. */
  heardWithin(id: string, withinMs: number): boolean {
    const at = this.lastHeard.get(id);
    return at !== undefined && this.deps.clock.now() - at < withinMs;
  }

  /** Re-evaluate claimed members whose evidence may have expired. O(claimed members). */
  refresh(): void {
    for (const id of [...this.pending]) this.evaluate(id);
    this.emit();
  }

  // ---- statements ----

  /** The incarnation of `id` as this node knows it: its latest refutation, or 0. */
  incarnationOf(id: string): number {
    const statement = this.table.get(id);
    return statement?.value.k === 'alive' ? statement.value.i : 0;
  }

  /** The claim that wins about `id`, if the winning statement is one. */
  claimAgainst(id: string): VerifiedStatement | undefined {
    const statement = this.table.get(id);
    return statement?.value.k === 'dead' ? statement : undefined;
  }

  /**
   * Verify and merge statements from `from` (undefined: unknown sender). A claim
   * against this node is answered at once with a refutation signed here.
   */
  merge(wires: readonly WireStatement[], from: string | undefined): StatementMerge {
    const news: VerifiedStatement[] = [];
    const better: VerifiedStatement[] = [];
    const context = {meshId: this.deps.meshId, signingKeyOf: (id: string) => this.members.get(id)?.signingKey};
    for (const wire of wires) {
      // A copy of what is held already: nothing new, and its rank equals the held one's.
      if (this.table.heldCopy(wire)) continue;
      let statement: VerifiedStatement;
      try {
        statement = verifyStatement(wire, context);
        this.checkWeight(statement);
      } catch (error) {
        if (!(error instanceof EntryRejectedError)) throw error;
        this.deps.stats.statementsRejected++;
        this.deps.logger.debug({from, reason: error.message}, 'rejected a membership statement');
        continue;
      }
      const id = statement.value.x;
      if (this.table.offer(statement)) {
        if (id === this.selfId && statement.value.k === 'dead') {
          const refutation = this.refute(statement);
          news.push(refutation);
          better.push(refutation);
        } else {
          news.push(statement);
          this.claimSeen(statement);
          this.evaluate(id);
        }
      } else {
        const held = this.table.get(id)!;
        if (compareRanks(rankOf(held), rankOf(statement)) > 0) better.push(held);
      }
    }
    this.emit();
    if (news.length > 0) this.deps.onNews(news, from);
    return {news, better};
  }

  /**
   * Refuse a statement that must carry no weight here: an incarnation beyond
   * what any honest clock can have written (so that no claim can make its
   * subject unable to refute it), or a claim about another node signed by a
   * member this node considers dead (a dead node makes no claims; one signed
   * after its death came late or from a stolen key). A claim about this node
   * itself is refuted whoever signed it: after a partition heals, each side
   * learns of the other's claims from nodes it still considers dead, and
   * refuting them is what revives it there. Claims of members that left are
   * refused by {@link verifyStatement}: the signer is no member any more.
   * @throws EntryRejectedError saying which
   */
  private checkWeight(statement: VerifiedStatement): void {
    const {value} = statement;
    const bound = incarnationBoundReason(value, this.deps.clock.now(), this.deps.maxClockSkewMs);
    if (bound !== undefined) throw new EntryRejectedError(bound);
    if (value.k === 'dead' && value.x !== this.selfId && this.dead.has(value.by)) throw new EntryRejectedError(`claim about ${value.x} signed by ${value.by}, which this node considers dead`);
  }

  /** Declare `id` dead (this node's monitors could not reach it, nor could helpers). */
  accuse(id: string): VerifiedStatement | undefined {
    if (id === this.selfId || !this.members.has(id) || this.claimAgainst(id)) return undefined;
    const claim = signStatement(this.deps.identity, {k: 'dead', m: this.deps.meshId, x: id, i: this.incarnationOf(id), by: this.selfId});
    this.table.offer(claim);
    this.claimSeen(claim);
    this.deps.stats.accusations++;
    this.deps.logger.info({nodeId: id, incarnation: claim.value.i}, 'declared a member dead: no answer to heartbeats or probes');
    this.evaluate(id);
    this.emit();
    this.deps.onNews([claim], undefined);
    return claim;
  }

  /** Sign `alive(self)` above the claim's incarnation; the clock keeps incarnations growing across restarts. */
  private refute(claim: VerifiedStatement): VerifiedStatement {
    const incarnation = Math.max(claim.value.i + 1, Math.floor(this.deps.clock.now()));
    const refutation = signStatement(this.deps.identity, {k: 'alive', m: this.deps.meshId, x: this.selfId, i: incarnation});
    this.table.offer(refutation);
    this.deps.stats.refutations++;
    this.deps.logger.info({by: claim.value.k === 'dead' ? claim.value.by : undefined, incarnation}, 'refuted a claim that this node is dead');
    return refutation;
  }

  // ---- liveness ----

  /**
   * Start the confirmation window when a member becomes claimed here, and look
   * again when it ends. A second claim replacing the first (two monitors
   * accusing at once) does not restart it.
   */
  private claimSeen(claim: VerifiedStatement): void {
    const id = claim.value.x;
    if (claim.value.k !== 'dead' || id === this.selfId || this.claimSeenAt.has(id)) return;
    this.claimSeenAt.set(id, this.deps.clock.now());
    this.deps.after(this.deps.confirmDelayMs, () => {
      this.evaluate(id);
      this.emit();
    });
  }

  /**
   * Dead here: a claim wins, its confirmation window is over, and this node
   * has no fresh first-hand evidence of life. Otherwise a claimed member is
   * pending and re-evaluated on every check.
   */
  private evaluate(id: string): void {
    let dead = false;
    if (id !== this.selfId && this.members.has(id) && this.claimAgainst(id)) {
      const seenAt = this.claimSeenAt.get(id) ?? 0;
      const confirmed = this.deps.clock.now() - seenAt >= this.deps.confirmDelayMs;
      if (!confirmed || this.heardWithin(id, this.deps.evidenceMs)) this.pending.add(id);
      else {
        this.pending.delete(id);
        dead = true;
      }
    } else {
      this.pending.delete(id);
      this.claimSeenAt.delete(id);
    }
    if (dead === this.dead.has(id)) return;
    if (dead) {
      this.dead.add(id);
      this.died.push(id);
      this.deps.stats.deathsObserved++;
    } else {
      this.dead.delete(id);
      this.revived.push(id);
      this.deps.stats.revivalsObserved++;
    }
    if (this.members.get(id)?.endpoint !== null) this.invalidateRing();
  }

  private emit(): void {
    if (this.died.length === 0 && this.revived.length === 0) return;
    const change: LiveViewChange = {died: this.died, revived: this.revived};
    this.died = [];
    this.revived = [];
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        this.deps.logger.error({err: error}, 'a live-view listener failed');
      }
    }
  }
}
