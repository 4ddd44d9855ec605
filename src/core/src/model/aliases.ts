/**
 * Aliases: DNS labels nodes give themselves, and the one rule every node uses
 * to decide who owns an alias that several nodes claim.
 *
 * Aliases are self-declared, so two nodes may claim the same one. The claim
 * made first wins, and on equal times the smaller node id: "first come keeps
 * it", so a node never takes a name that already resolves, which is what
 * operators expect of DNS names. The time of a claim is its record's
 * `createdAt` (the moment the node joined the mesh, kept across its later
 * updates), which the daemon bounds by when it first saw the claim
 * (alias-claims.ts), so that a member cannot win a name by backdating its
 * record.
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

/** The time of a record's alias claim (ms): by default its `createdAt`. */
export type ClaimTime = (record: NodeRecord) => number;

const createdAt: ClaimTime = (record) => record.createdAt;

/**
 * Resolve the aliases of one mesh's live records. Records whose alias is not a
 * valid lower-case label (possible from a misbehaving member: the record schema
 * only caps the length) claim nothing.
 * @param claimTime the time of each claim (the daemon's is bounded by when it saw the claim)
 */
export function resolveAliases(records: Iterable<NodeRecord>, claimTime: ClaimTime = createdAt): AliasResolution {
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
    const times = new Map(list.map((record) => [record, claimTime(record)]));
    list.sort((a, b) => times.get(a)! - times.get(b)! || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    owners.set(alias, list[0]!.id);
    if (list.length > 1) conflicts.set(alias, list.slice(1).map((r) => r.id));
  }
  return {owners, conflicts};
}
