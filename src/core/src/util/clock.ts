/** Real-time implementations of the injected {@link Clock} and {@link RandomSource}. */
import {randomBytes} from 'node:crypto';
import type {Clock, RandomSource} from '../contracts/clock.js';

/** The wall clock with Node timers (unref'd: a pending timer never keeps a process alive by itself). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return {cancel: () => clearTimeout(timer)};
  },
};

/** Randomness from the OS CSPRNG. */
export const systemRandom: RandomSource = {
  float: () => randomBytes(4).readUInt32BE(0) / 2 ** 32,
  bytes: (n) => new Uint8Array(randomBytes(n)),
};
