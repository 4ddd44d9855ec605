/**
 * The daemon's runtime: the meshes this node is in, created, restored and left
 * through one serial queue, so that no two mesh operations interleave.
 * Transport-facing behaviour (join, gossip, failure detection) plugs in here.
 */
import {assertMeshId, generateMeshId} from '../addressing/mesh-id.js';
import type {Clock, RandomSource} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {StoreBackend, SyncSession} from '../contracts/store.js';
import type {RemotePeer, Transport, TransportHandlers} from '../contracts/transport.js';
import type {WgDriver} from '../contracts/wg-driver.js';
import {MeshControl} from '../control/mesh-control.js';
import {decodeControlReply, encodeControlRequest, type ControlReply} from '../control/messages.js';
import type {ControlSettings} from '../control/settings.js';
import {freeAddressCounter} from '../addressing/address.js';
import {ClockSkewError, InvalidInputError, UnknownMeshError, WgmeshError} from '../errors.js';
import type {NodeIdentity} from '../identity/identity.js';
import type {MeshSettingsInput, MeshShowView, MeshSummary, StatusView} from '../ipc/methods.js';
import type {AliasClaimLine} from '../model/alias-claims.js';
import type {NodeRecord, Role} from '../model/record.js';
import {RouteManager} from '../routing/manager.js';
import {SerialQueue} from '../util/serial-queue.js';
import {withRelations} from '../views/node-relations.js';
import {discoverOutgoingAddress, parseEndpoint} from './endpoint.js';
import {interfaceName} from './interface-name.js';
import {LocalServers, type LocalServerSettings} from './local-servers.js';
import {MeshRepository} from './mesh-repository.js';
import {MeshRuntime, type SelfPatch} from './mesh-runtime.js';
import type {MeshSettings} from './mesh-settings.js';

/** Defaults for per-mesh settings (the config's `baseConfiguration`). */
export interface BaseMeshSettings {
  role: Role;
  ipDiscovery: 'outgoing' | 'public';
  publicEndpoint?: string | null | undefined;
  advertiseRoute: boolean;
  advertiseDefaults: boolean;
  keepAliveWg: number;
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
  logger: Logger;
  clock: Clock;
  random: RandomSource;
  /** Finds the host to advertise when none is configured (default: the outgoing interface's address). */
  discoverHost?: () => Promise<string | null>;
  /** The DNS server for mesh aliases (config `dnsEnabled`, `dnsListen`); off when absent. */
  dns?: LocalServerSettings | undefined;
  /** The Prometheus endpoint (config `metricsEnabled`, `metricsListen`); off when absent. */
  metrics?: LocalServerSettings | undefined;
}

/** The meshes of one node and the operations on them. */
export class Daemon {
  private readonly deps: DaemonDeps;
  private readonly meshes = new Map<string, MeshRuntime>();
  private readonly repository: MeshRepository;
  private readonly queue = new SerialQueue();
  private refreshTimer: {cancel(): void} | undefined;
  private stopped = false;
  /** Routes between this node's meshes: selection on every view change, advertisement through the queue. */
  private readonly routing: RouteManager;
  /** DNS and metrics, when enabled. */
  private readonly servers: LocalServers;

  constructor(deps: DaemonDeps) {
    this.deps = deps;
    this.repository = new MeshRepository(deps.dataDir);
    this.servers = new LocalServers({
      dns: deps.dns,
      metrics: deps.metrics,
      meshes: () => this.meshes.values(),
      mesh: (meshId) => this.meshes.get(meshId),
      nodeId: deps.identity.nodeId,
      backendNames: deps.backendNames,
      logger: deps.logger,
      clock: deps.clock,
    });
    this.routing = new RouteManager({
      selfId: deps.identity.nodeId,
      meshes: () => this.meshes.values(),
      exclusive: (task) => this.queue.run(task),
      logger: deps.logger.child({component: 'routing'}),
    });
  }

