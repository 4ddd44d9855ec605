/**
 * A synchronous model of routing across meshes for the routing tests: nodes
 * in several meshes, each with its flags per mesh, records holding their
 * advertisements, and rounds in which every live node recomputes its
 * selection and advertisements from the records of the previous round (the
 * way gossip delivers them, all at once). The functions under test are the
 * real ones (selectRoutes, advertisedRoutes, planWireGuard).
 */
import {createHash} from 'node:crypto';
import {advertisedRoutes, meshPrefix, nodeAddress, sameAdverts, selectRoutes, type NodeRecord, type Role, type RouteAdvert, type RoutingMesh, type SelectedRoute} from '../src/index.js';

/** A node's membership of one mesh. */
export interface Membership {
  advertiseRoutes?: boolean;
  advertiseDefault?: boolean;
  role?: Role;
}

/** A well-formed mesh id for index `n` (26 characters of a-z / 2-7). */
export function simMeshId(n: number): string {
  let letters = '';
  for (let rest = n; letters === '' || rest > 0; rest = Math.floor(rest / 26)) letters = String.fromCharCode(97 + (rest % 26)) + letters;
  return `mesh${letters}`.padEnd(26, '2');
}

/** A node id (32 hex digits) for name `name`. */
export function simNodeId(name: string): string {
  return createHash('sha256').update(`node ${name}`).digest('hex').slice(0, 32);
}

/** A record of `id` in `meshId` with the given role and routes (not signed: routing never verifies). */
export function simRecord(meshId: string, id: string, role: Role, routes: RouteAdvert[] = []): NodeRecord {
  const key = createHash('sha256').update(`key ${id}`).digest('base64');
  const peer = role === 'peer';
  return {
    kind: 'record',
    meshId,
    id,
    signingKey: key,
    wgPublicKey: key,
    address: nodeAddress(meshId, id),
    addressCounter: 0,
    role,
    controlEndpoint: peer ? `[2001:db8::${id.slice(0, 4)}]:4000` : null,
    wgEndpoint: peer ? `[2001:db8::${id.slice(0, 4)}]:51820` : null,
    alias: null,
    description: null,
    services: {},
    routes,
    version: 1,
    createdAt: 0,
    updatedAt: 0,
  };
}

/** The network of the model. */
export class RoutingSim {
  /** Memberships per node name, per mesh id. */
  readonly nodes = new Map<string, Map<string, Membership>>();
  /** Names of nodes that are down (their records are not live anywhere). */
  readonly down = new Set<string>();
  /** Current advertisements per node name, per mesh id. */
  private readonly adverts = new Map<string, Map<string, RouteAdvert[]>>();

  /** Add node `name` to meshes (replaces its memberships). */
  add(name: string, memberships: Record<string, Membership>): this {
    this.nodes.set(name, new Map(Object.entries(memberships)));
    this.adverts.set(name, new Map(Object.keys(memberships).map((meshId) => [meshId, []])));
    return this;
  }

  /** Remove node `name` for good (it left every mesh). */
  remove(name: string): void {
    this.nodes.delete(name);
    this.adverts.delete(name);
    this.down.delete(name);
  }

  /** Every mesh id some node is in. */
  meshIds(): string[] {
    return [...new Set([...this.nodes.values()].flatMap((memberships) => [...memberships.keys()]))].sort();
  }

  /** The live records of `meshId`. */
  live(meshId: string): NodeRecord[] {
    const records: NodeRecord[] = [];
    for (const [name, memberships] of this.nodes) {
      const membership = memberships.get(meshId);
      if (!membership || this.down.has(name)) continue;
      records.push(simRecord(meshId, simNodeId(name), membership.role ?? 'peer', this.adverts.get(name)?.get(meshId) ?? []));
    }
    return records;
  }

  /** How node `name` sees its meshes. */
  routingMeshes(name: string): RoutingMesh[] {
    return [...(this.nodes.get(name) ?? new Map<string, Membership>())].map(([meshId, membership]) => ({
      meshId,
      advertiseRoutes: membership.advertiseRoutes ?? false,
      advertiseDefault: membership.advertiseDefault ?? false,
      live: this.live(meshId),
    }));
  }

  /** Node `name`'s selection now. */
  selection(name: string): SelectedRoute[] {
    return selectRoutes({selfId: simNodeId(name), meshes: this.routingMeshes(name)}).routes;
  }

  /** Node `name`'s route to `destination`, if any. */
  route(name: string, destination: string): SelectedRoute | undefined {
    return this.selection(name).find((route) => route.destination === destination);
  }

  /** What node `name` advertises into `meshId`. */
  advertised(name: string, meshId: string): RouteAdvert[] {
    return this.adverts.get(name)?.get(meshId) ?? [];
  }

  /** One round: every live node recomputes from the current records, then all write at once. True when something changed. */
  round(): boolean {
    const next = new Map<string, Map<string, RouteAdvert[]>>();
    for (const name of this.nodes.keys()) {
      if (this.down.has(name)) continue;
      const meshes = this.routingMeshes(name);
      next.set(name, advertisedRoutes({meshes, selected: selectRoutes({selfId: simNodeId(name), meshes}).routes}));
    }
    let changed = false;
    for (const [name, perMesh] of next) {
      const current = this.adverts.get(name)!;
      for (const [meshId, adverts] of perMesh) {
        if (!sameAdverts(current.get(meshId) ?? [], adverts)) changed = true;
        current.set(meshId, adverts);
      }
    }
    return changed;
  }

  /** Run rounds until nothing changes; resolves with the rounds that changed something. Throws after `maxRounds`. */
  converge(maxRounds = 64): number {
    for (let rounds = 0; rounds <= maxRounds; rounds++) if (!this.round()) return rounds;
    throw new Error(`no convergence within ${maxRounds} rounds`);
  }

  /** The node names whose record in `meshId` has id `id`. */
  nameOf(id: string): string {
    const name = [...this.nodes.keys()].find((candidate) => simNodeId(candidate) === id);
    if (name === undefined) throw new Error(`no node with id ${id}`);
    return name;
  }

  /** True when node `name` delivers `destination` itself: it is in the origin mesh, or it is an exit for ::/0. */
  owns(name: string, destination: string): boolean {
    const memberships = this.nodes.get(name)!;
    if (destination === '::/0') return [...memberships.values()].some((m) => m.advertiseRoutes && m.advertiseDefault);
    return [...memberships.keys()].some((meshId) => meshPrefix(meshId) === destination);
  }

  /**
   * Follow `destination` from node `name` gateway by gateway until a node
   * that owns it. Returns the nodes visited (start first) and how it ended.
   */
  walk(name: string, destination: string): {visited: string[]; end: 'delivered' | 'loop' | 'blackhole'} {
    const visited = [name];
    let current = name;
    for (;;) {
      const route = this.route(current, destination);
      if (!route) return {visited, end: 'blackhole'};
      const next = this.nameOf(route.gatewayId);
      if (visited.includes(next)) return {visited: [...visited, next], end: 'loop'};
      visited.push(next);
      if (this.owns(next, destination)) return {visited, end: 'delivered'};
      current = next;
    }
  }
}
