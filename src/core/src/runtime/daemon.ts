/**
 * The daemon's runtime: the meshes this node is in, created, restored and left
 * through one serial queue, so that no two mesh operations interleave.
 * Transport-facing behaviour (join, gossip, failure detection) plugs in here.
 */
import {assertMeshId} from '../addressing/mesh-id.js';
import type {Clock, RandomSource} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {LogLimiter} from '../util/log-limiter.js';
import type {MeshStore, StoreBackend, SyncSession} from '../contracts/store.js';
import type {RemotePeer, Transport, TransportHandlers} from '../contracts/transport.js';
import type {WgDriver} from '../contracts/wg-driver.js';
import {MeshControl} from '../control/mesh-control.js';
import {decodeControlReply, decodeControlRequest, encodeControlReply, encodeControlRequest, type ControlReply, type ControlRequest} from '../control/messages.js';
import type {ControlSettings} from '../control/settings.js';
import {freeAddressCounter, meshPrefix} from '../addressing/address.js';
import {AdvertisedHostError, BadReplyError, ClockSkewError, DaemonStartingError, InvalidInputError, JoinFailedError, MeshUnknownAtMemberError, NoTransportError, StoreMismatchError, UnknownMeshError} from '../errors.js';
import type {NodeIdentity} from '../identity/identity.js';
import type {MeshSetInput, MeshSetResult, MeshSettingsInput, MeshShowView, MeshSummary, StatusView} from '../ipc/methods.js';
import type {AliasClaimLine} from '../model/alias-claims.js';
import type {NodeRecord, Role} from '../model/record.js';
import {RouteManager} from '../routing/manager.js';
import {SerialQueue} from '../util/serial-queue.js';
import {withRelations} from '../views/node-relations.js';
import {discoverOutgoingAddress, parseEndpoint} from './endpoint.js';
import {identityFile} from './data-dir.js';
import {interfaceName} from './interface-name.js';
import {checkRotationScope, rotateWgKey, type KeyRotationResult} from './key-rotation.js';
import {LocalServers, type LocalServerSettings, type LocalServersChange} from './local-servers.js';
import {daemonIpcHandlers} from './ipc-handlers.js';
import {MeshEvents} from '../api/mesh-events.js';
import type {ApiSettings} from '../api/settings.js';
import {ApiTokenStore} from '../api/token-store.js';
import type {ApiTokenResult} from '../ipc/methods.js';
import {MeshRepository, type StoredMesh} from './mesh-repository.js';
import {MeshRuntime, type SelfPatch} from './mesh-runtime.js';
import {MAX_SEEDS, type MeshSettings} from './mesh-settings.js';
import {changedSettings, credentialRoleOf, planMeshSettings, settingsView} from './mesh-set.js';
import {AdminKeys} from './admin-keys.js';
import {AdminOperations} from './admin-operations.js';
import {loadSnapshot} from './snapshot-load.js';
import {DEFAULT_VERIFY_WORKERS, VerifyPool} from './verify-pool.js';
import {createAuthority, issueMembership, redeemInvite} from '../trust/admin.js';
import {decodeInviteToken} from '../trust/invite-token.js';
import {JoinRefusedError} from '../errors.js';
import type {NatSettings} from '../nat/agent.js';

/** Defaults for per-mesh settings (the config's `baseConfiguration`). */
export interface BaseMeshSettings {
  role: Role;
  ipDiscovery: 'outgoing' | 'public';
  publicEndpoint?: string | null | undefined;
  advertiseRoute: boolean;
  advertiseDefaults: boolean;
  /** Persistent keepalive (seconds) of the meshes this node is a peer in. */
  keepAliveWg: number;
  /** Persistent keepalive (seconds) of the meshes this node is a client in. */
  clientKeepAliveWg: number;
  preUp: string[];
  postUp: string[];
  preDown: string[];
  postDown: string[];
}

/** Everything the daemon runtime needs, injected. */
export interface DaemonDeps {
  identity: NodeIdentity;
  dataDir: string;
  store: StoreBackend;
  driver: WgDriver;
  /** How this node reaches other members; null runs single-node meshes only. */
  transport: Transport | null;
  /** Gossip and failure-detection settings from the config. */
  control: ControlSettings;
  /** Names of the backends in use, for `status`. */
  backendNames: {store: string; transport: string; wg: string};
  base: BaseMeshSettings;
  /** Control-plane port advertised by peers. */
  controlPort: number;
  gcHorizonMs: number;
  maxClockSkewMs: number;
  /** NAT traversal settings (nat/agent.ts); off when omitted. */
  nat?: NatSettings;
  logger: Logger;
  clock: Clock;
  random: RandomSource;
  /** Finds the host to advertise when none is configured (default: the outgoing interface's address). */
  discoverHost?: () => Promise<string | null>;
  /** The daemon's limiter of repeated log lines; the metrics count what it suppressed. */
  logLimiter?: LogLimiter | undefined;
  /** The DNS server for mesh aliases (config `dnsEnabled`, `dnsListen`); off when absent. */
  dns?: LocalServerSettings | undefined;
  /** The Prometheus endpoint (config `metricsEnabled`, `metricsListen`); off when absent. */
  metrics?: LocalServerSettings | undefined;
  /** The HTTP API (config `apiEnabled`, `apiListen` ...); off when absent. */
  api?: ApiSettings | undefined;
  /** The built dashboard the API serves at `/` (the CLI package's `dist/dashboard`). */
  dashboardDir?: string | undefined;
  /** The installed backends, for the API's `GET /backends`. */
  backendListing?: (() => unknown[]) | undefined;
  /** Most worker threads that check a join snapshot or the restored state (config `verifyWorkers`, default {@link DEFAULT_VERIFY_WORKERS}); 0: the main thread does. */
  verifyWorkers?: number | undefined;
}

/** Events an API stream may fall behind before it is dropped. */
const MAX_STREAM_QUEUE = 1024;

/** How long an IPC request made during start-up waits for the meshes to be restored before it is told the daemon is still starting. */
const START_WAIT_MS = 5_000;
/** First and longest wait before a refetch of a lost mesh state tries the saved member endpoints again. */
const REFETCH_RETRY_MIN_MS = 1_000;
const REFETCH_RETRY_MAX_MS = 30_000;

/** The persistent keepalive of a mesh joined or created in `role` when the user gave none. */
function defaultKeepalive(base: BaseMeshSettings, role: Role): number {
  return role === 'client' ? base.clientKeepAliveWg : base.keepAliveWg;
}

/** Something wrong with a running mesh that `status` and `mesh list` show until it is resolved. */
interface MeshProblem {
  text: string;
  /** Resolved once the store holds a record of another member (the state was refetched). */
  untilRefetched: boolean;
  /** Members refuse the advertised host (resolved by `mesh set --endpoint` with a host the certificate lists). */
  advertisedHost?: true;
}

