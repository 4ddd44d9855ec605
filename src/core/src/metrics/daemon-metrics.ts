/**
 * The daemon's Prometheus metrics, in a registry of its own (never prom-client's
 * global one: two daemons in one process, as in tests, must not share series).
 *
 * Almost everything is read at scrape time: {@link DaemonMetrics.render} takes
 * one snapshot of every mesh (live view, control-plane counters, WireGuard
 * statistics) and the metrics' `collect` callbacks copy it, so nothing is
 * updated on the hot paths. Only reconciliation time is an event
 * ({@link DaemonMetrics.observeReconcile}), since a histogram needs every
 * observation. Label values are bounded: meshes this node is in, and the
 * current members of each (a member that leaves or dies drops out at the next scrape).
 */
import {Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues} from 'prom-client';
import type {Clock} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {DatagramDrops} from '../contracts/transport.js';
import type {ControlStats} from '../control/stats.js';
import type {DnsCounters} from '../dns/server.js';
import type {InboundCounters, MeshView} from '../ipc/methods.js';
import {isValidAlias} from '../model/aliases.js';
import {SerialQueue} from '../util/serial-queue.js';

/** One mesh as the metrics read it. A `MeshRuntime` is one. */
export interface MeshMetricsSource {
  /** The mesh id. */
  readonly meshId: string;
  /** Requests other members made to this node for this mesh. */
  readonly inbound: InboundCounters;
  /** The control plane, when the mesh has one (no transport: none). */
  readonly controlPlane: {stats(): ControlStats; deadMembers(): string[]} | undefined;
  /** The live members with WireGuard statistics as seen from this node. */
  view(): Promise<MeshView>;
}

/** Where the metrics read the daemon's state at scrape time. */
export interface MetricsSource {
  /** The meshes this node is in. */
  meshes(): Iterable<MeshMetricsSource>;
  /** The DNS server's counters, when it runs. */
  dns(): DnsCounters | undefined;
  /** Log lines suppressed by the daemon's log limiter so far, per cause. */
  suppressedLogLines?(): ReadonlyMap<string, number> | undefined;
  /** Datagrams the transport dropped before any handler saw them, by reason. */
  datagramDrops?(): DatagramDrops | undefined;
}

/** Everything {@link DaemonMetrics} needs. */
export interface DaemonMetricsOptions {
  source: MetricsSource;
  nodeId: string;
  /** Names of the backends in use (a label of `wgmesh_node_info`). */
  backends: {store: string; transport: string; wg: string};
  /** For handshake ages. */
  clock: Clock;
  logger: Logger;
  /** Add prom-client's process and Node.js metrics (`process_*`, `nodejs_*`); default true. */
  processMetrics?: boolean;
}

/** One mesh, read once per scrape. */
interface MeshSnapshot {
  meshId: string;
  members: number;
  dead: number;
  stats: ControlStats | undefined;
  inbound: InboundCounters;
  /** Members other than this node that WireGuard has shaken hands with. */
  handshakes: {peer: string; alias: string; ageSeconds: number}[];
}

/** Buckets of the reconciliation histogram, in seconds (the stub takes microseconds, `ip`/`wg` tens of ms). */
const RECONCILE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** prom-client default metrics that break Prometheus naming rules; left out. */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** The metrics of one daemon. */
export class DaemonMetrics {
  /** The registry holding every wgmesh metric (and the process metrics when enabled). */
  readonly registry = new Registry();
  private readonly options: DaemonMetricsOptions;
  private snapshot: MeshSnapshot[] = [];
  private readonly queue = new SerialQueue();
  private readonly reconcileSeconds: Histogram<'mesh'>;
  private readonly reconcileFailures = new Map<string, number>();

