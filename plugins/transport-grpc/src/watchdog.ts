/**
 * Time limits on streams. gRPC deadlines are absolute, but a sync session or a
 * snapshot download has many steps: each step gets `timeout` (the idle limit,
 * re-armed on every frame) and the whole stream gets an upper bound, so a
 * silent or endlessly chatty peer cannot hold a session slot forever.
 */

/** Fires `onExpire` (once) when the stream is idle for `idleMs` or older than `totalMs` (null: no age limit). */
export class StreamWatchdog {
  private readonly idleMs: number;
  private readonly onExpire: (reason: 'idle' | 'total') => void;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly totalTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(idleMs: number, totalMs: number | null, onExpire: (reason: 'idle' | 'total') => void) {
    this.idleMs = idleMs;
    this.onExpire = onExpire;
    if (totalMs !== null) {
      this.totalTimer = setTimeout(() => this.expire('total'), totalMs);
      this.totalTimer.unref();
    }
    this.touch();
  }

  /** Activity: restart the idle limit. */
  touch(): void {
    if (this.stopped) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.expire('idle'), this.idleMs);
    this.idleTimer.unref();
  }

  /** The stream is over; fire nothing. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.idleTimer);
    clearTimeout(this.totalTimer);
  }

  private expire(reason: 'idle' | 'total'): void {
    if (this.stopped) return;
    this.stop();
    this.onExpire(reason);
  }
}
