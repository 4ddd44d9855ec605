/**
 * Incremental multiset hashing (shared by the store plugins for their O(1) digests): the hash of a set of entries is the sum, modulo
 * 2^(8·width), of the entries' own SHA-256 hashes (Clarke et al.'s
 * MSet-Add-Hash). Adding or removing one entry costs one multi-word addition,
 * so a store keeps its digest current on every change and `digest()` is O(1).
 *
 * Collision resistance. For states that differ by accident (the only case an
 * honest mesh meets) two different sets share a 256-bit sum with probability
 * 2^-256, and a 128-bit bucket sum with probability 2^-128. Against an
 * attacker the additive construction is weaker than a plain hash: Wagner's
 * k-tree algorithm finds k hashes with a chosen sum faster than brute force.
 * That is acceptable here because every summed hash is the hash of an entry
 * its owner signed and that each replica verified: an attacker can only craft
 * entries for node ids whose keys it holds, one live entry per id, and the
 * worst it can achieve is that two replicas skip reconciling until the next
 * change of any entry in the colliding range. It can never inject or alter an
 * entry, which is what signatures, not digests, protect.
 */

/** A running modular sum of fixed-width hashes, stored as big-endian 32-bit limbs. */
export class MultisetHash {
  /** Limbs, most significant first, so `bytes()` is a plain big-endian copy. */
  private readonly limbs: Uint32Array;

  /**
   * @param widthBytes width of the sum in bytes (a multiple of 4); hashes
   * longer than this are truncated to their first `widthBytes` bytes.
   */
  constructor(readonly widthBytes: number) {
    if (widthBytes <= 0 || widthBytes % 4 !== 0) throw new RangeError('multiset hash width must be a positive multiple of 4 bytes');
    this.limbs = new Uint32Array(widthBytes / 4);
  }

  /** Add one element's hash. */
  add(hash: Uint8Array): void {
    addInto(this.limbs, 0, this.limbs.length, hash, false);
  }

  /** Remove one element's hash (the inverse of {@link add}). */
  remove(hash: Uint8Array): void {
    addInto(this.limbs, 0, this.limbs.length, hash, true);
  }

  /** The sum as `widthBytes` big-endian bytes (a copy). */
  bytes(): Uint8Array {
    return limbsToBytes(this.limbs, 0, this.limbs.length);
  }
}

/**
 * Add (or subtract) `hash`, truncated to `limbCount` 32-bit words, into the
 * sum stored at `limbs[offset .. offset+limbCount)`, modulo 2^(32·limbCount).
 * Exposed for the sync protocol, which keeps many bucket sums in one array.
 */
export function addInto(limbs: Uint32Array, offset: number, limbCount: number, hash: Uint8Array, subtract: boolean): void {
  if (hash.byteLength < limbCount * 4) throw new RangeError('hash is shorter than the multiset hash width');
  let carry = 0;
  // Least significant limb last: walk backwards so the carry (or borrow) flows upward.
  // Bytes are read directly (no DataView per call): this runs once per entry per sync.
  for (let i = limbCount - 1; i >= 0; i--) {
    const at = i * 4;
    const word = (((hash[at] as number) << 24) | ((hash[at + 1] as number) << 16) | ((hash[at + 2] as number) << 8) | (hash[at + 3] as number)) >>> 0;
    const current = limbs[offset + i] as number;
    const next = subtract ? current - word - carry : current + word + carry;
    carry = subtract ? (next < 0 ? 1 : 0) : next > 0xffffffff ? 1 : 0;
    limbs[offset + i] = next >>> 0;
  }
}

/** Big-endian bytes of `limbCount` limbs starting at `offset`. */
export function limbsToBytes(limbs: Uint32Array, offset: number, limbCount: number): Uint8Array {
  const out = new Uint8Array(limbCount * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < limbCount; i++) view.setUint32(i * 4, limbs[offset + i] as number);
  return out;
}

/** Add the sum at `source[sourceOffset ..]` into the sum at `target[targetOffset ..]`, both `limbCount` limbs. */
export function addLimbs(target: Uint32Array, targetOffset: number, source: Uint32Array, sourceOffset: number, limbCount: number): void {
  let carry = 0;
  for (let i = limbCount - 1; i >= 0; i--) {
    const next = (target[targetOffset + i] as number) + (source[sourceOffset + i] as number) + carry;
    carry = next > 0xffffffff ? 1 : 0;
    target[targetOffset + i] = next >>> 0;
  }
}
