/** Store compliance, properties. */
import fc from 'fast-check';
import {describe, expect, it} from 'vitest';
import {DecodeError} from '@wgmesh/core';
import type {VerifiedEntry} from '@wgmesh/core';
import {wireEntry} from '../signed-fixtures.js';
import {runSync, storeState, expectedState, hex, InFlightSync} from './helpers.js';
import type {StoreSuite} from './suite.js';

/** Define the properties tests on `suite`. */
export function describeProperties(suite: StoreSuite): void {
  const {open, loaded, join, expectUnchanged, snapshotOf} = suite;
  describe('properties', () => {
    const subset = (): fc.Arbitrary<VerifiedEntry[]> => fc.shuffledSubarray(suite.pool.entries as VerifiedEntry[]);

    it('merge is commutative', () => {
      fc.assert(
        fc.property(subset(), subset(), (x, y) => {
          const a = loaded(x);
          a.merge(y.map(wireEntry));
          const b = loaded(y);
          b.merge(x.map(wireEntry));
          expect(storeState(a)).toEqual(storeState(b));
          expect(hex(a.digest())).toBe(hex(b.digest()));
          expect(storeState(a)).toEqual(expectedState([...x, ...y]));
        }),
        {numRuns: 25},
      );
    });

    it('merge is associative', () => {
      fc.assert(
        fc.property(subset(), subset(), subset(), (x, y, z) => {
          const [a, b, c] = [loaded(x), loaded(y), loaded(z)];
          const left = join(join(a, b), c);
          const right = join(a, join(b, c));
          expect(storeState(left)).toEqual(storeState(right));
          expect(hex(left.digest())).toBe(hex(right.digest()));
        }),
        {numRuns: 15},
      );
    });

    it('merge is idempotent', () => {
      fc.assert(
        fc.property(subset(), (x) => {
          const a = loaded(x);
          const once = snapshotOf(a);
          expect(a.merge(x.map(wireEntry)).accepted).toEqual([]);
          expectUnchanged(a, once);
          expectUnchanged(join(a, a), once);
        }),
        {numRuns: 25},
      );
    });

    for (const replicas of [2, 3, 5]) {
      it(`sync sessions between ${replicas} replicas converge under any interleaving, duplicated and dropped sessions`, () => {
        const index = fc.nat({max: replicas - 1});
        const op = fc.oneof(
          {arbitrary: fc.record({op: fc.constant('open' as const), from: index, to: index}), weight: 3},
          {arbitrary: fc.record({op: fc.constant('step' as const), pick: fc.nat()}), weight: 8},
          {arbitrary: fc.record({op: fc.constant('drop' as const), pick: fc.nat()}), weight: 1},
          {arbitrary: fc.record({op: fc.constant('replay' as const), pick: fc.nat()}), weight: 1},
          {arbitrary: fc.record({op: fc.constant('write' as const), replica: index, entry: fc.nat({max: suite.pool.entries.length - 1})}), weight: 2},
        );
        fc.assert(
          fc.property(fc.array(subset(), {minLength: replicas, maxLength: replicas}), fc.array(op, {maxLength: 60}), (initial, ops) => {
            const stores = initial.map((entries) => loaded(entries));
            const seen: VerifiedEntry[] = initial.flat();
            let active: InFlightSync[] = [];
            for (const step of ops) {
              if (step.op === 'open') {
                if (step.from !== step.to) active.push(new InFlightSync({initiator: stores[step.from]!, responder: stores[step.to]!}));
              } else if (step.op === 'write') {
                const entry = suite.pool.entries[step.entry]!;
                stores[step.replica]!.merge([wireEntry(entry)]);
                seen.push(entry);
              } else if (active.length > 0) {
                const session = active[step.pick % active.length]!;
                if (step.op === 'step') session.step();
                else if (step.op === 'replay') {
                  // The replayed message either fails cleanly (store untouched) or is absorbed;
                  // the session is abandoned afterwards in both cases.
                  const target = [session.stores.initiator, session.stores.responder];
                  const before = target.map(snapshotOf);
                  try {
                    session.replay();
                  } catch (error) {
                    expect(error).toBeInstanceOf(DecodeError);
                    target.forEach((store, i) => expectUnchanged(store, before[i]!));
                  }
                }
                if (step.op !== 'step' || session.finished) active = active.filter((s) => s !== session);
              }
            }
            // Heal: gather everything into replica 0, then hand it back out.
            for (let i = 1; i < replicas; i++) runSync(stores[i]!, stores[0]!);
            for (let i = 1; i < replicas; i++) runSync(stores[0]!, stores[i]!);
            const expected = expectedState(seen);
            for (const store of stores) {
              expect(storeState(store)).toEqual(expected);
              expect(hex(store.digest())).toBe(hex(stores[0]!.digest()));
            }
          }),
          {numRuns: replicas === 5 ? 15 : 25},
        );
      });
    }

    it('a session run to the end leaves both sides equal', () => {
      fc.assert(
        fc.property(subset(), subset(), (x, y) => {
          const a = loaded(x);
          const b = loaded(y);
          runSync(a, b);
          expect(storeState(a)).toEqual(expectedState([...x, ...y]));
          expect(storeState(b)).toEqual(storeState(a));
        }),
        {numRuns: 25},
      );
    });
  });
}
