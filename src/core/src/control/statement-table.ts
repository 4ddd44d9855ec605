/**
 * The winning membership statement per node, with a digest so that two nodes
 * can tell in one small message whether their tables agree. In the steady state
 * the table is empty (nobody was ever accused), so is the digest.
 */
import {createHash} from 'node:crypto';
import {compareRanks, rankOf, type StatementRank, type VerifiedStatement, type WireStatement} from './statements.js';

/** One line of a table summary: node id and the rank of the statement held for it. */
export type StatementSummary = readonly [id: string, i: number, dead: boolean, h: Uint8Array];

/** Winning statements by node id. */
export class StatementTable {
  private readonly held = new Map<string, VerifiedStatement>();
  /** The held statements by signature, to spot copies without verifying them again. */
  private readonly bySignature = new Map<string, VerifiedStatement>();
  private cachedDigest: Uint8Array | undefined;

  /** Number of nodes with a statement. */
  get size(): number {
    return this.held.size;
  }

  /** The statement held about `id`. */
  get(id: string): VerifiedStatement | undefined {
    return this.held.get(id);
  }

  /**
   * The held statement that `wire` is a byte-identical copy of, if any. During a
   * heal every node receives each statement from several peers; only the first
   * copy needs its Ed25519 signature checked.
   */
  heldCopy(wire: WireStatement): VerifiedStatement | undefined {
    const held = this.bySignature.get(signatureKey(wire.s));
    return held && Buffer.compare(held.body, wire.b) === 0 ? held : undefined;
  }

  /** Every held statement. */
  values(): IterableIterator<VerifiedStatement> {
    return this.held.values();
  }

  /** Keep `statement` if it wins over the one held about the same node; true when it did. */
  offer(statement: VerifiedStatement): boolean {
    const current = this.held.get(statement.value.x);
    if (current && compareRanks(rankOf(statement), rankOf(current)) <= 0) return false;
    if (current) this.bySignature.delete(signatureKey(current.signature));
    this.held.set(statement.value.x, statement);
    this.bySignature.set(signatureKey(statement.signature), statement);
    this.cachedDigest = undefined;
    return true;
  }

  /** Forget the statement about `id` (the node left the mesh). */
  delete(id: string): void {
    const current = this.held.get(id);
    if (!current) return;
    this.held.delete(id);
    this.bySignature.delete(signatureKey(current.signature));
    this.cachedDigest = undefined;
  }

  /**
   * Forget every claim signed by `signer` (it left the mesh: its word carries
   * no weight any more). O(held statements): the table holds only nodes ever
   * accused.
   * @returns the ids of the nodes those claims were about
   */
  deleteClaimsBy(signer: string): string[] {
    const subjects: string[] = [];
    for (const statement of this.held.values()) {
      if (statement.value.k === 'dead' && statement.value.by === signer) subjects.push(statement.value.x);
    }
    for (const id of subjects) this.delete(id);
    return subjects;
  }

  /**
   * 16 bytes of SHA-256 over the held statements' hashes in node-id order, or
   * no bytes when empty. Recomputed only after a change; tables are small
   * (nodes ever accused), so sorting them is cheap.
   */
  digest(): Uint8Array {
    if (this.cachedDigest) return this.cachedDigest;
    if (this.held.size === 0) return (this.cachedDigest = new Uint8Array(0));
    const hash = createHash('sha256');
    for (const id of [...this.held.keys()].sort()) hash.update(this.held.get(id)!.hash);
    return (this.cachedDigest = new Uint8Array(hash.digest().subarray(0, 16)));
  }

  /** At most `limit` summary lines (node id order, so repeated rounds cover the same prefix deterministically). */
  summaries(limit: number): StatementSummary[] {
    const out: StatementSummary[] = [];
    for (const id of [...this.held.keys()].sort()) {
      if (out.length >= limit) break;
      const rank = rankOf(this.held.get(id)!);
      out.push([id, rank.i, rank.dead, rank.h]);
    }
    return out;
  }

  /**
   * Compare a peer's summary with this table.
   * @returns `give`: statements held here that win over the peer's (or that it lacks);
   *          `want`: ids for which the peer holds a winning statement.
   */
  diff(theirs: readonly StatementSummary[], limit: number): {give: VerifiedStatement[]; want: string[]} {
    const give: VerifiedStatement[] = [];
    const want: string[] = [];
    const seen = new Set<string>();
    for (const [id, i, dead, h] of theirs) {
      seen.add(id);
      const mine = this.held.get(id);
      const rank: StatementRank = {i, dead, h};
      const order = mine ? compareRanks(rankOf(mine), rank) : -1;
      if (order > 0 && give.length < limit) give.push(mine!);
      else if (order < 0 && want.length < limit) want.push(id);
    }
    for (const [id, statement] of this.held) {
      if (give.length >= limit) break;
      if (!seen.has(id)) give.push(statement);
    }
    return {give, want};
  }
}

function signatureKey(signature: Uint8Array): string {
  return Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('base64');
}
