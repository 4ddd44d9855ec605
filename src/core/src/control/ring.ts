/**
 * The hash ring of a mesh's live, dialable peers, cut into clusters of
 * consecutive peers. Every node computes the same ring from the same view, so
 * it serves three purposes:
 *
 * - monitors: a node's heartbeats go to the `MONITORS` peers that follow its
 *   position (a client's position is hashed the same way, so its monitors and
 *   home peer come from consistent hashing too);
 * - gossip partners: chosen inside the own cluster, with an occasional partner
 *   from elsewhere, so a node of a large mesh talks to ~clusterSize others
 *   instead of everyone;
 * - the ring successor as a fixed push target, which makes an eager flood cover
 *   every node (random fan-out alone misses about e^-branch of them).
 *
 * Positions hash the mesh id with the node id, so the rings of different meshes
 * differ and one node is not everyone's monitor in every mesh.
 */
import {createHash} from 'node:crypto';
import type {RandomSource} from '../contracts/clock.js';

/** A node's position on the ring of `meshId`: 48 bits of SHA-256(meshId, id). */
export function ringPosition(meshId: string, id: string): number {
  return createHash('sha256').update(meshId).update('\0').update(id).digest().readUIntBE(0, 6);
}

/** A peer on the ring. */
export interface RingMember {
  readonly id: string;
  readonly position: number;
}

/** An immutable ring; rebuild it when the live peer set changes. */
export class Ring {
  private readonly members: RingMember[];
  private readonly indexById = new Map<string, number>();
  private readonly clusterCount: number;

  /** @param members the live dialable peers (any order); @param clusterSize peers per cluster */
  constructor(members: readonly RingMember[], clusterSize: number) {
    this.members = [...members].sort((a, b) => a.position - b.position || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.members.forEach((member, index) => this.indexById.set(member.id, index));
    this.clusterCount = Math.max(1, Math.round(this.members.length / Math.max(1, clusterSize)));
  }

  /** Number of peers on the ring. */
  get size(): number {
    return this.members.length;
  }

  /** Peer ids in ring order. */
  ids(): string[] {
    return this.members.map((member) => member.id);
  }

  /** True when `id` is on the ring. */
  has(id: string): boolean {
    return this.indexById.has(id);
  }

  /** Index of the first peer at or after `position` (wrapping to 0). */
  private indexAtOrAfter(position: number): number {
    let lo = 0;
    let hi = this.members.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.members[mid]!.position < position) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.members.length ? 0 : lo;
  }

  /** The ring index a node at `position` (with id `id`) belongs to: its own, or the next peer's. */
  private anchor(id: string, position: number): number {
    return this.indexById.get(id) ?? this.indexAtOrAfter(position);
  }

  /**
   * Up to `count` distinct peers following node `id` (at `position`) clockwise,
   * never `id` itself. For a node not on the ring (a client) the first is the
   * peer at or after its position: its home peer.
   */
  successors(id: string, position: number, count: number): string[] {
    const n = this.members.length;
    if (n === 0) return [];
    const own = this.indexById.get(id);
    const start = own === undefined ? this.indexAtOrAfter(position) : own + 1;
    const out: string[] = [];
    for (let step = 0; step < n && out.length < count; step++) {
      const member = this.members[(start + step) % n]!;
      if (member.id !== id) out.push(member.id);
    }
    return out;
  }

  /** Up to `count` distinct peers preceding peer `id` counter-clockwise (empty when `id` is not on the ring). */
  predecessors(id: string, count: number): string[] {
    const own = this.indexById.get(id);
    const n = this.members.length;
    if (own === undefined) return [];
    const out: string[] = [];
    for (let step = 1; step < n && out.length < count; step++) out.push(this.members[(own - step + n) % n]!.id);
    return out;
  }

  /** [start, end) ring indices of the cluster containing ring index `index`. */
  private clusterRange(index: number): [number, number] {
    const n = this.members.length;
    const cluster = Math.floor((index * this.clusterCount) / n);
    // Inverse of floor(i * c / n): the smallest i with floor(i * c / n) >= cluster.
    const start = Math.ceil((cluster * n) / this.clusterCount);
    const end = Math.ceil(((cluster + 1) * n) / this.clusterCount);
    return [start, end];
  }

  /** The peers of the cluster node `id` (at `position`) belongs to, itself excluded. O(clusterSize). */
  clusterOf(id: string, position: number): string[] {
    if (this.members.length === 0) return [];
    const [start, end] = this.clusterRange(this.anchor(id, position));
    const out: string[] = [];
    for (let i = start; i < end; i++) if (this.members[i]!.id !== id) out.push(this.members[i]!.id);
    return out;
  }

  /**
   * Choose up to `count` distinct gossip partners for node `id` at `position`:
   * uniformly from its own cluster, except that with probability
   * `interClusterChance` (or always, with `forceOutside`) the last one comes
   * from another cluster. Never `id`, never an id in `exclude`. O(clusterSize).
   */
  pick(
    id: string,
    position: number,
    count: number,
    random: RandomSource,
    options: {exclude?: ReadonlySet<string>; interClusterChance: number; forceOutside?: boolean},
  ): string[] {
    const n = this.members.length;
    if (n === 0 || count <= 0) return [];
    const excluded = (candidate: string): boolean => candidate === id || (options.exclude?.has(candidate) ?? false);
    const [start, end] = this.clusterRange(this.anchor(id, position));
    const inside: string[] = [];
    for (let i = start; i < end; i++) {
      const candidate = this.members[i]!.id;
      if (!excluded(candidate)) inside.push(candidate);
    }
    const chosen = sample(inside, count, random);
    const outsideCount = n - (end - start);
    const wantOutside = outsideCount > 0 && (options.forceOutside === true || random.float() < options.interClusterChance);
    const taken = new Set(chosen);
    const fromOutside = (): string | undefined => {
      // A few random draws find an outside peer in O(1) expected; the scan is the fallback.
      for (let attempt = 0; attempt < 8; attempt++) {
        const candidate = this.members[(end + Math.floor(random.float() * outsideCount)) % n]!.id;
        if (!excluded(candidate) && !taken.has(candidate)) return candidate;
      }
      for (let step = 0; step < outsideCount; step++) {
        const candidate = this.members[(end + step) % n]!.id;
        if (!excluded(candidate) && !taken.has(candidate)) return candidate;
      }
      return undefined;
    };
    if (wantOutside) {
      const outside = fromOutside();
      if (outside !== undefined) {
        if (chosen.length >= count) taken.delete(chosen.pop()!);
        chosen.push(outside);
        taken.add(outside);
      }
    }
    // A small cluster (or many exclusions) is topped up from the rest of the ring.
    while (chosen.length < count && outsideCount > 0) {
      const extra = fromOutside();
      if (extra === undefined) break;
      chosen.push(extra);
      taken.add(extra);
    }
    return chosen;
  }
}

/** Up to `count` distinct elements of `items`, uniformly (partial Fisher-Yates on a copy). */
export function sample<T>(items: readonly T[], count: number, random: RandomSource): T[] {
  const pool = [...items];
  const out: T[] = [];
  for (let i = 0; i < pool.length && out.length < count; i++) {
    const j = i + Math.floor(random.float() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    out.push(pool[i]!);
  }
  return out;
}
