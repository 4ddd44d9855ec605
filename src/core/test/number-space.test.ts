/**
 * No number a member sends (an incarnation, a version, a timestamp) can take
 * another node out of the mesh or leave an owner unable to write its own
 * record: everything is bounded against the receiver's clock, and a claim
 * signed by a node that left carries no weight.
 */
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import {AutomergeStore, DEFAULT_HISTORY_LIMIT, loadAutomerge} from '@wgmesh/store-automerge';
import {afterEach, describe, expect, it} from 'vitest';
import {MembershipView} from '../src/control/membership-view.js';
import {encodeControlRequest} from '../src/control/messages.js';
import {emptyControlStats} from '../src/control/stats.js';
import {signStatement, toWire} from '../src/control/statements.js';
import type {MeshStore} from '../src/contracts/store.js';
import {generateIdentity} from '../src/identity/identity.js';
import {makeTestNode, silentLogger, testMeshId, wireEntry, SimulatedClock} from '@wgmesh/testkit';
import {Simulation} from './control-sim.js';

const SKEW_MS = 5 * 60_000;

let sim: Simulation | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

describe('incarnations from members', () => {
  it('a claim at Number.MAX_SAFE_INTEGER evicts nobody: the subject stays in every view, also after the claimer leaves', async () => {
    sim = new Simulation({peers: 6, seed: 1401});
    await sim.start();
    await sim.advance(5_000);
    const [victim, attacker, relay] = sim.nodes as [typeof sim.nodes[0], typeof sim.nodes[0], typeof sim.nodes[0]];
    const claim = signStatement(attacker.identity, {k: 'dead', m: sim.meshId, x: victim.id, i: Number.MAX_SAFE_INTEGER, by: attacker.id});
    const rejectedBefore = relay.control.stats().statementsRejected;
    await relay.control.handleMessage(encodeControlRequest({t: 'push', f: attacker.id, u: [toWire(claim)]}), {address: 'attacker'});
    expect(relay.control.stats().statementsRejected - rejectedBefore).toBe(1);
    await sim.advance(20_000);
    expect(sim.allViewsAre(sim.nodes)).toBe(true);
    expect(sim.events.filter((event) => event.target === victim.id)).toEqual([]);
    sim.tombstone(attacker);
    await sim.advance(10_000);
    const rest = sim.nodes.filter((node) => node !== attacker);
    expect(sim.allViewsAre(rest, rest)).toBe(true);
  });

  it('a claim a day ahead of the clock is refused everywhere it is offered, and nobody refutes it', async () => {
    sim = new Simulation({peers: 5, seed: 1402});
    await sim.start();
    await sim.advance(5_000);
    const [victim, attacker] = sim.nodes as [typeof sim.nodes[0], typeof sim.nodes[0]];
    const claim = signStatement(attacker.identity, {k: 'dead', m: sim.meshId, x: victim.id, i: sim.clock.now() + 86_400_000, by: attacker.id});
    for (const node of sim.nodes.filter((n) => n !== attacker)) {
      await node.control.handleMessage(encodeControlRequest({t: 'push', f: attacker.id, u: [toWire(claim)]}), {address: 'attacker'});
    }
    await sim.advance(10_000);
    expect(victim.control.stats().refutations).toBe(0);
    expect(sim.allViewsAre(sim.nodes)).toBe(true);
  });

  it('a claim at the bound is refuted, and the refutation is accepted by a receiver whose clock is maxClockSkew behind', async () => {
    sim = new Simulation({peers: 5, seed: 1403, settings: {maxClockSkewMs: SKEW_MS}});
    await sim.start();
    await sim.advance(5_000);
    const [victim, attacker] = sim.nodes as [typeof sim.nodes[0], typeof sim.nodes[0]];
    const claim = signStatement(attacker.identity, {k: 'dead', m: sim.meshId, x: victim.id, i: sim.clock.now() + SKEW_MS, by: attacker.id});
    await victim.control.handleMessage(encodeControlRequest({t: 'push', f: attacker.id, u: [toWire(claim)]}), {address: 'attacker'});
    expect(victim.control.stats().refutations).toBe(1);
    await sim.advance(10_000);
    expect(sim.allViewsAre(sim.nodes)).toBe(true);
  });
});

