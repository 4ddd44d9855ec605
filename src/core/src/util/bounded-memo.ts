/**
 * Results of a pure function, kept by their input (a string). Bounded: beyond
 * `limit` entries the least recently used is forgotten, so inputs in use stay
 * and a flood of distinct inputs costs no more than `limit` entries.
 */
export class BoundedMemo<V> {
  /** Input -> result, least recently used first. */
  private readonly known = new Map<string, V>();
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** The result for `input`: remembered, or `compute()` (a throw is not remembered). */
  get(input: string, compute: () => V): V {
    let result = this.known.get(input);
    if (result === undefined) {
      result = compute();
      if (this.known.size >= this.limit) this.known.delete(this.known.keys().next().value as string);
    } else {
      this.known.delete(input);
    }
    this.known.set(input, result);
    return result;
  }
}
