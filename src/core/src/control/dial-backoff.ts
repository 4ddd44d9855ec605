/**
 * When this node may dial a control endpoint that has stopped answering.
 *
 * A member chooses its own control endpoint, so any host:port can end up in
 * every node's view: a member that advertises someone else's port makes every
 * node dial that port. This module bounds what one unreachable endpoint costs,
 * per node and mesh:
 *
 * - For the first {@link DialBackoffParams.graceMs} of failing it may be dialled
 *   as often as callers want (they have their own periods: the dead-member
 *   probe runs every `3 x syncInterval`). A minute of failure is what a
 *   restart, a lost connection or a short partition looks like; they heal as
 *   fast as they always did.
 * - After that, each failure makes the endpoint wait as long as it has been
 *   failing so far (`factor` - 1 times that, `factor` = 2), jittered, and at
 *   most `capMs`: attempts about 60 s, 120 s, 240 s, 480 s after the first
 *   failure, then one every `capMs`. A partition that lasted T heals within
 *   about T after it ends (sooner with more nodes trying), at most `capMs`.
 * - First-hand evidence of life (an authenticated heartbeat or ack from the
 *   member, see MembershipView.heard) that arrives after the last failure,
 *   from a member that was silent all the while its endpoint failed, opens
 *   the endpoint at once: a restarted node that heartbeats its monitors is
 *   dialled again right away. A member heard from while its endpoint failed
 *   reaches out but cannot be reached (a firewall, or an endpoint that is not
 *   its own): hearing it again opens nothing.
 * - A failure counts only while this node reaches someone: when no endpoint
 *   at all has answered it for `cutOffMs`, this node is the one cut off (its
 *   own link is down), and its failures say nothing about the endpoints. They
 *   then extend no streak, so a node that was offline for an hour heartbeats
 *   its monitors again as soon as its link is back, instead of waiting out
 *   an hour of backoff on every endpoint (as the failure detector makes no
 *   claim from a round in which no helper answered).
 *
 * Any answer resets the endpoint (the caller decides what counts as one).
 * Streaks are kept for at most `maxEntries` endpoints; beyond that the oldest
 * streak is forgotten (that endpoint starts over with a grace period), so
 * memory stays bounded whatever members advertise.
 */
import type {Clock, RandomSource} from '../contracts/clock.js';

/** The parameters of a {@link DialBackoff} (durations in ms). */
export interface DialBackoffParams {
  /** How long an endpoint may fail before any wait is imposed. */
  graceMs: number;
  /** Growth of the wait: each one is (`factor` - 1) x the time the endpoint has been failing. */
  factor: number;
  /** Longest wait between two attempts. */
  capMs: number;
  /** Relative jitter: a wait w becomes uniform in [w (1 - jitter), w (1 + jitter)]. */
  jitter: number;
  /** Time without an answer from any endpoint after which this node counts as cut off (its failures do not count). */
  cutOffMs: number;
  /** Most endpoints with a failure streak kept at once. */
  maxEntries: number;
}

/**
 * The control plane's backoff by default (config `dialBackoffGrace` and
 * `dialBackoffMax` change the grace and the longest wait): a minute of grace, then waits that double (the
 * time failed so far), at most 10 min apart, +-25% of jitter so the nodes that
 * all learnt an endpoint at once do not dial it in step. A node that heard no
 * answer for 30 s is cut off: a running node gets one every H/2 (an ack of its
 * heartbeats), or at least every `syncInterval` (anti-entropy).
 */
export const DIAL_BACKOFF: DialBackoffParams = {
  graceMs: 60_000,
  factor: 2,
  capMs: 10 * 60_000,
  jitter: 0.25,
  cutOffMs: 30_000,
  maxEntries: 4_096,
};

