/**
 * The names the daemon's DNS server answers for, all under one zone:
 * `ALIAS.MESH_ID.wgmesh.` and `ALIAS.wgmesh.`. DNS names are case-insensitive
 * in ASCII only (RFC 4343), so only A-Z are folded; aliases and mesh ids are
 * lower-case by construction, so a folded name compares exactly.
 */

/** The zone the server is authoritative for (without the trailing dot). */
export const DNS_ZONE = 'wgmesh';

/** Where a query name falls inside the zone. */
export type ZoneName =
  /** `wgmesh.` itself. */
  | {kind: 'apex'}
  /** `LABEL.wgmesh.`: an alias unique across this node's meshes, or a mesh id (a name with children only). */
  | {kind: 'single'; label: string}
  /** `ALIAS.MESH_ID.wgmesh.`. */
  | {kind: 'qualified'; alias: string; meshId: string}
  /** Deeper than any name the zone holds. */
  | {kind: 'deep'};

/** Fold A-Z to a-z and leave every other byte as it is (RFC 4343). */
function foldCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * Place a query name (as dns-packet decodes it: labels joined by dots, the
 * root as `.`, a trailing dot allowed) in the zone.
 * @returns null when the name is outside the zone.
 */
export function parseZoneName(name: string): ZoneName | null {
  const labels = foldCase(name).replace(/\.$/, '').split('.');
  if (labels[labels.length - 1] !== DNS_ZONE) return null;
  const inside = labels.slice(0, -1);
  if (inside.length === 0) return {kind: 'apex'};
  if (inside.some((label) => label.length === 0)) return null;
  if (inside.length === 1) return {kind: 'single', label: inside[0]!};
  if (inside.length === 2) return {kind: 'qualified', alias: inside[0]!, meshId: inside[1]!};
  return {kind: 'deep'};
}