  /** Restore every saved mesh: interface, address, peers. A mesh that fails is logged and skipped. */
  async start(): Promise<void> {
    // First: a DNS or metrics port in use stops the daemon before it touches anything.
    await this.servers.start();
    await this.deps.transport?.listen(this.transportHandlers());
    await this.queue.run(async () => {
      for (const meshId of await this.repository.list()) {
        try {
          await this.restore(meshId);
        } catch (error) {
          this.deps.logger.error({err: error, meshId}, 'could not restore mesh; it stays on disk and will be retried at the next start');
        }
      }
    });
    this.scheduleRefresh();
  }

  private async restore(meshId: string): Promise<void> {
    const {settings, state} = await this.repository.load(meshId);
    if (!settings) return;
    const runtime = this.openRuntime(settings);
    if (state) {
      const result = runtime.store.load(state);
      if (result.rejected.length > 0) {
        this.deps.logger.warn({meshId, rejected: result.rejected.length}, 'dropped invalid or expired entries from saved state');
      }
    }
    await runtime.restoreAliasClaims();
    this.meshes.set(meshId, runtime);
    await runtime.up();
    this.startControl(runtime);
    this.routing.update();
    this.deps.logger.info({meshId, interface: settings.interfaceName, members: runtime.liveRecords().length}, 'mesh restored');
  }

  private openRuntime(settings: MeshSettings): MeshRuntime {
    const {deps} = this;
    const logger = deps.logger.child({meshId: settings.meshId});
    const store = deps.store.open({
      meshId: settings.meshId,
      clock: deps.clock,
      logger,
      gcHorizonMs: deps.gcHorizonMs,
      maxClockSkewMs: deps.maxClockSkewMs,
    });
    return new MeshRuntime({
      settings,
      store,
      identity: deps.identity,
      driver: deps.driver,
      repository: this.repository,
      logger,
      clock: deps.clock,
      controlPort: deps.controlPort,
      onViewChange: () => this.routing.update(),
      onReconcile: (outcome) => this.servers.observeReconcile(settings.meshId, outcome),
    });
  }

