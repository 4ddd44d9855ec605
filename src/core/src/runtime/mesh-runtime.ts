/**
 * One mesh on this node: its store, this node's own record in it, and the
 * WireGuard interface that mirrors it. After every change of the mesh view it
 * recomputes the desired WireGuard state and hands it to the driver; it saves
 * the store shortly after every change.
 */
import {networkInterfaces} from 'node:os';
import {meshPrefix, nodeAddress} from '../addressing/address.js';
import type {Clock, TimerHandle} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import {PortInUseError, WgInterfaceGoneError} from '../errors.js';
import type {MeshStore} from '../contracts/store.js';
import type {WgDriver, WgInterfaceEvent, WgInterfaceSpec, WgInterfaceState, WgPeerStats} from '../contracts/wg-driver.js';
import type {MeshControl, ObservedEndpointExchange} from '../control/mesh-control.js';
import type {NodeIdentity} from '../identity/identity.js';
import type {InboundCounters, MeshSummary, MeshView, NodeView} from '../ipc/methods.js';
import {AliasClaims, type AliasClaimLine} from '../model/alias-claims.js';
import type {ClaimTime} from '../model/aliases.js';
import {credentialFactsOf, signEntry} from '../model/entries.js';
import {refusedByInviteLimits, type AdmissionRefusals} from '../trust/admission.js';
import {JoinGate} from './join-gate.js';
import {DEFAULT_NAT_SETTINGS, NatAgent, type NatSettings} from '../nat/agent.js';
import type {NodeRecord, VerifiedEntry} from '../model/record.js';
import type {SelectedRoute} from '../routing/select.js';
import {formatEndpoint} from './endpoint.js';
import {runHooks, type HookStage} from './hooks.js';
import {learnedEndpoints, withLearnedEndpoints, type LearnedEndpoints} from './learned-endpoints.js';
import type {MeshRepository} from './mesh-repository.js';
import type {MeshSettings} from './mesh-settings.js';
import {planWireGuard, type WgPlan} from './wg-plan.js';

/**
 * How long after news from other members the store is saved; the news of
 * that window costs one save. News needs no haste: a node that crashes before
 * saving it catches up from its peers in its first anti-entropy round.
 * Saving at once would put a write and an fsync on every member within the
 * spread of every change, which on a loaded host slows the spread itself.
 * This node's own changes are saved before they are reported done
 * ({@link MeshRuntime.publishSelf}).
 */
export const SAVE_DELAY_MS = 5_000;

/**
 * Longest a reply to another member waits for WireGuard to take a key it
 * brought (see {@link MeshRuntime.settleNewKeys}); far below the transport's
 * request timeout, so a slow driver delays the reply but never fails it.
 */
export const NEW_KEY_SETTLE_MS = 1_000;

/** Everything a MeshRuntime needs. */
export interface MeshRuntimeDeps {
  settings: MeshSettings;
  store: MeshStore;
  identity: NodeIdentity;
  driver: WgDriver;
  repository: MeshRepository;
  logger: Logger;
  clock: Clock;
  /** Port of the control plane, advertised in the control endpoint of a peer. */
  controlPort: number;
  /**
   * Called synchronously on every change of the mesh's view, before this
   * mesh reconciles (the daemon recomputes routes across its meshes here).
   */
  onViewChange?: () => void;
  /** Called after every reconciliation that touched WireGuard: how long it took and whether it succeeded (metrics). */
  onReconcile?: (outcome: {seconds: number; ok: boolean}) => void;
  /**
   * Called once when this node stops being a member without leaving: an
   * admin revoked it, or another node won the last use of the invite it came
   * in with. `reason` says which, in one line.
   */
  onExpelled?: (reason: string) => void;
  /** Allowed clock skew (ms), for the join gate. */
  maxClockSkewMs: number;
  /** NAT traversal (nat/agent.ts); off when omitted. */
  nat?: NatSettings;
  /** Called on every change of membership: records that appear, change or go, and members declared dead or alive again. */
  onMemberChange?: (change: MemberChange) => void;
}

/** Shortest time between two publications of this node's record for a change of its observed NAT. */
export const NAT_PUBLISH_MIN_INTERVAL_MS = 1_000;

/**
 * A change of one member as the HTTP API's events report it: a record that
 * appeared (`joined`), was replaced by a newer version (`changed`), or gave
 * way to a tombstone or revocation (`left`); a member this node declared dead
 * (`died`) or alive again (`revived`).
 */
export type MemberChange = {kind: 'joined' | 'changed'; record: NodeRecord} | {kind: 'left' | 'died' | 'revived'; nodeId: string};

/** The fields of its own record a node may change. */
export type SelfPatch = Partial<Pick<NodeRecord, 'alias' | 'description' | 'services' | 'routes'>>;

