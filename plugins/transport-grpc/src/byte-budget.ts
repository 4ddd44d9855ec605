/**
 * Bytes in flight: requests a peer has sent that this daemon holds and has not
 * finished handling. Each connection may hold `perConnection` bytes and all of
 * them together `total`; a request that would go over either is refused (the
 * caller answers RESOURCE_EXHAUSTED), so what peers can make this daemon hold
 * is bounded whatever they send and however many streams they open.
 */

/** Which cap a refused request would have gone over. */
export type BudgetRefusal = 'connection' | 'daemon';

/** Bytes held per connection and in all, with caps on both. */
export class ByteBudget {
  private readonly perConnection: number;
  private readonly total: number;
  private held = 0;
  private readonly byConnection = new Map<string, number>();

  constructor(limits: {perConnection: number; total: number}) {
    this.perConnection = limits.perConnection;
    this.total = limits.total;
  }

  /**
   * Reserve `bytes` for a request on `connection` (the peer's `ip:port`).
   * @returns a release function to call once the request is handled (calling it twice is harmless), or the cap that refused it.
   */
  acquire(connection: string, bytes: number): {release: () => void} | {refused: BudgetRefusal} {
    const mine = this.byConnection.get(connection) ?? 0;
    if (mine + bytes > this.perConnection) return {refused: 'connection'};
    if (this.held + bytes > this.total) return {refused: 'daemon'};
    this.byConnection.set(connection, mine + bytes);
    this.held += bytes;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.held -= bytes;
        const left = (this.byConnection.get(connection) ?? 0) - bytes;
        if (left > 0) this.byConnection.set(connection, left);
        else this.byConnection.delete(connection);
      },
    };
  }

  /** Bytes held now, in all. */
  inFlight(): number {
    return this.held;
  }
}
