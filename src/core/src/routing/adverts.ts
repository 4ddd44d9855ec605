/**
 * What a route advertisement may say. wgmesh advertises exactly two kinds of
 * destination: a mesh's /64, whose path starts at that mesh, and the default
 * route `::/0` of an exit, whose path starts empty at the exit. A receiver
 * checks both (the prefix must be the one the path's origin derives to), so a
 * member cannot pull other traffic (an underlay prefix, the WireGuard
 * endpoints themselves) into the mesh by advertising it.
 */
import {meshPrefix} from '../addressing/address.js';
import {isMeshId} from '../addressing/mesh-id.js';
import type {RouteAdvert} from '../model/record.js';

/** The destination an exit advertises. */
export const DEFAULT_DESTINATION = '::/0';

/** Hop count of an advertisement: the number of meshes its path crossed. */
export function routeHops(advert: RouteAdvert): number {
  return advert.path.length;
}

/**
 * Why `advert` is not one wgmesh would write, or undefined when it is
 * well-formed: every path element is a mesh id, none twice, and the
 * destination is `::/0` or the /64 of the path's origin.
 */
export function advertProblem(advert: RouteAdvert): string | undefined {
  const {destination, path} = advert;
  if (!path.every(isMeshId)) return 'its path holds something that is not a mesh id';
  if (new Set(path).size !== path.length) return 'its path crosses a mesh twice';
  if (destination === DEFAULT_DESTINATION) return undefined;
  if (path.length === 0) return `only ${DEFAULT_DESTINATION} may have an empty path`;
  if (destination !== meshPrefix(path[0]!)) return `${destination} is not the prefix of mesh ${path[0]}, where its path starts`;
  return undefined;
}

/** Order of advertisement lists in records: by destination, then path (so equal sets compare equal). */
export function compareAdverts(a: RouteAdvert, b: RouteAdvert): number {
  if (a.destination !== b.destination) return a.destination < b.destination ? -1 : 1;
  const left = a.path.join(',');
  const right = b.path.join(',');
  return left === right ? 0 : left < right ? -1 : 1;
}

/** True when two advertisement lists say the same (order ignored). */
export function sameAdverts(a: readonly RouteAdvert[], b: readonly RouteAdvert[]): boolean {
  if (a.length !== b.length) return false;
  const left = [...a].sort(compareAdverts);
  const right = [...b].sort(compareAdverts);
  return left.every((advert, index) => compareAdverts(advert, right[index]!) === 0);
}
