import {describe, expect, it} from 'vitest';
import {Ring, ringPosition, sample} from '../src/control/ring.js';
import {StatementTable} from '../src/control/statement-table.js';
import {compareRanks, rankOf, signStatement, toWire, verifyStatement, type StatementContext} from '../src/control/statements.js';
import {Scheduler} from '../src/control/scheduler.js';
import {deriveTimings} from '../src/control/settings.js';
import {EntryRejectedError, InvalidInputError} from '../src/errors.js';
import {generateIdentity} from '../src/identity/identity.js';
import {SeededRandom, silentLogger, testMeshId, SimulatedClock} from '@wgmesh/testkit';
import {encode} from '../src/util/codec.js';
import {DEFAULT_SETTINGS} from './control-sim.js';

describe('SeededRandom', () => {
  it('repeats its sequence for a seed and differs between seeds', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const c = new SeededRandom(43);
    const seqA = Array.from({length: 8}, () => a.float());
    expect(Array.from({length: 8}, () => b.float())).toEqual(seqA);
    expect(Array.from({length: 8}, () => c.float())).not.toEqual(seqA);
    expect(seqA.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('is roughly uniform', () => {
    const random = new SeededRandom(7);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) buckets[Math.floor(random.float() * 10)]!++;
    for (const count of buckets) expect(Math.abs(count - 10_000)).toBeLessThan(500);
    expect(random.bytes(5)).toHaveLength(5);
  });
});

function ringOf(count: number, clusterSize: number, meshId = 'mesh'): {ring: Ring; ids: string[]} {
  const ids = Array.from({length: count}, (_, i) => i.toString(16).padStart(32, '0'));
  return {ring: new Ring(ids.map((id) => ({id, position: ringPosition(meshId, id)})), clusterSize), ids};
}

describe('Ring', () => {
  it('orders peers by position and gives successors and predecessors that wrap around', () => {
    const members = [
      {id: 'c', position: 30},
      {id: 'a', position: 10},
      {id: 'b', position: 20},
      {id: 'd', position: 40},
    ];
    const ring = new Ring(members, 64);
    expect(ring.ids()).toEqual(['a', 'b', 'c', 'd']);
    expect(ring.successors('c', 30, 3)).toEqual(['d', 'a', 'b']);
    expect(ring.predecessors('a', 2)).toEqual(['d', 'c']);
    // A node not on the ring (a client) starts at the peer at or after its position: its home peer.
    expect(ring.successors('client', 25, 2)).toEqual(['c', 'd']);
    expect(ring.successors('client', 45, 2)).toEqual(['a', 'b']);
    // Never more than the other peers, never self.
    expect(ring.successors('a', 10, 10)).toEqual(['b', 'c', 'd']);
  });

  it('makes p a predecessor of m exactly when m is a successor of p', () => {
    const {ring, ids} = ringOf(40, 8);
    for (const p of ids) {
      for (const m of ring.successors(p, 0, 3)) expect(ring.predecessors(m, 3)).toContain(p);
    }
  });

  it('picks partners inside the own cluster, never self or excluded ones', () => {
    const {ring, ids} = ringOf(256, 64);
    const random = new SeededRandom(1);
    const order = ring.ids();
    const self = order[70]!; // cluster 1: ring indices 64..127
    const excluded = order[71]!;
    for (let i = 0; i < 200; i++) {
      const picked = ring.pick(self, 0, 3, random, {exclude: new Set([excluded]), interClusterChance: 0});
      expect(picked).toHaveLength(3);
      expect(new Set(picked).size).toBe(3);
      for (const id of picked) {
        const index = order.indexOf(id);
        expect(index).toBeGreaterThanOrEqual(64);
        expect(index).toBeLessThan(128);
        expect(id).not.toBe(self);
        expect(id).not.toBe(excluded);
      }
    }
    expect(ids).toHaveLength(256);
  });

  it('takes one partner from another cluster about interClusterChance of the time', () => {
    const {ring} = ringOf(256, 64);
    const random = new SeededRandom(2);
    const order = ring.ids();
    const self = order[10]!;
    let outside = 0;
    const rounds = 4000;
    for (let i = 0; i < rounds; i++) {
      const picked = ring.pick(self, 0, 3, random, {interClusterChance: 0.15});
      if (picked.some((id) => order.indexOf(id) >= 64)) outside++;
    }
    expect(outside / rounds).toBeGreaterThan(0.12);
    expect(outside / rounds).toBeLessThan(0.18);
    const forced = ring.pick(self, 0, 1, random, {interClusterChance: 0, forceOutside: true});
    expect(order.indexOf(forced[0]!)).toBeGreaterThanOrEqual(64);
  });

  it('spreads partner choices evenly over the cluster', () => {
    const {ring} = ringOf(64, 64);
    const random = new SeededRandom(3);
    const self = ring.ids()[0]!;
    const counts = new Map<string, number>();
    for (let i = 0; i < 6300; i++) for (const id of ring.pick(self, 0, 1, random, {interClusterChance: 0})) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect(counts.size).toBe(63);
    for (const count of counts.values()) expect(count).toBeGreaterThan(50);
  });

  it('tops up from other clusters when the own cluster is too small, and handles tiny rings', () => {
    const {ring} = ringOf(5, 2);
    const random = new SeededRandom(4);
    const self = ring.ids()[0]!;
    expect(new Set(ring.pick(self, 0, 4, random, {interClusterChance: 0})).size).toBe(4);
    expect(new Ring([], 64).pick('x', 0, 3, random, {interClusterChance: 1})).toEqual([]);
    expect(new Ring([{id: 'x', position: 1}], 64).pick('x', 1, 3, random, {interClusterChance: 1})).toEqual([]);
  });

  it('positions differ between meshes', () => {
    const id = 'ab'.repeat(16);
    expect(ringPosition('mesh-a', id)).not.toBe(ringPosition('mesh-b', id));
    expect(sample([1, 2, 3], 5, new SeededRandom(1)).sort()).toEqual([1, 2, 3]);
  });
});

describe('membership statements', () => {
  const meshId = testMeshId();
  const alice = generateIdentity();
  const bob = generateIdentity();
  const carol = generateIdentity();
  const keys = new Map([alice, bob, carol].map((identity) => [identity.nodeId, identity.signingKey]));
  const context: StatementContext = {meshId, signingKeyOf: (id) => keys.get(id)};

  it('verify when signed by the right node, and rank claims above refutations of the same incarnation', () => {
    const claim = signStatement(bob, {k: 'dead', m: meshId, x: alice.nodeId, i: 5, by: bob.nodeId});
    const refutation = signStatement(alice, {k: 'alive', m: meshId, x: alice.nodeId, i: 6});
    const sameIncarnation = signStatement(alice, {k: 'alive', m: meshId, x: alice.nodeId, i: 5});
    expect(verifyStatement(toWire(claim), context).value).toEqual(claim.value);
    expect(verifyStatement(toWire(refutation), context).value).toEqual(refutation.value);
    expect(compareRanks(rankOf(refutation), rankOf(claim))).toBeGreaterThan(0);
    expect(compareRanks(rankOf(claim), rankOf(sameIncarnation))).toBeGreaterThan(0);
    expect(compareRanks(rankOf(claim), rankOf(claim))).toBe(0);
  });

  it('reject forgeries, refutations on behalf of others, foreign meshes, strangers and self-accusation', () => {
    const forge = (body: object, signer = carol) => {
      const bytes = encode(body);
      return {b: bytes, s: signer.sign(bytes)};
    };
    const reject = (wire: {b: Uint8Array; s: Uint8Array}, ctx = context) => expect(() => verifyStatement(wire, ctx)).toThrow(EntryRejectedError);
    reject(forge({k: 'dead', m: meshId, x: alice.nodeId, i: 1, by: bob.nodeId})); // claims bob, signed by carol
    reject(forge({k: 'alive', m: meshId, x: alice.nodeId, i: 9})); // refutes for alice, signed by carol
    reject(forge({k: 'alive', m: 'other-mesh', x: carol.nodeId, i: 9}));
    reject(forge({k: 'dead', m: meshId, x: carol.nodeId, i: 1, by: carol.nodeId}));
    reject(forge({k: 'dead', m: meshId, x: alice.nodeId, i: 1, by: carol.nodeId, extra: 1}));
    reject(forge({k: 'alive', m: meshId, x: carol.nodeId, i: -1}));
    reject({b: new Uint8Array([1, 2, 3]), s: new Uint8Array(64)});
    const stranger = generateIdentity();
    reject(forge({k: 'alive', m: meshId, x: stranger.nodeId, i: 1}, stranger));
    expect(() => signStatement(carol, {k: 'dead', m: meshId, x: carol.nodeId, i: 1, by: carol.nodeId})).toThrow(EntryRejectedError);
    expect(() => signStatement(carol, {k: 'alive', m: meshId, x: alice.nodeId, i: 1})).toThrow(EntryRejectedError);
  });

  it('table keeps the winner per node, digests order-independently and diffs both ways', () => {
    const claimA = signStatement(bob, {k: 'dead', m: meshId, x: alice.nodeId, i: 0, by: bob.nodeId});
    const refuteA = signStatement(alice, {k: 'alive', m: meshId, x: alice.nodeId, i: 1});
    const claimC = signStatement(alice, {k: 'dead', m: meshId, x: carol.nodeId, i: 0, by: alice.nodeId});
    const one = new StatementTable();
    const two = new StatementTable();
    expect(one.digest()).toHaveLength(0);
    expect(one.offer(claimA)).toBe(true);
    expect(one.offer(refuteA)).toBe(true);
    expect(one.offer(claimA)).toBe(false);
    one.offer(claimC);
    two.offer(claimC);
    two.offer(refuteA);
    expect(Buffer.from(one.digest())).toEqual(Buffer.from(two.digest()));
    const three = new StatementTable();
    three.offer(claimA);
    expect(Buffer.from(three.digest())).not.toEqual(Buffer.from(one.digest()));
    const {give, want} = three.diff(one.summaries(100), 100);
    expect(give).toEqual([]);
    expect(want.sort()).toEqual([alice.nodeId, carol.nodeId].sort());
    const back = one.diff(three.summaries(100), 100);
    expect(back.give.map((s) => s.value.x).sort()).toEqual([alice.nodeId, carol.nodeId].sort());
    expect(back.want).toEqual([]);
  });
});

describe('timings', () => {
  it('fit the detection bound of 3 x heartbeatInterval + 2 s with the defaults, a few sync intervals more for a node every push missed', () => {
    const t = deriveTimings(DEFAULT_SETTINGS);
    const {heartbeatIntervalMs: h, syncIntervalMs: sync} = DEFAULT_SETTINGS;
    // Worst case on a network where failures take the whole timeout (see settings.ts).
    const claimed = t.silenceMs + t.checkPeriodMs + t.probeTimeoutMs + t.probeGapMs + t.probeTimeoutMs;
    // The push flood takes well under a sync interval; count a whole one.
    expect(claimed + sync + t.confirmDelayMs).toBeLessThanOrEqual(3 * h + 2_000);
    // A node that every push missed gets the claim by anti-entropy, up to two rounds later.
    expect(claimed + 2 * sync + t.confirmDelayMs).toBeLessThanOrEqual(3 * h + 3 * sync);
    // The confirmation window outlasts one anti-entropy round and a probe (how a missed refutation arrives).
    expect(t.confirmDelayMs).toBeGreaterThanOrEqual(sync + t.probeTimeoutMs);
    expect(t.evidenceMs).toBeLessThanOrEqual(t.silenceMs);
  });

  it('are refused for settings a control plane cannot run on: a missing, non-finite, negative or zero value names its key', () => {
    const {maxClockSkewMs: _skew, ...withoutSkew} = DEFAULT_SETTINGS;
    // Without it, every claim's bound was NaN: no claim was ever accepted, no node ever declared dead.
    expect(() => deriveTimings(withoutSkew as typeof DEFAULT_SETTINGS)).toThrow(new InvalidInputError('control setting maxClockSkewMs must be a finite number above 0 (got undefined)'));
    expect(() => deriveTimings({...DEFAULT_SETTINGS, heartbeatIntervalMs: Number.NaN})).toThrow(/heartbeatIntervalMs .*got NaN/);
    expect(() => deriveTimings({...DEFAULT_SETTINGS, branch: 0})).toThrow(/branch must be a finite number above 0/);
    expect(() => deriveTimings({...DEFAULT_SETTINGS, timeoutMs: -1})).toThrow(/timeoutMs/);
    expect(() => deriveTimings({...DEFAULT_SETTINGS, syncIntervalMs: Number.POSITIVE_INFINITY})).toThrow(/syncIntervalMs/);
    // Zero is a setting of its own for these two.
    expect(deriveTimings({...DEFAULT_SETTINGS, pullIntervalMs: 0, interClusterChance: 0}).heartbeatPeriodMs).toBe(DEFAULT_SETTINGS.heartbeatIntervalMs);
  });
});

describe('Scheduler.everyOnBeat', () => {
  it('runs tasks whose periods are multiples of the beat on the beat, the others on timers of their own', async () => {
    const clock = new SimulatedClock();
    const scheduler = new Scheduler(clock, new SeededRandom(5), silentLogger());
    const runs = new Map<string, number[]>();
    const task = (name: string, periodMs: number) => ({name, periodMs, run: () => void runs.set(name, [...(runs.get(name) ?? []), clock.now()])});
    scheduler.everyOnBeat(500, [task('check', 500), task('heartbeat', 1_000), task('probe', 3_000), task('odd', 700)]);
    await clock.advance(60_000);
    scheduler.stop();
    const count = (name: string) => runs.get(name)?.length ?? 0;
    // Periods are jittered by ±5%, so the counts are close to 60 s / period, not exact.
    expect(count('check')).toBeGreaterThanOrEqual(114);
    expect(count('check')).toBeLessThanOrEqual(126);
    expect(count('heartbeat')).toBe(Math.ceil(count('check') / 2));
    expect(count('probe')).toBe(Math.ceil(count('check') / 6));
    expect(count('odd')).toBeGreaterThanOrEqual(80);
    expect(count('odd')).toBeLessThanOrEqual(90);
    // The shared timer is the point: a beat task never wakes the node at a moment of its own.
    const beats = new Set(runs.get('check'));
    for (const name of ['heartbeat', 'probe']) for (const at of runs.get(name)!) expect(beats.has(at)).toBe(true);
    expect(runs.get('odd')!.filter((at) => !beats.has(at)).length).toBeGreaterThan(70);
  });

  it('skips a run of a task whose last run is still going, and keeps the other tasks on time', async () => {
    const clock = new SimulatedClock();
    const scheduler = new Scheduler(clock, new SeededRandom(6), silentLogger());
    let slowRuns = 0;
    let fastRuns = 0;
    const slow = async () => {
      slowRuns++;
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 1_200));
    };
    scheduler.everyOnBeat(500, [
      {name: 'slow', periodMs: 500, run: slow},
      {name: 'fast', periodMs: 500, run: () => void fastRuns++},
    ]);
    await clock.advance(10_000);
    scheduler.stop();
    expect(fastRuns).toBeGreaterThanOrEqual(19);
    // Each slow run spans about three beats: the beats in between skip it.
    expect(slowRuns).toBeLessThanOrEqual(Math.ceil(fastRuns / 2));
    expect(slowRuns).toBeGreaterThanOrEqual(Math.floor(fastRuns / 4));
  });
});

describe('Ring clusters', () => {
  it('lists the own cluster without the node itself', () => {
    const {ring} = ringOf(130, 64);
    const order = ring.ids();
    const cluster = ring.clusterOf(order[3]!, 0);
    expect(cluster).toHaveLength(64);
    expect(cluster).not.toContain(order[3]);
    expect(cluster).toEqual(order.slice(0, 65).filter((id) => id !== order[3]));
  });
});
