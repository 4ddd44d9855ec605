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
 * - First-hand evidence of life that arrives after the last failure (an
 *   authenticated heartbeat or ack from the member, see MembershipView.heard)
 *   opens the endpoint at once: a restarted node that heartbeats its monitors
 *   is dialled again right away, without a backoff of its own.
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
  /** Most endpoints with a failure streak kept at once. */
  maxEntries: number;
}

/**
 * The control plane's backoff: a minute of grace, then waits that double (the
 * time failed so far), at most 10 min apart, +-25% of jitter so the nodes that
 * all learnt an endpoint at once do not dial it in step.
 */
export const DIAL_BACKOFF: DialBackoffParams = {
  graceMs: 60_000,
  factor: 2,
  capMs: 10 * 60_000,
  jitter: 0.25,
  maxEntries: 4_096,
};

/** One endpoint's run of failures. */
interface Streak {
  /** First failure of the run. */
  since: number;
  /** Latest failure. */
  lastAt: number;
  /** No dial before this (clock ms). */
  nextAt: number;
}

/** Failure streaks of control endpoints and the waits they impose. */
export class DialBackoff {
  private readonly streaks = new Map<string, Streak>();

  constructor(
    private readonly clock: Clock,
    private readonly random: RandomSource,
    private readonly params: DialBackoffParams = DIAL_BACKOFF,
  ) {}

  /**
   * True when `endpoint` may be dialled now: it has no failure streak, its
   * wait is over, or its member was heard from first hand (at `heardAt`)
   * since the last failure.
   */
  ready(endpoint: string, heardAt?: number): boolean {
    const streak = this.streaks.get(key(endpoint));
    if (!streak) return true;
    if (heardAt !== undefined && heardAt > streak.lastAt) return true;
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

  /** A dial of `endpoint` failed (no answer, or not from the member dialled): extend its streak and set its next wait. */
  failed(endpoint: string): void {
    const {graceMs, factor, capMs, jitter, maxEntries} = this.params;
    const now = this.clock.now();
    const id = key(endpoint);
    const streak = this.streaks.get(id) ?? {since: now, lastAt: now, nextAt: now};
    const elapsed = now - streak.since;
    const wait = elapsed < graceMs ? 0 : Math.min(capMs, elapsed * (factor - 1)) * (1 - jitter + 2 * jitter * this.random.float());
    streak.lastAt = now;
    streak.nextAt = now + Math.round(wait);
    // Re-insert: Map order is the order of last failure, so the first entry is the stalest streak.
    this.streaks.delete(id);
    this.streaks.set(id, streak);
    if (this.streaks.size > maxEntries) this.streaks.delete(this.streaks.keys().next().value!);
  }

  /** `endpoint` answered: forget its streak. */
  succeeded(endpoint: string): void {
    this.streaks.delete(key(endpoint));
  }
}

/** Endpoints differing only in letter case (host names, IPv6 hex) are one endpoint. */
function key(endpoint: string): string {
  return endpoint.toLowerCase();
}