  /** Per-mesh settings from the user's input over the base configuration. */
  private async settingsFor(meshId: string, input: MeshSettingsInput): Promise<MeshSettings> {
    const {base, identity, store, clock} = this.deps;
    const role = input.role ?? base.role;
    let endpointHost: string | null = input.endpoint ?? base.publicEndpoint ?? null;
    if (!endpointHost && role === 'peer') {
      if (base.ipDiscovery === 'public') {
        // Asking a public "what is my IP" service is not built yet; say so rather than guess.
        throw new InvalidInputError(
          "ipDiscovery 'public' is not supported yet: give the host to advertise with --endpoint or baseConfiguration.publicEndpoint, or use ipDiscovery 'outgoing'",
        );
      }
      endpointHost = await (this.deps.discoverHost ?? discoverOutgoingAddress)();
      if (!endpointHost) {
        this.deps.logger.warn({meshId}, 'no endpoint given and none discovered: other nodes will not be able to reach this one (use --endpoint or publicEndpoint)');
      }
    }
    return {
      version: 1,
      meshId,
      storeKind: store.kind,
      interfaceName: interfaceName(meshId, identity.nodeId),
      role,
      listenPort: input.port ?? 0,
      endpointHost,
      keepaliveSeconds: input.keepalive ?? base.keepAliveWg,
      // Flags only switch these on; the configured default applies otherwise
      // (the original always overrode the file with the flags' false, B-18).
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

  /** Create a new mesh with this node as its first member. Nothing is left behind on failure. */
  async createMesh(input: MeshSettingsInput): Promise<{meshId: string}> {
    return this.queue.run(async () => {
      const settings = await this.settingsFor(generateMeshId((n) => this.deps.random.bytes(n)), input);
      if (settings.role === 'client') {
        throw new InvalidInputError('a client cannot create a mesh: create it on a peer (--role peer) and join it from the client');
      }
      await this.admit(settings);
      this.deps.logger.info({meshId: settings.meshId, interface: settings.interfaceName}, 'mesh created');
      return {meshId: settings.meshId};
    });
  }

  /**
   * Ask the member a node joins through what its clock says and when it
   * first saw each alias claim (see alias-claims.ts). Without an answer the
   * joiner dates every claim it finds by when it saw it itself, which no
   * backdated claim can win either.
   * @throws ClockSkewError when the two clocks differ by more than maxClockSkew:
   *   one side would refuse everything the other writes as dated in the future
   */
  private async askJoinFacts(transport: Transport, via: string, meshId: string, signal?: AbortSignal): Promise<readonly AliasClaimLine[]> {
    let reply: ControlReply;
    const sentAt = this.deps.clock.now();
    try {
      reply = decodeControlReply(await transport.message(via, meshId, encodeControlRequest({t: 'al', f: this.deps.identity.nodeId}), signal));
    } catch (error) {
      this.deps.logger.warn({err: error, meshId, via}, 'could not ask the member joined through when it saw the alias claims; they count as first seen now');
      return [];
    }
    if (reply.t !== 'al') {
      this.deps.logger.warn({meshId, via, reply: reply.t}, 'the member joined through did not say when it saw the alias claims; they count as first seen now');
      return [];
    }
    // The member read its clock somewhere in the round trip: refuse only what is out whatever the moment.
    const receivedAt = this.deps.clock.now();
    const offset = reply.n - (sentAt + receivedAt) / 2;
    if (Math.abs(offset) - (receivedAt - sentAt) / 2 > this.deps.maxClockSkewMs) throw new ClockSkewError(via, offset, this.deps.maxClockSkewMs);
    return reply.c;
  }

  /** Bring a new membership up and persist it; undo everything if any step fails. */
  private async admit(settings: MeshSettings, snapshot?: Uint8Array, aliasClaims: readonly AliasClaimLine[] = []): Promise<MeshRuntime> {
    const runtime = this.openRuntime(settings);
    try {
      if (snapshot) {
        runtime.store.load(snapshot);
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
      await runtime.up();
      this.startControl(runtime);
      if (snapshot) {
        await runtime.announce().catch((error: unknown) => this.deps.logger.warn({err: error, meshId: settings.meshId}, 'could not announce this node to every member; gossip will'));
        await runtime.releaseWireGuard();
      }
      await this.repository.saveSettings(settings);
      await runtime.save();
    } catch (error) {
      await runtime.close({removeInterface: true, save: false}).catch(() => undefined);
      await this.repository.remove(settings.meshId);
      throw error;
    }
    this.meshes.set(settings.meshId, runtime);
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
      }),
    );
  }

  /**
   * Join an existing mesh through any member: fetch its snapshot, add this
   * node's signed record, start gossiping. Nothing is left behind on failure.
   */
  async joinMesh(meshId: string, via: string, input: MeshSettingsInput, signal?: AbortSignal): Promise<{meshId: string; members: number}> {
    assertMeshId(meshId);
    parseEndpoint(via);
    return this.queue.run(async () => {
      if (this.meshes.has(meshId)) throw new InvalidInputError(`this node is already a member of mesh ${meshId}`);
      const {transport} = this.deps;
      if (!transport) {
        throw new WgmeshError('NO_TRANSPORT', `cannot join: no transport is installed (the default is grpc; see 'wgmesh backends')`);
      }
      let fetched: {storeKind: string; snapshot: Uint8Array};
      try {
        fetched = await transport.fetchSnapshot(via, meshId, signal);
      } catch (error) {
        if (error instanceof Error && (error as {code?: unknown}).code === 'UNKNOWN_MESH') {
          throw new WgmeshError('UNKNOWN_MESH', `mesh ${meshId} is unknown at ${via}: check the mesh id, or join through a member of that mesh`);
        }
        throw error;
      }
      if (fetched.storeKind !== this.deps.store.kind) {
        throw new WgmeshError(
          'STORE_MISMATCH',
          `mesh ${meshId} uses the '${fetched.storeKind}' store but this daemon runs '${this.deps.store.kind}': restart it with --store ${fetched.storeKind} to join`,
        );
      }
      const aliasClaims = await this.askJoinFacts(transport, via, meshId, signal);
      const settings = await this.settingsFor(meshId, input);
      const runtime = await this.admit(settings, fetched.snapshot, aliasClaims);
      this.deps.logger.info({meshId, via, members: runtime.liveRecords().length}, 'joined mesh');
      return {meshId, members: runtime.store.records().length};
    });
  }

