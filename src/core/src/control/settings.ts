/**
 * The control plane's settings (the config's gossip and failure-detection keys)
 * and the timings derived from them. Every timer of the control plane is
 * computed here, so the detection bound can be read in one place:
 *
 * ```
 * crash at t0; its last heartbeat reached each monitor at some t <= t0
 *   monitor sees silence over 3H/2, at its next check  <= t0 + 3H/2 + H/4
 *   probe round 1 (direct ping + ping-req)             <= + probeTimeout
 *   round 2 right after a gap of H/4                   <= + H/4 + probeTimeout
 *   the claim spreads: eager push (a few hops of one RTT, ~0.1 s at
 *   3,000 nodes)                                       <= + spread
 *   each node applies it confirmDelay after receipt     <= + syncInterval + probeTimeout
 * ```
 * With the defaults (H = 2 s, probeTimeout = 0.5 s, syncInterval = 1 s) that is
 * t0 + 6.5 s plus the spread on a network where failures show only as
 * timeouts (bench/simulate measures it at 3,000 nodes: BENCHMARKS.md), and
 * less in practice (failures are usually refused connections); the
 * requirement is 3 x H + 2 s = 8 s. The rare node that every push of the
 * claim missed gets it by anti-entropy up to a round later, and removes the
 * node that much later.
 */
import {InvalidInputError} from '../errors.js';

/** What the config says about gossip and failure detection (all durations in ms). */
export interface ControlSettings {
  /** Period of anti-entropy rounds (and of a client's pull). */
  syncIntervalMs: number;
  /** Failure-detection period H: heartbeats go out every H, silence over 3H/2 starts probing. */
  heartbeatIntervalMs: number;
  /**
   * Longest time between two anti-entropy rounds with a partner outside this
   * node's cluster (0: no such guarantee; `interClusterChance` alone mixes
   * clusters). Pulling when idle needs no setting of its own: the
   * digest-first anti-entropy of every `syncIntervalMs` does it; see
   * anti-entropy.ts.
   */
  pullIntervalMs: number;
  /** Fan-out of an eager push. */
  branch: number;
  /** Peers per cluster: partners are chosen inside the own cluster of the hash ring. */
  clusterSize: number;
  /** Probability that one partner of a round is taken from outside the own cluster. */
  interClusterChance: number;
  /** Most push rounds for a batch whose every target failed (then anti-entropy carries it). */
  infectionCount: number;
  /** Longest wait for one request (sync, push) to another node. */
  timeoutMs: number;
  /**
   * How far ahead of this node's clock another node's clock may be: bounds
   * every incarnation and stamp accepted from the network (statements.ts).
   */
  maxClockSkewMs: number;
  /**
   * How long every node keeps trying a member it considers dead whose endpoint
   * does not answer (with the waits of dial-backoff.ts); after that only the
   * member's keeper does (see {@link ControlTimings.deadProbeHorizonMs}).
   * Default {@link DEAD_PROBE_HORIZON_MS}.
   */
  deadProbeHorizonMs?: number;
  /** How long an endpoint that stopped answering may be dialled at the callers' pace (dial-backoff.ts); default `DIAL_BACKOFF.graceMs`. */
  dialBackoffGraceMs?: number;
  /** Longest wait between two dials of an endpoint that keeps failing (dial-backoff.ts); default `DIAL_BACKOFF.capMs`. */
  dialBackoffMaxMs?: number;
  /**
   * Send direct heartbeats and pings by datagram when the transport offers it
   * (falling back to the stream; see rpc.ts), and answer them by datagram.
   * Default true.
   */
  controlDatagrams?: boolean;
}

/**
 * Default of `deadProbeHorizon`: 30 min. By then each node has tried a dead
 * member's endpoint about 35 times (a dozen in the probe rounds that found it
 * dead, 20 more in the first minute, then 60 s, 120 s, 240 s, 480 s, 10 min
 * apart: dial-backoff.ts), where it would have tried 600 times at the
 * dead-member probe's pace; a partition that ends later still heals, through
 * the keepers, within the backoff cap (10 min, +25% jitter).
 */
export const DEAD_PROBE_HORIZON_MS = 30 * 60_000;

