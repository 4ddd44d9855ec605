/**
 * When this node first saw each alias claim, so that the alias rule rests on
 * something a member cannot backdate.
 *
 * A record's `createdAt` is the owner's own word. Trusted as it is, a record
 * dated 0 would take any alias on every node. So the time of a claim is the
 * owner's `createdAt`, but never earlier than {@link ALIAS_CLAIM_SLACK_MS}
 * before this node first saw that node claim that alias. A claim reaches
 * every member within a second or two, and members' clocks agree far better
 * than the slack where NTP runs, so honest claims keep the time their owners
 * gave them and every node orders them alike; a backdated claim counts from
 * when it appeared, and so loses to every claim made more than the slack
 * before it. A node that joins learns the times of the claims already in the
 * mesh from the member it joined through (the one it trusts for the snapshot
 * as well), and every node keeps its times across restarts.
 */
import type {Clock} from '../contracts/clock.js';
import {isValidAlias} from './aliases.js';
import type {NodeRecord} from './record.js';

/**
 * How much earlier than its first sighting a claim may date itself: the
 * time a change takes to spread plus the clock differences of members that
 * run NTP, with room to spare. Owners whose clocks are further off keep
 * their claims, timed by when members saw them instead.
 */
export const ALIAS_CLAIM_SLACK_MS = 10_000;

/** One claim as it is saved and sent: node id, alias, first seen (ms on the observer's clock). */
export type AliasClaimLine = readonly [id: string, alias: string, seenAt: number];

/** First sight of the alias claim of each node of one mesh. */
export class AliasClaims {
  private readonly seen = new Map<string, {alias: string; at: number}>();
  private revisionValue = 0;

  /** @param clock this node's clock */
  constructor(private readonly clock: Clock) {}

  /** Grows with every change of the times held, so that a caller saves them only when they changed. */
  get revision(): number {
    return this.revisionValue;
  }

  /** Note the alias `record` claims now (a new claim is dated now; a kept one keeps its date). */
  observe(record: NodeRecord): void {
    if (record.alias === null || !isValidAlias(record.alias)) {
      this.forget(record.id);
      return;
    }
    if (this.seen.get(record.id)?.alias === record.alias) return;
    this.seen.set(record.id, {alias: record.alias, at: this.clock.now()});
    this.revisionValue++;
  }

  /** Forget node `id` (it left). */
  forget(id: string): void {
    if (this.seen.delete(id)) this.revisionValue++;
  }

  /**
   * The time of `record`'s alias claim for the alias rule: its `createdAt`,
   * but no earlier than {@link ALIAS_CLAIM_SLACK_MS} before this node first
   * saw the claim.
   */
  claimTime(record: NodeRecord): number {
    const seen = this.seen.get(record.id);
    if (seen === undefined || seen.alias !== record.alias) return record.createdAt;
    return Math.max(record.createdAt, seen.at - ALIAS_CLAIM_SLACK_MS);
  }

  /** Every claim seen, for saving or for a joining member. */
  lines(): AliasClaimLine[] {
    return [...this.seen].map(([id, {alias, at}]) => [id, alias, at] as const);
  }

  /**
   * Take claim times saved earlier or sent by the member this node joined
   * through, for the claims `records` make now. A time from the future is
   * taken as now; a claim the records do not make is ignored; a claim with
   * no line is dated now, as a claim this node sees for the first time.
   */
  adopt(lines: readonly AliasClaimLine[], records: Iterable<NodeRecord>): void {
    const now = this.clock.now();
    const given = new Map(lines.map(([id, alias, at]) => [id, {alias, at}]));
    this.seen.clear();
    this.revisionValue++;
    for (const record of records) {
      const line = given.get(record.id);
      if (line !== undefined && line.alias === record.alias) this.seen.set(record.id, {alias: line.alias, at: Math.min(line.at, now)});
      else this.observe(record);
    }
  }
}
