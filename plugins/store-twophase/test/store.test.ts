import {createHash} from 'node:crypto';
import {DecodeError, encode, InvalidInputError, isBackendFactory, signEntry, type Clock} from '@wgmesh/core';
import {corruptSignature, FIXTURE_NOW, makeTestNode, recordingLogger, SimulatedClock, testMeshId, wireEntry} from '@wgmesh/testkit';
import {TwoPhaseStore, twophaseStoreFactory} from '@wgmesh/store-twophase';
import {describe, expect, it} from 'vitest';
// The hook is loaded from the build, as oclif loads it, so it hands out the very factory the package exports.
import backendsHook from '../dist/hooks/backends.js';
import {MultisetHash} from '@wgmesh/core';
import {idHint} from '../src/entry-identity.js';
import {CLOCK_SKEW_MS, GC_HORIZON_MS, hex, openStore} from './helpers.js';

const meshId = testMeshId();
const alice = makeTestNode(meshId);
const bob = makeTestNode(meshId);

describe('recognising held entries', () => {
  it('takes only a byte-identical entry as held: a held signature on another body is verified and rejected', () => {
    const store = openStore(meshId);
    const entry = alice.record({alias: 'a'});
    store.merge([wireEntry(entry)]);
    expect(store.merge([{body: new Uint8Array(entry.body), signature: new Uint8Array(entry.signature)}])).toEqual({accepted: [], rejected: []});
    const tampered = encode({...entry.value, alias: 'b'});
    const result = store.merge([{body: tampered, signature: entry.signature}]);
    expect(result.rejected).toHaveLength(1);
    expect(result.rejected[0]!.reason).toMatch(/signature/);
    expect(store.records()[0]?.alias).toBe('a');
  });
});

describe('the id hint', () => {
  it('reads the node id from an entry body without decoding it', () => {
    const entry = alice.record({alias: 'a'});
    expect(idHint(entry.body)).toBe(alice.id);
    expect(idHint(bob.tombstone().body)).toBe(bob.id);
    expect(idHint(encode({kind: 'record'}))).toBeUndefined();
  });

  it('never decides: an entry whose body misleads the hint is still recognised as held, whatever the clock says', () => {
    // A genuine, signed record whose services carry an `id` field ahead of the real one.
    const {services: _services, ...rest} = alice.recordBody({alias: 'misleading'});
    const entry = signEntry(alice.identity, {services: {id: 'ab'.repeat(16)}, ...rest});
    expect(idHint(entry.body)).toBe('ab'.repeat(16));
    let now = FIXTURE_NOW + 10_000;
    const clock: Clock = {now: () => now, setTimeout: () => ({cancel: () => undefined})};
    const store = openStore(meshId, recordingLogger(), clock);
    expect(store.merge([wireEntry(entry)]).accepted).toHaveLength(1);
    const copy = (): ReturnType<typeof wireEntry> => ({body: new Uint8Array(entry.body), signature: new Uint8Array(entry.signature)});
    // Past the horizon a new entry would be refused as expired; the held one is simply held.
    now += GC_HORIZON_MS + 1;
    expect(store.merge([copy()])).toEqual({accepted: [], rejected: []});
    const stranger = bob.record({updatedAt: FIXTURE_NOW});
    expect(store.merge([wireEntry(stranger)]).rejected[0]?.reason).toMatch(/expired/);
    // With the clock set far back it is dated in the future: a new entry is refused, the held one is held.
    now = FIXTURE_NOW - 10 * CLOCK_SKEW_MS;
    expect(store.merge([copy()])).toEqual({accepted: [], rejected: []});
    expect(store.merge([wireEntry(bob.record({updatedAt: FIXTURE_NOW}))]).rejected[0]?.reason).toMatch(/future/);
  });
});

describe('multiset hash', () => {
  const h = (text: string): Uint8Array => new Uint8Array(createHash('sha256').update(text).digest());

  it('does not depend on the order of additions and undoes them exactly', () => {
    const a = new MultisetHash(32);
    const b = new MultisetHash(32);
    for (const t of ['x', 'y', 'z']) a.add(h(t));
    for (const t of ['z', 'x', 'y']) b.add(h(t));
    expect(hex(a.bytes())).toBe(hex(b.bytes()));
    a.remove(h('y'));
    const c = new MultisetHash(32);
    c.add(h('z'));
    c.add(h('x'));
    expect(hex(a.bytes())).toBe(hex(c.bytes()));
    a.remove(h('x'));
    a.remove(h('z'));
    expect(hex(a.bytes())).toBe('00'.repeat(32));
  });

  it('carries across every limb and wraps modulo 2^256', () => {
    const ones = new Uint8Array(32).fill(0xff);
    const one = new Uint8Array(32);
    one[31] = 1;
    const sum = new MultisetHash(32);
    sum.add(ones);
    sum.add(one);
    expect(hex(sum.bytes())).toBe('00'.repeat(32));
    sum.remove(one);
    expect(hex(sum.bytes())).toBe('ff'.repeat(32));
    sum.add(ones);
    expect(hex(sum.bytes())).toBe('ff'.repeat(31) + 'fe');
  });

  it('truncates a longer hash to its width', () => {
    const sum = new MultisetHash(16);
    sum.add(h('x'));
    expect(hex(sum.bytes())).toBe(hex(h('x').subarray(0, 16)));
  });
});

