/**
 * The one scheduler of a mesh's control plane: periodic tasks and deadlines on
 * the injected clock, all cancelled together on stop. Every run of every task
 * is caught and logged, so one failure never ends a timer (the original's
 * timer stopped for good after one error and could not be stopped, B-13).
 */
import type {Clock, RandomSource, TimerHandle} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import {PeerUnreachableError} from '../errors.js';

/** Periodic tasks and deadlines of one mesh. */
export class Scheduler {
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly logger: Logger;
  private readonly timers = new Set<TimerHandle>();
  /** Cancellers of requests in flight (a set, not abort listeners: hundreds may be in flight at once). */
  private readonly inFlight = new Set<() => void>();
  private stoppedFlag = false;

  constructor(clock: Clock, random: RandomSource, logger: Logger) {
    this.clock = clock;
    this.random = random;
    this.logger = logger;
  }

  /** True once stopped. */
  get stopped(): boolean {
    return this.stoppedFlag;
  }

  /**
   * Run `task` every `periodMs` (±5%, so nodes started together drift apart),
   * first after a random fraction of a period. Delays are whole milliseconds,
   * so a simulated clock never shows fractional times. Fixed rate: a run that is still
   * going when the next is due makes that next run be skipped, not queued.
   */
  every(name: string, periodMs: number, task: () => Promise<void> | void): void {
    let running = false;
    const tick = (): void => {
      if (this.stopped) return;
      this.after(Math.round(periodMs * (0.95 + 0.1 * this.random.float())), tick);
      if (running) return;
      running = true;
      void (async () => {
        try {
          await task();
        } catch (error) {
          if (!this.stopped) this.logger.warn({err: error, task: name}, 'control task failed; it runs again next period');
        } finally {
          running = false;
        }
      })();
    };
    this.after(Math.floor(periodMs * this.random.float()), tick);
  }

  /** Run `fn` once after `ms` unless stopped first. */
  after(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const handle: TimerHandle = this.clock.setTimeout(() => {
      this.timers.delete(handle);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(handle);
  }

  /**
   * Run a request with a deadline on the injected clock. The request gets an
   * AbortSignal that fires on the deadline or on stop; this promise settles at
   * that moment even if the transport ignores the signal.
   * @throws PeerUnreachableError on the deadline or on stop, or whatever `run` throws
   */
  withDeadline<T>(target: string, ms: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const controller = new AbortController();
      let timer: TimerHandle | undefined;
      let settled = false;
      const finish = (settle: () => void): void => {
        if (settled) return;
        settled = true;
        timer?.cancel();
        this.inFlight.delete(onStop);
        settle();
      };
      const onStop = (): void => {
        controller.abort();
        finish(() => reject(new PeerUnreachableError(target, 'the control plane stopped')));
      };
      if (this.stopped) return onStop();
      this.inFlight.add(onStop);
      timer = this.clock.setTimeout(() => {
        controller.abort();
        finish(() => reject(new PeerUnreachableError(target, `no answer within ${ms} ms`)));
      }, ms);
      run(controller.signal).then(
        (value) => finish(() => resolve(value)),
        (error: unknown) => finish(() => reject(error)),
      );
    });
  }

  /** Cancel every timer and abort every request in flight. */
  stop(): void {
    this.stoppedFlag = true;
    for (const timer of this.timers) timer.cancel();
    this.timers.clear();
    for (const cancel of [...this.inFlight]) cancel();
  }
}