/** The problem shown for a mesh whose files were set aside because it cannot be restored. */
function setAsideProblem(meshId: string, path: string, reason: string): string {
  return `cannot be restored: ${reason}; its files are kept in ${path}. Join it again with an invite from an admin ('wgmesh mesh invite ${meshId}' there, then 'wgmesh mesh join ${meshId} --invite <line>' here), then remove ${path}`;
}

/** The meshes of one node and the operations on them. */
export class Daemon {
  private readonly deps: DaemonDeps;
  private readonly meshes = new Map<string, MeshRuntime>();
  /**
   * The mesh being created or joined (see {@link admit}), from the moment its
   * control plane runs until it is saved and listed in {@link meshes}: members
   * learn of this node from its announce and talk to it at once, so the
   * transport serves it already (refused, they would back off a node that is up).
   */
  private admitting: MeshRuntime | undefined;
  private readonly repository: MeshRepository;
  /** What this node does as an admin of its meshes. */
  private readonly admin: AdminOperations;
  private readonly queue = new SerialQueue();
  private refreshTimer: {cancel(): void} | undefined;
  /** Timers of refetches waiting to try the saved member endpoints again, by mesh id. */
  private readonly refetchTimers = new Map<string, {cancel(): void}>();
  private stopped = false;
  /** Routes between this node's meshes: selection on every view change, advertisement through the queue. */
  private readonly routing: RouteManager;
  /** DNS, metrics and the HTTP API, when enabled. */
  private readonly servers: LocalServers;
  /** The HTTP API's events. */
  private readonly events: MeshEvents;
  /** The HTTP API's bearer token. */
  private readonly apiTokens: ApiTokenStore;
  /** Problems of running meshes (a damaged file found at start). */
  private readonly problems = new Map<string, MeshProblem[]>();
  /** Meshes that are not running, and why: on disk but not restored, or left because this node was expelled (shown until this node is in the mesh again). */
  private readonly unrestored = new Map<string, string>();
  /** Restore progress, for requests made during start-up. */
  private readonly restoring = {done: 0, total: 0};
  private ready = false;
  private readonly started: Promise<void>;
  /** Worker threads that check whole snapshots (join, restore) off the event loop. */
  private readonly verifier: VerifyPool;
  private markStarted: () => void = () => undefined;

  constructor(deps: DaemonDeps) {
    this.deps = deps;
    this.started = new Promise((resolve) => (this.markStarted = resolve));
    this.repository = new MeshRepository(deps.dataDir);
    this.admin = new AdminOperations({identity: deps.identity, dataDir: deps.dataDir, clock: deps.clock, logger: deps.logger.child({component: 'admin'}), transport: deps.transport, mesh: (meshId) => this.mesh(meshId)});
    this.apiTokens = new ApiTokenStore({dataDir: deps.dataDir, logger: deps.logger.child({component: 'api'})});
    this.events = new MeshEvents({
      clock: deps.clock,
      logger: deps.logger.child({component: 'api'}),
      meshes: () => this.meshes.values(),
      maxQueue: MAX_STREAM_QUEUE,
    });
    this.servers = new LocalServers({
      dns: deps.dns,
      metrics: deps.metrics,
      api: deps.api,
      apiSources: {handlers: () => daemonIpcHandlers(this), tokens: this.apiTokens, hub: this.events.hub, dashboardDir: deps.dashboardDir, backends: deps.backendListing},
      meshes: () => this.meshes.values(),
      mesh: (meshId) => this.meshes.get(meshId),
      nodeId: deps.identity.nodeId,
      backendNames: deps.backendNames,
      logger: deps.logger,
      clock: deps.clock,
      logLimiter: deps.logLimiter,
      datagramDrops: () => deps.transport?.datagramDrops?.(),
    });
    this.verifier = new VerifyPool({maxWorkers: deps.verifyWorkers ?? DEFAULT_VERIFY_WORKERS, logger: deps.logger.child({component: 'verify'})});
    this.routing = new RouteManager({
      selfId: deps.identity.nodeId,
      meshes: () => this.meshes.values(),
      exclusive: (task) => this.queue.run(task),
      logger: deps.logger.child({component: 'routing'}),
    });
  }

  /**
   * Restore every saved mesh: interface, address, peers. A mesh with a damaged
   * file is restored from what is left where it can be (see {@link restore});
   * one that cannot, or that fails, is logged and shown by `status` and
   * `mesh list` with what to do.
   */
  async start(): Promise<void> {
    // First: a DNS or metrics port in use stops the daemon before it touches anything.
    await this.servers.start();
    await this.deps.transport?.listen(this.transportHandlers());
    await this.queue.run(async () => {
      for (const aside of await this.repository.listSetAside()) {
        this.unrestored.set(aside.meshId, setAsideProblem(aside.meshId, aside.path, 'its files were found damaged at an earlier start'));
      }
      const meshIds = await this.repository.list();
      this.restoring.total = meshIds.length;
      for (const meshId of meshIds) {
        try {
          await this.restore(meshId);
        } catch (error) {
          this.deps.logger.error({err: error, meshId}, 'could not restore mesh; it stays on disk and will be retried at the next start');
          const reason = error instanceof Error ? error.message : String(error);
          this.unrestored.set(meshId, `could not be restored (${reason}); its files stay on disk and it is retried at the next start (see the daemon's log)`);
        }
        this.restoring.done++;
      }
    });
    this.ready = true;
    this.markStarted();
    this.scheduleRefresh();
  }

  /**
   * Resolves once every saved mesh has been restored, so that nothing answers
   * with part of the meshes.
   * @throws DaemonStartingError when the restore takes longer than a few seconds.
   */
  async whenStarted(): Promise<void> {
    if (this.ready) return;
    let timer: {cancel(): void} | undefined;
    await Promise.race([this.started, new Promise<void>((resolve) => (timer = this.deps.clock.setTimeout(resolve, START_WAIT_MS)))]);
    timer?.cancel();
    if (!this.ready) {
      const {done, total} = this.restoring;
      throw new DaemonStartingError(`the daemon is still starting (restored ${done} of ${total} meshes); retry in a moment`);
    }
  }

