/**
 * Structural checks of untrusted JSON without zod. zod is how wgmesh validates
 * input, but loading it costs a CLI start ~100 ms; the CLI's IPC path (reply
 * envelopes and the results it prints) only needs "is this the shape I am about
 * to dereference", which these few combinators answer. Values are checked, not
 * copied: a value that fits is used as it is (unknown extra keys included).
 *
 * A shape is typed with the exact type it admits, so `object<MeshSummary>({...})`
 * fails to compile when a field is missing, extra or of another type.
 */

/** Why a value does not fit: where (keys and indices from the root) and what. */
export interface ShapeProblem {
  path: (string | number)[];
  message: string;
}

/**
 * A check that a value is a `T`: undefined when it is, else the problem.
 * The phantom member makes shapes invariant in `T`, so a shape of `string`
 * cannot stand where one of `string | null` is expected, nor the reverse.
 */
export type Shape<T> = ((value: unknown) => ShapeProblem | undefined) & {readonly __type?: (value: T) => T};

/** A problem: `message` at `path` (the value itself when empty). */
export function shapeProblem(message: string, ...path: (string | number)[]): ShapeProblem {
  return {path, message};
}

const problem = (message: string): ShapeProblem => shapeProblem(message);

/** A problem found at `key` of the value being checked. */
function under(key: string | number, found: ShapeProblem | undefined): ShapeProblem | undefined {
  return found === undefined ? undefined : {path: [key, ...found.path], message: found.message};
}

/** Anything, absent included (for a value checked later, or not at all). */
export const unknown: Shape<unknown> = () => undefined;

/** Anything but absent: an object field that must be there, whatever its value. */
export const present: Shape<unknown> = (value) => (value === undefined ? problem('required') : undefined);

/** A string of at most `max` characters (at least `min`). */
export function string(min = 0, max = Number.MAX_SAFE_INTEGER): Shape<string> {
  return (value) => {
    if (typeof value !== 'string') return problem('expected a string');
    if (value.length < min) return problem(`expected at least ${min} character(s)`);
    return value.length > max ? problem(`expected at most ${max} characters`) : undefined;
  };
}

/** A finite number. */
export const number: Shape<number> = (value) => (typeof value === 'number' && Number.isFinite(value) ? undefined : problem('expected a number'));

/** An integer from `min` to `max`. */
export function integer(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Shape<number> {
  return (value) => (Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max ? undefined : problem(`expected an integer from ${min} to ${max}`));
}

/** true or false. */
export const boolean: Shape<boolean> = (value) => (typeof value === 'boolean' ? undefined : problem('expected true or false'));

/** Exactly `expected`. */
export function literal<const V extends string | number | boolean>(expected: V): Shape<V> {
  return (value) => (value === expected ? undefined : problem(`expected ${JSON.stringify(expected)}`));
}

/** One of the strings `values`. */
export function oneOf<const V extends string>(values: readonly V[]): Shape<V> {
  return (value) => ((values as readonly unknown[]).includes(value) ? undefined : problem(`expected one of ${values.join(', ')}`));
}

/** Either shape. */
export function either<A, B>(a: Shape<A>, b: Shape<B>): Shape<A | B> {
  return (value) => {
    const first = a(value);
    return first === undefined || b(value) === undefined ? undefined : first;
  };
}

/** `shape` or null. */
export function nullable<T>(shape: Shape<T>): Shape<T | null> {
  return (value) => (value === null ? undefined : shape(value));
}

/** `shape`, or absent (an object field that may be missing). */
export function optional<T>(shape: Shape<T>): Shape<T | undefined> {
  return (value) => (value === undefined ? undefined : shape(value));
}

/** An array whose every item is `item`. */
export function array<T>(item: Shape<T>): Shape<T[]> {
  return (value) => {
    if (!Array.isArray(value)) return problem('expected an array');
    for (const [index, each] of value.entries()) {
      const found = under(index, item(each));
      if (found !== undefined) return found;
    }
    return undefined;
  };
}

/** True for a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object whose own string keys all map to `item`. */
export function record<T>(item: Shape<T>): Shape<Record<string, T>> {
  return (value) => {
    if (!isObject(value)) return problem('expected an object');
    for (const [key, each] of Object.entries(value)) {
      const found = under(key, item(each));
      if (found !== undefined) return found;
    }
    return undefined;
  };
}

/**
 * An object with these fields (other keys are allowed and left alone). A field
 * whose shape admits undefined may be absent; any other must be present.
 */
export function object<T>(fields: {[K in keyof T]-?: Shape<T[K]>}): Shape<T> {
  const entries = Object.entries(fields) as [string, Shape<unknown>][];
  return (value) => {
    if (!isObject(value)) return problem('expected an object');
    for (const [key, shape] of entries) {
      // Own keys only: a key such as "constructor" must not be found on the prototype.
      const found = under(key, Object.hasOwn(value, key) ? shape(value[key]) : shape(undefined) && problem('required'));
      if (found !== undefined) return found;
    }
    return undefined;
  };
}

/** `problem` as one line: `a.0.b: message`, or the message alone at the root. */
export function describeProblem(found: ShapeProblem): string {
  return found.path.length === 0 ? found.message : `${found.path.join('.')}: ${found.message}`;
}
