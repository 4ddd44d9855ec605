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

const WIDTH_BITS = 256n;
const MASK = (1n << WIDTH_BITS) - 1n;

function toBigInt(hash: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(hash.buffer, hash.byteOffset, Math.min(hash.byteLength, 32)).toString('hex') || '0'}`);
}

/** A running sum of 256-bit hashes. */
export class HashSum {
  private sum = 0n;

  /** Add one entry's hash. */
  add(hash: Uint8Array): void {
    this.sum = (this.sum + toBigInt(hash)) & MASK;
  }

  /** Remove one entry's hash (the inverse of {@link add}). */
  remove(hash: Uint8Array): void {
    this.sum = (this.sum - toBigInt(hash)) & MASK;
  }

  /** The sum as 32 big-endian bytes. */
  bytes(): Uint8Array {
    return new Uint8Array(Buffer.from(this.sum.toString(16).padStart(64, '0'), 'hex'));
  }
}
