/**
 * The control plane of one mesh on one node: gossip (eager push in push.ts;
 * anti-entropy and healing probes in anti-entropy.ts) and membership (heartbeats, monitors, claims, refutations),
 * on one scheduler. A node in many meshes has one MeshControl per mesh; the
 * daemon routes `Transport` message requests for a mesh to its
 * {@link MeshControl.handleMessage}, and store sync sessions to the store.
 *
 * Liveness is never written into the store: records change only when their
 * owners change them. {@link MeshControl.liveRecords} is the store's records
 * minus the members this node considers dead; WireGuard follows that.
 */
import type {Clock, RandomSource} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {MeshStore} from '../contracts/store.js';
import type {RemotePeer, Transport} from '../contracts/transport.js';
import type {NodeIdentity} from '../identity/identity.js';
import type {AliasClaimLine} from '../model/alias-claims.js';
import type {NodeRecord, Role} from '../model/record.js';
import {DatagramPaths} from './datagram-paths.js';
import {DialBackoff, dialBackoffParams} from './dial-backoff.js';
import {AntiEntropy} from './anti-entropy.js';
import {FailureDetector} from './failure-detector.js';
import {LivenessAuth, type LivenessCheck, type LivenessType} from './liveness-auth.js';
import {MembershipView, type LiveViewChange} from './membership-view.js';
import {LocalReach} from './reach.js';
import {decodeControlRequest, encodeControlReply, MAX_ALIAS_CLAIMS, type ControlReply, type ControlRequest} from './messages.js';
import {Push} from './push.js';
import {ControlRpc} from './rpc.js';
import {Scheduler} from './scheduler.js';
import {deriveTimings, type ControlSettings, type ControlTimings} from './settings.js';
import {emptyControlStats, type ControlStats} from './stats.js';

/** Everything a MeshControl needs, injected. */
export interface MeshControlDeps {
  meshId: string;
  identity: NodeIdentity;
  /** This node's role in the mesh. A client never listens and is never dialled. */
  role: Role;
  store: MeshStore;
  transport: Transport;
  clock: Clock;
  random: RandomSource;
  logger: Logger;
  settings: ControlSettings;
  /** When this node first saw each alias claim, for a joining node that asks (`al`); none when omitted. */
  aliasClaims?: () => readonly AliasClaimLine[];
  /** Answers a join request (`jn`), from a member or not (see join-gate.ts); without it joins are refused. */
  answerJoin?: (request: Extract<ControlRequest, {t: 'jn'}>, peer: RemotePeer) => ControlReply;
  /** Observed WireGuard endpoints, exchanged on heartbeats and anti-entropy (see nat/agent.ts); none exchanged when omitted. */
  endpoints?: ObservedEndpointExchange;
}

/** The NAT side of heartbeats: where this node sees a member's WireGuard packets come from, and where members see this node's. */
export interface ObservedEndpointExchange {
  /** Where this node's WireGuard sees member `id`'s packets come from, if it knows (put in the answer to `id`'s heartbeat). */
  observedFor(id: string): Promise<string | undefined>;
  /** Member `monitor` answered this node's heartbeat saying it sees this node's packets come from `endpoint` (an IP endpoint). */
  observedBy(monitor: string, endpoint: string): void;
}

/** Longest reason put in an error reply. */
const MAX_REASON = 200;

/** One mesh's control plane on one node. */
export class MeshControl {
  private readonly deps: MeshControlDeps;
  private readonly counters: ControlStats = emptyControlStats();
  private readonly timings: ControlTimings;
  private readonly scheduler: Scheduler;
  private readonly view: MembershipView;
  private readonly rpc: ControlRpc;
  private readonly auth: LivenessAuth;
  private readonly detector: FailureDetector;
  private readonly push: Push;
  private readonly antiEntropy: AntiEntropy;
  private readonly reach: LocalReach;
  /** Tells {@link auth} of members' key rotations. */
  private readonly unsubscribeKeys: () => void;
  private state: 'new' | 'running' | 'stopped' = 'new';

