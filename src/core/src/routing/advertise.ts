/**
 * Route advertisement: what this node writes into the `routes` of its record
 * in each of its meshes. Pure; the daemon re-publishes a record only when this
 * result differs from what the record already says, since every record change
 * is gossiped to every member.
 *
 * For every mesh L where this node has `advertiseRoutes`, and every other mesh
 * N it is in:
 * - L's /64 with path [L];
 * - every route this node *uses* through L (its own selection, see
 *   select.ts), with L appended to the path. Exporting only routes in use
 *   keeps what a node advertises equal to how it forwards, which is what
 *   makes a converged network loop-free (each hop's path is one shorter);
 * - never a route whose path already crossed N, and never N's own prefix.
 * For every mesh N where it has `advertiseRoutes` and `advertiseDefault`:
 * `::/0` with an empty path (this node is the origin: an exit).
 */
import {meshPrefix} from '../addressing/address.js';
import {RECORD_LIMITS, type RouteAdvert} from '../model/record.js';
import {DEFAULT_DESTINATION, compareAdverts} from './adverts.js';
import type {RoutingMesh, SelectedRoute} from './select.js';

/** Inputs of {@link advertisedRoutes}. */
export interface AdvertiseInput {
  /** Every mesh this node is in (only ids and flags are read). */
  readonly meshes: readonly Pick<RoutingMesh, 'meshId' | 'advertiseRoutes' | 'advertiseDefault'>[];
  /** This node's selection (select.ts). */
  readonly selected: readonly SelectedRoute[];
}

/**
 * The advertisements of this node per mesh id (every mesh has an entry, empty
 * when it advertises nothing there), each list sorted, at most one route per
 * destination, within the record limits (longest paths dropped first).
 */
export function advertisedRoutes(input: AdvertiseInput): Map<string, RouteAdvert[]> {
  const exported = input.meshes.filter((mesh) => mesh.advertiseRoutes);
  const result = new Map<string, RouteAdvert[]>();
  for (const target of input.meshes) {
    const byDestination = new Map<string, RouteAdvert>();
    const offer = (advert: RouteAdvert): void => {
      if (advert.path.includes(target.meshId) || advert.destination === meshPrefix(target.meshId)) return;
      if (advert.path.length > RECORD_LIMITS.routePath) return;
      const current = byDestination.get(advert.destination);
      if (!current || advert.path.length < current.path.length || (advert.path.length === current.path.length && compareAdverts(advert, current) < 0)) {
        byDestination.set(advert.destination, advert);
      }
    };
    if (target.advertiseRoutes && target.advertiseDefault) offer({destination: DEFAULT_DESTINATION, path: []});
    for (const source of exported) {
      if (source.meshId === target.meshId) continue;
      offer({destination: meshPrefix(source.meshId), path: [source.meshId]});
      for (const route of input.selected) {
        if (route.meshId === source.meshId) offer({destination: route.destination, path: [...route.path, source.meshId]});
      }
    }
    const adverts = [...byDestination.values()].sort((a, b) => a.path.length - b.path.length || compareAdverts(a, b)).slice(0, RECORD_LIMITS.routes);
    result.set(target.meshId, adverts.sort(compareAdverts));
  }
  return result;
}
