/**
 * Gives memory back after a burst. A member (or anyone reaching the control
 * port) can make the daemon allocate a lot for a short while, within the
 * transport's caps: frames of up to 1 MiB, TLS handshakes, sync sessions.
 * Once that is over, the buffers it allocated are garbage, but V8 collects
 * its old generation only when the heap grows further or the process looks
 * idle, which a daemon answering heartbeats never does: the memory would
 * stay taken for minutes. So the daemon looks at the bytes its buffers hold
 * now and then and, when they have grown by more than
 * {@link RECLAIM_BUFFER_GROWTH_BYTES} over what they were after the last full
 * collection and have stopped growing, runs one full collection itself (at
 * most one per {@link RECLAIM_MIN_GAP_MS}; it costs tens of milliseconds). A
 * daemon at rest holds a few MiB of buffers, so it never collects for
 * nothing.
 */
import {setFlagsFromString} from 'node:v8';
import {runInNewContext} from 'node:vm';
import type {Clock, TimerHandle} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';

/** How often the bytes held by buffers are read. */
export const RECLAIM_CHECK_MS = 5_000;
/** Growth of the bytes held by buffers, over what they were after the last full collection, that calls for one. */
export const RECLAIM_BUFFER_GROWTH_BYTES = 16 * 1024 * 1024;
/** Least time between two collections this module starts. */
export const RECLAIM_MIN_GAP_MS = 20_000;

/** Everything a {@link MemoryReclaimer} needs. */
export interface MemoryReclaimerDeps {
  clock: Clock;
  logger: Logger;
  /** Bytes held by ArrayBuffers and Buffers (`process.memoryUsage().arrayBuffers`). */
  bufferBytes(): number;
  /** Run a full garbage collection now. */
  collect(): void;
}

/** Watches the bytes held by buffers and collects garbage after a burst (see the module comment). */
export class MemoryReclaimer {
  private timer: TimerHandle | undefined;
  /** Bytes held by buffers after the last full collection (or the fewest seen since). */
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
   * One look: collect when the bytes held by buffers are more than
   * {@link RECLAIM_BUFFER_GROWTH_BYTES} over the baseline, no longer growing,
   * and the last collection is at least {@link RECLAIM_MIN_GAP_MS} ago.
   * @returns true when it collected
   */
  check(): boolean {
    const now = this.deps.clock.now();
    const size = this.deps.bufferBytes();
    const growing = size > this.previous;
    this.previous = size;
    if (this.baseline === undefined || size < this.baseline) {
      this.baseline = size;
      return false;
    }
    if (size <= this.baseline + RECLAIM_BUFFER_GROWTH_BYTES || growing || now - this.lastCollectedAt < RECLAIM_MIN_GAP_MS) return false;
    this.deps.collect();
    this.lastCollectedAt = now;
    const after = this.deps.bufferBytes();
    this.deps.logger.info({bufferMiB: Math.round(size / 2 ** 20), afterMiB: Math.round(after / 2 ** 20)}, 'collected garbage after a burst of memory use');
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
