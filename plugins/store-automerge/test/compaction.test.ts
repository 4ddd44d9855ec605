/**
 * History compaction: a document whose history passes its bound starts over
 * from a checkpoint, one generation up, and still syncs with replicas that
 * have not compacted, in both directions, without taking the old history back.
 */
import {makeTestNode, testMeshId, wireEntry, type TestNode} from '@wgmesh/testkit';
import {beforeAll, describe, expect, it} from 'vitest';
import {openStore, runSync, stateOf, type OpenedStore} from './helpers.js';

describe('automerge store: history compaction', () => {
  const meshId = testMeshId();
  let nodes: TestNode[];

  beforeAll(() => {
    nodes = Array.from({length: 6}, () => makeTestNode(meshId));
  });

  /** A store holding version 1 of every node's record. */
  async function seeded(historyLimit?: number): Promise<OpenedStore> {
    const opened = await openStore(meshId, {historyLimit});
    opened.store.merge(nodes.map((node) => wireEntry(node.record({version: 1}))));
    return opened;
  }

  /** Write `count` successive versions of node `index`'s record (from version `from`), one merge each. */
  function churn({store}: OpenedStore, index: number, from: number, count: number): void {
    for (let version = from; version < from + count; version++) store.merge([wireEntry(nodes[index]!.record({version, description: `v${version}`}))]);
  }

  it('compacts on its own once the history passes its bound, keeping every entry', async () => {
    const opened = await seeded(100);
    const {store, logger} = opened;
    expect(store.historyBound()).toBe(100);
    churn(opened, 0, 2, 300);
    expect(store.generation).toBeGreaterThanOrEqual(1);
    // Right after a compaction the history is one operation per entry; it is checked every 64 writes.
    expect(store.historyOps()).toBeLessThanOrEqual(store.historyBound() + 64);
    expect(store.get(nodes[0]!.id)?.value.version).toBe(301);
    expect(store.size).toBe(nodes.length);
    expect(logger.lines.some((line) => line.msg === 'automerge store compacted its document')).toBe(true);
  });

  it('keeps the state and the digest across a compaction', async () => {
    const {store} = await seeded();
    const before = {state: stateOf(store), digest: Buffer.from(store.digest()).toString('hex')};
    store.compact();
    expect(store.generation).toBe(1);
    expect(store.historyOps()).toBe(nodes.length);
    expect(stateOf(store)).toEqual(before.state);
    expect(Buffer.from(store.digest()).toString('hex')).toBe(before.digest);
  });

  for (const direction of ['compacted replica initiates', 'uncompacted replica initiates'] as const) {
    it(`a compacted replica syncs with one that is not (${direction}), and old history never flows back`, async () => {
      const compacted = await seeded();
      const plain = await openStore(meshId);
      runSync(plain.store, compacted.store);
      // Both share the old history; then each writes on its own and only one compacts.
      churn(compacted, 0, 2, 20);
      churn(plain, 1, 2, 20);
      compacted.store.compact();
      const opsAfterCompaction = compacted.store.historyOps();
      expect(opsAfterCompaction).toBe(nodes.length);
      if (direction === 'compacted replica initiates') runSync(compacted.store, plain.store);
      else runSync(plain.store, compacted.store);
      expect(stateOf(plain.store)).toEqual(stateOf(compacted.store));
      expect(plain.store.get(nodes[0]!.id)?.value.version).toBe(21);
      expect(compacted.store.get(nodes[1]!.id)?.value.version).toBe(21);
      // The other replica caught up with the generation instead of handing back 40 changes of old history.
      expect(plain.store.generation).toBe(1);
      expect(compacted.store.historyOps()).toBeLessThan(opsAfterCompaction + nodes.length + 5);
      // And later writes keep flowing both ways.
      churn(plain, 2, 2, 1);
      churn(compacted, 3, 2, 1);
      runSync(compacted.store, plain.store);
      expect(stateOf(plain.store)).toEqual(stateOf(compacted.store));
      expect(plain.store.get(nodes[3]!.id)?.value.version).toBe(2);
      expect(compacted.store.get(nodes[2]!.id)?.value.version).toBe(2);
    });
  }

  it('a replica that synced with the old document converges with the compacted one, over a chain of replicas', async () => {
    const origin = await seeded();
    const [x, y] = [await openStore(meshId), await openStore(meshId)];
    runSync(x.store, origin.store);
    runSync(y.store, x.store);
    origin.store.compact();
    origin.store.compact();
    churn(origin, 4, 2, 3);
    churn(x, 5, 2, 3);
    churn(y, 0, 2, 3);
    // x learns generation 2 from origin; y, still at 0, learns it from x.
    runSync(x.store, origin.store);
    runSync(y.store, x.store);
    runSync(origin.store, y.store);
    for (const replica of [x, y]) {
      expect(replica.store.generation).toBe(2);
      expect(stateOf(replica.store)).toEqual(stateOf(origin.store));
    }
    expect(origin.store.get(nodes[0]!.id)?.value.version).toBe(4);
    expect(origin.store.get(nodes[5]!.id)?.value.version).toBe(4);
  });

  it('replicas that compact the same entries write the same checkpoint', async () => {
    const a = await seeded();
    const b = await seeded();
    a.store.compact();
    b.store.compact();
    // Their documents are identical: a session moves no Automerge change either way.
    churn(a, 0, 2, 1);
    const run = runSync(a.store, b.store);
    expect(stateOf(a.store)).toEqual(stateOf(b.store));
    expect(b.store.historyOps()).toBe(nodes.length + 1);
    expect(run.responder.entriesMerged).toBe(1);
  });

  it('loads snapshots across generations in both directions', async () => {
    const high = await seeded();
    high.store.compact();
    churn(high, 0, 2, 2);
    const low = await openStore(meshId);
    low.store.merge([wireEntry(nodes[1]!.record({version: 5}))]);
    // A higher-generation snapshot: the store compacts to it, then merges.
    const fresh = await openStore(meshId);
    fresh.store.load(low.store.save());
    fresh.store.load(high.store.save());
    expect(fresh.store.generation).toBe(1);
    // A lower-generation snapshot: its entries are taken, its history is not.
    const ops = high.store.historyOps();
    const result = high.store.load(low.store.save());
    expect(result.accepted.map((entry) => entry.value.version)).toEqual([5]);
    expect(high.store.generation).toBe(1);
    expect(high.store.historyOps()).toBe(ops + 1);
    expect(stateOf(fresh.store)).toEqual(stateOf(high.store));
  });
});
