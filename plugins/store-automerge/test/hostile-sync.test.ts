/**
 * What a buggy or hostile member can put in its Automerge document, or send
 * as bytes, and what the automerge store does with it: refuse garbage with a
 * DecodeError, reject every value that is not a valid entry of its node
 * (logged, counted, nothing held changes), keep the winner when a peer
 * overwrites or deletes it, and never crash.
 */
import {randomBytes} from 'node:crypto';
import {bytesSchema, decode, DecodeError, encode, InvalidEntriesError, MAX_INVALID_SYNC_ENTRIES, MAX_SYNC_MESSAGE_BYTES, type SignedEntry} from '@wgmesh/core';
import {corruptSignature, makeTestNode, testMeshId, wireEntry, type TestNode} from '@wgmesh/testkit';
import fc from 'fast-check';
import {beforeAll, describe, expect, it} from 'vitest';
import {z} from 'zod';
import {PROTOCOL_VERSION} from '../src/protocol.js';
import {automerge, CLOCK_SKEW_MS, GC_HORIZON_MS, openStore, RawPeer, runSync, START, stateOf, type OpenedStore} from './helpers.js';

/** The stored form of an entry (signature, then body), as the store writes it. */
function stored(entry: SignedEntry): Uint8Array {
  return new Uint8Array([...entry.signature, ...entry.body]);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

describe('automerge store: hostile sync', () => {
  const meshId = testMeshId();
  let alice: TestNode;
  let bob: TestNode;

  beforeAll(() => {
    alice = makeTestNode(meshId);
    bob = makeTestNode(meshId);
  });

  /** A victim holding alice v2 and bob v1. */
  async function victim(): Promise<OpenedStore> {
    const opened = await openStore(meshId);
    opened.store.merge([wireEntry(alice.record({version: 2})), wireEntry(bob.record({version: 1}))]);
    return opened;
  }

  function snapshotOf({store}: OpenedStore): {state: string[]; digest: string} {
    return {state: stateOf(store), digest: hex(store.digest())};
  }

  const hostileValues: [string, () => {key: string; value: Uint8Array | string}][] = [
    ['a forged signature', () => ({key: alice.id, value: stored(corruptSignature(alice.record({version: 9})))})],
    ["a valid entry of another node filed under alice's id", () => ({key: alice.id, value: stored(bob.record({version: 9}))})],
    ['a string instead of an entry', () => ({key: alice.id, value: 'not an entry'})],
    ['a few bytes', () => ({key: alice.id, value: new Uint8Array([1, 2, 3])})],
    ['an entry dated beyond the allowed clock skew', () => ({key: alice.id, value: stored(alice.record({version: 9, updatedAt: START + CLOCK_SKEW_MS + 60_000}))})],
    ['an entry older than the garbage-collection horizon', () => ({key: alice.id, value: stored(alice.record({version: 9, updatedAt: START - GC_HORIZON_MS - 1000}))})],
    ['a key that is not a node id', () => ({key: 'hello', value: stored(alice.record({version: 9}))})],
  ];

  for (const [what, make] of hostileValues) {
    it(`rejects ${what} in a peer's document, logs it, and keeps what it holds`, async () => {
      const target = await victim();
      const before = snapshotOf(target);
      const peer = new RawPeer(await automerge(), meshId);
      const {key, value} = make();
      if (typeof value === 'string') peer.doc.put('_root', key, value as never);
      else peer.doc.put('_root', key, value);
      peer.doc.commit();
      const stats = peer.syncWith(target.store);
      expect(stats.entriesRejected).toBeGreaterThan(0);
      expect(stats.entriesMerged).toBe(0);
      expect(snapshotOf(target)).toEqual(before);
      expect(target.logger.lines.some((line) => line.level === 'warn' && line.msg === 'rejected an entry')).toBe(true);
      // What the victim passes on is still its own state, and a replica that syncs from it holds exactly that.
      const third = await openStore(meshId);
      runSync(third.store, target.store);
      expect(stateOf(third.store)).toEqual(before.state);
    });
  }

  it('keeps a newer entry that a peer overwrote with an older one, and writes it back for everyone', async () => {
    const target = await victim();
    const peer = new RawPeer(await automerge(), meshId);
    peer.syncWith(target.store);
    // The peer now shares the victim's document and overwrites alice v2 with (validly signed) v1.
    peer.doc.put('_root', alice.id, stored(alice.record({version: 1})));
    peer.doc.commit();
    peer.syncWith(target.store);
    expect(target.store.get(alice.id)?.value.version).toBe(2);
    // The write-back reached the peer's document too: a fresh replica syncing from the peer's side sees v2 win.
    const third = await openStore(meshId);
    runSync(third.store, target.store);
    expect(third.store.get(alice.id)?.value.version).toBe(2);
  });

  it('keeps an entry that a peer deleted before it expired', async () => {
    const target = await victim();
    const peer = new RawPeer(await automerge(), meshId);
    peer.syncWith(target.store);
    peer.doc.delete('_root', alice.id);
    peer.doc.commit();
    peer.syncWith(target.store);
    expect(target.store.get(alice.id)?.value.version).toBe(2);
    const third = await openStore(meshId);
    runSync(third.store, target.store);
    expect(third.store.get(alice.id)?.value.version).toBe(2);
  });

  it('accepts an entry a peer wrote once its time has come', async () => {
    const target = await victim();
    const peer = new RawPeer(await automerge(), meshId);
    const early = alice.record({version: 9, updatedAt: START + CLOCK_SKEW_MS + 60_000});
    peer.doc.put('_root', alice.id, stored(early));
    peer.doc.commit();
    peer.syncWith(target.store);
    expect(target.store.get(alice.id)?.value.version).toBe(2);
    await target.clock.advance(2 * 60_000);
    // The next session looks at it again.
    target.store.openSync('initiator');
    expect(target.store.get(alice.id)?.value.version).toBe(9);
  });

  it('throws a DecodeError on corrupted Automerge messages inside a valid envelope, and changes nothing', async () => {
    const source = await victim();
    const target = await openStore(meshId);
    target.store.merge([wireEntry(bob.record({version: 3}))]);
    const before = snapshotOf(target);
    // A real first message (the whole document, since the target has nothing in common with it).
    const hello = target.store.openSync('initiator').start();
    const reply = source.store.openSync('responder').receive(hello)!;
    const am = decode(reply, z.object({am: bytesSchema}).loose(), 'reply').am;
    const flipped = new Uint8Array(am);
    flipped[Math.floor(am.byteLength / 2)]! ^= 0x55;
    for (const [bad, mustThrow] of [
      [new Uint8Array([0x42]), true],
      [am.subarray(0, am.byteLength - 7), true],
      // A flipped byte may still parse (it only names another head): refused or absorbed, never harmful.
      [flipped, false],
    ] as const) {
      const session = target.store.openSync('initiator');
      session.start();
      const receive = () => session.receive(encode({t: 'sync', gen: 0, am: bad}));
      if (mustThrow) expect(receive).toThrow(DecodeError);
      else {
        try {
          receive();
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError);
        }
      }
      expect(snapshotOf(target)).toEqual(before);
    }
  });

  it('never throws anything but a DecodeError, and never changes what it holds, whatever bytes arrive', async () => {
    const target = await victim();
    const before = snapshotOf(target);
    fc.assert(
      fc.property(fc.uint8Array({maxLength: 300}), fc.boolean(), (bytes, wrapped) => {
        const session = target.store.openSync('initiator');
        session.start();
        const message = wrapped ? encode({t: 'sync', gen: 0, am: bytes}) : bytes;
        try {
          session.receive(message);
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError);
        }
        expect(snapshotOf(target)).toEqual(before);
      }),
      {numRuns: 300},
    );
  });

  it('refuses a peer that claims a generation far above its own', async () => {
    const target = await victim();
    const session = target.store.openSync('responder');
    const hello = {t: 'hello', v: PROTOCOL_VERSION, mesh: meshId, kind: 'automerge', gen: 2 ** 21, digest: new Uint8Array(40), am: new Uint8Array(0)};
    expect(() => session.receive(encode(hello))).toThrow(/generation/);
    expect(target.store.generation).toBe(0);
  });

  it('ends a session that goes on past its message limit', async () => {
    const target = await victim();
    const session = target.store.openSync('responder');
    const api = await automerge();
    const am = api.create('ee'.repeat(16)).generateSyncMessage(api.initSyncState());
    expect(() => {
      session.receive(encode({t: 'hello', v: PROTOCOL_VERSION, mesh: meshId, kind: 'automerge', gen: 0, digest: new Uint8Array(40), am}));
      for (let i = 0; i < 100; i++) session.receive(encode({t: 'sync', gen: 0, am: null}));
    }).toThrow(/past 64 messages|session is over/);
  });

  it(`gives up on a session after ${MAX_INVALID_SYNC_ENTRIES} entries that do not verify, with a named error, keeping what it holds`, async () => {
    const forgers = Array.from({length: 3 * MAX_INVALID_SYNC_ENTRIES}, () => makeTestNode(meshId));
    const forge = (peer: RawPeer, count: number) => {
      for (const node of forgers.slice(0, count)) peer.doc.put('_root', node.id, stored(corruptSignature(node.record())));
      peer.doc.commit();
    };
    // As many as allowed: each rejected, and the session runs to its end.
    let target = await victim();
    let peer = new RawPeer(await automerge(), meshId);
    forge(peer, MAX_INVALID_SYNC_ENTRIES);
    expect(peer.syncWith(target.store).entriesRejected).toBe(MAX_INVALID_SYNC_ENTRIES);
    // More: refused after the first one over the limit; the rest are not even verified.
    target = await victim();
    const before = snapshotOf(target);
    peer = new RawPeer(await automerge(), meshId);
    forge(peer, forgers.length);
    expect(() => peer.syncWith(target.store)).toThrow(InvalidEntriesError);
    expect(snapshotOf(target)).toEqual(before);
    const rejections = target.logger.lines.filter((line) => line.level === 'warn' && line.msg.startsWith('rejected'));
    expect(rejections.map((line) => line.msg)).toEqual(Array(MAX_INVALID_SYNC_ENTRIES + 1).fill('rejected an entry'));
    // What it passes on is still its own state only: the forged values are out of its document too.
    const third = await openStore(meshId);
    runSync(third.store, target.store);
    expect(stateOf(third.store)).toEqual(before.state);
  });

  it(`refuses a message with more than ${MAX_INVALID_SYNC_ENTRIES} invalid values before any of it reaches its document`, async () => {
    const target = await victim();
    const before = {...snapshotOf(target), ops: target.store.historyOps(), generation: target.store.generation};
    const peer = new RawPeer(await automerge(), meshId);
    // Over DECODE_LIMIT_OPS values in one change, as a hostile document would send them: garbage of an entry's size.
    for (let i = 0; i < 3000; i++) peer.doc.put('_root', randomBytes(16).toString('hex'), randomBytes(200));
    peer.doc.commit();
    expect(() => peer.syncWith(target.store)).toThrow(InvalidEntriesError);
    // Nothing applied, so nothing to write back: the history is what it was (a document that took the message in grows by thousands of operations).
    expect({...snapshotOf(target), ops: target.store.historyOps(), generation: target.store.generation}).toEqual(before);
    // And the next honest session still works.
    const third = await openStore(meshId);
    runSync(third.store, target.store);
    expect(stateOf(third.store)).toEqual(before.state);
  });

  it('sends a message too large for one wire message in parts, none over MAX_SYNC_MESSAGE_BYTES, and refuses a part out of turn', async () => {
    const big = await openStore(meshId);
    // Random service values (no compression hides them), records near the size cap: over 2 MiB in all.
    const services = () => Object.fromEntries(Array.from({length: 64}, (_, i) => [`s${i}`, randomBytes(384).toString('base64')]));
    big.store.merge(Array.from({length: 80}, () => wireEntry(makeTestNode(meshId, {now: START}).record({services: services()}))));
    const empty = await openStore(meshId);
    const run = runSync(empty.store, big.store);
    expect(run.largestMessage).toBeLessThanOrEqual(MAX_SYNC_MESSAGE_BYTES);
    expect(run.initiator.bytesReceived).toBeGreaterThan(MAX_SYNC_MESSAGE_BYTES);
    expect(stateOf(empty.store)).toEqual(stateOf(big.store));
    // A 'more' nobody asked for, and a 'sync' in the middle of a message in parts.
    const responder = big.store.openSync('responder');
    expect(() => responder.receive(encode({t: 'more'}))).toThrow(DecodeError);
    const other = big.store.openSync('responder');
    other.receive(encode({t: 'part', data: new Uint8Array(10), last: false}));
    expect(() => other.receive(encode({t: 'sync', gen: 0, am: null}))).toThrow(/expected the next part/);
  });
});
