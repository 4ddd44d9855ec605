import type {VerifiedEntry} from '@wgmesh/core';
import {makeTestNode, testMeshId} from '@wgmesh/testkit';
import {createHash} from 'node:crypto';
import fc from 'fast-check';
import {beforeAll, describe, expect, it} from 'vitest';
import {BUCKET_DIGEST_BYTES, BucketIndex, bucketOf, MAX_BUCKET_BITS} from '../src/buckets.js';
import {MultisetHash} from '@wgmesh/core';
import {hex} from './helpers.js';

const meshId = testMeshId();
let v1: VerifiedEntry[];
let v2: VerifiedEntry[];

beforeAll(() => {
  const nodes = Array.from({length: 80}, () => makeTestNode(meshId));
  v1 = nodes.map((node) => node.record({version: 1}));
  v2 = nodes.map((node) => node.record({version: 2}));
});

/** Bucket digests computed the slow, obvious way. */
function naiveDigests(entries: readonly VerifiedEntry[], bits: number): string {
  const sums = Array.from({length: 2 ** bits}, () => new MultisetHash(BUCKET_DIGEST_BYTES));
  for (const entry of entries) sums[bucketOf(entry.value.id, bits)]!.add(entry.hash);
  return sums.map((sum) => hex(sum.bytes())).join('');
}

describe('BucketIndex', () => {
  it('keeps bucket digests and members equal to a recomputation at every resolution', () => {
    const index = new BucketIndex();
    for (const entry of v1) index.put(entry);
    // Replace half with newer versions, drop a quarter.
    v2.slice(0, 40).forEach((entry, i) => index.put(entry, v1[i]));
    v1.slice(60).forEach((entry) => index.delete(entry));
    const held = [...v2.slice(0, 40), ...v1.slice(40, 60)];
    for (let bits = 0; bits <= MAX_BUCKET_BITS; bits++) {
      expect(hex(index.digests(bits))).toBe(naiveDigests(held, bits));
      const all = index.entriesIn(bits, Array.from({length: 2 ** bits}, (_, i) => i));
      expect(all.map((e) => hex(e.hash)).sort()).toEqual(held.map((e) => hex(e.hash)).sort());
    }
    const bits = 3;
    const some = index.entriesIn(bits, [2, 5]);
    expect(some.map((e) => hex(e.hash)).sort()).toEqual(
      held.filter((e) => [2, 5].includes(bucketOf(e.value.id, bits))).map((e) => hex(e.hash)).sort(),
    );
  });

  it('ignores the deletion of an entry it does not hold', () => {
    const index = new BucketIndex();
    index.put(v1[0]!);
    const before = hex(index.digests(4));
    index.delete(v2[0]!);
    index.delete(v1[1]!);
    expect(hex(index.digests(4))).toBe(before);
  });
});

/** A stand-in entry: the index reads only the id and the hash. */
function fakeEntry(id: string, version: number): VerifiedEntry {
  const hash = new Uint8Array(createHash('sha256').update(`${id}/${version}`).digest());
  return {value: {id}, hash} as unknown as VerifiedEntry;
}

/** The index as it was: one list per fine bucket, pushed to, a replaced entry moving to the end. */
class ListModel {
  readonly lists = new Map<number, VerifiedEntry[]>();
  put(entry: VerifiedEntry, previous?: VerifiedEntry): void {
    if (previous !== undefined) this.delete(previous);
    const fine = bucketOf(entry.value.id, MAX_BUCKET_BITS);
    this.lists.set(fine, [...(this.lists.get(fine) ?? []), entry]);
  }
  delete(entry: VerifiedEntry): void {
    const fine = bucketOf(entry.value.id, MAX_BUCKET_BITS);
    this.lists.set(fine, (this.lists.get(fine) ?? []).filter((held) => held !== entry));
  }
  entriesIn(bits: number, buckets: readonly number[]): VerifiedEntry[] {
    return buckets.flatMap((bucket) => [...this.lists].filter(([fine]) => fine >> (MAX_BUCKET_BITS - bits) === bucket).sort(([a], [b]) => a - b).flatMap(([, list]) => list));
  }
}

describe('BucketIndex order', () => {
  // Ids crowd a few fine buckets (three ids each), so the order inside a bucket is exercised.
  const ids = ['000', '001', 'fff', '7a0'].flatMap((prefix) => ['a', 'b', 'c'].map((c) => prefix + c.repeat(29)));
  const op = fc.oneof(
    // Mostly puts, so runs of them (new ids waiting, replaced while waiting) happen between lookups.
    {arbitrary: fc.record({k: fc.constant('put' as const), node: fc.nat(ids.length - 1)}), weight: 8},
    fc.record({k: fc.constant('delete' as const), node: fc.nat(ids.length - 1)}),
    fc.record({k: fc.constant('query' as const), bits: fc.nat(MAX_BUCKET_BITS), buckets: fc.array(fc.nat(4095), {maxLength: 4})}),
    fc.record({k: fc.constant('flush' as const)}),
    fc.record({k: fc.constant('drop-odd' as const)}),
  );

  it('lists and finds entries exactly as one list per bucket did, through any mix of puts, replacements, deletions and lookups', () => {
    fc.assert(
      fc.property(fc.array(op, {maxLength: 60}), (ops) => {
        const index = new BucketIndex();
        const model = new ListModel();
        const held = new Map<string, VerifiedEntry>();
        let version = 0;
        for (const o of ops) {
          if (o.k === 'query') {
            const buckets = [...new Set(o.buckets.map((b) => b % 2 ** o.bits))].sort((a, b) => a - b);
            expect(index.entriesIn(o.bits, buckets)).toEqual(model.entriesIn(o.bits, buckets));
            continue;
          }
          if (o.k === 'flush') {
            index.flush();
            continue;
          }
          if (o.k === 'drop-odd') {
            // Drop the entries with an odd last hash byte, as garbage collection drops expired ones.
            const odd = (entry: VerifiedEntry): boolean => entry.hash[31]! % 2 === 1;
            const dropped = index.deleteWhere(odd);
            const expected = [...held.values()].filter(odd);
            expect(new Set(dropped)).toEqual(new Set(expected));
            for (const entry of expected) {
              model.delete(entry);
              held.delete(entry.value.id);
            }
            continue;
          }
          const id = ids[o.node]!;
          const previous = held.get(id);
          if (o.k === 'put') {
            const entry = fakeEntry(id, ++version);
            index.put(entry, previous);
            model.put(entry, previous);
            held.set(id, entry);
          } else if (previous !== undefined) {
            index.delete(previous);
            model.delete(previous);
            held.delete(id);
          } else {
            index.delete(fakeEntry(id, 0));
          }
          expect(index.size).toBe(held.size);
          for (const other of ids) expect(index.get(other)).toBe(held.get(other));
        }
        expect(index.get('not an id')).toBeUndefined();
        const all = Array.from({length: 2 ** MAX_BUCKET_BITS}, (_, i) => i);
        expect(index.entriesIn(MAX_BUCKET_BITS, all)).toEqual(model.entriesIn(MAX_BUCKET_BITS, all));
        expect(hex(index.digests(6))).toBe(naiveDigests([...held.values()], 6));
      }),
      {numRuns: 300},
    );
  });
});
