/**
 * Rendezvous (highest-random-weight) hashing: every node scores each candidate
 * with the same hash and takes the highest score, so all nodes that see the
 * same candidates agree, and a choice only moves when the chosen candidate goes
 * away or a better-scoring one appears. Used for a client's home peer and for
 * a node's gateway among equal-cost routes.
 */
import {createHash} from 'node:crypto';

/** SHA-256 of the parts joined by NUL bytes (no part contains one: ids, prefixes and keys are printable). */
export function rendezvousScore(...parts: readonly string[]): Buffer {
  return createHash('sha256').update(parts.join('\0')).digest();
}

/**
 * The candidate with the highest score of (`salt` parts..., key of the
 * candidate); undefined when there is none. Ties (equal hashes, in practice
 * only equal keys) keep the first, so pass candidates with distinct keys.
 */
export function pickByRendezvous<T>(candidates: Iterable<T>, key: (candidate: T) => string, ...salt: readonly string[]): T | undefined {
  let best: {candidate: T; value: Buffer} | undefined;
  for (const candidate of candidates) {
    const value = rendezvousScore(...salt, key(candidate));
    if (!best || Buffer.compare(value, best.value) > 0) best = {candidate, value};
  }
  return best?.candidate;
}
