/** Store compliance, sync. */
import {randomBytes} from 'node:crypto';
import {describe, expect, it} from 'vitest';
import {DecodeError, encode, generateIdentity, MAX_SYNC_MESSAGE_BYTES, RECORD_LIMITS} from '@wgmesh/core';
import {makeTestNode, testMeshId, wireEntry} from '../signed-fixtures.js';
import {expectedState, hex, runSync, storeState} from './helpers.js';
import type {StoreSuite} from './suite.js';

/** Sync sessions the suite allows two replicas to take to converge across a difference of several MiB. */
const MAX_SESSIONS_TO_CONVERGE = 20;

/** Define the sync tests on `suite`. */
export function describeSync(suite: StoreSuite): void {
  const {meshId, open, loaded, expectUnchanged, snapshotOf} = suite;
  describe('sync', () => {
    it('ends at once when both replicas are equal', () => {
      const a = loaded(suite.pool.entries.slice(0, 10));
      const b = loaded(suite.pool.entries.slice(0, 10));
      const run = runSync(a, b);
      expect(run.initiator.entriesMerged + run.responder.entriesMerged).toBe(0);
      expect(storeState(a)).toEqual(storeState(b));
    });

    it('brings both sides to the merge of both', () => {
      const left = suite.pool.entries.filter((_, i) => i % 4 !== 1);
      const right = suite.pool.entries.filter((_, i) => i % 3 !== 0);
      for (const [x, y] of [
        [left, right],
        [[], right],
        [left, []],
      ] as const) {
        const a = loaded(x);
        const b = loaded(y);
        runSync(a, b);
        const expected = expectedState([...x, ...y]);
        expect(storeState(a)).toEqual(expected);
        expect(storeState(b)).toEqual(expected);
        expect(hex(a.digest())).toBe(hex(b.digest()));
      }
    });

    it('refuses a session for another mesh', () => {
      const other = testMeshId();
      const foreign = open({meshId: other});
      foreign.merge([wireEntry(makeTestNode(other, {identity: generateIdentity()}).record())]);
      const store = loaded(suite.pool.entries.slice(0, 3));
      const before = snapshotOf(store);
      const responder = store.openSync('responder');
      expect(() => responder.receive(foreign.openSync('initiator').start())).toThrow(DecodeError);
      expectUnchanged(store, before);
    });

    it(`refuses a message over MAX_SYNC_MESSAGE_BYTES (${MAX_SYNC_MESSAGE_BYTES}) and changes nothing`, () => {
      const a = loaded(suite.pool.entries.slice(0, 8));
      const b = loaded(suite.pool.entries.slice(4, 14));
      // The initiator's own first message, followed by bytes that take it over the cap.
      const hello = a.openSync('initiator').start();
      const oversized = new Uint8Array(MAX_SYNC_MESSAGE_BYTES + 1);
      oversized.set(hello);
      const before = snapshotOf(b);
      expect(() => b.openSync('responder').receive(oversized)).toThrow(DecodeError);
      expectUnchanged(b, before);
    });

    it(`converges across a difference of more than MAX_SYNC_MESSAGE_BYTES, each message at most that size`, () => {
      // Records near the size cap on one side (over 2 MiB in all, of random text that compression shrinks by a quarter at most), many small ones on the other.
      const services = (): Record<string, string> =>
        Object.fromEntries(
          Array.from({length: RECORD_LIMITS.services}, (_, i) => [`service-${i}`, randomBytes((RECORD_LIMITS.serviceValue / 4) * 3).toString('base64')]),
        );
      const big = suite.largeNodes.map((node) => node.record({services: services()}));
      expect(big.reduce((sum, entry) => sum + entry.body.byteLength, 0)).toBeGreaterThan(MAX_SYNC_MESSAGE_BYTES);
      const small = suite.smallNodes.map((node) => node.record());
      for (const [x, y] of [
        [big, small],
        [small, big],
      ] as const) {
        const a = loaded(x);
        const b = loaded(y);
        let largest = 0;
        // One session, or several for a store that leaves part of a large difference to the next session.
        for (let sessions = 1; hex(a.digest()) !== hex(b.digest()); sessions++) {
          if (sessions > MAX_SESSIONS_TO_CONVERGE) throw new Error(`replicas still differ after ${MAX_SESSIONS_TO_CONVERGE} sync sessions`);
          largest = Math.max(largest, runSync(a, b).largestMessage);
        }
        expect(largest).toBeLessThanOrEqual(MAX_SYNC_MESSAGE_BYTES);
        const expected = expectedState([...x, ...y]);
        expect(storeState(a)).toEqual(expected);
        expect(storeState(b)).toEqual(expected);
      }
    });

    it('throws a DecodeError on garbage, truncated or foreign messages and changes nothing', () => {
      const a = loaded(suite.pool.entries.slice(0, 8));
      const b = loaded(suite.pool.entries.slice(4, 14));
      const hello = a.openSync('initiator').start();
      const garbage = [
        new Uint8Array(0),
        new Uint8Array([0xc1]),
        new Uint8Array(256).fill(0xab),
        hello.subarray(0, Math.max(1, hello.byteLength - 5)),
        encode({t: 'nonsense'}),
        encode([1, 2, 3]),
      ];
      for (const bad of garbage) {
        const before = snapshotOf(b);
        expect(() => b.openSync('responder').receive(bad)).toThrow(DecodeError);
        expectUnchanged(b, before);
      }
      // The initiator side too: a truncated reply.
      const initiator = a.openSync('initiator');
      const reply = b.openSync('responder').receive(initiator.start());
      expect(reply).not.toBeNull();
      const before = snapshotOf(a);
      expect(() => initiator.receive(reply!.subarray(0, reply!.byteLength - 3))).toThrow(DecodeError);
      expectUnchanged(a, before);
    });
  });
}