  /** What this daemon serves to other daemons. */
  private transportHandlers(): TransportHandlers {
    const member = (meshId: string): MeshRuntime => {
      const runtime = this.meshes.get(meshId);
      if (!runtime) throw new UnknownMeshError(meshId);
      return runtime;
    };
    return {
      snapshot: async (meshId: string) => {
        const runtime = member(meshId);
        runtime.inbound.snapshots++;
        return {storeKind: runtime.store.kind, snapshot: runtime.store.save()};
      },
      openSync: (meshId: string, storeKind: string): SyncSession => {
        const runtime = member(meshId);
        runtime.inbound.syncs++;
        if (storeKind !== runtime.store.kind) {
          throw new WgmeshError('STORE_MISMATCH', `mesh ${meshId} uses the '${runtime.store.kind}' store here, not '${storeKind}'`);
        }
        return runtime.store.openSync('responder');
      },
      message: async (meshId: string, payload: Uint8Array, peer: RemotePeer) => {
        const runtime = member(meshId);
        runtime.inbound.messages++;
        const control = runtime.controlPlane;
        if (!control) throw new UnknownMeshError(meshId);
        return control.handleMessage(payload, peer);
      },
    };
  }

  /** The runtime of a mesh this node is in. @throws UnknownMeshError, InvalidInputError (malformed id) */
  mesh(meshId: string): MeshRuntime {
    assertMeshId(meshId);
    const runtime = this.meshes.get(meshId);
    if (!runtime) throw new UnknownMeshError(meshId);
    return runtime;
  }

  /** Leave a mesh: publish a tombstone, remove the interface, forget the mesh. */
  async leaveMesh(meshId: string): Promise<{meshId: string}> {
    return this.queue.run(async () => {
      const runtime = this.mesh(meshId);
      runtime.tombstone();
      await runtime.announce().catch((error: unknown) => this.deps.logger.warn({err: error, meshId}, 'could not announce the leave to every member; anti-entropy will'));
      this.meshes.delete(meshId);
      // Routes learned in the mesh left are gone: reselect, and withdraw what was re-advertised from it.
      this.routing.update();
      await runtime.close({removeInterface: true, save: false});
      await this.repository.remove(meshId);
      this.deps.logger.info({meshId}, 'left mesh');
      return {meshId};
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

  /** Every mesh, sorted by id. */
  listMeshes(): MeshSummary[] {
    return [...this.meshes.values()].map((runtime) => runtime.summary()).sort((a, b) => a.meshId.localeCompare(b.meshId));
  }

  /** One mesh as `mesh show` presents it, with aliases and home peers resolved; with `nodeId`, that member only. */
  async showMesh(meshId: string, nodeId?: string): Promise<MeshShowView> {
    const runtime = this.mesh(meshId);
    return withRelations(await runtime.view(nodeId), runtime.liveRecords(), runtime.aliasClaimTime);
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

  /** Stop: save every mesh and remove its interface (a restart restores both). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.routing.stop();
    this.refreshTimer?.cancel();
    await this.servers.close().catch((error: unknown) => this.deps.logger.error({err: error}, 'closing the DNS or metrics server failed'));
    await this.deps.transport?.close().catch((error: unknown) => this.deps.logger.error({err: error}, 'closing the transport failed'));
    await this.queue.run(async () => {
      for (const runtime of this.meshes.values()) {
        try {
          await runtime.close({removeInterface: true, save: true});
        } catch (error) {
          this.deps.logger.error({err: error, meshId: runtime.meshId}, 'error while stopping mesh');
        }
      }
      this.meshes.clear();
    });
  }
}