  /**
   * Restore one mesh from its files. An unreadable `state.bin` is set aside
   * and the mesh starts with an empty store that its members fill again; an
   * unreadable or missing `settings.json` is set aside and rebuilt from this
   * node's own record in the state. Without settings or such a record the mesh
   * cannot be brought up: its directory is set aside. Each is logged and shown.
   */
  private async restore(meshId: string): Promise<void> {
    const {logger, clock} = this.deps;
    const stored = await this.repository.load(meshId);
    if (!stored.settings && stored.settingsError === undefined && !stored.state) {
      logger.debug({meshId}, 'mesh directory holds neither settings nor state; nothing to restore');
      return;
    }
    const problems: MeshProblem[] = [];
    let store = this.openStore(meshId);
    if (stored.state) {
      try {
        const result = await loadSnapshot(store, stored.state, this.verifier);
        if (result.rejected.length > 0) {
          logger.warn({meshId, rejected: result.rejected.length}, 'dropped invalid or expired entries from saved state');
        }
      } catch (error) {
        const kept = await this.repository.setAside(meshId, 'state.bin', clock.now());
        logger.error({err: error, meshId, keptAs: kept}, 'saved mesh state (state.bin) is unreadable: the mesh starts with an empty state and refetches it from its members');
        problems.push({text: `state.bin was unreadable (kept as ${kept}); refetching the mesh state from its members`, untilRefetched: true});
        store = this.openStore(meshId);
      }
    }
    const settings = stored.settings ?? (await this.rebuildSettings(meshId, stored, store, problems));
    if (!settings) return;
    if (settings.credential === undefined) {
      const path = this.repository.directory(meshId);
      logger.error({meshId, path}, 'mesh was made by an earlier wgmesh, without a mesh authority: not restored (its files are kept)');
      this.unrestored.set(meshId, `was made by an earlier wgmesh, without a mesh authority, and is not restored (its files are kept in ${path}): make a new mesh with 'wgmesh mesh create', join the other nodes to it with 'wgmesh mesh invite' and 'wgmesh mesh join --invite', then remove ${path}`);
      return;
    }
    await this.refreshHooks(settings);
    this.hintSettingsFromJoin(settings);
    const hostProblem = settings.role === 'peer' ? this.advertisedHostProblem(settings.endpointHost) : undefined;
    if (hostProblem !== undefined) {
      logger.error({meshId}, `members cannot reach this node in this mesh: ${hostProblem}`);
      problems.push({text: hostProblem.replace(/MESH_ID/g, meshId), untilRefetched: false, advertisedHost: true});
    }
    const runtime = this.openRuntime(settings, store);
    await runtime.restoreAliasClaims();
    await runtime.restoreLearnedEndpoints();
    await this.admin.refresh(meshId);
    this.meshes.set(meshId, runtime);
    this.events.meshAdded(meshId);
    if (problems.length > 0) this.problems.set(meshId, problems);
    await runtime.up();
    this.startControl(runtime);
    this.syncAtStart(runtime);
    this.routing.update();
    if (problems.some((problem) => problem.untilRefetched)) void this.refetch(runtime);
    else await this.saveSeeds(runtime);
    logger.info({meshId, interface: settings.interfaceName, members: runtime.liveRecords().length}, 'mesh restored');
  }

  /**
   * Start one anti-entropy round with a live peer of a restored mesh now,
   * without waiting for it: a member that declared this node dead while it
   * was down (and so removed its WireGuard peer) learns it is back from the
   * refutation this round brings about, within a round trip instead of at
   * the next periodic round. Best effort.
   */
  private syncAtStart(runtime: MeshRuntime): void {
    const selfId = this.deps.identity.nodeId;
    const partner = runtime.liveRecords().find((record) => record.id !== selfId && record.role === 'peer' && record.controlEndpoint !== null);
    if (!partner) return;
    runtime.controlPlane?.syncWith(partner.id).catch((error: unknown) => this.deps.logger.debug({err: error, meshId: runtime.meshId, partner: partner.id}, 'anti-entropy round at start failed'));
  }

  /**
   * Fill the store of a mesh whose saved state was lost: sync with the saved
   * member endpoints ({@link MeshSettings.seeds}) one after another until one
   * answers; when none does (a partition, members restarting), try them all
   * again after `retryMs`, twice as long each time up to
   * {@link REFETCH_RETRY_MAX_MS}. Members cannot fill the store themselves:
   * a store that lost the members' records no longer knows them, so this node
   * refuses them as strangers until it has refetched.
   */
  private async refetch(runtime: MeshRuntime, retryMs = REFETCH_RETRY_MIN_MS): Promise<void> {
    const {transport, logger, clock} = this.deps;
    const {meshId} = runtime;
    this.refetchTimers.delete(meshId);
    const seeds = runtime.settings.seeds ?? [];
    if (!transport || seeds.length === 0) {
      logger.warn({meshId}, 'no saved member endpoint to refetch the mesh state from: join the mesh again with an invite if no member reaches this node');
      return;
    }
    for (const seed of seeds) {
      if (this.stopped || this.meshes.get(meshId) !== runtime) return;
      try {
        await transport.sync(seed, meshId, runtime.store.kind, runtime.store.openSync('initiator'));
        logger.info({meshId, seed, members: runtime.liveRecords().length}, 'refetched the mesh state from a member');
        return;
      } catch (error) {
        logger.warn({err: error, meshId, seed}, 'could not refetch the mesh state from this member; trying the next');
      }
    }
    if (this.stopped || this.meshes.get(meshId) !== runtime) return;
    logger.warn({meshId, retryMs}, 'no saved member endpoint answered: trying them again later');
    this.refetchTimers.set(meshId, clock.setTimeout(() => void this.refetch(runtime, Math.min(retryMs * 2, REFETCH_RETRY_MAX_MS)), retryMs));
  }

  /** Control endpoints of up to {@link MAX_SEEDS} live peers of a mesh other than this node, `first` leading. */
  private seedsOf(runtime: MeshRuntime, first?: string): string[] {
    const selfId = this.deps.identity.nodeId;
    const known = runtime
      .liveRecords()
      .filter((record) => record.id !== selfId && record.role === 'peer')
      .flatMap((record) => (record.controlEndpoint ? [record.controlEndpoint] : []));
    return [...new Set([...(first === undefined ? [] : [first]), ...known])].slice(0, MAX_SEEDS);
  }

  /**
   * Save {@link seedsOf} in the mesh's settings when they changed; an empty
   * view keeps the endpoints saved before. Failing to save is logged, not thrown.
   */
  private async saveSeeds(runtime: MeshRuntime): Promise<void> {
    const seeds = this.seedsOf(runtime);
    const {settings} = runtime;
    if (seeds.length === 0 || JSON.stringify(seeds) === JSON.stringify(settings.seeds ?? [])) return;
    settings.seeds = seeds;
    await this.repository.saveSettings(settings).catch((error: unknown) => this.deps.logger.warn({err: error, meshId: runtime.meshId}, 'could not save member endpoints in the mesh settings'));
  }

