/**
 * Checking a value a plugin handed us claims to be a backend factory.
 * Third-party plugins carry their own copy of @wgmesh/core, so `instanceof`
 * means nothing across that line: the check is structural, plus the global
 * brand symbol and an exact contract version.
 */
import {BACKEND_API_VERSION, BACKEND_BRAND, BACKEND_KINDS, type BackendFactory, type BackendKind} from '../contracts/backend.js';
import {BACKEND_NAME_PATTERN, MAX_BACKEND_DESCRIPTION} from './declarations.js';

/** The outcome of {@link checkFactory}: the factory, or what is wrong with it (and who it claims to be, when readable). */
export type FactoryCheck =
  | {ok: true; factory: BackendFactory}
  | {ok: false; problem: string; kind?: BackendKind | undefined; name?: string | undefined};

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Check `candidate` structurally; never throws, never calls into it. */
export function checkFactory(candidate: unknown): FactoryCheck {
  if (typeof candidate !== 'object' || candidate === null) {
    return {ok: false, problem: `expected a backend factory object, got ${candidate === null ? 'null' : typeof candidate}`};
  }
  const value = candidate as Record<string | symbol, unknown>;
  const kind = typeof value.kind === 'string' && (BACKEND_KINDS as readonly string[]).includes(value.kind) ? (value.kind as BackendKind) : undefined;
  const name = typeof value.name === 'string' && BACKEND_NAME_PATTERN.test(value.name) ? value.name : undefined;
  const fail = (problem: string): FactoryCheck => ({ok: false, problem, kind, name});
  if (kind === undefined) return fail(`'kind' must be one of ${BACKEND_KINDS.join(', ')} (got ${describe(value.kind)})`);
  if (name === undefined) {
    return fail(`'name' must be lower-case letters, digits and dashes, starting with a letter, at most 32 (got ${describe(value.name)})`);
  }
  if (value[BACKEND_BRAND] !== true) {
    return fail(`${kind} backend '${name}' is not branded as a wgmesh backend factory; build it with defineBackend() from @wgmesh/core`);
  }
  if (typeof value.apiVersion !== 'number' || !Number.isInteger(value.apiVersion)) {
    return fail(`${kind} backend '${name}' has no integer 'apiVersion'`);
  }
  if (value.apiVersion !== BACKEND_API_VERSION) {
    return fail(
      `${kind} backend '${name}' is built for backend API version ${value.apiVersion}, but this wgmesh supports version ${BACKEND_API_VERSION}; ` +
        (value.apiVersion > BACKEND_API_VERSION ? 'upgrade wgmesh' : 'upgrade the plugin'),
    );
  }
  if (typeof value.create !== 'function') return fail(`${kind} backend '${name}' has no 'create' function`);
  const description = value.description;
  if (description !== undefined && (typeof description !== 'string' || description.length > MAX_BACKEND_DESCRIPTION || CONTROL.test(description))) {
    return fail(`${kind} backend '${name}' has an invalid 'description' (a single printable line of at most ${MAX_BACKEND_DESCRIPTION} characters)`);
  }
  return {ok: true, factory: candidate as BackendFactory};
}

/** A short, safe rendering of an untrusted value for an error message. */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (value === null) return 'null';
  return typeof value;
}