  constructor(deps: MeshControlDeps) {
    this.deps = deps;
    const {meshId, identity, role, store, transport, clock, random, settings} = deps;
    const logger = deps.logger;
    const stats = this.counters;
    this.timings = deriveTimings(settings);
    this.scheduler = new Scheduler(clock, random, logger);
    this.view = new MembershipView({
      meshId,
      identity,
      store,
      clock,
      logger,
      stats,
      clusterSize: settings.clusterSize,
      evidenceMs: this.timings.evidenceMs,
      confirmDelayMs: this.timings.confirmDelayMs,
      maxClockSkewMs: settings.maxClockSkewMs,
      after: (ms, fn) => this.scheduler.after(ms, fn),
      onNews: (statements, from) => this.push.queueStatements(statements, from),
    });
    const datagrams = settings.controlDatagrams === false ? null : new DatagramPaths(clock);
    this.rpc = new ControlRpc({meshId, transport, store, view: this.view, scheduler: this.scheduler, stats, backoff: new DialBackoff(clock, random, dialBackoffParams(settings)), datagrams});
    this.auth = new LivenessAuth({
      meshId,
      identity,
      clock,
      wgKeyOf: (id) => this.view.member(id)?.wgPublicKey,
      windowMs: this.timings.livenessWindowMs,
      maxClockSkewMs: settings.maxClockSkewMs,
      keyGraceMs: this.timings.keyGraceMs,
    });
    this.unsubscribeKeys = store.onChange(({id, current, previous}) => {
      if (previous?.value.kind === 'record' && current.value.kind === 'record' && previous.value.wgPublicKey !== current.value.wgPublicKey) this.auth.keyChanged(id, previous.value.wgPublicKey);
    });
    const common = {selfId: identity.nodeId, view: this.view, rpc: this.rpc, auth: this.auth, scheduler: this.scheduler, clock, random, logger, stats, settings, timings: this.timings};
    const observedBy = deps.endpoints ? (member: string, endpoint: string): void => deps.endpoints?.observedBy(member, endpoint) : undefined;
    this.push = new Push({...common, role, store});
    // Batches no target took are pushed again once per anti-entropy period.
    this.antiEntropy = new AntiEntropy({...common, role, store, observedBy, everyRound: () => this.push.retryFailed()});
    // Heartbeats carry the anti-entropy digests.
    this.detector = new FailureDetector({...common, antiEntropy: this.antiEntropy, observedBy});
    this.reach = new LocalReach({view: this.view, rpc: this.rpc, clock, logger, isolationMs: this.timings.isolationMs, checkPeriodMs: this.timings.checkPeriodMs});
  }

