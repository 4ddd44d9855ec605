/**
 * Which members' endpoints get liveness messages by datagram. A datagram
 * request that gets no reply is sent again over the stream at once (see
 * rpc.ts); when the stream then answers, the datagram path to that endpoint
 * is what failed (a firewall that drops UDP but passes TCP, say). After
 * {@link DATAGRAM_PATHS}.failures such failures in a row, the endpoint gets
 * the stream only for a while (a minute, doubling after each further failure
 * to at most ten), then datagrams are tried again; one reply by datagram
 * ends it all. A datagram that failed when the stream failed too says nothing
 * about the path, and counts for nothing.
 */
import type {Clock} from '../contracts/clock.js';

/** When an endpoint's datagram path counts as broken, and for how long it is then left alone. */
export const DATAGRAM_PATHS = {
  /** Consecutive failures (answered by the stream) before the stream alone is used. */
  failures: 3,
  /** First stream-only period (ms). */
  firstWaitMs: 60_000,
  /** Longest stream-only period (ms). */
  maxWaitMs: 600_000,
  /** Endpoints with failures remembered at once; the oldest is forgotten beyond. */
  maxEndpoints: 4096,
} as const;

interface PathState {
  failures: number;
  /** Length of the next stream-only period. */
  waitMs: number;
  /** End of the current stream-only period. */
  until: number;
}

/** Per-endpoint state of the datagram path of one mesh's control plane. */
export class DatagramPaths {
  private readonly clock: Clock;
  private readonly state = new Map<string, PathState>();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** True when a liveness message to `endpoint` may go by datagram now. */
  usable(endpoint: string): boolean {
    const state = this.state.get(endpoint);
    return state === undefined || this.clock.now() >= state.until;
  }

  /** A datagram to `endpoint` was answered (by a reply, or by a request to use the stream). */
  worked(endpoint: string): void {
    this.state.delete(endpoint);
  }

  /** A datagram to `endpoint` got no reply, and the same request over the stream did. */
  failed(endpoint: string): void {
    const state = this.state.get(endpoint) ?? {failures: 0, waitMs: DATAGRAM_PATHS.firstWaitMs, until: -Infinity};
    this.state.delete(endpoint);
    if (this.state.size >= DATAGRAM_PATHS.maxEndpoints) this.state.delete(this.state.keys().next().value!);
    state.failures++;
    if (state.failures >= DATAGRAM_PATHS.failures) {
      state.until = this.clock.now() + state.waitMs;
      state.waitMs = Math.min(2 * state.waitMs, DATAGRAM_PATHS.maxWaitMs);
    }
    this.state.set(endpoint, state);
  }
}