/** The control plane's backoff with the grace and the longest wait of `settings` (config `dialBackoffGrace`, `dialBackoffMax`). */
export function dialBackoffParams(settings: {dialBackoffGraceMs?: number; dialBackoffMaxMs?: number}): DialBackoffParams {
  return {...DIAL_BACKOFF, graceMs: settings.dialBackoffGraceMs ?? DIAL_BACKOFF.graceMs, capMs: settings.dialBackoffMaxMs ?? DIAL_BACKOFF.capMs};
}

/** One endpoint's run of failures. */
interface Streak {
  /** First failure of the run. */
  since: number;
  /** Latest failure. */
  lastAt: number;
  /** No dial before this (clock ms). */
  nextAt: number;
  /** The member was heard from first hand after the run began (see {@link DialBackoff.failed}). */
  heardWhileFailing: boolean;
}

/** Failure streaks of control endpoints and the waits they impose. */
export class DialBackoff {
  private readonly streaks = new Map<string, Streak>();
  /** When any endpoint last answered (at first: when this node started). */
  private lastAnswerAt: number;

  constructor(
    private readonly clock: Clock,
    private readonly random: RandomSource,
    private readonly params: DialBackoffParams = DIAL_BACKOFF,
  ) {
    this.lastAnswerAt = clock.now();
  }

  /**
   * True when `endpoint` may be dialled now: it has no failure streak, its
   * wait is over, or its member, silent while it failed, was heard from first
   * hand (last at `heardAt`) since the last failure.
   */
  ready(endpoint: string, heardAt?: number): boolean {
    const streak = this.streaks.get(key(endpoint));
    if (!streak) return true;
    if (heardAt !== undefined && heardAt > streak.lastAt && !streak.heardWhileFailing) return true;
    return this.clock.now() >= streak.nextAt;
  }

  /** Milliseconds until `endpoint` may be dialled again (0: now). */
  waitFor(endpoint: string): number {
    const streak = this.streaks.get(key(endpoint));
    return streak ? Math.max(0, streak.nextAt - this.clock.now()) : 0;
  }

  /** How long `endpoint` has been failing without an answer in between (0: it is not). */
  failingFor(endpoint: string): number {
    const streak = this.streaks.get(key(endpoint));
    return streak ? this.clock.now() - streak.since : 0;
  }

  /**
   * A dial of `endpoint` failed (no answer, or not from the member dialled):
   * extend its streak and set its next wait, unless this node is cut off.
   * `heardAt`: when its member was last heard from first hand.
   */
  failed(endpoint: string, heardAt?: number): void {
    const {graceMs, factor, capMs, jitter, cutOffMs, maxEntries} = this.params;
    const now = this.clock.now();
    if (now - this.lastAnswerAt > cutOffMs) return;
    const id = key(endpoint);
    const streak = this.streaks.get(id) ?? {since: now, lastAt: now, nextAt: now, heardWhileFailing: false};
    if (heardAt !== undefined && heardAt > streak.since) streak.heardWhileFailing = true;
    const elapsed = now - streak.since;
    const wait = elapsed < graceMs ? 0 : Math.min(capMs, elapsed * (factor - 1)) * (1 - jitter + 2 * jitter * this.random.float());
    streak.lastAt = now;
    streak.nextAt = now + Math.round(wait);
    // Re-insert: Map order is the order of last failure, so the first entry is the stalest streak.
    this.streaks.delete(id);
    this.streaks.set(id, streak);
    if (this.streaks.size > maxEntries) this.streaks.delete(this.streaks.keys().next().value!);
  }

  /** Some endpoint answered (whether or not as the member dialled): this node is not cut off. */
  answered(): void {
    this.lastAnswerAt = this.clock.now();
  }

  /** `endpoint` answered as the member dialled: forget its streak. */
  succeeded(endpoint: string): void {
    this.answered();
    this.streaks.delete(key(endpoint));
  }
}

/** Endpoints differing only in letter case (host names, IPv6 hex) are one endpoint. */
function key(endpoint: string): string {
  return endpoint.toLowerCase();
}