/**
 * Monitors per node: each node sends heartbeats to this many ring successors,
 * one every H/MONITORS in turn, so each monitor hears from it once per H, and
 * a node sends one heartbeat per H/2. Two monitors is what makes an idle
 * node's traffic one request a second. A crash is still seen by either
 * monitor, and when both die with it their successors take over at once (see
 * FailureDetector.syncWatched). Successors are not watched through the acks
 * of one's own heartbeats: an ack needs a round trip within the heartbeat's
 * short deadline, so on an overloaded host every slow answer would start a
 * probe, and the probes would add to the load.
 */
export const MONITORS = 2;
/** Helpers asked to probe a silent node indirectly (ping-req). */
export const INDIRECT_PROBES = 3;
/** Failed probe rounds (each with at least one helper answering "unreachable") before a claim. */
export const SUSPECT_ROUNDS = 2;
/** Anti-entropy rounds between two attempts to reach a node this node considers dead. */
export const DEAD_PROBE_EVERY_ROUNDS = 3;

/** Timers derived from {@link ControlSettings}, in ms. */
export interface ControlTimings {
  /**
   * Heartbeat period per monitor: H. Heartbeats are most of the idle traffic,
   * so each monitor gets one per H; a lost or late one shows as silence and
   * costs one probe round (a direct ping that the live node answers), never a
   * claim. Silence is 3H/2, so a heartbeat may be H/2 late (a busy event
   * loop, a slow link) before anyone probes, as with the earlier heartbeats
   * every H/2 and silence over H; detection takes H/4 longer on average.
   */
  heartbeatPeriodMs: number;
  /**
   * Gap between two heartbeats of this node: H/MONITORS (they go to its
   * monitors in turn). Each one also carries this node's anti-entropy digests,
   * so with the defaults (H = 2 s, syncInterval = 1 s) it is also the
   * anti-entropy round, and a node sends one request per second when idle.
   */
  heartbeatGapMs: number;
  /** How often monitors look for silent nodes and re-evaluate local evidence: H/4. */
  checkPeriodMs: number;
  /** Silence after which a monitor starts probing: 3H/2 (one heartbeat period plus H/2 of room for a late one). */
  silenceMs: number;
  /**
   * How long first-hand contact keeps a node alive locally despite a claim: H.
   * A claim is only ever made after at least H of silence, so this never delays
   * the removal of a crashed node; it stops a stale claim from removing a node
   * this node is talking to while that node refutes.
   */
  evidenceMs: number;
  /**
   * How old a heartbeat or ping may be (on its sender's clock, as seen here)
   * and still count: H. A captured or withheld one can keep a crashed node
   * alive for no longer than this after it was made.
   */
  livenessWindowMs: number;
  /**
   * How long a peer that answered this node stays a preferred heartbeat relay:
   * 3H. Longer than a heartbeat period, so the path a cut-off node's last
   * relayed heartbeat took is still remembered when the next one needs it.
   */
  relayMemoryMs: number;
  /**
   * How long this node may go without hearing from or reaching any member
   * before it counts itself isolated (reach.ts): 3H. A node that is not cut
   * off sends a heartbeat every H/2 and gets the heartbeats of the nodes it
   * watches, so it has contact several times in that span; a local verdict,
   * never a claim.
   */
  isolationMs: number;
  /** Budget of one probe round (and of a heartbeat): min(timeout, H/4). */
  probeTimeoutMs: number;
  /** Budget of the second hop of a relayed heartbeat or an indirect probe, which must fit in the first hop's. */
  hopTimeoutMs: number;
  /**
   * How long after it first sees a claim a node keeps the accused in its view:
   * max(H/4, syncInterval + probeTimeout). Lifeguard's suspicion, kept local:
   * the claim spreads at once, and a node that is alive but badly connected
   * (reachable through one peer, say) hears of it through whoever still
   * reaches it and refutes within this window, so it never leaves anyone's
   * view. The window outlasts one anti-entropy round because that is how a
   * node that every push of the refutation missed gets it: after a partition
   * heals, the claims each side made arrive at nodes of the accused's own
   * side, and a shorter window (H/4 = 0.5 s) let some of them drop live nodes
   * for a moment (33 such removals in a 300-node simulation, 2 with this one).
   */
  confirmDelayMs: number;
  /** Pause between two probe rounds of the same node: H/4. */
  probeGapMs: number;
  /** Period of attempts to reach a node considered dead (partition healing). */
  deadProbePeriodMs: number;
  /**
   * How long a dead member's endpoint may have failed to answer here and
   * still be tried by this node. Past it, only the member's keeper tries it:
   * the first live peer after its position on the ring, one node per side of
   * a partition, which every node there computes alike. The endpoint then
   * costs the mesh one dial per backoff cap instead of one per node and
   * period (a member can advertise anyone's host:port), and a partition of
   * any length still heals by itself.
   */
  deadProbeHorizonMs: number;
  /**
   * Budget of the digest and statement messages of an anti-entropy round:
   * min(timeout, syncInterval), so a partner that does not answer costs at most
   * one round (a client learns everything by pull: it must not sit out rounds).
   */
  roundTimeoutMs: number;
  /** Budget of store sync sessions and pushes: the configured timeout. */
  requestTimeoutMs: number;
  /**
   * How long after a WireGuard key rotation the key before still
   * authenticates liveness messages (liveness-auth.ts): max(pullInterval,
   * 10H). By then every member that can be reached holds the new record
   * (`pullInterval` bounds the time between two anti-entropy rounds with a
   * partner outside the own cluster), so none is heard less because of it.
   */
  keyGraceMs: number;
}