  /**
   * Settings for a mesh whose `settings.json` is unreadable or missing, from
   * this node's own record in `store` and the base configuration; the damaged
   * file is set aside and the rebuilt one saved. Without an own record the
   * mesh's directory is set aside and `undefined` returned.
   */
  private async rebuildSettings(meshId: string, stored: StoredMesh, store: MeshStore, problems: MeshProblem[]): Promise<MeshSettings | undefined> {
    const {identity, base, logger, clock} = this.deps;
    const reason = stored.settingsError ?? 'settings.json is missing';
    const own = store.get(identity.nodeId)?.value;
    if (own?.kind !== 'record') {
      const kept = await this.repository.setAsideMesh(meshId, clock.now());
      logger.error({meshId, keptAs: kept, reason}, `cannot restore mesh: no usable settings and no record of this node in its state; join it again with an invite ('wgmesh mesh join ${meshId} --invite <line>')`);
      this.unrestored.set(meshId, setAsideProblem(meshId, kept, `${reason}, and no saved state holds this node's record`));
      return undefined;
    }
    const control = own.controlEndpoint ? parseEndpoint(own.controlEndpoint) : undefined;
    const wireguard = own.wgEndpoint ? parseEndpoint(own.wgEndpoint) : undefined;
    const settings: MeshSettings = {
      version: 1,
      meshId,
      storeKind: store.kind,
      interfaceName: interfaceName(meshId, identity.nodeId),
      role: own.role,
      listenPort: wireguard?.port ?? 0,
      endpointHost: control?.host ?? wireguard?.host ?? null,
      keepaliveSeconds: defaultKeepalive(base, own.role),
      advertiseRoutes: base.advertiseRoute,
      advertiseDefault: base.advertiseDefaults,
      addressCounter: own.addressCounter,
      joinedAt: own.createdAt,
      preUp: base.preUp,
      postUp: base.postUp,
      preDown: base.preDown,
      postDown: base.postDown,
      credential: Buffer.from(own.credential).toString('base64'),
    };
    const kept = stored.settingsError === undefined ? undefined : await this.repository.setAside(meshId, 'settings.json', clock.now());
    await this.repository.saveSettings(settings);
    logger.error({meshId, keptAs: kept, reason}, 'mesh settings (settings.json) unusable: rebuilt from this node\'s own record and baseConfiguration');
    const port = settings.listenPort === 0 ? 'any' : String(settings.listenPort);
    problems.push({
      text: `${reason}${kept ? ` (kept as ${kept})` : ''}; settings rebuilt from this node's own record and baseConfiguration (role ${settings.role}, WireGuard port ${port}): check keepalive, advertised routes and hooks`,
      untilRefetched: false,
    });
    return settings;
  }

  /**
   * Hooks follow the config at every start: no flag sets them per mesh, so
   * the config is their only source (saved in the settings when changed).
   */
  private async refreshHooks(settings: MeshSettings): Promise<void> {
    const {base} = this.deps;
    const stages = ['preUp', 'postUp', 'preDown', 'postDown'] as const;
    if (stages.every((stage) => JSON.stringify(settings[stage]) === JSON.stringify(base[stage]))) return;
    for (const stage of stages) settings[stage] = [...base[stage]];
    await this.repository.saveSettings(settings);
    this.deps.logger.info({meshId: settings.meshId}, 'hooks of this mesh updated from baseConfiguration');
  }

  /**
   * Say when `baseConfiguration` now differs from what a mesh took from it at
   * create or join: those values are per mesh from then on (a flag may have
   * set them), and `mesh set` changes them; a config edit does not.
   */
  private hintSettingsFromJoin(settings: MeshSettings): void {
    const {base} = this.deps;
    const differ: string[] = [];
    if (settings.role === 'peer' && base.publicEndpoint && base.publicEndpoint !== settings.endpointHost) differ.push(`publicEndpoint (mesh: --endpoint ${settings.endpointHost ?? 'none'})`);
    if (defaultKeepalive(base, settings.role) !== settings.keepaliveSeconds) {
      differ.push(`${settings.role === 'client' ? 'clientKeepAliveWg' : 'keepAliveWg'} (mesh: --keepalive ${settings.keepaliveSeconds})`);
    }
    if (base.advertiseRoute !== settings.advertiseRoutes) differ.push(`advertiseRoute (mesh: --${settings.advertiseRoutes ? '' : 'no-'}advertise-routes)`);
    if (base.advertiseDefaults !== settings.advertiseDefault) differ.push(`advertiseDefaults (mesh: --${settings.advertiseDefault ? '' : 'no-'}advertise-default)`);
    if (differ.length === 0) return;
    this.deps.logger.info(
      {meshId: settings.meshId, keys: differ},
      `baseConfiguration differs from this mesh's own settings (${differ.join(', ')}): a mesh keeps the settings it was created or joined with; change them with 'wgmesh mesh set ${settings.meshId}'`,
    );
  }

  /** Clear the problems of `meshId` that end once its store holds another member's record. */
  private settleRefetched(meshId: string): void {
    const problems = this.problems.get(meshId);
    if (!problems?.some((problem) => problem.untilRefetched)) return;
    const runtime = this.meshes.get(meshId);
    if (!runtime?.store.records().some((record) => record.id !== this.deps.identity.nodeId)) return;
    const left = problems.filter((problem) => !problem.untilRefetched);
    if (left.length > 0) this.problems.set(meshId, left);
    else this.problems.delete(meshId);
    this.deps.logger.info({meshId, members: runtime.liveRecords().length}, 'mesh state refetched from its members');
  }

  private openStore(meshId: string): MeshStore {
    const {deps} = this;
    return deps.store.open({
      meshId,
      clock: deps.clock,
      logger: deps.logger.child({meshId}),
      gcHorizonMs: deps.gcHorizonMs,
      maxClockSkewMs: deps.maxClockSkewMs,
    });
  }

  private openRuntime(settings: MeshSettings, store: MeshStore = this.openStore(settings.meshId)): MeshRuntime {
    const {deps} = this;
    const logger = deps.logger.child({meshId: settings.meshId});
    const runtime: MeshRuntime = new MeshRuntime({
      settings,
      store,
      identity: deps.identity,
      driver: deps.driver,
      repository: this.repository,
      logger,
      clock: deps.clock,
      controlPort: deps.controlPort,
      // Only a mesh the daemon runs is routed: one being created or joined is routed once it is added (admit).
      onViewChange: () => {
        if (this.meshes.get(settings.meshId) !== runtime) return;
        this.routing.update();
        this.settleRefetched(settings.meshId);
      },
      onReconcile: (outcome) => this.servers.observeReconcile(settings.meshId, outcome),
      onExpelled: (reason) => void this.expel(settings.meshId, reason),
      maxClockSkewMs: deps.maxClockSkewMs,
      ...(deps.nat ? {nat: deps.nat} : {}),
      // Only a mesh the daemon runs reports: a snapshot loaded while joining is not news.
      onMemberChange: (change) => {
        if (this.meshes.get(settings.meshId) === runtime) this.events.member(runtime, change);
      },
    });
    return runtime;
  }