/** One mesh on this node. */
export class MeshRuntime {
  readonly settings: MeshSettings;
  readonly store: MeshStore;
  readonly prefix: string;
  /** Requests other members made to this node for this mesh. */
  readonly inbound: InboundCounters = {snapshots: 0, syncs: 0, messages: 0};
  /** When this node first saw each alias claim (the alias rule's clock). */
  readonly aliasClaims: AliasClaims;
  /** The time of each alias claim for the alias rule (see alias-claims.ts). */
  readonly aliasClaimTime: ClaimTime = (record) => this.aliasClaims.claimTime(record);
  private readonly deps: MeshRuntimeDeps;
  /** Bound WireGuard port; 0 until `up()` has created the interface (nothing is reconciled before). */
  private listenPort = 0;
  private interfaceUp = false;
  /** While true, WireGuard peers are not configured yet (a join waits until members know this node). */
  private wireGuardHeld = false;
  private reconciling: Promise<void> | undefined;
  private reconcileAgain = false;
  private saveTimer: TimerHandle | undefined;
  /** Node id -> when this daemon took the version of its record held now (`NodeView.receivedAt`). */
  private readonly receivedAt = new Map<string, number>();
  /** A reconciliation asked for by a change, not started yet. */
  private reconcileTimer: TimerHandle | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private control: MeshControl | undefined;
  private unsubscribeControl: (() => void) | undefined;
  private closed = false;
  /** Nodes whose invite redemption is not admitted (see admission.ts), computed again after each change. */
  private refusals: AdmissionRefusals | undefined;
  private expelled = false;
  /** Who is served for this mesh, and the member's side of joins. */
  readonly gate: JoinGate;
  /** When the running reconciliation passed its guard (`performance.now()`), for `onReconcile`. */
  private applyStartedAt: number | undefined;
  /** Routes to other meshes that leave through this mesh (set by the daemon's route manager). */
  private routes: readonly SelectedRoute[] = [];
  /**
   * What the driver last applied without error (addresses, peers and routes,
   * as JSON), so a change that moves none of them (a service, an alias, most
   * changes to other members' records) costs no driver call: with wg-kernel each
   * call runs `ip` or `wg`, and every member reconciles on every change
   * anywhere in the mesh. Cleared when the interface is (re)created. Routes
   * are forgotten too whenever the route manager changes this mesh's
   * selection: a route can move to another mesh's interface and back before
   * this mesh reconciles, leaving the kernel without it although this mesh's
   * wish is the same as before, which this mesh alone cannot see.
   */
  private readonly applied = new Map<'addresses' | 'peers' | 'routes', string>();
  /** The {@link AliasClaims.revision} last written to disk. */
  private savedAliasClaims: number | undefined;
  /** The save running or last run: saves run one after another, so an older snapshot never lands after a newer one. */
  private saving: Promise<void> = Promise.resolve();
  /** The last forwarding problem logged, so it is logged once, not on every reconcile. */
  private forwardingProblem: string | undefined;
  /**
   * Why the interface is gone, while the driver reports it failed (the driver
   * logged it and tries again; `status` and `mesh show` show it). Nothing is
   * reconciled meanwhile: every call would fail the same way.
   */
  private interfaceFailure: string | undefined;
  /** Set when a change brought a member's record with a WireGuard key not held for it before (see {@link settleNewKeys}). */
  private newKeys = false;
  /**
   * How many changes brought a member's record with a WireGuard key not held
   * for it before: a message whose handling moved it brought one, and only
   * the reply to such a message waits in {@link settleNewKeys}.
   */
  private newKeyCount = 0;
  /** The reconciliation that configures the keys last noted by {@link newKeys}, while it runs: replies to messages that brought new keys wait for it. */
  private settling: Promise<void> | undefined;
  /** Endpoints of peers that advertise none, saved at the last clean stop: given to the new interface until its first peers apply (see learned-endpoints.ts). */
  private learned: LearnedEndpoints = new Map();
  /** NAT traversal: observed endpoints, direct paths, hole punching. */
  private readonly nat: NatAgent;
  /** A publication of this node's record for a change of its NAT, waiting for NAT_PUBLISH_MIN_INTERVAL_MS. */
  private natPublishTimer: TimerHandle | undefined;
  /** When the last publication for a change of its NAT was made. */
  private natPublishedAt = -Infinity;