/** The settings every control plane must be given, and whether 0 is allowed (durations and counts: finite, positive). */
const REQUIRED_SETTINGS: readonly [keyof ControlSettings, {zero: boolean}][] = [
  ['syncIntervalMs', {zero: false}],
  ['heartbeatIntervalMs', {zero: false}],
  ['pullIntervalMs', {zero: true}],
  ['branch', {zero: false}],
  ['clusterSize', {zero: false}],
  ['interClusterChance', {zero: true}],
  ['infectionCount', {zero: false}],
  ['timeoutMs', {zero: false}],
  ['maxClockSkewMs', {zero: false}],
];

/**
 * Refuse settings a control plane cannot run on. A missing or non-finite
 * number would not fail anywhere by itself: it turns every comparison it takes
 * part in false, and, say, a missing `maxClockSkewMs` refuses every claim
 * (no node is ever declared dead).
 * @throws InvalidInputError naming the first bad setting
 */
export function assertControlSettings(settings: ControlSettings): void {
  for (const [key, {zero}] of REQUIRED_SETTINGS) {
    const value = settings[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!zero && value === 0)) {
      throw new InvalidInputError(`control setting ${key} must be a finite number${zero ? ' of at least 0' : ' above 0'} (got ${String(value)})`);
    }
  }
}

/**
 * Derive every timer from the settings, in whole milliseconds (a simulated clock then never shows fractions).
 * @throws InvalidInputError when a setting is missing or out of range (see {@link assertControlSettings})
 */
export function deriveTimings(settings: ControlSettings): ControlTimings {
  assertControlSettings(settings);
  const h = settings.heartbeatIntervalMs;
  const ms = (value: number): number => Math.max(1, Math.round(value));
  const probeTimeoutMs = ms(Math.min(settings.timeoutMs, h / 4));
  return {
    heartbeatPeriodMs: ms(h),
    heartbeatGapMs: ms(h / MONITORS),
    checkPeriodMs: ms(h / 4),
    silenceMs: ms((3 * h) / 2),
    evidenceMs: ms(h),
    livenessWindowMs: ms(h),
    relayMemoryMs: ms(3 * h),
    isolationMs: ms(3 * h),
    probeTimeoutMs,
    hopTimeoutMs: ms(probeTimeoutMs / 2),
    confirmDelayMs: ms(Math.max(h / 4, settings.syncIntervalMs + probeTimeoutMs)),
    probeGapMs: ms(h / 4),
    deadProbePeriodMs: ms(DEAD_PROBE_EVERY_ROUNDS * settings.syncIntervalMs),
    deadProbeHorizonMs: ms(settings.deadProbeHorizonMs ?? DEAD_PROBE_HORIZON_MS),
    roundTimeoutMs: ms(Math.min(settings.timeoutMs, settings.syncIntervalMs)),
    requestTimeoutMs: ms(settings.timeoutMs),
    keyGraceMs: ms(Math.max(settings.pullIntervalMs, 10 * h)),
  };
}