  /** Start gossip and failure detection. Call once this node's own record is in the store. */
  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.view.start();
    this.push.start();
    // With the defaults every periodic task is a multiple of the check period, so they all share one timer.
    this.scheduler.everyOnBeat(this.timings.checkPeriodMs, [
      ...this.detector.periodicTasks(),
      ...this.antiEntropy.periodicTasks(),
      {name: 'reach check', periodMs: this.timings.checkPeriodMs, run: () => this.reach.check()},
    ]);
  }

  /** Stop every timer and abandon requests in flight; returns at once (nothing waits on the clock). */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.unsubscribeKeys();
    this.scheduler.stop();
    this.push.stop();
    this.view.stop();
  }

  /**
   * Push this node's tombstone (already merged into the store) to `branch`
   * peers right away and wait for their answers, at most `timeout`. Best effort:
   * peers that miss it get it by anti-entropy. Call before {@link stop}.
   */
  async leave(): Promise<void> {
    await this.announce();
  }

  /**
   * Push this node's own entry (record or tombstone) to `branch` peers now and
   * wait for their answers, at most `timeout`. A joining node calls it before it
   * configures WireGuard, so that members know its key before its first handshake.
   */
  async announce(): Promise<void> {
    if (this.state !== 'running') return;
    await this.push.flushNow();
  }

  /**
   * Answer a control request from another node (the daemon's
   * `TransportHandlers.message` for this mesh). Never throws: anything refused
   * gets an `err` reply, and nothing refused changes any state.
   */
  async handleMessage(payload: Uint8Array, peer: RemotePeer): Promise<Uint8Array> {
    const stats = this.counters;
    stats.messagesReceived++;
    stats.bytesReceived += payload.byteLength;
    let reply: ControlReply;
    try {
      const request = this.state === 'running' ? decodeControlRequest(payload) : undefined;
      if (request === undefined) reply = {t: 'err', reason: 'not running'};
      else if (peer.nodeId !== undefined && request.f !== peer.nodeId) reply = {t: 'err', reason: `the request claims to come from ${request.f}, but the connection proves ${peer.nodeId}`};
      else if (request.t === 'jn') reply = this.deps.answerJoin?.(request, peer) ?? {t: 'err', reason: 'this node does not answer joins'};
      else reply = await this.answer(request);
    } catch (error) {
      reply = {t: 'err', reason: (error instanceof Error ? error.message : String(error)).slice(0, MAX_REASON)};
    }
    if (reply.t === 'err') {
      stats.messagesRejected++;
      this.deps.logger.debug({from: peer.address, reason: reply.reason}, 'refused a control request');
    }
    const bytes = encodeControlReply(reply);
    stats.bytesSent += bytes.byteLength;
    return bytes;
  }

  /**
   * Answer a liveness request that came as a datagram (the daemon's
   * `TransportHandlers.datagram` for this mesh), whose sender nothing proves.
   * Before anything else it must be a direct heartbeat or ping, from a member
   * `admits` lets in, with a tag that is authentic and fresh (a replay gets
   * nothing); anything else gets no answer at all (undefined) and changes no
   * state. Never throws.
   */
  async handleDatagram(payload: Uint8Array, admits: (id: string) => boolean): Promise<Uint8Array | undefined> {
    if (this.state !== 'running' || this.deps.settings.controlDatagrams === false) return undefined;
    let request: ControlRequest;
    try {
      request = decodeControlRequest(payload);
    } catch {
      return undefined;
    }
    if (request.t !== 'hb' && request.t !== 'ping') return undefined;
    if (request.f === this.deps.identity.nodeId || !this.view.isMember(request.f) || !admits(request.f)) return undefined;
    const check = this.auth.check(request.t, request.f, request.ts, request.a);
    if (check !== 'fresh') return undefined;
    const stats = this.counters;
    stats.datagramsAnswered++;
    stats.messagesReceived++;
    stats.bytesReceived += payload.byteLength;
    const bytes = encodeControlReply(await this.answerLiveness(request, check));
    stats.bytesSent += bytes.byteLength;
    return bytes;
  }

  /**
   * A direct heartbeat or ping whose tag was checked (`check`). Anti-entropy
   * digests it carries (every heartbeat; the ping of a periodic round) are
   * answered with the ack, with where this node sees the sender's WireGuard
   * packets come from (see anti-entropy.ts).
   */
  private async answerLiveness(request: Extract<ControlRequest, {t: 'hb' | 'ping'}>, check: LivenessCheck): Promise<ControlReply> {
    const {detector, antiEntropy} = this;
    const {sd, md} = request;
    const compares = sd !== undefined && md !== undefined;
    const observed = request.t === 'hb' || compares ? await this.deps.endpoints?.observedFor(request.f) : undefined;
    return this.answerTagged(
      request,
      request.t,
      () => {
        const ack: ControlReply = request.t === 'hb' ? detector.answerHeartbeat(request.f, request.i) : {t: 'ok'};
        const seen = ack.t === 'ok' && observed !== undefined ? {...ack, w: observed} : ack;
        return compares ? {...seen, ...antiEntropy.answerDigests(sd, md, true)} : seen;
      },
      check,
    );
  }

  private async answer(request: ControlRequest): Promise<ControlReply> {
    const {view, detector, push, antiEntropy} = this;
    const self = this.deps.identity.nodeId;
    if (request.f === self) return {t: 'err', reason: 'a request cannot come from this node itself'};
    const known = view.isMember(request.f);
    // Entries are self-authenticating and a joining node's first push carries
    // the record that makes it known; everything else needs a known sender.
    // `f` is only a claim (the transport proves a mesh certificate, not which
    // member): nothing but a tagged heartbeat or ping counts as hearing from it.
    if (request.t === 'push') return push.answerPush(request, known);
    if (request.t === 'ae') {
      const observed = known ? await this.deps.endpoints?.observedFor(request.f) : undefined;
      const reply = antiEntropy.answerAntiEntropy(request, known);
      return observed === undefined || reply.t !== 'ae' ? reply : {...reply, w: observed};
    }
    if (request.t === 'al') return this.joinFacts('al');
    if (request.t === 'jn') return {t: 'err', reason: 'a join is answered by handleMessage'};
    if (!known) return {t: 'err', reason: `sender ${request.f} is not a member of this mesh`};
    switch (request.t) {
      case 'hb':
      case 'ping':
        return this.answerLiveness(request, this.auth.check(request.t, request.f, request.ts, request.a));
      case 'relay':
        if (request.to === self) return this.answerTagged(request, 'hb', () => detector.answerHeartbeat(request.f, request.i));
        return detector.relay(request);
      case 'preq':
        return detector.answerProbe(request.x);
      case 'mx':
        return antiEntropy.answerExchange(request);
    }
  }

  /** What a joining node asks the member it joins through: when this member first saw each alias claim, and its clock. */
  joinFacts<T extends 'al' | 'jn'>(t: T): {t: T; c: (readonly [string, string, number])[]; n: number} {
    return {t, c: (this.deps.aliasClaims?.() ?? []).slice(0, MAX_ALIAS_CLAIMS), n: Math.floor(this.deps.clock.now())};
  }

  /**
   * Answer a tagged heartbeat or ping: refused when the tag is not the claimed
   * sender's; evidence of life only when also fresh (not a replay). The `ok`
   * carries this node's ack over the request's stamp for the original sender.
   * `check` is the tag's verdict (checked here unless the caller did).
   */
  private answerTagged(
    request: {f: string; ts: number; a: Uint8Array},
    type: LivenessType,
    answer: () => ControlReply,
    check: LivenessCheck = this.auth.check(type, request.f, request.ts, request.a),
  ): ControlReply {
    if (check === 'forged') return {t: 'err', reason: `the ${type} is not authenticated by ${request.f}`};
    if (check === 'fresh') this.view.heard(request.f);
    else this.deps.logger.debug({from: request.f, type}, 'a liveness message was stale or replayed: not counted');
    const reply = answer();
    if (reply.t !== 'ok') return reply;
    const a = this.auth.tag('ack', request.f, request.ts);
    return a ? {...reply, a} : reply;
  }

  /** The store's live records minus members this node considers dead, sorted by id. */
  liveRecords(): NodeRecord[] {
    return this.view.liveRecords();
  }

  /** True when `id` is a member with a live record that this node does not consider dead. */
  isAlive(id: string): boolean {
    return this.view.isAlive(id);
  }

  /** Since when this node reaches no other member of the mesh (reach.ts), or undefined when it reaches some. */
  isolatedSince(): number | undefined {
    return this.reach.isolatedSince();
  }

  /** True when this node cannot reach member `id` from here (reach.ts): a local view, never a claim. */
  unreachableFromHere(id: string): boolean {
    return this.reach.unreachable(id);
  }

  /** How far member `id`'s clock reads behind this node's (ms; negative: ahead), when its liveness messages tell (see LivenessAuth.clockLagMs). */
  clockLagMs(id: string): number | undefined {
    return this.auth.clockLagMs(id);
  }

  /** Members this node considers dead. */
  deadMembers(): string[] {
    return this.view.deadIds();
  }

  /**
   * Subscribe to liveness transitions (members declared dead or back alive).
   * Record changes come from the store's own `onChange`. Returns the unsubscribe function.
   */
  onLiveViewChange(listener: (change: LiveViewChange) => void): () => void {
    return this.view.onChange(listener);
  }

  /** The peers this node sends heartbeats to. */
  monitors(): string[] {
    return this.detector.monitors();
  }

  /** The nodes this node monitors. */
  watching(): string[] {
    return this.detector.watching();
  }

  /** Run one anti-entropy round with `target` now (tests, `mesh sync`-style commands). */
  async syncWith(target: string): Promise<void> {
    await this.antiEntropy.reconcileWith(target);
  }

  /** A copy of the counters. */
  stats(): ControlStats {
    return {...this.counters};
  }
}
