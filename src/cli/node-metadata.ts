/** What `wgmesh node alias` and `wgmesh node describe` share: the flags, the set-or-clear rule and the report. */
import {InvalidInputError, type NodeSetResult} from '@wgmesh/core/client';
import {Flags} from './oclif.js';
import {meshIdFlag} from './mesh-flags.js';

/** `--mesh` and `--clear`. */
export function nodeMetadataFlags(field: string) {
  return {
    mesh: meshIdFlag({description: 'only this mesh [default: every mesh of this node]'}),
    clear: Flags.boolean({description: `remove the ${field} instead of setting it`}),
  };
}

/**
 * The value to send: `given` (after `normalise`), or null with `--clear`.
 * @throws InvalidInputError when both or neither are given, or the value is empty
 */
export function valueOrClear(given: string | undefined, clear: boolean, field: string, normalise: (value: string) => string = (value) => value): string | null {
  if (clear && given !== undefined) throw new InvalidInputError(`give a new ${field} or --clear, not both`);
  if (clear) return null;
  if (given === undefined) throw new InvalidInputError(`give the ${field}, or --clear to remove it`);
  if (given.trim() === '') throw new InvalidInputError(`the ${field} is empty; to remove it use --clear`);
  return normalise(given);
}

/** The one-line report of a change: what was set (or removed) in which meshes. */
export function describeChange(field: string, value: string | null, result: NodeSetResult): string {
  const where = result.meshIds.length === 1 ? `mesh ${result.meshIds[0]}` : `${result.meshIds.length} meshes (${result.meshIds.join(', ')})`;
  return value === null ? `${field} removed in ${where}` : `${field} set to ${JSON.stringify(value)} in ${where}`;
}
