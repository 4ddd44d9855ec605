/**
 * An order-independent sum of entry hashes (modulo 2^256), kept current on
 * every change so a store's digest costs O(1). Two replicas holding the same
 * set of entries hold the same sum whatever order they learned them in.
 *
 * Only hashes of entries the store verified are ever added, so a peer cannot
 * pick hashes to steer the sum: it can only sign entries for its own node id,
 * one held entry per id (see the two-phase store's multiset hash for the same
 * argument at length).
 */

/** Width of the sum in 32-bit limbs (256 bits). */
const LIMBS = 8;

/** A running sum of 256-bit hashes, as big-endian 32-bit limbs (a BigInt per entry costs ~30 µs; this costs well under 1). */
export class HashSum {
  private readonly limbs = new Uint32Array(LIMBS);

  /** Add one entry's hash (its first 32 bytes). */
  add(hash: Uint8Array): void {
    this.apply(hash, false);
  }

  /** Remove one entry's hash (the inverse of {@link add}). */
  remove(hash: Uint8Array): void {
    this.apply(hash, true);
  }

  /** The sum as 32 big-endian bytes. */
  bytes(): Uint8Array {
    const out = new Uint8Array(LIMBS * 4);
    const view = new DataView(out.buffer);
    for (let i = 0; i < LIMBS; i++) view.setUint32(i * 4, this.limbs[i] as number);
    return out;
  }

  private apply(hash: Uint8Array, subtract: boolean): void {
    if (hash.byteLength < LIMBS * 4) throw new RangeError(`a hash of ${hash.byteLength} bytes is shorter than ${LIMBS * 4}`);
    let carry = 0;
    // Least significant limb last: walk backwards so the carry (or borrow) flows upward; modulo 2^256.
    for (let i = LIMBS - 1; i >= 0; i--) {
      const at = i * 4;
      const word = (((hash[at] as number) << 24) | ((hash[at + 1] as number) << 16) | ((hash[at + 2] as number) << 8) | (hash[at + 3] as number)) >>> 0;
      const current = this.limbs[i] as number;
      const next = subtract ? current - word - carry : current + word + carry;
      carry = subtract ? (next < 0 ? 1 : 0) : next > 0xffffffff ? 1 : 0;
      this.limbs[i] = next >>> 0;
    }
  }
}
