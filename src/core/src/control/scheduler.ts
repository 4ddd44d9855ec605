/**
 * The one scheduler of a mesh's control plane: periodic tasks and deadlines on
 * the injected clock, all cancelled together on stop. Every run of every task
 * is caught and logged, so one failure never ends a timer, and stop ends
 * every timer.
 */
import type {Clock, RandomSource, TimerHandle} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import {PeerUnreachableError} from '../errors.js';

/** A task run every `periodMs` (see {@link Scheduler.everyOnBeat}). */
export interface PeriodicTask {
  /** For logs; unique within a scheduler. */
  name: string;
  periodMs: number;
  run: () => Promise<void> | void;
}

/** Periodic tasks and deadlines of one mesh. */
export class Scheduler {
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly logger: Logger;
  private readonly timers = new Set<TimerHandle>();
  /** Cancellers of requests in flight (a set, not abort listeners: hundreds may be in flight at once). */
  private readonly inFlight = new Set<() => void>();
  /** Names of tasks with a run in progress (see {@link run}). */
  private readonly running = new Set<string>();
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
    const tick = (): void => {
      if (this.stopped) return;
      this.after(Math.round(periodMs * (0.95 + 0.1 * this.random.float())), tick);
      this.run(name, task);
    };
    this.after(Math.floor(periodMs * this.random.float()), tick);
  }

  /**
   * Run periodic tasks on one shared timer where their periods allow: a task
   * whose period is a whole multiple of `beatMs` runs on every k-th beat (the
   * first beat runs them all), any other gets a timer of its own
   * ({@link every}). Waking a process costs more CPU than an idle task's
   * work, so the tasks of a mesh share their wakeups instead of each paying
   * for its own.
   */
  everyOnBeat(beatMs: number, tasks: readonly PeriodicTask[]): void {
    const onBeat: {task: PeriodicTask; every: number}[] = [];
    for (const task of tasks) {
      const every = task.periodMs / beatMs;
      if (Number.isInteger(every) && every >= 1) onBeat.push({task, every});
      else this.every(task.name, task.periodMs, task.run);
    }
    if (onBeat.length === 0) return;
    let beat = 0;
    this.every(`beat of ${onBeat.map(({task}) => task.name).join(', ')}`, beatMs, () => {
      for (const {task, every} of onBeat) if (beat % every === 0) this.run(task.name, task.run);
      beat++;
    });
  }

  /**
   * Run `task` now unless a run of the same name is still going (then this one
   * is skipped, not queued). Errors are logged, never thrown.
   */
  run(name: string, task: () => Promise<void> | void): void {
    if (this.stopped || this.running.has(name)) return;
    this.running.add(name);
    void (async () => {
      try {
        await task();
      } catch (error) {
        if (!this.stopped) this.logger.warn({err: error, task: name}, 'control task failed; it runs again next period');
      } finally {
        this.running.delete(name);
      }
    })();
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
