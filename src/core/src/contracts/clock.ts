/** A cancellable timer handle returned by {@link Clock.setTimeout}. */
export interface TimerHandle {
  /** Cancel the timer; calling it after the timer fired is harmless. */
  cancel(): void;
}

/**
 * Time source injected into every component, so the whole core can run on a
 * simulated clock (thousands of nodes in one process) as well as on real time.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (simulated or real). */
  now(): number;
  /** Run `fn` once after `ms` milliseconds of this clock's time. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

/** Randomness injected into every component, so simulations are reproducible. */
export interface RandomSource {
  /** A float in [0, 1). */
  float(): number;
  /** `n` random bytes. Used for identifiers, never for key material. */
  bytes(n: number): Uint8Array;
}
