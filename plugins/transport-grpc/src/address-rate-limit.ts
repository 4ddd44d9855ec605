/**
 * A token bucket per remote address: each address may spend `perSecond`
 * tokens a second, with a burst of as many. Buckets of the addresses seen
 * longest ago are forgotten beyond `maxAddresses` (a forgotten address starts
 * again with a full bucket), so the table is bounded whatever the sources.
 */

/** Everything an {@link AddressRateLimit} needs. */
export interface AddressRateLimitOptions {
  /** Tokens per second (and the burst) of one address. */
  perSecond: number;
  /** Addresses tracked at once. */
  maxAddresses: number;
  /** Milliseconds from any fixed origin. */
  now: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Per-address token buckets. */
export class AddressRateLimit {
  private readonly options: AddressRateLimitOptions;
  /** Address -> bucket, least recently used first. */
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: AddressRateLimitOptions) {
    this.options = options;
  }

  /** Spend one token of `address`: true when it had one, false when it must wait. */
  take(address: string): boolean {
    const {perSecond, maxAddresses, now} = this.options;
    const at = now();
    const bucket = this.buckets.get(address);
    let tokens = perSecond;
    if (bucket) {
      this.buckets.delete(address);
      tokens = Math.min(perSecond, bucket.tokens + ((at - bucket.at) / 1000) * perSecond);
    } else if (this.buckets.size >= maxAddresses) {
      this.buckets.delete(this.buckets.keys().next().value!);
    }
    const allowed = tokens >= 1;
    this.buckets.set(address, {tokens: allowed ? tokens - 1 : tokens, at});
    return allowed;
  }

  /** Addresses tracked now. */
  size(): number {
    return this.buckets.size;
  }
}
