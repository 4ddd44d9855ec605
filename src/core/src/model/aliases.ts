/**
 * Aliases: DNS labels nodes give themselves, and the one rule every node uses
 * to decide who owns an alias that several nodes claim.
 *
 * Aliases are self-declared, so two nodes may claim the same one. Every replica
 * resolves a conflict from the records alone, so all nodes agree without
 * talking: the claim with the earliest `createdAt` (the moment the node joined
 * the mesh, kept across its later updates) wins, and on equal `createdAt` the
 * smaller node id wins. "First come keeps it" means a node that joins later
 * never takes a name that already resolves, which is what operators expect of
 * DNS names.
 */
import {InvalidInputError} from '../errors.js';
import type {NodeRecord} from './record.js';

/** One DNS label: 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'. */
const ALIAS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** True when `alias` is already a valid, lower-case alias. */
export function isValidAlias(alias: string): boolean {
  return ALIAS_LABEL.test(alias);
}

/**
 * Lower-case a user's alias and check that it is one DNS label.
 * @throws InvalidInputError naming the alias and the rule
 */
export function normaliseAlias(input: string): string {
  const alias = input.trim().toLowerCase();
  if (!isValidAlias(alias)) {
    throw new InvalidInputError(
      `invalid alias "${input}": an alias is one DNS label of 1-63 letters, digits and '-', not starting or ending with '-'`,
    );
  }
  return alias;
}

/** Who owns each alias in one mesh, and who else claimed it. */
export interface AliasResolution {
  /** alias -> id of the node it resolves to. */
  readonly owners: ReadonlyMap<string, string>;
  /** alias -> ids of the nodes whose claim lost, in rule order; only aliases claimed more than once. */
  readonly conflicts: ReadonlyMap<string, readonly string[]>;
}

/** Earliest `createdAt` first, then the smaller node id. */
function claimOrder(a: NodeRecord, b: NodeRecord): number {
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Resolve the aliases of one mesh's live records. Records whose alias is not a
 * valid lower-case label (possible from a misbehaving member: the record schema
 * only caps the length) claim nothing.
 */
export function resolveAliases(records: Iterable<NodeRecord>): AliasResolution {
  const claims = new Map<string, NodeRecord[]>();
  for (const record of records) {
    if (record.alias === null || !isValidAlias(record.alias)) continue;
    const list = claims.get(record.alias);
    if (list === undefined) claims.set(record.alias, [record]);
    else list.push(record);
  }
  const owners = new Map<string, string>();
  const conflicts = new Map<string, string[]>();
  for (const [alias, list] of claims) {
    list.sort(claimOrder);
    owners.set(alias, list[0]!.id);
    if (list.length > 1) conflicts.set(alias, list.slice(1).map((r) => r.id));
  }
  return {owners, conflicts};
}
