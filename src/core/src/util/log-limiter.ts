/**
 * Rate limiting of repeated log lines. Refusals a remote can trigger at will
 * (a connection without a certificate, a refused request) would otherwise let
 * it write to this daemon's log as fast as it can connect. Per window, each
 * (cause, remote) pair gets `perRemote` lines and each cause `perCause` lines
 * in all; the rest are counted, summarised in one line per cause at the end of
 * the window ("N more like this suppressed"), and added to a per-cause total
 * that the daemon's metrics export. Causes are fixed strings chosen by the
 * code (a bounded label set); remotes come from the network, so at most
 * `maxRemotes` are tracked per cause and window.
 */
import type {Clock, TimerHandle} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';

/** Levels a limited line may be logged at. */
export type LimitedLevel = 'debug' | 'info' | 'warn' | 'error';

/** Limits of a {@link LogLimiter}; every field has a default. */
export interface LogLimiterOptions {
  /** Time source (the windows and the summary timer run on it). */
  clock: Clock;
  /** Length of one window (ms); default 60 s. */
  windowMs?: number;
  /** Lines per (cause, remote) and window; default 5. */
  perRemote?: number;
  /** Lines per cause and window, whatever the remote; default 50. */
  perCause?: number;
  /** Remotes tracked per cause and window; lines from further remotes count against the cause only. Default 1,024. */
  maxRemotes?: number;
}

/** One cause within the current window. */
interface CauseWindow {
  logged: number;
  suppressed: number;
  /** Lines logged per remote in this window. */
  remotes: Map<string, number>;
  /** Where and at which level the summary goes: those of the first suppressed line. */
  summary: {logger: Logger; level: LimitedLevel} | undefined;
}

/** Default window length (ms). */
export const DEFAULT_LOG_WINDOW_MS = 60_000;
/** Default lines per (cause, remote) and window. */
export const DEFAULT_LOG_LINES_PER_REMOTE = 5;
/** Default lines per cause and window. */
export const DEFAULT_LOG_LINES_PER_CAUSE = 50;
/** Default remotes tracked per cause and window. */
export const DEFAULT_LOG_MAX_REMOTES = 1024;

/** Rate-limits repeated log lines per (cause, remote), counting what it suppresses. One per daemon. */
export class LogLimiter {
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly perRemote: number;
  private readonly perCause: number;
  private readonly maxRemotes: number;
  private readonly windows = new Map<string, CauseWindow>();
  private readonly totals = new Map<string, number>();
  private timer: TimerHandle | undefined;

  constructor(options: LogLimiterOptions) {
    this.clock = options.clock;
    this.windowMs = options.windowMs ?? DEFAULT_LOG_WINDOW_MS;
    this.perRemote = options.perRemote ?? DEFAULT_LOG_LINES_PER_REMOTE;
    this.perCause = options.perCause ?? DEFAULT_LOG_LINES_PER_CAUSE;
    this.maxRemotes = options.maxRemotes ?? DEFAULT_LOG_MAX_REMOTES;
  }

  /**
   * Log `msg` with `fields` (plus `cause` and `remote`) at `level` on `logger`,
   * unless this (cause, remote) or this cause has had its share of lines in
   * the current window; then count it instead.
   * @returns whether the line was logged.
   */
  log(logger: Logger, level: LimitedLevel, cause: string, remote: string, fields: object, msg: string): boolean {
    let window = this.windows.get(cause);
    if (window === undefined) {
      window = {logged: 0, suppressed: 0, remotes: new Map(), summary: undefined};
      this.windows.set(cause, window);
      this.timer ??= this.clock.setTimeout(() => this.endWindow(), this.windowMs);
    }
    const byRemote = window.remotes.get(remote);
    const tracked = byRemote !== undefined || window.remotes.size < this.maxRemotes;
    if (window.logged < this.perCause && tracked && (byRemote ?? 0) < this.perRemote) {
      window.logged++;
      window.remotes.set(remote, (byRemote ?? 0) + 1);
      logger[level]({...fields, cause, remote}, msg);
      return true;
    }
    window.suppressed++;
    window.summary ??= {logger, level};
    this.totals.set(cause, (this.totals.get(cause) ?? 0) + 1);
    return false;
  }

  /** Lines suppressed since this limiter was made, per cause (a counter: it only grows). */
  suppressed(): ReadonlyMap<string, number> {
    return this.totals;
  }

  /** Write the pending summaries now and stop the window timer (the daemon is stopping). */
  close(): void {
    this.timer?.cancel();
    this.endWindow();
  }

  /** Summarise each cause that suppressed lines, and start afresh. */
  private endWindow(): void {
    this.timer = undefined;
    const seconds = Math.round(this.windowMs / 1000);
    for (const [cause, window] of this.windows) {
      if (window.summary === undefined) continue;
      window.summary.logger[window.summary.level](
        {cause, suppressed: window.suppressed},
        `${window.suppressed} more like this suppressed in the last ${seconds} s (log lines of one cause are rate-limited)`,
      );
    }
    this.windows.clear();
  }
}
