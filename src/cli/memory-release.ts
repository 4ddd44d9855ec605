/**
 * Giving memory back after a burst. What a burst of large messages leaves
 * behind is mostly dead buffers whose native memory is freed only when V8 runs
 * a full GC, and V8 runs one by itself only once it judges the process idle,
 * which after the hostile-load attack took from 20 s to over a minute
 * (BENCHMARKS.md, "jemalloc"). When the daemon's Node exposes `gc` (the
 * systemd unit starts it with `--expose-gc`), the daemon asks for one itself:
 * once V8's heap and external memory have grown well past their level after
 * the last full GC and have (all but) stopped growing (the burst is over). A GC then
 * costs a few milliseconds of marking spread over the event loop (`async`),
 * at most once per {@link MIN_SPACING_MS}.
 */
import type {Logger} from '@wgmesh/core';

/** How often the memory is read. */
export const CHECK_INTERVAL_MS = 5_000;
/** Growth over the level after the last full GC that is worth a GC: a burst, not the daemon's own churn. */
export const GROWTH_BYTES = 16 * 1024 * 1024;
/** Fewest milliseconds between two GCs asked for here. */
export const MIN_SPACING_MS = 30_000;
/** Growth between two readings that still counts as stopped: an idle daemon's own allocations between two checks. */
export const QUIET_BYTES = 1024 * 1024;

/** One reading: V8's heap and the memory it accounts for outside it (buffers), in bytes. */
export type MemoryReading = number;

/** What the releaser remembers between two readings. */
export interface ReleaseState {
  /** The reading right after the last full GC asked for (or at start). */
  level: MemoryReading;
  /** The previous reading. */
  previous: MemoryReading;
  /** When the last GC was asked for (ms), or -Infinity. */
  lastGcAt: number;
  /** The next reading is the first after a GC: it sets {@link level}. */
  afterGc: boolean;
}

/** The state at start, from the first reading. */
export function initialReleaseState(reading: MemoryReading): ReleaseState {
  return {level: reading, previous: reading, lastGcAt: -Infinity, afterGc: false};
}

/**
 * Decide on one reading taken at `now`: whether to ask for a full GC, and the
 * next state. A GC is due when the reading is more than {@link GROWTH_BYTES}
 * above the level after the last GC, has grown by at most {@link QUIET_BYTES}
 * since the previous reading, and the last GC asked for is at least
 * {@link MIN_SPACING_MS} old.
 */
export function decideRelease(state: ReleaseState, reading: MemoryReading, now: number): {collect: boolean; state: ReleaseState} {
  if (state.afterGc) return {collect: false, state: {...state, level: reading, previous: reading, afterGc: false}};
  const collect = reading - state.level > GROWTH_BYTES && reading - state.previous <= QUIET_BYTES && now - state.lastGcAt >= MIN_SPACING_MS;
  return collect ? {collect, state: {...state, previous: reading, lastGcAt: now, afterGc: true}} : {collect, state: {...state, previous: reading}};
}

/** V8's `gc` as `--expose-gc` exposes it. */
type ExposedGc = (options: {type: 'major'; execution: 'async'}) => unknown;

/** V8's heap and external memory of this process. */
function readMemory(): MemoryReading {
  const usage = process.memoryUsage();
  return usage.heapTotal + usage.external;
}

/** What {@link startMemoryRelease} uses; the defaults are this process's. */
export interface MemoryReleaseHooks {
  /** V8's `gc` (default: the global one, present only when node runs with `--expose-gc`); given as undefined: none. */
  gc?: ExposedGc | undefined;
  read?: () => MemoryReading;
  now?: () => number;
}

/**
 * Start asking for a full GC after each burst, when this Node exposes `gc`;
 * returns what stops it (a no-op without `gc`). The timer does not keep the
 * process alive.
 */
export function startMemoryRelease(logger: Logger, hooks: MemoryReleaseHooks = {}): () => void {
  const gc = 'gc' in hooks ? hooks.gc : (globalThis as {gc?: ExposedGc}).gc;
  const {read = readMemory, now = Date.now} = hooks;
  if (gc === undefined) return () => undefined;
  let state = initialReleaseState(read());
  const timer = setInterval(() => {
    const reading = read();
    const decision = decideRelease(state, reading, now());
    if (decision.collect) {
      logger.debug({heapAndExternalBytes: reading, levelBytes: state.level}, 'memory grew in a burst that is over: asking V8 for a full GC');
      gc({type: 'major', execution: 'async'});
    }
    state = decision.state;
  }, CHECK_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
