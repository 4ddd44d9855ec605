/**
 * A token bucket per client (the HTTP API keys it by client IP, the gRPC
 * transport's datagram port by source address): each bucket
 * holds up to `burst` tokens and refills at `perSecond`; a request takes one.
 * The number of buckets is bounded: full buckets are forgotten first (they
 * carry no state a new bucket would not), and when every bucket is in use the
 * oldest is dropped, so a flood of source addresses costs bounded memory.
 */
import type {Clock} from '../contracts/clock.js';

/** The settings of a {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Sustained requests per second per client. */
  perSecond: number;
  /** Requests a client may make at once after being idle. */
  burst: number;
  /** Most clients tracked at once. */
  maxClients?: number;
  clock: Pick<Clock, 'now'>;
}

/** What {@link RateLimiter.take} decided. */
export type RateDecision = {allowed: true} | {allowed: false; retryAfterSeconds: number};

interface Bucket {
  tokens: number;
  at: number;
}

const DEFAULT_MAX_CLIENTS = 4096;

/** Token buckets keyed by client. */
export class RateLimiter {
  private readonly options: RateLimiterOptions;
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: RateLimiterOptions) {
    if (!(options.perSecond > 0) || !(options.burst >= 1)) throw new RangeError('a rate limiter needs perSecond > 0 and burst >= 1');
    this.options = options;
  }

  /** Take one token from `client`'s bucket, or say how many seconds until one is there. */
  take(client: string): RateDecision {
    const {perSecond, burst, clock} = this.options;
    const now = clock.now();
    const held = this.buckets.get(client);
    const bucket = held ?? this.admit(client, now);
    bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return {allowed: true};
    }
    return {allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond))};
  }

  /** How many clients are tracked now. */
  get size(): number {
    return this.buckets.size;
  }

  private admit(client: string, now: number): Bucket {
    const max = this.options.maxClients ?? DEFAULT_MAX_CLIENTS;
    if (this.buckets.size >= max) this.evict(now);
    const bucket = {tokens: this.options.burst, at: now};
    this.buckets.set(client, bucket);
    return bucket;
  }

  /** Forget every bucket that has refilled; when none has, the least recently created one. */
  private evict(now: number): void {
    const {perSecond, burst} = this.options;
    for (const [client, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * perSecond >= burst) this.buckets.delete(client);
    }
    if (this.buckets.size >= (this.options.maxClients ?? DEFAULT_MAX_CLIENTS)) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
  }
}
