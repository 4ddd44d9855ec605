/** Helpers of the store compliance suite, some for store tests too: a sync session run to its end or step by step, and a store's state as comparable text. */
import {compareEntries} from '@wgmesh/core';
import type {MeshStore, SyncSession, SyncStats, VerifiedEntry} from '@wgmesh/core';

/** Garbage-collection horizon of the stores the suite opens (ms). */
export const COMPLIANCE_GC_HORIZON_MS = 3_600_000;
/** Allowed clock skew of the stores the suite opens (ms). */
export const COMPLIANCE_CLOCK_SKEW_MS = 60_000;

/** What {@link runSync} reports. */
export interface SyncRun {
  /** The initiator's counters. */
  initiator: SyncStats;
  /** The responder's counters. */
  responder: SyncStats;
  /** Messages exchanged, both directions. */
  messages: number;
  /** Bytes of the largest message, either direction. */
  largestMessage: number;
}

/**
 * Run one complete sync session between two stores in memory, as a transport
 * would: `initiator` starts, replies go back and forth until one side has
 * nothing more to say. Fails if the exchange does not end within `maxMessages`
 * (the default leaves room for a large difference, which a store carries a
 * few dozen entries a message).
 */
export function runSync(initiator: MeshStore, responder: MeshStore, maxMessages = 10_000): SyncRun {
  const ends = {initiator: initiator.openSync('initiator'), responder: responder.openSync('responder')};
  let message: Uint8Array | null = ends.initiator.start();
  let to: 'initiator' | 'responder' = 'responder';
  let messages = 0;
  let largestMessage = 0;
  while (message !== null) {
    if (++messages > maxMessages) throw new Error(`sync session did not end within ${maxMessages} messages`);
    largestMessage = Math.max(largestMessage, message.byteLength);
    message = ends[to].receive(message);
    to = to === 'responder' ? 'initiator' : 'responder';
  }
  if (!ends.initiator.done || !ends.responder.done) throw new Error('sync session ended with a side still expecting messages');
  return {initiator: ends.initiator.stats(), responder: ends.responder.stats(), messages, largestMessage};
}

/** The state of a store as comparable text: `id:hash` per entry, sorted. */
export function storeState(store: MeshStore): string[] {
  return store.entries().map(entryKey).sort();
}

/** What a store must hold after merging `entries` (in any order, any number of times): the winner per node. */
export function expectedState(entries: readonly VerifiedEntry[]): string[] {
  const winners = new Map<string, VerifiedEntry>();
  for (const entry of entries) {
    const held = winners.get(entry.value.id);
    if (held === undefined || compareEntries(entry, held) > 0) winners.set(entry.value.id, entry);
  }
  return [...winners.values()].map(entryKey).sort();
}

function entryKey(entry: VerifiedEntry): string {
  return `${entry.value.id}:${Buffer.from(entry.hash).toString('hex')}`;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** One sync session in flight, advanced one message at a time (for interleaving tests). */
export class InFlightSync {
  private readonly sessions: {initiator: SyncSession; responder: SyncSession};
  private pending: {to: 'initiator' | 'responder'; bytes: Uint8Array} | null;
  private last: {to: 'initiator' | 'responder'; bytes: Uint8Array} | null = null;

  constructor(
    readonly stores: {initiator: MeshStore; responder: MeshStore},
  ) {
    this.sessions = {initiator: stores.initiator.openSync('initiator'), responder: stores.responder.openSync('responder')};
    this.pending = {to: 'responder', bytes: this.sessions.initiator.start()};
  }

  get finished(): boolean {
    return this.pending === null;
  }

  /** Deliver the next message. */
  step(): void {
    if (this.pending === null) return;
    const {to, bytes} = this.pending;
    this.last = this.pending;
    const reply = this.sessions[to].receive(bytes);
    this.pending = reply === null ? null : {to: to === 'responder' ? 'initiator' : 'responder', bytes: reply};
  }

  /**
   * Deliver the last delivered message again. A store may refuse it (DecodeError) or
   * accept it; either way its state must not be damaged. Returns the store it went to.
   */
  replay(): MeshStore | undefined {
    if (this.last === null) return undefined;
    const {to, bytes} = this.last;
    this.sessions[to].receive(bytes);
    return this.stores[to];
  }
}