  /**
   * Why members would refuse this node at `host` (see Transport.advertisedHostProblem), or undefined.
   */
  private advertisedHostProblem(host: string | null): string | undefined {
    return host === null ? undefined : this.deps.transport?.advertisedHostProblem?.(host);
  }

  /** @throws AdvertisedHostError when members would refuse this node at `host` */
  private checkAdvertisedHost(host: string | null): void {
    const problem = this.advertisedHostProblem(host);
    if (problem !== undefined) throw new AdvertisedHostError(problem);
  }

  /** Per-mesh settings from the user's input over the base configuration. */
  private async settingsFor(meshId: string, input: MeshSettingsInput): Promise<MeshSettings> {
    const {base, identity, store, clock} = this.deps;
    const role = input.role ?? base.role;
    let endpointHost: string | null = input.endpoint ?? base.publicEndpoint ?? null;
    if (!endpointHost && role === 'peer') endpointHost = await this.defaultEndpointHost(meshId);
    if (role === 'peer') this.checkAdvertisedHost(endpointHost);
    return {
      version: 1,
      meshId,
      storeKind: store.kind,
      interfaceName: interfaceName(meshId, identity.nodeId),
      role,
      listenPort: input.port ?? 0,
      endpointHost,
      keepaliveSeconds: input.keepalive ?? defaultKeepalive(base, role),
      // Flags only switch these on; the configured default applies otherwise
      // (an absent flag is no `false`: it must not override the config file).
      advertiseRoutes: input.advertiseRoutes ?? base.advertiseRoute,
      advertiseDefault: input.advertiseDefault ?? base.advertiseDefaults,
      addressCounter: 0,
      joinedAt: clock.now(),
      preUp: base.preUp,
      postUp: base.postUp,
      preDown: base.preDown,
      postDown: base.postDown,
    };
  }

  /**
   * Create a new mesh with this node as its first member and admin: a new
   * mesh authority (its key saved 0600 in the data dir; the mesh id is
   * derived from it) admits this node directly. Nothing is left behind on failure.
   */
  async createMesh(input: MeshSettingsInput): Promise<{meshId: string}> {
    return this.queue.run(async () => {
      const {authority, admin} = createAuthority();
      const settings = await this.settingsFor(admin.meshId, input);
      if (settings.role === 'client') {
        throw new InvalidInputError('a client cannot create a mesh: create it on a peer (--role peer) and join it from the client');
      }
      settings.credential = Buffer.from(issueMembership(admin, this.deps.identity.signingKey, 'peer', this.deps.clock.now())).toString('base64');
      await this.admin.save(AdminKeys.forAuthority(authority.privateKey));
      await this.admit(settings);
      this.deps.logger.info({meshId: settings.meshId, interface: settings.interfaceName}, 'mesh created');
      return {meshId: settings.meshId};
    });
  }

  /**
   * Present this node's credential to the member at `via` (a `jn` request).
   * The member answers with what its clock says, when it first saw each
   * alias claim (see alias-claims.ts) and how many entries it holds, and lets
   * this node fetch the snapshot.
   * @throws JoinRefusedError with the member's reason (invite expired, used up, revoked ...)
   * @throws ClockSkewError when the two clocks differ by more than maxClockSkew:
   *   one side would refuse everything the other writes as dated in the future
   */
  private async presentCredential(transport: Transport, via: string, meshId: string, credential: Uint8Array, signal?: AbortSignal): Promise<Extract<ControlReply, {t: 'jn'}>> {
    const {identity, clock, maxClockSkewMs} = this.deps;
    const sentAt = clock.now();
    const reply = decodeControlReply(await transport.message(via, meshId, encodeControlRequest({t: 'jn', f: identity.nodeId, k: identity.signingKey, c: credential}), signal));
    if (reply.t === 'err') throw new JoinRefusedError(`the member at ${via} refused to let this node join mesh ${meshId}: ${reply.reason}`);
    if (reply.t !== 'jn') throw new BadReplyError(`the member at ${via} answered a join with '${reply.t}'`);
    // The member read its clock somewhere in the round trip: refuse only what is out whatever the moment.
    const receivedAt = clock.now();
    const offset = reply.n - (sentAt + receivedAt) / 2;
    if (Math.abs(offset) - (receivedAt - sentAt) / 2 > maxClockSkewMs) throw new ClockSkewError(via, offset, maxClockSkewMs);
    return reply;
  }

  /** Bring a new membership up and persist it; undo everything if any step fails. */
  private async admit(settings: MeshSettings, snapshot?: Uint8Array, aliasClaims: readonly AliasClaimLine[] = [], via?: string): Promise<MeshRuntime> {
    const runtime = this.openRuntime(settings);
    try {
      if (snapshot) {
        await loadSnapshot(runtime.store, snapshot, this.verifier);
        runtime.aliasClaims.adopt(aliasClaims, runtime.store.records());
        // Another node may (astronomically rarely) hold our address: take the
        // next counter, which every member can verify.
        const taken = new Set(runtime.store.records().filter((r) => r.id !== this.deps.identity.nodeId).map((r) => r.address));
        settings.addressCounter = freeAddressCounter(settings.meshId, this.deps.identity.nodeId, taken);
        if (settings.role === 'client' && !runtime.store.records().some((r) => r.role === 'peer')) {
          throw new InvalidInputError(`cannot join mesh ${settings.meshId} as a client: it has no peers to attach to`);
        }
      }
      if (snapshot) runtime.holdWireGuard();
      // Saved once, below, when everything is up.
      await runtime.up({persist: false});
      this.admitting = runtime;
      this.startControl(runtime);
      if (snapshot) {
        await runtime.announce('this node\'s record');
        await runtime.releaseWireGuard();
      }
      if (via !== undefined) settings.seeds = this.seedsOf(runtime, via);
      await this.repository.saveSettings(settings);
      await runtime.save();
    } catch (error) {
      this.admitting = undefined;
      await runtime.close({removeInterface: true, save: false}).catch(() => undefined);
      await this.repository.remove(settings.meshId);
      throw error;
    }
    this.admitting = undefined;
    this.meshes.set(settings.meshId, runtime);
    this.events.meshAdded(settings.meshId);
    this.routing.update();
    return runtime;
  }

  /** Start gossip and failure detection for a mesh whose own record is in its store. */
  private startControl(runtime: MeshRuntime): void {
    const {transport} = this.deps;
    if (!transport) return;
    runtime.attachControl(
      new MeshControl({
        meshId: runtime.meshId,
        identity: this.deps.identity,
        role: runtime.settings.role,
        store: runtime.store,
        transport,
        clock: this.deps.clock,
        random: this.deps.random,
        logger: this.deps.logger.child({meshId: runtime.meshId, component: 'control'}),
        settings: this.deps.control,
        aliasClaims: () => runtime.aliasClaims.lines(),
        answerJoin: (request, peer) => this.answerJoin(runtime, request, peer),
        endpoints: runtime.observedEndpoints,
      }),
    );
  }

