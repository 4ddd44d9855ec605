/**
 * Results of a pure function of a string, kept by their input. Bounded: the
 * memo is emptied when it holds `limit` entries (inputs that matter come
 * back and are worked out again; a flood of distinct inputs costs no more
 * than `limit` entries).
 */
export class StringMemo {
  private readonly known = new Map<string, string>();
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** The result for `input`: remembered, or `compute()` (a throw is not remembered). */
  get(input: string, compute: () => string): string {
    const known = this.known.get(input);
    if (known !== undefined) return known;
    const result = compute();
    if (this.known.size >= this.limit) this.known.clear();
    this.known.set(input, result);
    return result;
  }
}
