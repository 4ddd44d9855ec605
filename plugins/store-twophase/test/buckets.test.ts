import {generateMeshId, type VerifiedEntry} from '@wgmesh/core';
import {makeTestNode} from '@wgmesh/core/testkit';
import {beforeAll, describe, expect, it} from 'vitest';
import {BUCKET_DIGEST_BYTES, BucketIndex, bucketOf, MAX_BUCKET_BITS} from '../src/buckets.js';
import {MultisetHash} from '@wgmesh/core';
import {hex} from './helpers.js';

const meshId = generateMeshId();
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
