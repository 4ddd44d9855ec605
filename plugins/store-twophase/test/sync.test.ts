import {DecodeError, encode, InvalidEntriesError, MAX_INVALID_SYNC_ENTRIES, type MeshStore, type VerifiedEntry} from '@wgmesh/core';
import {corruptSignature, makeTestNode, recordingLogger, runSync, storeState, testMeshId, wireEntry, type TestNode} from '@wgmesh/testkit/compliance';
import {MAX_SYNC_MESSAGE_BYTES, TWOPHASE_SYNC_PROTOCOL_VERSION} from '@wgmesh/store-twophase';
import {beforeAll, describe, expect, it} from 'vitest';
import {BUCKET_DIGEST_BYTES, bucketBitsFor, bucketOf, MAX_BUCKET_BITS} from '../src/buckets.js';
import {MAX_ENTRIES_PER_MESSAGE} from '../src/limits.js';
import {hex, openStore} from './helpers.js';

const meshId = testMeshId();
let nodes: TestNode[];
let base: VerifiedEntry[];

beforeAll(() => {
  // 300 signed records: enough for several buckets. Signing is the slow part, so once per file.
  nodes = Array.from({length: 300}, () => makeTestNode(meshId));
  base = nodes.map((node) => node.record({version: 1, description: 'a typical record of moderate length, like most are'}));
});

function storeWith(entries: readonly VerifiedEntry[], logger = recordingLogger()): MeshStore {
  const store = openStore(meshId, logger);
  store.merge(entries.map(wireEntry));
  return store;
}

function hello(store: MeshStore, patch: Record<string, unknown> = {}): Uint8Array {
  return encode({t: 'hello', v: TWOPHASE_SYNC_PROTOCOL_VERSION, mesh: store.meshId, kind: 'twophase', digest: new Uint8Array(40), count: store.size, ...patch});
}

/** A responder that has answered a hello and waits for summaries, with the bucket bits it chose. */
function responderAwaitingSummaries(store: MeshStore): {session: ReturnType<MeshStore['openSync']>; bits: number} {
  const session = store.openSync('responder');
  const reply = session.receive(hello(store, {count: store.size}));
  expect(reply).not.toBeNull();
  return {session, bits: bucketBitsFor(store.size)};
}

function summary(id: string, version: number): Uint8Array {
  const out = Buffer.alloc(40);
  out.write(id, 0, 16, 'hex');
  out.writeBigUInt64BE(BigInt(version), 16);
  return out;
}

describe('twophase sync: what crosses the wire', () => {
  it('sends only a digest and an answer when both replicas are equal', () => {
    for (const size of [1, base.length]) {
      const run = runSync(storeWith(base.slice(0, size)), storeWith(base.slice(0, size)));
      expect(run.messages).toBe(2);
      expect(run.initiator.messagesSent).toBe(1);
      expect(run.responder.messagesSent).toBe(1);
      // A hello is the mesh id, the store kind, a 40-byte digest and a count; the answer a few bytes.
      expect(run.initiator.bytesSent).toBeLessThan(130);
      expect(run.responder.bytesSent).toBeLessThan(16);
      expect(run.responder.bytesReceived).toBe(run.initiator.bytesSent);
    }
  });

  it('transfers only the entries the other side lacks or holds older', () => {
    const changedOnA = [3, 50, 120].map((i) => nodes[i]!.record({version: 2, alias: 'changed on a'}));
    const changedOnB = [7, 51, 299].map((i) => nodes[i]!.record({version: 2, alias: 'changed on b'}));
    const newOnB = [makeTestNode(meshId).record(), makeTestNode(meshId).record()];
    const a = storeWith([...base, ...changedOnA]);
    const b = storeWith([...base, ...changedOnB, ...newOnB]);
    const full = a.save().byteLength;
    const run = runSync(a, b);
    expect(run.initiator.entriesMerged).toBe(changedOnB.length + newOnB.length);
    expect(run.responder.entriesMerged).toBe(changedOnA.length);
    expect(storeState(a)).toEqual(storeState(b));
    const wire = run.initiator.bytesSent + run.responder.bytesSent;
    // Eight entries of ~500 bytes and the bucket exchange: far below the 10% target.
    expect(wire).toBeLessThan(full * 0.1);
    expect(run.messages).toBe(5);
  });

  it('needs one round trip less when the responder wants nothing', () => {
    const a = storeWith(base.slice(0, 100));
    const b = storeWith(base.slice(0, 110));
    const run = runSync(a, b);
    expect(run.messages).toBe(4);
    expect(run.initiator.entriesMerged).toBe(10);
    expect(storeState(a)).toEqual(storeState(b));
  });

  it('scales the bucket count with the state and bounds it', () => {
    expect(bucketBitsFor(0)).toBe(0);
    expect(bucketBitsFor(16)).toBe(0);
    expect(bucketBitsFor(17)).toBe(1);
    expect(bucketBitsFor(10_000)).toBe(10);
    expect(bucketBitsFor(1e12)).toBe(MAX_BUCKET_BITS);
    expect(bucketOf('fff' + '0'.repeat(29), MAX_BUCKET_BITS)).toBe(0xfff);
    expect(bucketOf('800' + '0'.repeat(29), 1)).toBe(1);
    expect(bucketOf('7ff' + 'f'.repeat(29), 1)).toBe(0);
    expect(bucketOf('7ff' + 'f'.repeat(29), 0)).toBe(0);
  });

  it('sizes buckets for the larger replica, and a made-up count costs at most the finest digest list', () => {
    const store = storeWith(base.slice(0, 3));
    expect(store.openSync('responder').receive(hello(store, {count: 1}))!.byteLength).toBeLessThan(48);
    const reply = store.openSync('responder').receive(hello(store, {count: 1e12}));
    // 4,096 digests of 16 bytes plus framing: far below a sync message's cap.
    expect(reply!.byteLength).toBeGreaterThan(2 ** MAX_BUCKET_BITS * BUCKET_DIGEST_BYTES);
    expect(reply!.byteLength).toBeLessThan(2 ** MAX_BUCKET_BITS * BUCKET_DIGEST_BYTES + 64);
  });

  it(`carries at most ${MAX_ENTRIES_PER_MESSAGE} entries a message, both ways, and converges in one session`, () => {
    const a = storeWith(base.slice(0, 150));
    const b = storeWith(base.slice(150));
    const run = runSync(a, b);
    expect(storeState(a)).toEqual(storeState(b));
    expect(run.initiator.entriesMerged).toBe(150);
    expect(run.responder.entriesMerged).toBe(150);
    // hello, buckets, summaries, then 150 entries each way in parts of at most 64: three messages each way at least.
    expect(run.messages).toBeGreaterThanOrEqual(3 + 2 * Math.ceil(150 / MAX_ENTRIES_PER_MESSAGE));
  });
});

