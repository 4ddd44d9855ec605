/**
 * A reproducible {@link RandomSource} for tests and simulations: the same seed
 * gives the same sequence on every run and every platform. Not for key
 * material (nothing in wgmesh takes keys from a RandomSource).
 */
import type {RandomSource} from '@wgmesh/core';

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 128 bits of
 * state, passes PractRand to terabytes, and needs only 32-bit integer maths,
 * so it is fast in JavaScript and needs no dependency.
 */
export class SeededRandom implements RandomSource {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** @param seed any integer; equal seeds give equal sequences */
  constructor(seed: number) {
    // Spread the seed over the state with splitmix32, then discard a few
    // outputs so nearby seeds do not start with correlated values.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** The next 32-bit unsigned integer. */
  uint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  float(): number {
    return this.uint32() / 2 ** 32;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const word = this.uint32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (word >>> (8 * j)) & 0xff;
    }
    return out;
  }

  /** An independent generator derived from this one (e.g. one per simulated node). */
  fork(): SeededRandom {
    return new SeededRandom(this.uint32());
  }
}