  constructor(options: DaemonMetricsOptions) {
    this.options = options;
    const registers = [this.registry];
    const meshes = (): MeshSnapshot[] => this.snapshot;
    const current = (): Set<string> => new Set(this.snapshot.map((mesh) => mesh.meshId));

    /** A gauge set from the snapshot at every scrape. */
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (set: (labels: Record<L, string>, value: number) => void) => void): void => {
      const metric: Gauge<L> = new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          metric.reset();
          fill((labels, value) => metric.set(labels as LabelValues<L>, value));
        },
      });
    };
    /** A counter whose value is a counter kept elsewhere (control-plane stats), copied at every scrape. */
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (set: (labels: Record<L, string>, value: number) => void) => void): void => {
      const metric: Counter<L> = new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          metric.reset();
          fill((labels, value) => metric.inc(labels as LabelValues<L>, value));
        },
      });
    };
    const perMesh = (pick: (mesh: MeshSnapshot) => number | undefined) => (set: (labels: {mesh: string}, value: number) => void) => {
      for (const mesh of meshes()) {
        const value = pick(mesh);
        if (value !== undefined) set({mesh: mesh.meshId}, value);
      }
    };
    /** One series per mesh and value of `label`, each the control-plane counter `counters` names for that value. */
    const statsBy = <L extends string>(label: L, counters: Record<string, keyof ControlStats>) => (set: (labels: Record<'mesh' | L, string>, value: number) => void) => {
      for (const mesh of meshes()) {
        if (!mesh.stats) continue;
        for (const [value, key] of Object.entries(counters)) set({mesh: mesh.meshId, [label]: value} as Record<'mesh' | L, string>, mesh.stats[key]);
      }
    };
    const sentReceived = (sent: keyof ControlStats, received: keyof ControlStats) => statsBy('direction', {sent, received});

    const {backends, nodeId} = options;
    gauge('wgmesh_node_info', 'This node: its id and the backends in use (always 1).', ['node_id', 'store', 'transport', 'wg'], (set) =>
      set({node_id: nodeId, store: backends.store, transport: backends.transport, wg: backends.wg}, 1),
    );
    gauge('wgmesh_meshes', 'Meshes this node is in.', [], (set) => set({}, meshes().length));
    gauge('wgmesh_mesh_members', 'Live members of the mesh in this node\'s view (this node included; dead and departed members excluded).', ['mesh'], perMesh((m) => m.members));
    gauge('wgmesh_mesh_members_dead', 'Members of the mesh this node currently considers dead.', ['mesh'], perMesh((m) => m.dead));
    counter('wgmesh_failures_detected_total', 'Transitions of a member from alive to dead in this node\'s view.', ['mesh'], perMesh((m) => m.stats?.deathsObserved));
    counter('wgmesh_member_revivals_total', 'Transitions of a member from dead back to alive in this node\'s view.', ['mesh'], perMesh((m) => m.stats?.revivalsObserved));
    counter('wgmesh_sync_sessions_total', 'Store sync sessions: started by this node (digests differed) or served to another member.', ['mesh', 'direction'], (set) => {
      for (const mesh of meshes()) {
        if (mesh.stats) set({mesh: mesh.meshId, direction: 'started'}, mesh.stats.storeSyncs);
        set({mesh: mesh.meshId, direction: 'served'}, mesh.inbound.syncs);
      }
    });
    counter('wgmesh_anti_entropy_rounds_total', 'Anti-entropy rounds of this node: digest comparisons, on their own or carried by a heartbeat (most end there).', ['mesh'], perMesh((m) => m.stats?.antiEntropyRounds));
    counter('wgmesh_control_messages_total', 'Control-plane requests sent and received (pushes, heartbeats, probes, anti-entropy).', ['mesh', 'direction'], sentReceived('messagesSent', 'messagesReceived'));
    counter('wgmesh_control_messages_failed_total', 'Control-plane requests this node sent that failed (unreachable, timed out, refused).', ['mesh'], perMesh((m) => m.stats?.messagesFailed));
    counter('wgmesh_control_dials_withheld_total', 'Control-plane requests to an endpoint that stopped answering, failed at once during its backoff instead of dialling it.', ['mesh'], perMesh((m) => m.stats?.dialsWithheld));
    counter('wgmesh_control_messages_rejected_total', 'Control-plane requests this node received and refused (malformed, unknown sender).', ['mesh'], perMesh((m) => m.stats?.messagesRejected));
    counter('wgmesh_control_datagrams_total', 'Liveness requests (direct heartbeats and pings) sent by datagram, and received by datagram and answered (authentic, fresh, from a member).', ['mesh', 'direction'], sentReceived('datagramsSent', 'datagramsAnswered'));
    counter('wgmesh_control_datagram_fallbacks_total', 'Liveness requests sent by datagram and then again over the stream, by reason (no-reply: none in time, the path may be losing datagrams; declined: the member asked for the stream, its reply being too large for a datagram).', ['mesh', 'reason'], statsBy('reason', {'no-reply': 'datagramFallbacks', declined: 'datagramsDeclined'}));
    counter('wgmesh_control_datagrams_dropped_total', 'Datagrams the control port dropped without an answer, by reason (malformed, too-large, rate-limited, busy, refused: unknown mesh or not an authentic, fresh liveness request of a member; unmatched: a reply to no request of this node).', ['reason'], (set) => {
      for (const [reason, value] of Object.entries(options.source.datagramDrops?.() ?? {})) set({reason}, value);
    });
    counter('wgmesh_control_stalls_total', 'Failure checks skipped because this node\'s own event loop had stalled (CPU starvation, long GC pauses): silence it measured then said nothing about its peers.', ['mesh'], perMesh((m) => m.stats?.stallsDetected));
    counter('wgmesh_control_bytes_total', 'Bytes of control-plane traffic, store sync sessions included.', ['mesh', 'direction'], sentReceived('bytesSent', 'bytesReceived'));
    gauge('wgmesh_wireguard_handshake_age_seconds', 'Seconds since the latest WireGuard handshake with a current member (members never shaken hands with are absent).', ['mesh', 'peer', 'alias'], (set) => {
      for (const mesh of meshes()) for (const peer of mesh.handshakes) set({mesh: mesh.meshId, peer: peer.peer, alias: peer.alias}, peer.ageSeconds);
    });

    const histogram: Histogram<'mesh'> = new Histogram({
      name: 'wgmesh_reconcile_duration_seconds',
      help: 'Time to make WireGuard (peers, addresses, routes) match the mesh view, per successful reconciliation.',
      labelNames: ['mesh'],
      buckets: RECONCILE_BUCKETS,
      registers,
      collect: () => {
        // Forget meshes this node left, so their series do not linger.
        const now = current();
        for (const meshId of [...this.reconcileFailures.keys()]) {
          if (!now.has(meshId)) {
            histogram.remove({mesh: meshId});
            this.reconcileFailures.delete(meshId);
          }
        }
      },
    });
    this.reconcileSeconds = histogram;
    counter('wgmesh_reconcile_failures_total', 'Reconciliations of WireGuard that failed (they are retried at the next change).', ['mesh'], perMesh((m) => this.reconcileFailures.get(m.meshId)));

    counter('wgmesh_dns_replies_total', 'Replies of the DNS server, by response code (absent when DNS is off).', ['rcode'], (set) => {
      const dns = options.source.dns();
      if (dns) for (const [rcode, value] of Object.entries(dns.replies)) set({rcode}, value);
    });
    counter('wgmesh_dns_dropped_total', 'Packets the DNS server dropped without a reply (not a readable query).', [], (set) => {
      const dns = options.source.dns();
      if (dns) set({}, dns.dropped);
    });

    counter('wgmesh_log_lines_suppressed_total', 'Log lines not written because their cause (a refusal a remote can repeat at will) had used its share of the window; each window ends with one summary line per cause.', ['cause'], (set) => {
      for (const [cause, value] of options.source.suppressedLogLines?.() ?? []) set({cause}, value);
    });

    if (options.processMetrics !== false) {
      collectDefaultMetrics({register: this.registry});
      // prom-client names these gauges `_total`, which Prometheus reserves for counters (promtool rejects them).
      for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    }
  }

  /** Record one reconciliation of a mesh: its duration when it succeeded, a failure otherwise. */
  observeReconcile(meshId: string, outcome: {seconds: number; ok: boolean}): void {
    // The map doubles as the list of meshes with reconcile series (for removal at scrape time).
    this.reconcileFailures.set(meshId, (this.reconcileFailures.get(meshId) ?? 0) + (outcome.ok ? 0 : 1));
    if (outcome.ok) this.reconcileSeconds.observe({mesh: meshId}, outcome.seconds);
  }

  /** The metrics in Prometheus text format, read now. Scrapes run one at a time (they share one snapshot). */
  render(): Promise<{contentType: string; body: string}> {
    return this.queue.run(async () => {
      this.snapshot = await this.takeSnapshot();
      return {contentType: this.registry.contentType, body: await this.registry.metrics()};
    });
  }

  private async takeSnapshot(): Promise<MeshSnapshot[]> {
    const meshes = [...this.options.source.meshes()];
    const snapshots = await Promise.all(
      meshes.map(async (mesh): Promise<MeshSnapshot | undefined> => {
        let view: MeshView;
        try {
          view = await mesh.view();
        } catch (error) {
          // A mesh being left while it is read: it is gone at the next scrape anyway.
          this.options.logger.debug({err: error, meshId: mesh.meshId}, 'metrics: could not read a mesh');
          return undefined;
        }
        const now = this.options.clock.now();
        const handshakes: MeshSnapshot['handshakes'] = [];
        for (const node of view.nodes) {
          const latest = node.stats?.latestHandshakeMs;
          if (node.self || latest === null || latest === undefined) continue;
          handshakes.push({peer: node.id, alias: node.alias !== null && isValidAlias(node.alias) ? node.alias : '', ageSeconds: Math.max(0, (now - latest) / 1000)});
        }
        const control = mesh.controlPlane;
        return {meshId: mesh.meshId, members: view.nodes.length, dead: control?.deadMembers().length ?? 0, stats: control?.stats(), inbound: {...mesh.inbound}, handshakes};
      }),
    );
    return snapshots.filter((mesh): mesh is MeshSnapshot => mesh !== undefined).sort((a, b) => a.meshId.localeCompare(b.meshId));
  }
}