describe('TwoPhaseStore', () => {
  it('has a 40-byte digest: the entry count, then the hash sum', () => {
    const store = openStore(meshId);
    store.merge([wireEntry(alice.record()), wireEntry(bob.record())]);
    const digest = store.digest();
    expect(digest.byteLength).toBe(40);
    expect(Buffer.from(digest).readBigUInt64BE(0)).toBe(2n);
  });

  it('logs each rejected entry, and only a summary past ten in one merge', () => {
    const logger = recordingLogger();
    const store = openStore(meshId, logger);
    const bad = Array.from({length: 25}, (_, i) => corruptSignature(alice.record({version: i + 1})));
    const result = store.merge(bad);
    expect(result.rejected).toHaveLength(25);
    expect(result.rejected.every((r) => r.id === alice.id)).toBe(true);
    const warnings = logger.lines.filter((line) => line.level === 'warn');
    expect(warnings).toHaveLength(11);
    expect(warnings[10]!.obj).toMatchObject({count: 15});
  });

  it('keeps merging and notifying when a listener throws', () => {
    const logger = recordingLogger();
    const store = openStore(meshId, logger);
    const seen: string[] = [];
    store.onChange(() => {
      throw new Error('listener bug');
    });
    store.onChange((change) => seen.push(change.id));
    const result = store.merge([wireEntry(alice.record()), wireEntry(bob.record())]);
    expect(result.accepted).toHaveLength(2);
    expect(seen).toEqual([alice.id, bob.id]);
    expect(logger.lines.filter((line) => line.level === 'error')).toHaveLength(2);
  });

  it('refuses a snapshot of another format', () => {
    const store = openStore(meshId);
    const other = encode({format: 'automerge-doc', version: 1, meshId, entries: []});
    expect(() => store.load(other)).toThrow(DecodeError);
  });

  it('verifies only entries it does not already hold when loading', () => {
    const source = openStore(meshId);
    source.merge([wireEntry(alice.record()), wireEntry(bob.record())]);
    const copy = openStore(meshId);
    copy.merge([wireEntry(alice.record())]);
    const result = copy.load(source.save());
    expect(result.accepted.map((e) => e.value.id)).toEqual([bob.id]);
  });

  it('refuses nonsensical options', () => {
    const base = {meshId, clock: new SimulatedClock(), logger: recordingLogger(), maxClockSkewMs: CLOCK_SKEW_MS};
    expect(() => new TwoPhaseStore({...base, gcHorizonMs: 0})).toThrow(InvalidInputError);
    expect(() => new TwoPhaseStore({...base, gcHorizonMs: GC_HORIZON_MS, maxClockSkewMs: -1})).toThrow(InvalidInputError);
  });
});

describe('store:twophase backend', () => {
  it('is announced by the wgmesh:backends hook as a branded store factory', async () => {
    const factories = await backendsHook();
    expect(factories).toEqual([twophaseStoreFactory]);
    expect(isBackendFactory(twophaseStoreFactory)).toBe(true);
    expect(twophaseStoreFactory.kind).toBe('store');
    expect(twophaseStoreFactory.name).toBe('twophase');
    expect(twophaseStoreFactory[Symbol.for('@wgmesh/backend-factory') as never]).toBe(true);
  });

  it('creates a backend that opens twophase stores', async () => {
    const backend = await twophaseStoreFactory.create({
      config: {},
      daemonConfig: {},
      logger: recordingLogger(),
      dataDir: '/nonexistent',
      signal: new AbortController().signal,
      identity: alice.identity,
      clock: new SimulatedClock(),
      random: {float: () => 0.5, bytes: (n) => new Uint8Array(n)},
    });
    expect(backend.kind).toBe('twophase');
    const store = backend.open({meshId, clock: new SimulatedClock(), logger: recordingLogger(), gcHorizonMs: GC_HORIZON_MS, maxClockSkewMs: CLOCK_SKEW_MS});
    expect(store.kind).toBe('twophase');
    expect(store.meshId).toBe(meshId);
  });
});