  /**
   * Join a mesh with an invite, through any member the invite names (or
   * `via` first): redeem the invite for this node's key, present it, fetch
   * the snapshot, add this node's signed record, start gossiping. The admin
   * that issued the invite need not be online. Nothing is left behind on failure.
   * @throws InvalidInputError for a malformed or expired invite
   * @throws JoinRefusedError when a member refuses it (used up, revoked ...)
   */
  async joinMesh(invite: string, via: string | undefined, input: MeshSettingsInput, expectedMeshId?: string, signal?: AbortSignal): Promise<{meshId: string; members: number}> {
    const token = decodeInviteToken(invite);
    const {meshId} = token;
    if (expectedMeshId !== undefined && assertMeshId(expectedMeshId) !== meshId) {
      throw new InvalidInputError(`the invite is for mesh ${meshId}, not ${expectedMeshId}`);
    }
    if (via !== undefined) parseEndpoint(via);
    return this.queue.run(async () => {
      if (this.meshes.has(meshId)) throw new InvalidInputError(`this node is already a member of mesh ${meshId}`);
      const {transport, clock, identity} = this.deps;
      if (!transport) {
        throw new NoTransportError();
      }
      if (token.invite.r === 'client' && input.role === 'peer') throw new InvalidInputError('the invite admits clients only: join without --role peer (or with --role client)');
      // The invite's suggestions apply unless the node's own flags say otherwise; a client invite makes a client.
      const settingsInput: MeshSettingsInput = {...token.suggestions, ...input, ...(token.invite.r === 'client' ? {role: 'client'} : {})};
      const now = clock.now();
      if (now > token.invite.e) throw new InvalidInputError(`the invite expired at ${new Date(token.invite.e).toISOString()}: ask an admin for a new one ('wgmesh mesh invite ${meshId}')`);
      // A redemption must lie within the invite's validity: a clock behind the issuing admin's dates it at the issue time.
      // The member then checks the date against its own clock (maxClockSkew).
      const credential = redeemInvite(token.chain, token, identity.signingKey, Math.max(now, token.invite.i));
      const endpoints = [...new Set([...(via === undefined ? [] : [via]), ...token.endpoints])];
      if (endpoints.length === 0) throw new InvalidInputError('the invite names no member to join through: give one with --via <host:port>');
      // Before any member is asked: a wrong endpoint or certificate is this node's own problem.
      const settings = await this.settingsFor(meshId, settingsInput);
      let lastError: unknown;
      for (const endpoint of endpoints) {
        try {
          return await this.joinThrough(endpoint, meshId, credential, {...settings}, signal);
        } catch (error) {
          // A refusal or a clock problem is the mesh's answer, not the member's: trying another would get the same.
          if (error instanceof JoinRefusedError || error instanceof ClockSkewError || error instanceof InvalidInputError || signal?.aborted) throw error;
          this.deps.logger.warn({err: error, meshId, via: endpoint}, 'could not join through this member; trying the next');
          lastError = error;
        }
      }
      throw lastError instanceof Error ? lastError : new JoinFailedError(meshId);
    });
  }

  /** One attempt of {@link joinMesh} through the member at `via`. */
  private async joinThrough(via: string, meshId: string, credential: Uint8Array, settings: MeshSettings, signal?: AbortSignal): Promise<{meshId: string; members: number}> {
    const transport = this.deps.transport as Transport;
    // A member that does not know the mesh (or will not say) answers UnknownMeshError to both steps.
    const named = (error: unknown): unknown => (error instanceof UnknownMeshError ? new MeshUnknownAtMemberError(meshId, via) : error);
    const answer = await this.presentCredential(transport, via, meshId, credential, signal).catch((error: unknown) => {
      throw named(error);
    });
    // A snapshot big enough for the verification workers: they start while it downloads.
    this.verifier.warm(answer.e ?? 0);
    const fetched = await transport.fetchSnapshot(via, meshId, signal).catch((error: unknown) => {
      throw named(error);
    });
    if (fetched.storeKind !== this.deps.store.kind) {
      throw new StoreMismatchError(
        `mesh ${meshId} uses the '${fetched.storeKind}' store but this daemon runs '${this.deps.store.kind}': restart it with --store ${fetched.storeKind} to join`,
      );
    }
    settings.credential = Buffer.from(credential).toString('base64');
    const runtime = await this.admit(settings, fetched.snapshot, answer.c, via);
    // An admin key imported before joining shows from now on.
    await this.admin.refresh(meshId);
    this.deps.logger.info({meshId, via, members: runtime.liveRecords().length}, 'joined mesh');
    return {meshId, members: runtime.store.records().length};
  }

  /**
   * What this daemon serves to other daemons. A mesh is served only to its
   * members, proven by the transport (see join-gate.ts); anyone else is told
   * the mesh is unknown here, except for a join request, which is answered.
   */
  private transportHandlers(): TransportHandlers {
    const running = (meshId: string): MeshRuntime | undefined => this.meshes.get(meshId) ?? (this.admitting?.meshId === meshId ? this.admitting : undefined);
    const served = (meshId: string, peer: RemotePeer): MeshRuntime => {
      const runtime = running(meshId);
      if (!runtime || !runtime.gate.admits(peer.nodeId)) throw new UnknownMeshError(meshId);
      return runtime;
    };
    return {
      snapshot: async (meshId: string, peer: RemotePeer) => {
        const runtime = served(meshId, peer);
        runtime.inbound.snapshots++;
        return {storeKind: runtime.store.kind, snapshot: runtime.store.save()};
      },
      openSync: (meshId: string, storeKind: string, peer: RemotePeer): SyncSession => {
        const runtime = served(meshId, peer);
        runtime.inbound.syncs++;
        if (storeKind !== runtime.store.kind) {
          throw new StoreMismatchError(`mesh ${meshId} uses the '${runtime.store.kind}' store here, not '${storeKind}'`);
        }
        return runtime.store.openSync('responder');
      },
      message: async (meshId: string, payload: Uint8Array, peer: RemotePeer) => {
        const runtime = running(meshId);
        const control = runtime?.controlPlane;
        if (!runtime || !control) throw new UnknownMeshError(meshId);
        if (runtime.gate.admits(peer.nodeId) || runtime.gate.introduces(payload, peer.nodeId)) {
          runtime.inbound.messages++;
          const keysBefore = runtime.newKeysSeen;
          const reply = await control.handleMessage(payload, peer);
          // Only the reply to a message that brought a new key waits for WireGuard to take it: every
          // other reply (heartbeats above all, which their senders give up on quickly) goes at once.
          if (runtime.newKeysSeen !== keysBefore) await runtime.settleNewKeys();
          return reply;
        }
        return encodeControlReply(this.answerStranger(runtime, payload, peer));
      },
      // Nothing proves who sent a datagram: the control plane checks its liveness tag, and that its sender is admitted, before anything else.
      datagram: async (meshId: string, payload: Uint8Array) => {
        const runtime = running(meshId);
        const answered = await runtime?.controlPlane?.handleDatagram(payload, (id) => runtime.gate.admits(id));
        if (answered !== undefined) runtime!.inbound.messages++;
        return answered;
      },
    };
  }

