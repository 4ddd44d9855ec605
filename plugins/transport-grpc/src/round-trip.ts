/**
 * How long a member's connection may stay silent before it counts as broken,
 * learnt from its own replies the way TCP sets its retransmission timeout
 * (RFC 6298): the smoothed round trip plus four times its variation, never
 * below a floor. A member whose host is busy answers slowly but steadily; its
 * silence limit grows with its round trips, so a slow member is not taken for
 * a dead path (dropping its connection would cost both hosts a TLS handshake,
 * which a busy host can least afford).
 */
export class RoundTripEstimate {
  private smoothedMs: number | undefined;
  private variationMs = 0;

  /** Take one measured round trip (ms). */
  sample(ms: number): void {
    if (this.smoothedMs === undefined) {
      this.smoothedMs = ms;
      this.variationMs = ms / 2;
      return;
    }
    this.variationMs = 0.75 * this.variationMs + 0.25 * Math.abs(this.smoothedMs - ms);
    this.smoothedMs = 0.875 * this.smoothedMs + 0.125 * ms;
  }

  /** The silence limit: `floorMs` until a round trip was measured, then smoothed + 4 x variation, at least `floorMs`. */
  silenceLimitMs(floorMs: number): number {
    if (this.smoothedMs === undefined) return floorMs;
    return Math.max(floorMs, this.smoothedMs + 4 * this.variationMs);
  }
}
