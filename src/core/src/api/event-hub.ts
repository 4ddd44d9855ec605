/**
 * The daemon-wide hub of the HTTP API's events: publishers (the meshes, the
 * handshake poller) hand it events, it numbers and stamps them and gives each
 * to every subscriber whose filter matches. Each subscriber has a bounded
 * queue that its stream drains; one that falls `maxQueue` events behind is
 * dropped (its stream ends), never buffered without limit. Each subscription
 * names the most subscribers it may join (the API server's `apiMaxStreams`,
 * which a reload may change).
 */
import {TooManySubscribersError} from '../errors.js';
import type {Clock} from '../contracts/clock.js';
import type {ApiEvent, ApiEventInput, ApiEventType} from './events.js';

/** Why a subscription ended. */
export type SubscriptionEnd = 'closed' | 'slow' | 'rotated' | 'shutdown';

/** One subscriber's view of the hub. */
export interface Subscription {
  /** Events waiting to be sent, oldest first (take them with {@link next}). */
  next(): Promise<ApiEvent | undefined>;
  /** End the subscription (the stream was closed by its client). */
  close(): void;
  /** Why it ended, once it has. */
  readonly ended: SubscriptionEnd | undefined;
}

/** Settings of an {@link EventHub}. */
export interface EventHubOptions {
  clock: Pick<Clock, 'now'>;
  /** Events a subscriber may fall behind before it is dropped. */
  maxQueue: number;
}

class QueueSubscription implements Subscription {
  private readonly queue: ApiEvent[] = [];
  private waiting: ((event: ApiEvent | undefined) => void) | undefined;
  ended: SubscriptionEnd | undefined;

  constructor(
    readonly meshId: string | undefined,
    private readonly maxQueue: number,
    private readonly remove: (subscription: QueueSubscription) => void,
  ) {}

  offer(event: ApiEvent): void {
    if (this.ended !== undefined) return;
    if (this.waiting) {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting(event);
      return;
    }
    if (this.queue.length >= this.maxQueue) {
      this.end('slow');
      return;
    }
    this.queue.push(event);
  }

  next(): Promise<ApiEvent | undefined> {
    const queued = this.queue.shift();
    if (queued !== undefined || this.ended !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  end(reason: SubscriptionEnd): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    this.queue.length = 0;
    this.remove(this);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(undefined);
  }

  close(): void {
    this.end('closed');
  }
}

/** The hub. */
export class EventHub {
  private readonly options: EventHubOptions;
  private readonly subscribers = new Set<QueueSubscription>();
  private lastId = 0;
  private readonly watchers = new Set<(count: number) => void>();

  constructor(options: EventHubOptions) {
    this.options = options;
  }

  /** Number of open subscriptions. */
  get size(): number {
    return this.subscribers.size;
  }

  /**
   * Subscribe to every event, or to those of one mesh (`meshId`), unless
   * `maxSubscribers` are subscribed already.
   * @throws TooManySubscribersError
   */
  subscribe(meshId: string | undefined, maxSubscribers: number): Subscription {
    if (this.subscribers.size >= maxSubscribers) throw new TooManySubscribersError(maxSubscribers);
    const subscription = new QueueSubscription(meshId, this.options.maxQueue, (ended) => {
      if (this.subscribers.delete(ended)) this.counted();
    });
    this.subscribers.add(subscription);
    this.counted();
    return subscription;
  }

  /** Number and stamp `data` as an event of `type` and give it to every matching subscriber. Costs nothing without subscribers. */
  publish<T extends ApiEventType>(type: T, data: ApiEventInput<T>): void {
    if (this.subscribers.size === 0) return;
    const stamped = {...data, at: this.options.clock.now()};
    const event = {id: ++this.lastId, type, data: stamped, json: JSON.stringify(stamped)} as ApiEvent;
    const meshId = (data as {meshId?: string}).meshId;
    for (const subscriber of [...this.subscribers]) {
      if (subscriber.meshId === undefined || subscriber.meshId === meshId) subscriber.offer(event);
    }
  }

  /** End every subscription with `reason` (a token rotation, the server stopping). */
  endAll(reason: SubscriptionEnd): void {
    for (const subscriber of [...this.subscribers]) subscriber.end(reason);
  }

  /** Call `watcher` with the number of subscribers whenever it changes. Returns the unsubscribe function. */
  onSubscriberCount(watcher: (count: number) => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  private counted(): void {
    for (const watcher of this.watchers) watcher(this.subscribers.size);
  }
}
