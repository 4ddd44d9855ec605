/**
 * This node's own reach in one mesh: which members it cannot reach from here,
 * and whether it reaches none at all (isolated). A local view, made from this
 * node's own requests and the heartbeats it gets; it is shown (`status`,
 * `mesh show`) and logged, never spread and never a claim: the mesh-wide
 * liveness rules (failure-detector.ts, membership-view.ts) are untouched, and
 * an isolated node keeps every member in its view, as it must (from one node,
 * its own cut and everyone else's death look alike).
 *
 * - Isolated: members other than this node are alive in its view, and for
 *   `isolationMs` (3H) it has neither heard from nor reached any of them
 *   (counted from the start of the control plane, so a node just started is
 *   not isolated before it had the time to reach anyone).
 * - Unreachable from here: every other member while isolated; otherwise a
 *   member whose control endpoint did not answer this node's last request
 *   (its dial-backoff streak is open: an answer closes it).
 *
 * Costs O(1) per check: the view keeps the time of the last contact with any
 * member.
 */
import type {Clock} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {MembershipView} from './membership-view.js';
import type {ControlRpc} from './rpc.js';

/** Everything {@link LocalReach} needs. */
export interface LocalReachDeps {
  view: MembershipView;
  rpc: ControlRpc;
  clock: Clock;
  logger: Logger;
  /** Time without contact with any member after which this node is isolated (ControlTimings.isolationMs). */
  isolationMs: number;
  /** Period of {@link LocalReach.check}: a check later than two periods means this node itself stalled. */
  checkPeriodMs: number;
}

/** This node's own reach in one mesh. */
export class LocalReach {
  private readonly deps: LocalReachDeps;
  private readonly startedAt: number;
  private lastCheckAt: number | undefined;
  /** Since when this node is isolated, while it is. */
  private isolatedAt: number | undefined;

  constructor(deps: LocalReachDeps) {
    this.deps = deps;
    this.startedAt = deps.clock.now();
  }

  /** Since when this node reaches no member (ms since the epoch), or undefined when it reaches some. */
  isolatedSince(): number | undefined {
    return this.isolatedAt;
  }

  /** True when this node cannot reach `id` from here (see the module comment); never for itself. */
  unreachable(id: string): boolean {
    if (id === this.deps.view.selfId) return false;
    return this.isolatedAt !== undefined || this.deps.rpc.unreachableFor(id) > 0;
  }

  /**
   * Look again (every check period): log at warn once when this node becomes
   * isolated and at info once when that ends. A late check (this node's own
   * event loop stalled, so answers may sit unread) starts no isolation.
   */
  check(): void {
    const {view, clock, logger, isolationMs, checkPeriodMs} = this.deps;
    const now = clock.now();
    const late = this.lastCheckAt !== undefined && now - this.lastCheckAt > 2 * checkPeriodMs;
    this.lastCheckAt = now;
    const lastContact = Math.max(view.lastContactAt() ?? this.startedAt, this.startedAt);
    const others = view.othersAlive();
    const cutOff = others > 0 && now - lastContact > isolationMs;
    if (cutOff && this.isolatedAt === undefined && !late) {
      this.isolatedAt = lastContact;
      logger.warn(
        {members: others, silentForMs: now - lastContact},
        `this node is isolated in the mesh: no answer from and no heartbeat of any of its ${others} other members for ${Math.round((now - lastContact) / 1000)} s; they show as unreachable from here (nobody is declared dead): check this host's network`,
      );
    } else if (!cutOff && this.isolatedAt !== undefined) {
      const span = `isolated for ${Math.round((now - this.isolatedAt) / 1000)} s`;
      if (others > 0) logger.info({isolatedForMs: now - this.isolatedAt}, `this node reaches members of the mesh again (${span})`);
      else logger.info({isolatedForMs: now - this.isolatedAt}, `no other member of the mesh is left in this node's view: it no longer counts as isolated (${span})`);
      this.isolatedAt = undefined;
    }
  }
}
