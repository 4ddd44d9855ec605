/**
 * Invite use limits, decided the same way on every member from the state
 * alone. An invite's holder can redeem it for any number of node keys, and two
 * members may each let a node in with the last use at the same moment; once a
 * member holds all of an invite's redemptions it admits them in order of
 * redemption time, the earliest first, up to the invite's number of uses.
 * Redemptions at the same millisecond that would together cross the limit are
 * all refused: no choice of node key (which is all a redeemer controls besides
 * the time) can win a tie. A redemption dated after the invite was revoked is
 * refused too. Entries of a node admitted directly by an admin are not limited.
 */
import type {EntryBody} from '../model/record.js';
import type {CredentialFacts} from './credential.js';

/** Why the node of a refused entry is not admitted, by node id. */
export type AdmissionRefusals = ReadonlyMap<string, string>;

/** One redemption of an invite, as read from an entry. */
interface Redeemed {
  readonly id: string;
  readonly redeemedAt: number;
}

/**
 * The nodes among `entries` whose invite redemption is not admitted.
 * @param entries every record and tombstone held (tombstones count: a use is used)
 * @param factsOf the credential facts of an entry (memoised by the caller)
 */
export function refusedByInviteLimits(entries: readonly EntryBody[], factsOf: (entry: EntryBody) => CredentialFacts | undefined): AdmissionRefusals {
  const revokedAt = new Map<string, number>();
  const byInvite = new Map<string, {uses: number; redeemed: Redeemed[]}>();
  for (const entry of entries) {
    if (entry.kind === 'revocation') {
      if (entry.target === 'invite') revokedAt.set(entry.id, entry.updatedAt);
      continue;
    }
    const invite = factsOf(entry)?.invite;
    if (!invite) continue;
    const group = byInvite.get(invite.id) ?? {uses: invite.uses, redeemed: []};
    group.redeemed.push({id: entry.id, redeemedAt: invite.redeemedAt});
    byInvite.set(invite.id, group);
  }
  const refused = new Map<string, string>();
  for (const [inviteId, group] of byInvite) {
    const revoked = revokedAt.get(inviteId);
    const inTime = group.redeemed.filter((one) => {
      if (revoked === undefined || one.redeemedAt <= revoked) return true;
      refused.set(one.id, `invite ${inviteId} was revoked before this node redeemed it`);
      return false;
    });
    if (inTime.length <= group.uses) continue;
    inTime.sort((a, b) => a.redeemedAt - b.redeemedAt);
    let admitted = 0;
    for (let start = 0; start < inTime.length; ) {
      let end = start;
      while (end < inTime.length && inTime[end]?.redeemedAt === inTime[start]?.redeemedAt) end++;
      const tie = inTime.slice(start, end);
      if (admitted + tie.length <= group.uses) admitted += tie.length;
      else for (const one of tie) refused.set(one.id, `invite ${inviteId} was used up (${group.uses} use${group.uses === 1 ? '' : 's'}) by nodes that redeemed it earlier`);
      start = end;
    }
  }
  return refused;
}

/**
 * The invite whose use `entry` spends, if any: a record or tombstone of a
 * node that came in with it, or the revocation of such a node (a revoked
 * node's use stays spent, so its invite cannot let the same holder in again).
 */
export function spentInvite(entry: EntryBody, factsOf: (entry: EntryBody) => CredentialFacts | undefined): string | null {
  if (entry.kind === 'revocation') return entry.invite;
  return factsOf(entry)?.invite?.id ?? null;
}
