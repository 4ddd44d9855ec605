/**
 * core's control/ring.js as the membership view sees it inside the
 * simulation (see store-hooks.js): the same Ring and positions, but identical
 * rings are built once per process (and each member's position computed once). Every node of a converged mesh holds the same live
 * peer set, so N nodes would otherwise each sort and keep their own copy of
 * one immutable ring (O(N log N) time and O(N) memory per node, again after
 * every membership change). A ring is found by an order-independent key of
 * its member positions and confirmed member by member before it is reused.
 */
import {Ring as CoreRing, ringPosition as coreRingPosition} from '../../src/core/dist/control/ring.js';

export * from '../../src/core/dist/control/ring.js';

/** @type {Map<string, number>} */
const positions = new Map();

/**
 * core's `ringPosition` (a SHA-256 per call), computed once per (mesh, node)
 * in the process: every node's view asks for every member's position.
 * @param {string} meshId
 * @param {string} id
 */
export function ringPosition(meshId, id) {
  const key = `${meshId}\0${id}`;
  let position = positions.get(key);
  if (position === undefined) {
    position = coreRingPosition(meshId, id);
    positions.set(key, position);
  }
  return position;
}

/** @type {Map<string, WeakRef<CoreRing>>} */
const rings = new Map();
const forget = new FinalizationRegistry((key) => {
  if (rings.get(key)?.deref() === undefined) rings.delete(key);
});

/** Counters: rings reused, and rings built. */
export const ringCache = {reused: 0, built: 0};

/**
 * Order-independent key of a peer set: count, cluster size, and sums and xor
 * of the 48-bit positions split in halves (exact in doubles).
 * @param {readonly {id: string, position: number}[]} members
 */
function keyOf(members, clusterSize) {
  let low = 0;
  let high = 0;
  let mix = 0;
  for (const {position} of members) {
    const lo = position % 0x1000000;
    low += lo;
    high += (position - lo) / 0x1000000;
    mix ^= (lo * 0x9e3779b1) | 0;
  }
  return `${members.length}:${clusterSize}:${low}:${high}:${mix}`;
}

/** The same members, position for position? */
function holdsExactly(ring, members) {
  if (ring.size !== members.length) return false;
  for (const member of members) if (!ring.has(member.id)) return false;
  return true;
}

/** core's Ring, shared between nodes that hold the same live peer set. */
export class Ring extends CoreRing {
  /**
   * @param {readonly {id: string, position: number}[]} members
   * @param {number} clusterSize
   */
  constructor(members, clusterSize) {
    const key = keyOf(members, clusterSize);
    const held = rings.get(key)?.deref();
    if (held !== undefined && holdsExactly(held, members)) {
      ringCache.reused++;
      // A constructor may return another object: the caller gets the shared, immutable ring.
      return held;
    }
    super(members, clusterSize);
    ringCache.built++;
    rings.set(key, new WeakRef(this));
    forget.register(this, key);
  }
}