  /**
   * Answer a control request from a node that is not a member: a join
   * request is checked (see {@link answerJoin}); anything else is refused as
   * if this node did not know the mesh.
   */
  private answerStranger(runtime: MeshRuntime, payload: Uint8Array, peer: RemotePeer): ControlReply {
    let request: ControlRequest;
    try {
      request = decodeControlRequest(payload);
    } catch {
      throw new UnknownMeshError(runtime.meshId);
    }
    if (request.t !== 'jn') throw new UnknownMeshError(runtime.meshId);
    return this.answerJoin(runtime, request, peer);
  }

  /** Answer a join request (JoinGate.check): the join facts when the joiner may fetch the mesh, an `err` saying why not otherwise. */
  private answerJoin(runtime: MeshRuntime, request: Extract<ControlRequest, {t: 'jn'}>, peer: RemotePeer): ControlReply {
    const refusal = runtime.gate.check(request, peer.nodeId);
    if (refusal !== undefined) {
      this.deps.logLimiter?.log(this.deps.logger, 'warn', 'join-refused', peer.address, {meshId: runtime.meshId, peer: peer.address, nodeId: request.f, reason: refusal}, 'refused a join');
      return {t: 'err', reason: refusal};
    }
    this.deps.logger.info({meshId: runtime.meshId, nodeId: request.f, peer: peer.address}, 'a node presented a valid invite: it may fetch the mesh state');
    const facts = runtime.controlPlane?.joinFacts('jn');
    return facts === undefined ? {t: 'err', reason: 'not running'} : {...facts, e: runtime.store.size};
  }

  /** The runtime of a mesh this node is in. @throws UnknownMeshError, InvalidInputError (malformed id) */
  mesh(meshId: string): MeshRuntime {
    assertMeshId(meshId);
    const runtime = this.meshes.get(meshId);
    if (!runtime) throw new UnknownMeshError(meshId);
    return runtime;
  }

  /**
   * Run an admin operation (see admin-operations.ts) once the meshes are
   * restored, in turn with every other mesh operation.
   */
  async administer<T>(operation: (admin: AdminOperations) => Promise<T>): Promise<T> {
    await this.whenStarted();
    return this.queue.run(() => operation(this.admin));
  }

  /** Leave a mesh: publish a tombstone, remove the interface, forget the mesh. */
  async leaveMesh(meshId: string): Promise<{meshId: string}> {
    return this.queue.run(async () => {
      const runtime = this.mesh(meshId);
      runtime.tombstone();
      await runtime.announce('the leave');
      this.meshes.delete(meshId);
      this.events.meshRemoved(meshId);
      this.problems.delete(meshId);
      // Routes learned in the mesh left are gone: reselect, and withdraw what was re-advertised from it.
      this.routing.update();
      await runtime.close({removeInterface: true, save: false});
      await this.repository.remove(meshId);
      this.deps.logger.info({meshId}, 'left mesh');
      return {meshId};
    });
  }

  /**
   * Leave a mesh this node is no longer a member of (revoked by an admin, or
   * it lost its invite's last use to another node): stop it, remove its
   * interface and files, and show `reason` in `status` and `mesh list`. No
   * tombstone is written: this node's entry is no longer its own to write.
   */
  private async expel(meshId: string, reason: string): Promise<void> {
    await this.queue.run(async () => {
      const runtime = this.meshes.get(meshId);
      if (!runtime || this.stopped) return;
      this.meshes.delete(meshId);
      this.events.meshRemoved(meshId);
      this.problems.delete(meshId);
      this.routing.update();
      await runtime.close({removeInterface: true, save: false}).catch((error: unknown) => this.deps.logger.error({err: error, meshId}, 'closing the mesh failed'));
      await this.repository.remove(meshId);
      this.unrestored.set(meshId, `this node is no longer a member: ${reason}; the mesh was left on this node`);
      this.deps.logger.error({meshId, reason}, 'left the mesh: this node is no longer a member');
    });
  }

  /**
   * Change this node's own record in one mesh, or in every mesh when `meshId`
   * is undefined. `patch` may throw to refuse (checked for every mesh before
   * any is changed).
   */
  async updateSelf(meshId: string | undefined, patch: (record: NodeRecord, meshId: string) => SelfPatch): Promise<{meshIds: string[]}> {
    return this.queue.run(async () => {
      const targets = meshId === undefined ? [...this.meshes.values()] : [this.mesh(meshId)];
      if (targets.length === 0) throw new InvalidInputError('this node is in no mesh (create or join one first)');
      const planned = targets.map((runtime) => {
        const self = runtime.self();
        if (!self) throw new UnknownMeshError(runtime.meshId);
        return {runtime, change: patch(self, runtime.meshId)};
      });
      for (const {runtime, change} of planned) await runtime.publishSelf(change);
      return {meshIds: targets.map((runtime) => runtime.meshId)};
    });
  }

  /**
   * Change this node's settings in one mesh without leaving it (`mesh set`):
   * see mesh-set.ts for what may change. Alias, description and services
   * stay; the new record spreads like any change.
   */
  async setMesh(input: MeshSetInput): Promise<MeshSetResult> {
    return this.queue.run(async () => {
      const runtime = this.mesh(input.meshId);
      const current = runtime.settings;
      const otherPeers = runtime.liveRecords().filter((record) => record.role === 'peer' && record.id !== this.deps.identity.nodeId).length;
      const next = planMeshSettings(current, input, {credentialRole: credentialRoleOf(runtime.self()), otherPeers});
      if (next.role === 'peer' && next.endpointHost === null) next.endpointHost = await this.defaultEndpointHost(input.meshId);
      const changed = changedSettings(current, next);
      if (changed.length > 0) {
        const roleChanged = changed.includes('role');
        const hostChanged = roleChanged || changed.includes('endpoint');
        if (hostChanged && next.role === 'peer') this.checkAdvertisedHost(next.endpointHost);
        if (roleChanged) await runtime.detachControl();
        try {
          await runtime.applySettings(next);
        } finally {
          if (roleChanged) this.startControl(runtime);
        }
        this.routing.update();
        if (hostChanged) this.dropHostProblem(input.meshId);
        await runtime.announce('the new settings');
        this.deps.logger.info({meshId: input.meshId, changed}, 'mesh settings changed');
      }
      return {meshId: input.meshId, changed, settings: settingsView(runtime.settings, runtime.boundPort)};
    });
  }