  constructor(deps: MeshRuntimeDeps) {
    this.deps = deps;
    this.settings = deps.settings;
    this.store = deps.store;
    this.prefix = meshPrefix(deps.settings.meshId);
    this.aliasClaims = new AliasClaims(deps.clock);
    this.gate = new JoinGate({meshId: deps.settings.meshId, store: deps.store, clock: deps.clock, maxClockSkewMs: deps.maxClockSkewMs, isMember: (nodeId) => this.isMember(nodeId)});
    this.unsubscribe.push(
      this.store.onChange((change) => {
        this.refusals = undefined;
        if (change.id === deps.identity.nodeId && change.current.value.kind === 'revocation') {
          this.expel(`an admin revoked this node from mesh ${this.meshId}${change.current.value.reason ? ` (${change.current.value.reason})` : ''}`);
        }
        if (change.current.value.kind === 'record') {
          const before = change.previous?.value;
          const newKey = before?.kind !== 'record' || before.wgPublicKey !== change.current.value.wgPublicKey;
          if (newKey && change.id !== deps.identity.nodeId) {
            this.newKeys = true;
            this.newKeyCount++;
          }
          this.receivedAt.set(change.id, this.deps.clock.now());
          this.aliasClaims.observe(change.current.value);
          deps.onMemberChange?.({kind: before?.kind === 'record' ? 'changed' : 'joined', record: change.current.value});
        } else {
          this.receivedAt.delete(change.id);
          this.aliasClaims.forget(change.id);
          if (change.previous?.value.kind === 'record') deps.onMemberChange?.({kind: 'left', nodeId: change.id});
        }
        this.changed();
      }),
    );
    this.nat = new NatAgent({
      settings: deps.nat ?? DEFAULT_NAT_SETTINGS,
      clock: deps.clock,
      logger: deps.logger.child({meshId: deps.settings.meshId, component: 'nat'}),
      driver: deps.driver,
      interfaceName: deps.settings.interfaceName,
      active: () => this.interfaceUp && !this.wireGuardHeld && this.interfaceFailure === undefined && !this.closed,
      self: () => this.self(),
      live: () => this.liveRecords(),
      localSocket: () => ({port: this.listenPort, addresses: Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address))}),
      publish: () => this.publishNat(),
      reconcile: () => this.reconcile().catch((error: unknown) => this.reconcileFailed(error)),
    });
    const unsubscribeDriver = deps.driver.onInterfaceEvent?.((event) => this.interfaceEvent(event));
    if (unsubscribeDriver) this.unsubscribe.push(unsubscribeDriver);
  }

  /** The driver lost this mesh's interface, could not rebuild it, or rebuilt it. */
  private interfaceEvent(event: WgInterfaceEvent): void {
    if (event.name !== this.settings.interfaceName || this.closed) return;
    if (event.kind === 'failed') this.interfaceFailure = event.detail;
    if (event.kind !== 'restored') return;
    this.interfaceFailure = undefined;
    // The driver restored what it last applied; the view may have moved on since.
    this.applied.clear();
    // A new interface, as at start: the postUp hooks run again (an operator's firewall rules on it, say), then everything is applied.
    void this.hooks('postUp')
      .then(() => this.reconcile())
      .catch((error: unknown) => this.reconcileFailed(error));
  }

  /**
   * Log a reconciliation that failed in the background. One cut short because
   * the interface vanished under it is no error of its own: the driver
   * rebuilds the interface and reports it restored, and everything is applied
   * again then (or reports it failed, which is logged and shown once).
   */
  private reconcileFailed(error: unknown): void {
    if (error instanceof WgInterfaceGoneError) this.deps.logger.debug({err: error, meshId: this.meshId}, 'WireGuard reconciliation cut short: the interface is being rebuilt');
    else this.deps.logger.error({err: error, meshId: this.meshId}, 'WireGuard reconciliation failed');
  }

  /** What is wrong with this mesh's interface, while the driver reports it lost and not rebuilt. */
  get interfaceProblem(): string | undefined {
    return this.interfaceFailure;
  }

  /** How many merged changes brought a member's record with a WireGuard key not held for it before (see {@link settleNewKeys}). */
  get newKeysSeen(): number {
    return this.newKeyCount;
  }

  /** The mesh id. */
  get meshId(): string {
    return this.settings.meshId;
  }

  /** This node's live record in the mesh, if it has one. */
  self(): NodeRecord | undefined {
    const entry = this.store.get(this.deps.identity.nodeId);
    return entry?.value.kind === 'record' ? entry.value : undefined;
  }

  /**
   * Bring the interface up and (re)publish this node's record with the port
   * actually bound. Used on create, join and restore. With `persist` false
   * (a mesh being created or joined, which its caller saves once, when it is
   * up) neither the settings nor the store is written here.
   */
  async up(options: {persist?: boolean} = {}): Promise<void> {
    const persist = options.persist ?? true;
    await this.hooks('preUp');
    const {state, portPicked} = await this.ensureInterfaceKeepingPort();
    if (portPicked && persist) await this.deps.repository.saveSettings(this.settings);
    this.listenPort = state.listenPort;
    this.interfaceUp = true;
    this.applied.clear();
    await this.hooks('postUp');
    if (persist) await this.publishSelf({});
    else this.mergeSelf({});
    await this.reconcile();
    this.nat.start();
  }

  /** The observed-endpoint side of this mesh's heartbeats (see nat/agent.ts), for its control plane. */
  get observedEndpoints(): ObservedEndpointExchange {
    return {observedFor: (id) => this.nat.observedFor(id), observedBy: (monitor, endpoint) => this.nat.observedBy(monitor, endpoint)};
  }

  /** The path to member `id` as hole punching sees it (`relayed` for anyone it does not punch to). */
  pathTo(id: string): 'direct' | 'trying' | 'relayed' {
    return this.nat.pathTo(id);
  }

  /** Publish this node's record for a change of its observed NAT, at most once per NAT_PUBLISH_MIN_INTERVAL_MS. */
  private publishNat(): void {
    if (this.closed || this.natPublishTimer !== undefined) return;
    const wait = Math.max(0, this.natPublishedAt + NAT_PUBLISH_MIN_INTERVAL_MS - this.deps.clock.now());
    this.natPublishTimer = this.deps.clock.setTimeout(() => {
      this.natPublishTimer = undefined;
      if (this.closed) return;
      this.natPublishedAt = this.deps.clock.now();
      this.publishSelf({}).catch((error: unknown) => this.deps.logger.warn({err: error, meshId: this.meshId}, 'could not publish the observed NAT; published with the next change'));
    }, wait);
  }

  /** The interface this mesh needs, with this node's current WireGuard key; `listenPort` 0 keeps the port of an existing interface. */
  private interfaceSpec(listenPort = this.settings.listenPort): WgInterfaceSpec {
    return {name: this.settings.interfaceName, privateKey: this.deps.identity.wgPrivateKey, listenPort, mtu: 1420};
  }

  /**
   * Ensure the interface on the port asked for: `listenPort`, or with 0 the
   * port picked at this mesh's first start ({@link MeshSettings.pickedPort}),
   * so the port stays the same across restarts. When another program took
   * that port meanwhile, a free one is used instead, with a warning (`up`
   * then publishes the new endpoint). A newly picked port is set in the
   * settings, and `portPicked` tells the caller to save them.
   */
  private async ensureInterfaceKeepingPort(): Promise<{state: WgInterfaceState; portPicked: boolean}> {
    const {settings} = this;
    const picked = settings.listenPort === 0 ? settings.pickedPort : undefined;
    let state: WgInterfaceState;
    try {
      state = await this.deps.driver.ensureInterface(this.interfaceSpec(picked ?? settings.listenPort));
    } catch (error) {
      if (picked === undefined || !(error instanceof PortInUseError)) throw error;
      state = await this.deps.driver.ensureInterface(this.interfaceSpec(0));
      this.deps.logger.warn(
        {meshId: this.meshId, port: picked, newPort: state.listenPort},
        `WireGuard port ${picked}, kept for this mesh since its first start, is taken by another program: now using port ${state.listenPort} and publishing the new endpoint; ` +
          `update firewall rules that name port ${picked}, or choose a fixed port with 'wgmesh mesh set ${this.meshId} --port PORT'`,
      );
    }
    const portPicked = settings.listenPort === 0 && settings.pickedPort !== state.listenPort;
    if (portPicked) settings.pickedPort = state.listenPort;
    return {state, portPicked};
  }

  /** The WireGuard port bound now (0 before the interface is up). */
  get boundPort(): number {
    return this.listenPort;
  }

  /**
   * Change this node's settings in this mesh in place (`mesh set`): a new
   * port is set on the existing interface first (its peers, addresses and
   * routes stay; a port in use fails here, changing nothing), then the
   * settings are saved and this node's record is published with the new
   * endpoint and role, and WireGuard reconciled (keepalive). The caller
   * checks the change is allowed.
   */
  async applySettings(next: MeshSettings): Promise<void> {
    const previousPort = this.listenPort;
    if (this.interfaceUp && next.listenPort !== 0 && next.listenPort !== this.listenPort) {
      const state = await this.deps.driver.ensureInterface(this.interfaceSpec(next.listenPort));
      this.listenPort = state.listenPort;
    }
    if (this.listenPort !== previousPort) this.nat.forgetObservations();
    if (next.listenPort !== 0) delete next.pickedPort;
    else if (this.listenPort > 0) next.pickedPort = this.listenPort;
    await this.deps.repository.saveSettings(next);
    for (const key of Object.keys(this.settings) as (keyof MeshSettings)[]) if (!(key in next)) delete this.settings[key];
    Object.assign(this.settings, next);
    await this.publishSelf({});
    await this.reconcile();
  }

  /**
   * Switch this mesh to the identity's current WireGuard key (after it
   * rotated): publish the record that carries the new public key and push it
   * to members, which replace their peer entry; once they answered, put the
   * key on the interface (keeping its port, peers and addresses) and start a
   * handshake with every peer at once. Traffic stops for one push and one
   * handshake. A member the push missed gets the record by gossip and starts
   * the handshake itself (the kernel driver does, for a peer that replaces
   * one it had a session with).
   */
  async rekey(): Promise<void> {
    // The record first: members answer the push once WireGuard has the new key (settleNewKeys), and
    // the handshake they start toward it then meets an interface still on the old key and fails. So
    // only this node's handshake, started below, runs under the new key: two handshakes that cross
    // both fail, and WireGuard retries only after 5 s.
    await this.publishSelf({});
    await this.announce('the new key');
    if (!this.interfaceUp) return;
    await this.deps.driver.ensureInterface(this.interfaceSpec());
    await this.deps.driver.handshakeNow?.(this.settings.interfaceName);
  }

  /** Sign and merge a new version of this node's record with `patch` applied, and save the store. */
  async publishSelf(patch: SelfPatch): Promise<NodeRecord> {
    const record = this.mergeSelf(patch);
    // Saved before the change is reported done: other members' news can be had again from them, this cannot.
    await this.save();
    return record;
  }

  /** Sign and merge a new version of this node's record with `patch` applied (the store is saved by the caller). */
  private mergeSelf(patch: SelfPatch): NodeRecord {
    const {settings, identity, clock} = this.deps;
    const previous = this.store.get(identity.nodeId)?.value;
    const current = previous?.kind === 'record' ? previous : undefined;
    const now = clock.now();
    const isPeer = settings.role === 'peer';
    const host = settings.endpointHost;
    const nat = this.nat.natInfo();
    const record: NodeRecord = {
      kind: 'record',
      meshId: settings.meshId,
      id: identity.nodeId,
      signingKey: identity.signingKey,
      wgPublicKey: identity.wgPublicKey,
      address: nodeAddress(settings.meshId, identity.nodeId, settings.addressCounter),
      addressCounter: settings.addressCounter,
      role: settings.role,
      controlEndpoint: isPeer && host ? formatEndpoint(host, this.deps.controlPort) : null,
      wgEndpoint: isPeer && host && this.listenPort > 0 ? formatEndpoint(host, this.listenPort) : null,
      alias: patch.alias !== undefined ? patch.alias : (current?.alias ?? null),
      description: patch.description !== undefined ? patch.description : (current?.description ?? null),
      services: patch.services ?? current?.services ?? {},
      routes: patch.routes ?? current?.routes ?? [],
      ...(nat ? {nat} : {}),
      // Versions only grow, and a version is never below the wall clock, so a
      // node that lost its state still outranks what it wrote before.
      version: Math.max((previous?.version ?? 0) + 1, now),
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
      credential: this.credential(),
    };
    this.mergeOwn(record);
    return record;
  }

  /**
   * Take the alias claim times saved with the state (call after loading it).
   * Without a saved file (state from a version that kept none) the claims
   * held are trusted as their records date them: they were resolved so before.
   */
  async restoreAliasClaims(): Promise<void> {
    let saved: AliasClaimLine[] | undefined;
    try {
      saved = await this.deps.repository.loadAliasClaims(this.meshId);
    } catch (error) {
      // Unreadable: every claim counts as seen now, which no backdated claim can win.
      this.deps.logger.warn({err: error, meshId: this.meshId}, 'alias claim times unreadable; claims held now count as first seen now');
      saved = [];
    }
    const records = this.store.records();
    const trusted = (): AliasClaimLine[] => records.flatMap((record) => (record.alias === null ? [] : [[record.id, record.alias, 0] as const]));
    this.aliasClaims.adopt(saved ?? trusted(), records);
  }

  /**
   * Take the endpoints saved at the last clean stop (call before {@link up}).
   * An unreadable file is logged and ignored: they are a hint only.
   */
  async restoreLearnedEndpoints(): Promise<void> {
    try {
      this.learned = (await this.deps.repository.takeLearnedEndpoints(this.meshId)) ?? new Map();
    } catch (error) {
      this.deps.logger.warn({err: error, meshId: this.meshId}, 'saved WireGuard endpoints of clients unreadable; the clients are reached once they send again');
    }
  }

  /**
   * Save the endpoints WireGuard learned for the peers that advertise none
   * (clients homed here), so the next start can send them a handshake at
   * once. Best effort: a failure is logged.
   */
  private async saveLearnedEndpoints(): Promise<void> {
    const self = this.self();
    if (!self || !this.interfaceUp) return;
    const desired = this.plan(self).peers;
    if (!desired.some((peer) => peer.endpoint === null)) return;
    try {
      const stats = await this.deps.driver.stats(this.settings.interfaceName);
      const entries = learnedEndpoints(desired, stats);
      if (entries.length > 0) await this.deps.repository.saveLearnedEndpoints(this.meshId, entries);
    } catch (error) {
      this.deps.logger.warn({err: error, meshId: this.meshId}, 'could not save the WireGuard endpoints of clients; after the restart they are reached once they send again');
    }
  }

  /** Write this node's signed tombstone (leaving). */
  tombstone(): void {
    const {identity, clock, settings} = this.deps;
    const now = clock.now();
    const previous = this.store.get(identity.nodeId)?.value;
    this.mergeOwn({
      kind: 'tombstone',
      meshId: settings.meshId,
      id: identity.nodeId,
      signingKey: identity.signingKey,
      version: Math.max((previous?.version ?? 0) + 1, now),
      updatedAt: now,
      credential: this.credential(),
    });
  }

  /** This node's membership credential in this mesh, from its settings. */
  private credential(): Uint8Array {
    const {credential} = this.deps.settings;
    if (credential === undefined) throw new Error(`mesh ${this.meshId} has no membership credential for this node`);
    return new Uint8Array(Buffer.from(credential, 'base64'));
  }

  private mergeOwn(body: Parameters<typeof signEntry>[1]): void {
    this.mergeMade(signEntry(this.deps.identity, body));
  }

  /** Merge an entry this node made (its own, or a revocation it signed as an admin). @throws when the store refuses it */
  private mergeMade(entry: VerifiedEntry): void {
    const result = this.store.merge([entry]);
    if (result.rejected.length > 0) {
      throw new Error(`own entry rejected by the store: ${result.rejected[0]?.reason ?? 'unknown reason'}`);
    }
  }

  /**
   * Publish a revocation this node signed as an admin: merge it, save the
   * store, and push it to members now (best effort: gossip carries it anyway).
   */
  async publishRevocation(entry: VerifiedEntry): Promise<void> {
    this.mergeMade(entry);
    await this.save();
    await this.announce('the revocation');
  }

  /**
   * Attach and start the control plane (gossip, failure detection). Without
   * one (no transport), the mesh is local-only and every record counts as live.
   */
  attachControl(control: MeshControl): void {
    this.control = control;
    this.unsubscribeControl = control.onLiveViewChange((change) => {
      const report = this.deps.onMemberChange;
      if (report) {
        for (const nodeId of change.died) report({kind: 'died', nodeId});
        for (const nodeId of change.revived) report({kind: 'revived', nodeId});
      }
      this.changed();
    });
    control.start();
  }

  /** Stop and detach the control plane (a role change starts a new one with {@link attachControl}). */
  async detachControl(): Promise<void> {
    const control = this.control;
    this.unsubscribeControl?.();
    this.unsubscribeControl = undefined;
    this.control = undefined;
    await control?.stop();
  }

  /**
   * Push this node's own entry (record or tombstone) to other members now.
   * Best effort, bounded by the transport timeout: members it does not reach
   * get it by gossip, so a failure is logged (naming `what` was pushed), never thrown.
   */
  async announce(what: string): Promise<void> {
    await this.control?.announce().catch((error: unknown) => this.deps.logger.warn({err: error, meshId: this.meshId}, `could not push ${what} to every member; gossip will`));
  }

  /**
   * Hold back WireGuard peer configuration until {@link releaseWireGuard}.
   * A joining node configures its peers only after the members have its
   * record: a handshake that reaches a member before the member knows the key
   * is dropped, and WireGuard retries only after 5 s.
   */
  holdWireGuard(): void {
    this.wireGuardHeld = true;
  }

  /** Configure WireGuard from the current view (ends {@link holdWireGuard}). */
  async releaseWireGuard(): Promise<void> {
    this.wireGuardHeld = false;
    await this.reconcile();
  }

  /** The control plane, when the mesh has one. */
  get controlPlane(): MeshControl | undefined {
    return this.control;
  }

  /**
   * Live records of the mesh: the store's records minus members the control
   * plane considers dead and nodes whose invite redemption is not admitted.
   */
  liveRecords(): NodeRecord[] {
    const refused = this.refusedNodes();
    const live = this.control ? this.control.liveRecords() : this.store.records();
    return refused.size === 0 ? live : live.filter((record) => !refused.has(record.id));
  }

  /** True when `nodeId` has an admitted record in this mesh (alive or not). */
  isMember(nodeId: string): boolean {
    return this.store.get(nodeId)?.value.kind === 'record' && !this.refusedNodes().has(nodeId);
  }

  /** Nodes refused by the invite use limits, and why; this node among them means it lost its invite's last use. */
  refusedNodes(): AdmissionRefusals {
    if (this.refusals === undefined) {
      this.refusals = refusedByInviteLimits(
        this.store.entries().map((entry) => entry.value),
        credentialFactsOf,
      );
      const own = this.refusals.get(this.deps.identity.nodeId);
      if (own !== undefined) this.expel(own);
    }
    return this.refusals;
  }

  /** Report once that this node is no longer a member (see {@link MeshRuntimeDeps.onExpelled}). */
  private expel(reason: string): void {
    if (this.expelled || this.closed) return;
    this.expelled = true;
    this.deps.logger.error({meshId: this.meshId, reason}, 'this node is no longer a member of the mesh: it leaves it');
    this.deps.onExpelled?.(reason);
  }

  /**
   * Make WireGuard match the current view. Calls made while one runs are
   * coalesced into one more run afterwards, so the last view always wins.
   */
  async reconcile(): Promise<void> {
    // A reconciliation a change asked for on a timer is this one (or the run this one queues).
    this.reconcileTimer?.cancel();
    this.reconcileTimer = undefined;
    if (this.reconciling) {
      this.reconcileAgain = true;
      return this.reconciling;
    }
    this.reconciling = (async () => {
      try {
        do {
          this.reconcileAgain = false;
          await this.applyTimed();
        } while (this.reconcileAgain && !this.closed);
      } finally {
        this.reconciling = undefined;
      }
    })();
    return this.reconciling;
  }

  /**
   * When changes merged since the last call brought a WireGuard key this
   * node did not hold for a member (a new member, a rejoin, a rotation),
   * reconcile now; wait for that reconciliation (also when another caller
   * started it), at most {@link NEW_KEY_SETTLE_MS}. The daemon
   * calls it before it answers another member's message: a node that has just
   * announced itself starts its handshakes as soon as the announcement is
   * answered, and a handshake that arrives before its key is configured is
   * dropped and retried by WireGuard only after 5 s. Never throws.
   */
  async settleNewKeys(): Promise<void> {
    if (this.closed) return;
    if (this.newKeys) {
      this.newKeys = false;
      const settling: Promise<void> = this.reconcile()
        .catch((error: unknown) => this.reconcileFailed(error))
        .finally(() => {
          if (this.settling === settling) this.settling = undefined;
        });
      this.settling = settling;
    }
    if (this.settling === undefined) return;
    let timer: TimerHandle | undefined;
    const bound = new Promise<void>((resolve) => (timer = this.deps.clock.setTimeout(resolve, NEW_KEY_SETTLE_MS)));
    await Promise.race([this.settling, bound]);
    timer?.cancel();
  }

  /** The routes to other meshes this mesh carries now. */
  selectedRoutes(): readonly SelectedRoute[] {
    return this.routes;
  }

  /** Install these routes (their gateways are members of this mesh); reconciles only when they changed. */
  setRoutes(routes: readonly SelectedRoute[]): void {
    if (JSON.stringify(routes) === JSON.stringify(this.routes)) return;
    this.routes = routes.map((route) => ({...route, path: [...route.path]}));
    this.applied.delete('routes');
    if (this.closed) return;
    this.reconcile().catch((error: unknown) => this.reconcileFailed(error));
  }

  /** {@link applyOnce}, reporting its time to `onReconcile` when it went past its guard (a held or closed mesh is not a reconciliation). */
  private async applyTimed(): Promise<void> {
    this.applyStartedAt = undefined;
    let ok = false;
    try {
      await this.applyOnce();
      ok = true;
    } finally {
      if (this.applyStartedAt !== undefined) this.deps.onReconcile?.({seconds: (performance.now() - this.applyStartedAt) / 1000, ok});
    }
  }

  private async applyOnce(): Promise<void> {
    const self = this.self();
    if (!self || this.closed || !this.interfaceUp || this.wireGuardHeld || this.interfaceFailure !== undefined) return;
    this.applyStartedAt = performance.now();
    const plan = this.plan(self);
    const {driver} = this.deps;
    const name = this.settings.interfaceName;
    // First, so a failure below (say, a clash with an operator's route) does not leave it off; it never throws.
    if (plan.forwarding) await this.ensureForwarding();
    await this.applyChanged('addresses', plan.addresses, () => driver.setAddresses(name, plan.addresses));
    const peers = this.learned.size > 0 ? withLearnedEndpoints(plan.peers, this.learned) : plan.peers;
    await this.applyChanged('peers', peers, () => driver.applyPeers(name, peers));
    this.learned = new Map();
    // Kernel routes from the view as it is now, not as it was before the awaits above, and asked for
    // with no await in between (applyChanged calls the driver synchronously): a route moving to another
    // mesh is then never put back by a stale plan (the driver applies the route changes of all
    // interfaces in the order they were asked for).
    const now = this.self();
    const routes = now ? this.plan(now).routes : plan.routes;
    await this.applyChanged('routes', routes, () => driver.setRoutes(name, routes));
  }

  /** Run `apply` unless `desired` is what the driver last applied; remember it once applied. */
  private async applyChanged(part: 'addresses' | 'peers' | 'routes', desired: unknown, apply: () => Promise<void>): Promise<void> {
    const json = JSON.stringify(desired);
    if (this.applied.get(part) === json) return;
    // Forgotten first: a failed or aborted apply leaves the driver's state unknown, so the next reconcile applies again.
    this.applied.delete(part);
    await apply();
    this.applied.set(part, json);
  }

  /** The desired WireGuard state of this node in this mesh, from the current view and routes. */
  private plan(self: NodeRecord): WgPlan {
    return planWireGuard({
      selfId: self.id,
      self,
      live: this.liveRecords(),
      prefix: this.prefix,
      keepaliveSeconds: this.settings.keepaliveSeconds,
      routes: this.routes,
      directToPeers: this.nat.directToPeers,
      punched: this.nat.punched(),
    });
  }

  /**
   * Ask the driver for IPv6 forwarding (this node relays for others here).
   * A failure does not stop the mesh (its own traffic still flows), so it is
   * logged, once per distinct problem, instead of failing the reconcile.
   */
  private async ensureForwarding(): Promise<void> {
    const {driver, logger} = this.deps;
    let problem: string | undefined;
    if (driver.ensureForwarding) {
      try {
        await driver.ensureForwarding();
      } catch (error) {
        problem = error instanceof Error ? error.message : String(error);
      }
    } else {
      problem = `the ${driver.name} WireGuard driver cannot turn on IPv6 forwarding, which this node needs to relay for others: make sure it is on (sysctl -w net.ipv6.conf.all.forwarding=1)`;
    }
    if (problem !== undefined && problem !== this.forwardingProblem) logger.warn({meshId: this.meshId}, problem);
    this.forwardingProblem = problem;
  }

  private changed(): void {
    if (this.closed) return;
    this.deps.onViewChange?.();
    this.nat.viewChanged();
    // On a timer, not now: a push being merged is forwarded first (a microtask, see push.ts),
    // and the changes of one burst cost one reconciliation.
    this.reconcileTimer ??= this.deps.clock.setTimeout(() => {
      this.reconcileTimer = undefined;
      this.reconcile().catch((error: unknown) => this.reconcileFailed(error));
    }, 0);
    if (!this.saveTimer) {
      this.saveTimer = this.deps.clock.setTimeout(() => {
        this.saveTimer = undefined;
        this.save().catch((error: unknown) => this.deps.logger.error({err: error, meshId: this.meshId}, 'saving mesh state failed'));
      }, SAVE_DELAY_MS);
    }
  }

  private async hooks(stage: HookStage): Promise<void> {
    await runHooks(stage, this.settings[stage], {interfaceName: this.settings.interfaceName, meshId: this.meshId, logger: this.deps.logger});
  }

  /** Save the store now (after any save still running); a save that was waiting for its delay is then not needed. */
  async save(): Promise<void> {
    this.saveTimer?.cancel();
    this.saveTimer = undefined;
    // The snapshot is taken when this save's turn comes, so it holds everything merged until then.
    const run = this.saving.catch(() => undefined).then(async () => {
      await this.deps.repository.saveState(this.meshId, this.store.save());
      // Most saves change no alias claim: the file is written only when the times changed.
      const revision = this.aliasClaims.revision;
      if (revision === this.savedAliasClaims) return;
      await this.deps.repository.saveAliasClaims(this.meshId, this.aliasClaims.lines());
      this.savedAliasClaims = revision;
    });
    this.saving = run;
    await run;
  }

  /** The mesh as `mesh show` presents it, with WireGuard statistics when the driver has them; with `nodeId`, that member only. (The daemon adds the mesh's problems.) */
  async view(nodeId?: string): Promise<MeshView> {
    let stats: WgPeerStats[] = [];
    try {
      // A failed interface has none: `problem` says why.
      stats = await this.peerStats();
    } catch (error) {
      this.deps.logger.warn({err: error, meshId: this.meshId}, 'could not read WireGuard statistics');
    }
    const byKey = new Map(stats.map((peer) => [peer.publicKey, peer]));
    const records = this.liveRecords();
    // One member (what a poller asks for) without building the other N - 1.
    const shown = nodeId === undefined ? records : records.filter((record) => record.id === nodeId);
    const nodes = shown.map((record) => this.nodeView(record, byKey.get(record.wgPublicKey)));
    return {meshId: this.meshId, prefix: this.prefix, nodes, inbound: {...this.inbound}, isolated: this.isolated()};
  }

  /** The WireGuard statistics of this mesh's interface (none while it is failed). @throws what the driver throws */
  async peerStats(): Promise<WgPeerStats[]> {
    return this.interfaceFailure === undefined ? this.deps.driver.stats(this.settings.interfaceName) : [];
  }

  /** One member as `mesh show` reports it, with `peer`'s WireGuard statistics when given. */
  nodeView(record: NodeRecord, peer?: WgPeerStats): NodeView {
    const control = this.control;
    const node: NodeView = {
      id: record.id,
      wgPublicKey: record.wgPublicKey,
      address: record.address,
      role: record.role,
      controlEndpoint: record.controlEndpoint,
      wgEndpoint: record.wgEndpoint,
      alias: record.alias,
      description: record.description,
      services: record.services,
      routes: record.routes.map((route) => ({destination: route.destination, path: [...route.path]})),
      self: record.id === this.deps.identity.nodeId,
      stats: peer ? {latestHandshakeMs: peer.latestHandshakeMs, rxBytes: peer.rxBytes, txBytes: peer.txBytes, endpoint: peer.endpoint} : null,
      receivedAt: this.receivedAt.get(record.id) ?? null,
      unreachable: control?.unreachableFromHere(record.id) ?? false,
    };
    // Set, not spread in: a 1,000-member view builds these objects on every request.
    const lag = control?.clockLagMs(record.id);
    if (lag !== undefined) node.clockLagMs = Math.round(lag);
    if (record.nat) node.nat = {...record.nat};
    // Between two clients: whether their traffic takes a punched path.
    if (record.nat && record.role === 'client' && !node.self && this.self()?.role === 'client') node.path = this.nat.pathTo(record.id);
    return node;
  }

  /** True when this node reaches no other member of the mesh (see reach.ts); never without a control plane. */
  isolated(): boolean {
    return this.control?.isolatedSince() !== undefined;
  }

  /** One line of `mesh list`. */
  summary(): MeshSummary {
    const summary: MeshSummary = {meshId: this.meshId, prefix: this.prefix, interface: this.settings.interfaceName, members: this.liveRecords().length, isolated: this.isolated()};
    return this.interfaceFailure === undefined ? summary : {...summary, problem: this.interfaceFailure};
  }

  /**
   * Stop reacting to changes, save the state, and remove the interface when
   * `removeInterface` (shutdown and leave both remove it; restart restores it).
   */
  async close(options: {removeInterface: boolean; save: boolean}): Promise<void> {
    this.closed = true;
    this.nat.stop();
    this.natPublishTimer?.cancel();
    this.natPublishTimer = undefined;
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    await this.detachControl();
    this.saveTimer?.cancel();
    this.saveTimer = undefined;
    this.reconcileTimer?.cancel();
    this.reconcileTimer = undefined;
    await this.reconciling?.catch(() => undefined);
    if (options.save) await this.save();
    if (options.save && options.removeInterface) await this.saveLearnedEndpoints();
    // Also when not saving: a save still writing could otherwise recreate a mesh directory about to be removed.
    await this.saving.catch(() => undefined);
    if (options.removeInterface) {
      await this.hooks('preDown');
      await this.deps.driver.removeInterface(this.settings.interfaceName);
      await this.hooks('postDown');
    }
  }
}
