/** When a WireGuard handshake counts as recent: one rule for `mesh show`, `doctor` and the API's events. */

/** A handshake older than this is not recent: WireGuard re-keys every 2 minutes while traffic flows and drops a session after 180 s without one (REJECT_AFTER_TIME). */
export const HANDSHAKE_FRESH_MS = 180_000;

/** A peer's handshake state: `fresh` (within {@link HANDSHAKE_FRESH_MS}), `stale` (older), `none` (never). */
export type HandshakeState = 'fresh' | 'stale' | 'none';

/** The state of a peer whose latest handshake was at `latestMs` (ms since the epoch; null or 0: none), at time `now`. */
export function handshakeState(latestMs: number | null, now: number): HandshakeState {
  if (latestMs === null || latestMs <= 0) return 'none';
  return now - latestMs <= HANDSHAKE_FRESH_MS ? 'fresh' : 'stale';
}