describe('the membership view', () => {
  function viewOf(nodes: number) {
    const meshId = testMeshId();
    const clock = new SimulatedClock();
    const store = new TwoPhaseStore({meshId, clock, logger: silentLogger(), gcHorizonMs: 24 * 3_600_000, maxClockSkewMs: SKEW_MS});
    const tests = Array.from({length: nodes}, () => makeTestNode(meshId, {identity: generateIdentity(), now: clock.now()}));
    store.merge(tests.map((test) => test.record()));
    const timers: {at: number; fn: () => void}[] = [];
    const view = new MembershipView({
      meshId,
      identity: tests[0]!.identity,
      store,
      clock,
      logger: silentLogger(),
      stats: emptyControlStats(),
      clusterSize: 64,
      evidenceMs: 3_000,
      confirmDelayMs: 1_500,
      maxClockSkewMs: SKEW_MS,
      after: (ms, fn) => timers.push({at: clock.now() + ms, fn}),
      onNews: () => {},
    });
    view.start();
    const advance = async (ms: number) => {
      await clock.advance(ms);
      for (const timer of timers.splice(0).filter((t) => t.at <= clock.now())) timer.fn();
      view.refresh();
    };
    return {meshId, clock, store, tests, view, advance};
  }

  it('bounds claims at maxClockSkew and refutations at twice that plus a second', () => {
    const {meshId, clock, tests, view} = viewOf(3);
    const [, claimer, subject] = tests as [typeof tests[0], typeof tests[0], typeof tests[0]];
    const now = clock.now();
    const claim = (i: number) => toWire(signStatement(claimer.identity, {k: 'dead', m: meshId, x: subject.id, i, by: claimer.id}));
    const alive = (i: number) => toWire(signStatement(subject.identity, {k: 'alive', m: meshId, x: subject.id, i}));
    expect(view.merge([claim(now + SKEW_MS + 1)], claimer.id).news).toEqual([]);
    expect(view.merge([claim(now + SKEW_MS)], claimer.id).news).toHaveLength(1);
    expect(view.merge([alive(now + 2 * SKEW_MS + 1_001)], subject.id).news).toEqual([]);
    expect(view.merge([alive(now + 2 * SKEW_MS + 1_000)], subject.id).news).toHaveLength(1);
    expect(view.incarnationOf(subject.id)).toBe(now + 2 * SKEW_MS + 1_000);
  });

  it("drops a member's claims when it leaves, and refuses those of a member it considers dead", async () => {
    const {meshId, store, tests, view, advance, clock} = viewOf(4);
    const [, claimer, subject, other] = tests as [typeof tests[0], typeof tests[0], typeof tests[0], typeof tests[0]];
    const claimBy = (by: typeof tests[0], x: string) => toWire(signStatement(by.identity, {k: 'dead', m: meshId, x, i: 0, by: by.id}));
    view.merge([claimBy(claimer, subject.id)], claimer.id);
    await advance(5_000);
    expect(view.isAlive(subject.id)).toBe(false);
    store.merge([claimer.tombstone({version: clock.now(), updatedAt: clock.now()})]);
    expect(view.isAlive(subject.id)).toBe(true);
    expect(view.claimAgainst(subject.id)).toBeUndefined();
    // The left member's claim offered again: not a member, refused.
    expect(view.merge([claimBy(claimer, subject.id)], other.id).news).toEqual([]);
    // `other` is dead here: what it signs now carries no weight.
    view.merge([claimBy(subject, other.id)], subject.id);
    await advance(5_000);
    expect(view.isAlive(other.id)).toBe(false);
    expect(view.merge([claimBy(other, subject.id)], other.id).news).toEqual([]);
    expect(view.isAlive(subject.id)).toBe(true);
  });
});

describe('record numbers from members', () => {
  const options = (meshId: string, clock: SimulatedClock) => ({meshId, clock, logger: silentLogger(), gcHorizonMs: 24 * 3_600_000, maxClockSkewMs: SKEW_MS});
  const stores: [string, (meshId: string, clock: SimulatedClock) => Promise<MeshStore>][] = [
    ['twophase', async (meshId, clock) => new TwoPhaseStore(options(meshId, clock))],
    ['automerge', async (meshId, clock) => new AutomergeStore(await loadAutomerge(), options(meshId, clock), {historyLimit: DEFAULT_HISTORY_LIMIT})],
  ];

  for (const [name, open] of stores) {
    it(`${name}: refuses a version, createdAt or updatedAt beyond maxClockSkew, so the owner can always write a newer record`, async () => {
      const meshId = testMeshId();
      const clock = new SimulatedClock();
      const store = await open(meshId, clock);
      const owner = makeTestNode(meshId, {now: clock.now()});
      const now = clock.now();
      const offers = [
        owner.record({version: Number.MAX_SAFE_INTEGER}),
        owner.record({version: now + SKEW_MS + 1}),
        owner.record({createdAt: now + SKEW_MS + 1}),
        owner.tombstone({version: Number.MAX_SAFE_INTEGER}),
      ];
      for (const offer of offers) {
        const result = store.merge([wireEntry(offer)]);
        expect(result.accepted).toEqual([]);
        expect(result.rejected[0]?.reason).toMatch(/in the future .*maxClockSkew/);
      }
      // At the bound: accepted; and the owner's next write (version + 1, a millisecond later) is accepted too.
      expect(store.merge([wireEntry(owner.record({version: now + SKEW_MS}))]).accepted).toHaveLength(1);
      await clock.advance(1);
      const next = owner.record({version: now + SKEW_MS + 1, updatedAt: clock.now(), services: {ssh: '22'}});
      expect(store.merge([wireEntry(next)]).accepted).toHaveLength(1);
      expect(store.get(owner.id)?.value).toMatchObject({services: {ssh: '22'}});
    });
  }
});
