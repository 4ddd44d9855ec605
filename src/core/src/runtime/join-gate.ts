/**
 * Who a member serves for one mesh. Members are served; a node that is not
 * one gets nothing but the answer to a join request (`jn`): it proves an
 * invite (its credential: the invite and its redemption for the node's key),
 * and when the invite is in date, not revoked, not used up as far as this
 * member knows, and the redemption is dated by a clock that agrees with this
 * one, the node may fetch the snapshot for a short while ({@link PENDING_JOIN_MS}).
 * Its record, once pushed, makes it a member like any other: a push that
 * carries the sender's own valid record is served to a node this member does
 * not know yet (see {@link JoinGate.introduces}), which is how a new member's
 * record reaches members other than the one it joined through.
 */
import type {Clock} from '../contracts/clock.js';
import type {MeshStore} from '../contracts/store.js';
import {nodeIdFromSigningKey} from '../identity/identity.js';
import {decodeControlRequest, type ControlRequest} from '../control/messages.js';
import {claimedEntryId, credentialFactsOf, verifyEntry} from '../model/entries.js';
import {spentInvite} from '../trust/admission.js';
import {openCredential} from '../trust/credential.js';

/** How long an admitted joiner may fetch the snapshot before its record arrives. */
export const PENDING_JOIN_MS = 60_000;
/** Most joins in progress at once per mesh; more are refused until one finishes. */
export const MAX_PENDING_JOINS = 64;

/** A join request as decoded from the wire. */
export interface JoinRequest {
  /** The joiner's node id (must be the one the transport proved). */
  readonly f: string;
  /** The joiner's signing key. */
  readonly k: string;
  /** The joiner's credential. */
  readonly c: Uint8Array;
}

/** What the gate needs. */
export interface JoinGateDeps {
  readonly meshId: string;
  readonly store: MeshStore;
  readonly clock: Clock;
  readonly maxClockSkewMs: number;
  /** True when `nodeId` has a live, admitted record in the mesh. */
  isMember(nodeId: string): boolean;
}

/** The membership check for inbound requests of one mesh, and the member's side of a join. */
export class JoinGate {
  private readonly pending = new Map<string, {until: number; inviteId: string | null}>();

  constructor(private readonly deps: JoinGateDeps) {}

  /** True when the node proven by the transport may be served: a member, or a joiner admitted a moment ago. */
  admits(nodeId: string | undefined): boolean {
    if (nodeId === undefined) return false;
    if (this.deps.isMember(nodeId)) {
      this.pending.delete(nodeId);
      return true;
    }
    const pending = this.pending.get(nodeId);
    if (pending === undefined) return false;
    if (pending.until > this.deps.clock.now() && this.deps.store.get(nodeId)?.value.kind !== 'revocation') return true;
    this.pending.delete(nodeId);
    return false;
  }

  /**
   * True when `payload` is a push that carries a valid record of the node the
   * transport proved (`provenNodeId`), which is not revoked here: the push of
   * a member this node has not heard of yet. Costs one entry verification for
   * a stranger's push, as a join request does.
   */
  introduces(payload: Uint8Array, provenNodeId: string | undefined): boolean {
    if (provenNodeId === undefined || this.deps.store.get(provenNodeId)?.value.kind === 'revocation') return false;
    let request: ControlRequest;
    try {
      request = decodeControlRequest(payload);
    } catch {
      return false;
    }
    if (request.t !== 'push' || request.f !== provenNodeId) return false;
    const own = request.e?.find((entry) => claimedEntryId(entry) === provenNodeId);
    if (own === undefined) return false;
    try {
      const verified = verifyEntry(own, {meshId: this.deps.meshId, now: this.deps.clock.now(), maxClockSkewMs: this.deps.maxClockSkewMs});
      return verified.value.kind === 'record';
    } catch {
      return false;
    }
  }

  /**
   * Check a join request from the node the transport proved (`provenNodeId`).
   * @returns undefined when the joiner is admitted (it may fetch the snapshot), or why not, in one line
   */
  check(request: JoinRequest, provenNodeId: string | undefined): string | undefined {
    const {meshId, store, clock, maxClockSkewMs} = this.deps;
    const now = clock.now();
    if (provenNodeId === undefined || request.f !== provenNodeId || nodeIdFromSigningKey(request.k) !== request.f) {
      return 'the join request is not from the node the connection proves';
    }
    if (store.get(request.f)?.value.kind === 'revocation') return `node ${request.f} was revoked from mesh ${meshId} and cannot join it again`;
    const facts = openCredential(request.c, meshId, request.k);
    if (typeof facts === 'string') return `not a valid invite for mesh ${meshId}: ${facts}`;
    if (facts.validUntil !== null && facts.validUntil < now) return 'the admin grant behind this invite has expired';
    const invite = facts.invite;
    if (invite === null) return undefined;
    if (now > invite.expiresAt) return `the invite expired at ${new Date(invite.expiresAt).toISOString()}`;
    if (store.get(invite.id)?.value.kind === 'revocation') return 'the invite was revoked by an admin';
    if (Math.abs(invite.redeemedAt - now) > maxClockSkewMs) {
      const off = Math.round((invite.redeemedAt - now) / 1000);
      return `the invite was redeemed at a time ${Math.abs(off)} s ${off > 0 ? 'in the future' : 'in the past'} by this member's clock (more than maxClockSkew allows): check the joining node's clock`;
    }
    const used = this.usesOf(invite.id, request.f);
    if (used >= invite.uses) return `the invite is used up (${used} of ${invite.uses} use${invite.uses === 1 ? '' : 's'})`;
    this.expire(now);
    if (!this.pending.has(request.f) && this.pending.size >= MAX_PENDING_JOINS) return 'too many joins in progress at this member; retry in a minute';
    this.pending.set(request.f, {until: now + PENDING_JOIN_MS, inviteId: invite.id});
    return undefined;
  }

  /** Uses of an invite by nodes other than `except`: entries held (records, tombstones, revocations of nodes it admitted) and joins in progress here. */
  private usesOf(inviteId: string, except: string): number {
    let used = 0;
    for (const {value} of this.deps.store.entries()) {
      if (value.id === except) continue;
      if (spentInvite(value, credentialFactsOf) === inviteId) used++;
    }
    const now = this.deps.clock.now();
    for (const [nodeId, pending] of this.pending) {
      if (nodeId !== except && pending.inviteId === inviteId && pending.until > now && this.deps.store.get(nodeId) === undefined) used++;
    }
    return used;
  }

  private expire(now: number): void {
    for (const [nodeId, pending] of this.pending) if (pending.until <= now) this.pending.delete(nodeId);
  }
}
