/**
 * What `mesh show` adds to each node's own record: facts that need the whole
 * mesh, namely who an alias resolves to (and whether it is contested) and which
 * peer a client is homed on. Pure functions over the live records, using the
 * same rules the rest of the daemon uses (`resolveAliases`, `homePeer`), so the
 * table, the JSON, queries, graphs and DNS can never disagree.
 */
import type {AliasConflictView, MeshShowView, MeshView, NodeRelationsView, NodeView} from '../ipc/methods.js';
import {isValidAlias, resolveAliases, type AliasResolution, type ClaimTime} from '../model/aliases.js';
import type {NodeRecord} from '../model/record.js';
import {homePeer} from '../runtime/wg-plan.js';

/** Relations of any node of one mesh, resolved once from its live records. */
export interface MeshRelations {
  /** The relations of `node` (it need not be among the records: it then claims nothing). */
  of(node: Pick<NodeView, 'id' | 'alias' | 'role'>): NodeRelationsView;
  /** Every contested alias, sorted by alias. */
  readonly conflicts: AliasConflictView[];
}

/** Resolve aliases (claims timed by `claimTime`) and home peers of one mesh from its live records. */
export function meshRelations(records: readonly NodeRecord[], claimTime?: ClaimTime): MeshRelations {
  const resolution: AliasResolution = resolveAliases(records, claimTime);
  const conflicts = [...resolution.conflicts]
    .map(([alias, others]) => ({alias, owner: resolution.owners.get(alias)!, others: [...others]}))
    .sort((a, b) => (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0));
  return {
    conflicts,
    of(node) {
      const claimed = node.alias !== null && isValidAlias(node.alias) ? node.alias : null;
      return {
        aliasOwner: claimed === null ? null : (resolution.owners.get(claimed) ?? null),
        aliasConflict: claimed !== null && resolution.conflicts.has(claimed),
        homePeer: node.role === 'client' ? (homePeer(node.id, records)?.id ?? null) : null,
      };
    },
  };
}

/** `view` with the relations of every node and the mesh's alias conflicts, resolved from `records` (claims timed by `claimTime`). */
export function withRelations(view: MeshView, records: readonly NodeRecord[], claimTime?: ClaimTime): MeshShowView {
  const relations = meshRelations(records, claimTime);
  // Object.assign, not `{...node, ...}`: V8 copies objects of this many fields by spread ten times slower, which at 1,000 members is most of the cost of `mesh show` and of the API's read.
  return {...view, nodes: view.nodes.map((node) => Object.assign({}, node, relations.of(node))), aliasConflicts: relations.conflicts};
}
