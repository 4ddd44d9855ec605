/** Stores and a hand-driven Automerge peer for the automerge store's own tests. */
import {bytesSchema, decode, encode, type MeshStore, type SyncStats} from '@wgmesh/core';
import {FIXTURE_NOW, recordingLogger, SimulatedClock, type RecordingLogger} from '@wgmesh/testkit';
import {AutomergeStore, DEFAULT_HISTORY_LIMIT, loadAutomerge, type AutomergeApi, type DocHandle} from '@wgmesh/store-automerge';
import {z} from 'zod';
import {PROTOCOL_VERSION} from '../src/protocol.js';

/** Garbage-collection horizon of the stores opened here (ms). */
export const GC_HORIZON_MS = 3_600_000;
/** Allowed clock skew of the stores opened here (ms). */
export const CLOCK_SKEW_MS = 60_000;
/** The time the stores' clocks start at. */
export const START = FIXTURE_NOW + 10_000;

let api: Promise<AutomergeApi> | undefined;

/** Automerge, loaded once per test file. */
export function automerge(): Promise<AutomergeApi> {
  api ??= loadAutomerge();
  return api;
}

/** A store and what it logs. */
export interface OpenedStore {
  store: AutomergeStore;
  logger: RecordingLogger;
  clock: SimulatedClock;
}

/** Open an automerge store for `meshId`. */
export async function openStore(meshId: string, options: {historyLimit?: number; clock?: SimulatedClock} = {}): Promise<OpenedStore> {
  const logger = recordingLogger();
  const clock = options.clock ?? new SimulatedClock(START);
  const store = new AutomergeStore(
    await automerge(),
    {meshId, clock, logger, gcHorizonMs: GC_HORIZON_MS, maxClockSkewMs: CLOCK_SKEW_MS},
    {historyLimit: options.historyLimit ?? DEFAULT_HISTORY_LIMIT},
  );
  return {store, logger, clock};
}

/** One complete sync session as a transport would run it (the compliance kit's). */
export {runSync} from '@wgmesh/testkit/compliance';

/** `id:hash` of every entry held, sorted: equal exactly when two stores hold the same entries. */
export function stateOf(store: MeshStore): string[] {
  return store.entries().map((entry) => `${entry.value.id}:${Buffer.from(entry.hash).toString('hex')}`).sort();
}

const replySchema = z.union([z.object({t: z.literal('equal')}), z.object({t: z.literal('sync'), gen: z.number(), am: bytesSchema.nullable()})]);

/**
 * A peer that speaks the session protocol over a raw Automerge document it
 * writes anything into: what a buggy or hostile member could send, since
 * the store never gets to check what such a peer puts in its document.
 */
export class RawPeer {
  /** The peer's document (write into its `_root` map, then `commit`). */
  readonly doc: DocHandle;

  constructor(
    private readonly api: AutomergeApi,
    private readonly meshId: string,
    private readonly generation = 0,
  ) {
    this.doc = api.create('ee'.repeat(16));
  }

  /** Run one session as initiator against `store`; returns the store side's counters. */
  syncWith(store: MeshStore): SyncStats {
    const session = store.openSync('responder');
    const state = this.api.initSyncState();
    // A digest no store has, so the session is never cut short as "equal".
    const hello = {t: 'hello', v: PROTOCOL_VERSION, mesh: this.meshId, kind: 'automerge', gen: this.generation, digest: new Uint8Array(40).fill(0xff), am: this.doc.generateSyncMessage(state)};
    let out: Uint8Array | null = encode(hello);
    for (let turn = 0; out !== null && turn < 64; turn++) {
      const reply = session.receive(out);
      if (reply === null) break;
      const decoded = decode(reply, replySchema, 'reply');
      if (decoded.t === 'equal') break;
      if (decoded.am !== null) this.doc.receiveSyncMessage(state, decoded.am);
      const next = this.doc.generateSyncMessage(state);
      out = next === null && decoded.am === null ? null : encode({t: 'sync', gen: this.generation, am: next});
    }
    return session.stats();
  }
}
