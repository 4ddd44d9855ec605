/**
 * The declarative half of a plugin's announcement: the `wgmesh` field of its
 * package.json, read without loading any of the plugin's code (so listing
 * backends and explaining config errors stay cheap, and work even when the
 * plugin's code is broken). The field comes from a third party: it is
 * validated here and never trusted.
 */
import {z} from 'zod';
import {BACKEND_KINDS, type BackendKind} from '../contracts/backend.js';

/**
 * Backend names users type after `--store`, `--transport` and `--wg`: lower-case
 * letters, digits and dashes, starting with a letter, at most 32 characters.
 */
export const BACKEND_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** Longest description shown by `wgmesh backends`. */
export const MAX_BACKEND_DESCRIPTION = 200;

/** No control characters: descriptions are printed on users' terminals. */
// eslint-disable-next-line no-control-regex
const PRINTABLE = /^[^\u0000-\u001f\u007f-\u009f]*$/;

/** One backend a plugin announces in its package.json. */
export const backendDeclarationSchema = z.strictObject({
  kind: z.enum(BACKEND_KINDS),
  name: z.string().regex(BACKEND_NAME_PATTERN, 'must be lower-case letters, digits and dashes, starting with a letter (at most 32)'),
  description: z.string().max(MAX_BACKEND_DESCRIPTION).regex(PRINTABLE, 'must not contain control characters').optional(),
});

/** One backend a plugin announces in its package.json. */
export interface BackendDeclaration {
  /** The kind of backend. */
  kind: BackendKind;
  /** The name users select it by. */
  name: string;
  /** One line for `wgmesh backends`, shown even when the plugin's code cannot load. */
  description?: string | undefined;
}

/**
 * The `wgmesh` field of a plugin's package.json:
 * `{"backends": [{"kind": "store", "name": "twophase", "description": "..."}]}`.
 * Unknown keys are allowed at the top level so later versions can add some.
 */
export const pluginManifestSchema = z.looseObject({
  backends: z.array(backendDeclarationSchema).max(64),
});

/** The outcome of reading one plugin's `wgmesh` field. */
export type DeclarationReadResult = {ok: true; declarations: BackendDeclaration[]} | {ok: false; problem: string};

/**
 * Read the `wgmesh` field of a plugin's package.json. `undefined` (no field)
 * means the plugin provides no backends, which is fine (e.g. plugin-plugins).
 */
export function readBackendDeclarations(field: unknown): DeclarationReadResult {
  if (field === undefined) return {ok: true, declarations: []};
  const parsed = pluginManifestSchema.safeParse(field);
  if (parsed.success) return {ok: true, declarations: parsed.data.backends};
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? `wgmesh.${issue.path.join('.')}` : 'wgmesh';
  return {ok: false, problem: `${where}: ${issue?.message ?? 'invalid'}`};
}