describe('twophase sync: hostile or broken peers', () => {
  it('refuses another protocol version or store kind', () => {
    const store = storeWith(base.slice(0, 3));
    expect(() => store.openSync('responder').receive(hello(store, {v: TWOPHASE_SYNC_PROTOCOL_VERSION - 1}))).toThrow(/protocol version/);
    expect(() => store.openSync('responder').receive(hello(store, {kind: 'automerge'}))).toThrow(/store 'automerge'/);
  });

  it('refuses messages out of turn and after the end', () => {
    const a = storeWith(base.slice(0, 3));
    const b = storeWith(base.slice(0, 3));
    const responder = b.openSync('responder');
    expect(() => responder.receive(encode({t: 'final', entries: [], done: true}))).toThrow(/unexpected 'final'/);
    expect(responder.done).toBe(true);
    const initiator = a.openSync('initiator');
    const reply = b.openSync('responder').receive(initiator.start());
    expect(initiator.receive(reply!)).toBeNull();
    expect(initiator.done).toBe(true);
    expect(() => initiator.receive(reply!)).toThrow(DecodeError);
    expect(() => initiator.start()).toThrow();
    expect(() => b.openSync('responder').start()).toThrow();
  });

  it('refuses a message over the size cap without decoding it', () => {
    const store = storeWith(base.slice(0, 3));
    expect(() => store.openSync('responder').receive(new Uint8Array(MAX_SYNC_MESSAGE_BYTES + 1))).toThrow(/limit/);
  });

  it('refuses bucket digests of the wrong length', () => {
    const a = storeWith(base.slice(0, 3));
    const initiator = a.openSync('initiator');
    initiator.start();
    expect(() => initiator.receive(encode({t: 'buckets', bits: 2, digests: new Uint8Array(16)}))).toThrow(DecodeError);
    const other = a.openSync('initiator');
    other.start();
    expect(() => other.receive(encode({t: 'buckets', bits: MAX_BUCKET_BITS + 1, digests: new Uint8Array(16 * 2 ** (MAX_BUCKET_BITS + 1))}))).toThrow(DecodeError);
  });

  it('refuses summaries that do not match the buckets it asked about', () => {
    const store = storeWith(base.slice(0, 100));
    const before = hex(store.digest());
    const id = nodes[0]!.id;
    const bits = bucketBitsFor(100);
    expect(bits).toBeGreaterThan(1);
    const own = bucketOf(id, bits);
    const otherBucket = (own + 1) % 2 ** bits;
    const bad = [
      {buckets: [2 ** bits], items: new Uint8Array(0)},
      {buckets: [1, 0], items: new Uint8Array(0)},
      {buckets: [1, 1], items: new Uint8Array(0)},
      {buckets: [otherBucket], items: summary(id, 1)},
      {buckets: [own], items: Buffer.concat([summary(id, 1), summary(id, 2)])},
      {buckets: [own], items: new Uint8Array(39)},
      {buckets: [own], items: Buffer.concat([summary(id, 1).subarray(0, 16), Buffer.alloc(8, 0xff), Buffer.alloc(16)])},
    ];
    for (const message of bad) {
      const {session} = responderAwaitingSummaries(store);
      expect(() => session.receive(encode({t: 'summaries', last: true, ...message}))).toThrow(DecodeError);
      expect(hex(store.digest())).toBe(before);
    }
  });

  it('refuses a request for entries it did not offer, and an answer larger than the request', () => {
    const a = storeWith(base.slice(0, 40));
    const b = storeWith(base.slice(20, 60));
    const initiator = a.openSync('initiator');
    const summaries = initiator.receive(b.openSync('responder').receive(initiator.start())!);
    expect(summaries).not.toBeNull();
    const before = hex(a.digest());
    const notOffered = Buffer.from(base[59]!.value.id, 'hex');
    expect(() => initiator.receive(encode({t: 'entries', entries: [wireEntry(base[45]!)], want: notOffered, done: true}))).toThrow(/not offered/);
    expect(hex(a.digest())).toBe(before);

    const responder = b.openSync('responder');
    const init2 = a.openSync('initiator');
    const answer = responder.receive(init2.receive(responder.receive(init2.start())!)!);
    expect(responder.done).toBe(false);
    const wanted = init2.receive(answer!);
    expect(wanted).not.toBeNull();
    const tooMany = encode({t: 'final', entries: base.slice(0, 40).map(wireEntry), done: true});
    const beforeB = hex(b.digest());
    expect(() => responder.receive(tooMany)).toThrow(/asked for/);
    expect(hex(b.digest())).toBe(beforeB);
  });

  it('merges the good entries of a message, counts and logs the forged ones', () => {
    const logger = recordingLogger();
    const a = storeWith(base.slice(0, 40), logger);
    const b = storeWith(base.slice(0, 30));
    const initiator = a.openSync('initiator');
    initiator.receive(b.openSync('responder').receive(initiator.start())!);
    const forged = corruptSignature(nodes[45]!.record({version: 1}));
    const good = wireEntry(nodes[46]!.record({version: 1}));
    const reply = initiator.receive(encode({t: 'entries', entries: [forged, good], want: new Uint8Array(0), done: true}));
    expect(reply).toBeNull();
    expect(initiator.stats()).toMatchObject({entriesMerged: 1, entriesRejected: 1});
    expect(a.get(nodes[46]!.id)?.signature).toEqual(good.signature);
    expect(a.get(nodes[45]!.id)).toBeUndefined();
    expect(logger.lines.some((line) => line.level === 'warn' && typeof line.obj === 'object' && (line.obj as {nodeId?: string}).nodeId === nodes[45]!.id)).toBe(true);
  });

  it(`gives up on a session after ${MAX_INVALID_SYNC_ENTRIES} entries that do not verify, with a named error`, () => {
    const a = storeWith(base.slice(0, 40));
    const b = storeWith(base.slice(0, 30));
    const forged = (from: number, count: number) => nodes.slice(from, from + count).map((node) => corruptSignature(node.record({version: 1})));
    // As many as allowed: rejected one by one, and the session goes on.
    let initiator = a.openSync('initiator');
    initiator.receive(b.openSync('responder').receive(initiator.start())!);
    initiator.receive(encode({t: 'entries', entries: forged(100, MAX_INVALID_SYNC_ENTRIES), want: new Uint8Array(0), done: true}));
    expect(initiator.stats().entriesRejected).toBe(MAX_INVALID_SYNC_ENTRIES);
    // One more: the session throws, and is over.
    initiator = a.openSync('initiator');
    initiator.receive(b.openSync('responder').receive(initiator.start())!);
    const message = encode({t: 'entries', entries: forged(100, MAX_INVALID_SYNC_ENTRIES + 1), want: new Uint8Array(0), done: false});
    expect(() => initiator.receive(message)).toThrow(InvalidEntriesError);
    expect(initiator.done).toBe(true);
  });

  it('does not count entries refused for their time alone: a peer with another clock is not hostile', () => {
    const a = storeWith(base.slice(0, 40));
    const b = storeWith(base.slice(0, 30));
    const initiator = a.openSync('initiator');
    initiator.receive(b.openSync('responder').receive(initiator.start())!);
    // Validly signed, dated a day ahead of the store's clock: refused, yet not invalid.
    const ahead = nodes.slice(100, 100 + 2 * MAX_INVALID_SYNC_ENTRIES).map((node) => wireEntry(node.record({version: 1, updatedAt: base[0]!.value.updatedAt + 86_400_000})));
    expect(initiator.receive(encode({t: 'entries', entries: ahead, want: new Uint8Array(0), done: true}))).toBeNull();
    expect(initiator.stats().entriesRejected).toBe(ahead.length);
  });
});
