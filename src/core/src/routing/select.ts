/**
 * Route selection: from the live records of every mesh this node is in, the
 * one gateway this node uses for each destination other meshes advertise.
 * Pure, so every rule is unit- and property-testable:
 *
 * - a candidate is a route some other live member of mesh M advertises in M;
 *   it is ignored when its path crosses a mesh this node is in (that includes
 *   M itself and the origin of a mesh prefix, so a node never routes its own
 *   meshes through a gateway, and a path that would come back is never used);
 * - the shortest path (fewest meshes crossed) wins;
 * - among equal-cost candidates, rendezvous hashing over (this node's id, the
 *   destination, the candidate) picks one: stable across unrelated changes,
 *   and different nodes spread over the gateways (candidates through a mesh
 *   this node exports come first, so a bridge can pass the route on);
 * - an exit (a node advertising `::/0` itself) never uses another exit's
 *   default route: it has its own way out.
 */
import type {NodeRecord, RouteAdvert} from '../model/record.js';
import {DEFAULT_DESTINATION, advertProblem, routeHops} from './adverts.js';
import {pickByRendezvous} from './rendezvous.js';

/** One mesh of this node as routing sees it. */
export interface RoutingMesh {
  /** The mesh id. */
  readonly meshId: string;
  /** This node exports this mesh (its prefix and the routes it uses through it) into its other meshes. */
  readonly advertiseRoutes: boolean;
  /** This node is an exit for this mesh (advertises `::/0` into it); only with {@link advertiseRoutes}. */
  readonly advertiseDefault: boolean;
  /** The live records of the mesh (this node's own is ignored). */
  readonly live: readonly NodeRecord[];
}

/** Inputs of {@link selectRoutes}. */
export interface RoutingInput {
  /** This node's id. */
  readonly selfId: string;
  /** Every mesh this node is in. */
  readonly meshes: readonly RoutingMesh[];
}

/** The route this node uses for one destination. */
export interface SelectedRoute {
  /** Destination prefix, as advertised (canonical). */
  destination: string;
  /** The mesh the gateway advertised it in (traffic leaves through that mesh's interface). */
  meshId: string;
  /** Node id of the gateway that advertised it. */
  gatewayId: string;
  /** The path as the gateway advertised it (origin first). */
  path: string[];
  /** Hop count: meshes crossed beyond `meshId`. */
  hops: number;
}

/** An advertisement dropped because it is malformed (see {@link advertProblem}). */
export interface IgnoredAdvert {
  meshId: string;
  nodeId: string;
  destination: string;
  reason: string;
}

/** What {@link selectRoutes} decided. */
export interface Selection {
  /** One route per destination, sorted by destination. */
  routes: SelectedRoute[];
  /** Malformed advertisements that were skipped (the route manager logs each set once). */
  ignored: IgnoredAdvert[];
}

/** True when this node is an exit in some mesh (advertises `::/0` there). */
export function isExit(meshes: readonly Pick<RoutingMesh, 'advertiseRoutes' | 'advertiseDefault'>[]): boolean {
  return meshes.some((mesh) => mesh.advertiseRoutes && mesh.advertiseDefault);
}

/** The identity of a candidate for hashing: the same gateway may be reachable through two meshes. */
function candidateKey(route: SelectedRoute): string {
  return `${route.meshId}/${route.gatewayId}`;
}

/** Pick this node's gateway for every destination. */
export function selectRoutes(input: RoutingInput): Selection {
  const ownMeshes = new Set(input.meshes.map((mesh) => mesh.meshId));
  const exported = new Set(input.meshes.filter((mesh) => mesh.advertiseRoutes).map((mesh) => mesh.meshId));
  const exit = isExit(input.meshes);
  const ignored: IgnoredAdvert[] = [];
  /** Per destination, per candidate key: the shortest path that candidate offers. */
  const candidates = new Map<string, Map<string, SelectedRoute>>();
  for (const mesh of input.meshes) {
    for (const record of mesh.live) {
      if (record.id === input.selfId) continue;
      for (const advert of record.routes) {
        const problem = advertProblem(advert);
        if (problem !== undefined) {
          ignored.push({meshId: mesh.meshId, nodeId: record.id, destination: advert.destination, reason: problem});
          continue;
        }
        if (exit && advert.destination === DEFAULT_DESTINATION) continue;
        if (advert.path.some((meshId) => ownMeshes.has(meshId))) continue;
        const candidate: SelectedRoute = {destination: advert.destination, meshId: mesh.meshId, gatewayId: record.id, path: [...advert.path], hops: routeHops(advert)};
        const offers = candidates.get(advert.destination) ?? new Map<string, SelectedRoute>();
        candidates.set(advert.destination, offers);
        // One gateway listing a destination twice: keep its shortest path (the same one on every node).
        const existing = offers.get(candidateKey(candidate));
        if (!existing || candidate.hops < existing.hops || (candidate.hops === existing.hops && candidate.path.join(',') < existing.path.join(','))) {
          offers.set(candidateKey(candidate), candidate);
        }
      }
    }
  }
  const routes: SelectedRoute[] = [];
  for (const [destination, offers] of candidates) {
    const all = [...offers.values()];
    const hops = Math.min(...all.map((candidate) => candidate.hops));
    const shortest = all.filter((candidate) => candidate.hops === hops);
    // Among equal paths, one through a mesh this node exports, so the route can be passed on.
    const passable = shortest.filter((candidate) => exported.has(candidate.meshId));
    const chosen = pickByRendezvous(passable.length > 0 ? passable : shortest, candidateKey, input.selfId, destination);
    if (chosen) routes.push(chosen);
  }
  routes.sort((a, b) => (a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0));
  return {routes, ignored};
}