  /** Forget the advertised-host problem of a mesh (its endpoint or role changed, and the new one was checked). */
  private dropHostProblem(meshId: string): void {
    const left = (this.problems.get(meshId) ?? []).filter((problem) => !problem.advertisedHost);
    if (left.length > 0) this.problems.set(meshId, left);
    else this.problems.delete(meshId);
  }

  /** The host to advertise when none is set: `publicEndpoint`, else discovered (`ipDiscovery: outgoing`), else null. */
  private async defaultEndpointHost(meshId: string): Promise<string | null> {
    const {base} = this.deps;
    if (base.publicEndpoint) return base.publicEndpoint;
    if (base.ipDiscovery === 'public') {
      // Asking a public "what is my IP" service is not built yet; say so rather than guess.
      throw new InvalidInputError(
        "ipDiscovery 'public' is not supported yet: give the host to advertise with --endpoint or baseConfiguration.publicEndpoint, or use ipDiscovery 'outgoing'",
      );
    }
    const host = await (this.deps.discoverHost ?? discoverOutgoingAddress)();
    if (!host) this.deps.logger.warn({meshId}, 'no endpoint given and none discovered: other nodes will not be able to reach this one (use --endpoint or publicEndpoint)');
    return host;
  }

  /** Every mesh, sorted by id: the running ones, and those on disk that could not be restored (with `problem` saying what to do). */
  listMeshes(): MeshSummary[] {
    const running = [...this.meshes.values()].map((runtime): MeshSummary => {
      this.settleRefetched(runtime.meshId);
      const admin = this.admin.kind(runtime.meshId);
      const summary = admin === undefined ? runtime.summary() : {...runtime.summary(), admin};
      const problem = this.problemOf(runtime);
      return problem === undefined ? summary : {...summary, problem};
    });
    const notRunning = [...this.unrestored]
      .filter(([meshId]) => !this.meshes.has(meshId))
      .map(([meshId, problem]): MeshSummary => ({meshId, prefix: meshPrefix(meshId), interface: '-', members: 0, problem}));
    return [...running, ...notRunning].sort((a, b) => a.meshId.localeCompare(b.meshId));
  }

  /** Everything wrong with a running mesh on this node, in one line (what `status`, `mesh list` and `mesh show` print), or undefined. */
  private problemOf(runtime: MeshRuntime): string | undefined {
    const texts = (this.problems.get(runtime.meshId) ?? []).map((problem) => problem.text);
    if (runtime.interfaceProblem !== undefined) texts.push(runtime.interfaceProblem);
    return texts.length === 0 ? undefined : texts.join('; ');
  }

  /** One mesh as `mesh show` presents it, with aliases and home peers resolved; with `nodeId`, that member only. */
  async showMesh(meshId: string, nodeId?: string): Promise<MeshShowView> {
    const runtime = this.mesh(meshId);
    const view = withRelations(await runtime.view(nodeId), runtime.liveRecords(), runtime.aliasClaimTime);
    const admin = this.admin.kind(meshId);
    const problem = this.problemOf(runtime);
    return {...view, ...(admin === undefined ? {} : {admin}), ...(problem === undefined ? {} : {problem})};
  }

  /** What `status` prints. */
  status(): StatusView {
    const {identity, backendNames} = this.deps;
    return {pid: process.pid, nodeId: identity.nodeId, wgPublicKey: identity.wgPublicKey, backends: {...backendNames}, meshes: this.listMeshes(), ...this.servers.addresses()};
  }

  /**
   * Re-sign this node's records well within the GC horizon, so that live nodes
   * never expire while tombstones and records of nodes gone for good do.
   */
  private scheduleRefresh(): void {
    if (this.stopped) return;
    const interval = Math.max(1000, Math.floor(this.deps.gcHorizonMs / 4));
    this.refreshTimer = this.deps.clock.setTimeout(() => {
      void this.queue
        .run(async () => {
          for (const runtime of this.meshes.values()) {
            runtime.store.collectGarbage();
            await runtime.publishSelf({});
          }
        })
        .catch((error: unknown) => this.deps.logger.error({err: error}, 'refreshing own records failed'))
        .finally(() => this.scheduleRefresh());
    }, interval);
  }

  /**
   * Replace this node's WireGuard key pair in every mesh (key-rotation.ts);
   * `meshId`, when given, must be this node's only mesh.
   */
  async rotateKeys(meshId?: string): Promise<KeyRotationResult> {
    return this.queue.run(async () => {
      if (meshId !== undefined) this.mesh(meshId);
      const meshes = [...this.meshes.values()];
      checkRotationScope(meshId, meshes);
      const {identity, clock, logger} = this.deps;
      return rotateWgKey({identity, identityFile: identityFile(this.deps.dataDir), meshes, clock, logger});
    });
  }

  /** Start, stop or move the DNS, metrics and API servers to match new settings (see {@link LocalServers.reconfigure}). */
  async reconfigureLocalServers(settings: {dns: LocalServerSettings; metrics: LocalServerSettings; api?: ApiSettings | undefined}): Promise<LocalServersChange> {
    return this.servers.reconfigure(settings);
  }

  /**
   * The HTTP API's bearer token (made on first use), or a new one when
   * `rotate`: the old one is refused at once and the event streams opened
   * with it end.
   */
  async apiToken(rotate: boolean): Promise<ApiTokenResult> {
    const token = rotate ? await this.apiTokens.rotate() : await this.apiTokens.current();
    return {token, path: this.apiTokens.path, rotated: rotate};
  }

  /** Stop: save every mesh and remove its interface (a restart restores both). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.routing.stop();
    this.refreshTimer?.cancel();
    for (const timer of this.refetchTimers.values()) timer.cancel();
    this.refetchTimers.clear();
    this.events.close();
    await this.servers.close().catch((error: unknown) => this.deps.logger.error({err: error}, 'closing the DNS, metrics or API server failed'));
    await this.deps.transport?.close().catch((error: unknown) => this.deps.logger.error({err: error}, 'closing the transport failed'));
    await this.queue.run(async () => {
      for (const runtime of this.meshes.values()) {
        try {
          await this.saveSeeds(runtime);
          await runtime.close({removeInterface: true, save: true});
        } catch (error) {
          this.deps.logger.error({err: error, meshId: runtime.meshId}, 'error while stopping mesh');
        }
      }
      this.meshes.clear();
    });
    await this.verifier.close();
  }
}
