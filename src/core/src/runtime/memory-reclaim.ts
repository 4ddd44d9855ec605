/**
 * Gives memory back after a burst. A member (or anyone reaching the control
 * port) can make the daemon allocate a lot for a short while, within the
 * transport's caps: frames of up to 1 MiB, TLS handshakes, sync sessions.
 * Once that is over, what it allocated is garbage, but V8 collects its old
 * generation only when it grows further or the process looks idle, which a
 * daemon answering heartbeats never does: the memory would stay taken for
 * minutes. So the daemon looks at its resident size now and then and, when it
 * has grown well past what it was after the last full collection and has
 * stopped growing, runs one full collection itself (at most one per
 * {@link RECLAIM_MIN_GAP_MS}; it costs tens of milliseconds).
 */
import {setFlagsFromString} from 'node:v8';
import {runInNewContext} from 'node:vm';
import type {Clock, TimerHandle} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';

/** How often the resident size is read. */
export const RECLAIM_CHECK_MS = 5_000;
/** Growth over the size after the last full collection that calls for one. */
export const RECLAIM_GROWTH = 1.1;
/** Least time between two collections this module starts. */
export const RECLAIM_MIN_GAP_MS = 20_000;

/** Everything a {@link MemoryReclaimer} needs. */
export interface MemoryReclaimerDeps {
  clock: Clock;
  logger: Logger;
  /** The process's resident size in bytes. */
  residentBytes(): number;
  /** Run a full garbage collection now. */
  collect(): void;
}

/** Watches the resident size and collects garbage after a burst (see the module comment). */
export class MemoryReclaimer {
  private timer: TimerHandle | undefined;
  /** Resident size after the last full collection (or the smallest seen since). */
  private baseline: number | undefined;
  private previous = 0;
  private lastCollectedAt = -Infinity;

  constructor(private readonly deps: MemoryReclaimerDeps) {}

  /** Check every {@link RECLAIM_CHECK_MS} until {@link stop}. */
  start(): void {
    const tick = (): void => {
      this.check();
      this.timer = this.deps.clock.setTimeout(tick, RECLAIM_CHECK_MS);
    };
    this.timer = this.deps.clock.setTimeout(tick, RECLAIM_CHECK_MS);
  }

  /** Stop checking. */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /**
   * One look: collect when the resident size is over {@link RECLAIM_GROWTH}
   * times the baseline, no longer growing, and the last collection is at
   * least {@link RECLAIM_MIN_GAP_MS} ago.
   * @returns true when it collected
   */
  check(): boolean {
    const now = this.deps.clock.now();
    const size = this.deps.residentBytes();
    const growing = size > this.previous;
    this.previous = size;
    if (this.baseline === undefined || size < this.baseline) {
      this.baseline = size;
      return false;
    }
    if (size <= this.baseline * RECLAIM_GROWTH || growing || now - this.lastCollectedAt < RECLAIM_MIN_GAP_MS) return false;
    this.deps.collect();
    this.lastCollectedAt = now;
    const after = this.deps.residentBytes();
    this.deps.logger.info({residentMiB: Math.round(size / 2 ** 20), afterMiB: Math.round(after / 2 ** 20)}, 'collected garbage after a burst of memory use');
    this.baseline = after;
    this.previous = after;
    return true;
  }
}

let fullCollection: (() => void) | undefined;

/**
 * V8's full garbage collection as a function. Node offers it only to a
 * process started with `--expose-gc`; setting that V8 flag and taking `gc`
 * from a fresh context gives the same function to a process that was not.
 */
export function fullGarbageCollection(): () => void {
  if (fullCollection === undefined) {
    setFlagsFromString('--expose-gc');
    fullCollection = runInNewContext('gc') as () => void;
  }
  return fullCollection;
}
