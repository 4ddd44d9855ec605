import {afterEach, describe, expect, it} from 'vitest';
import {DIAL_BACKOFF} from '../src/control/dial-backoff.js';
import {DEAD_PROBE_HORIZON_MS, deriveTimings} from '../src/control/settings.js';
import {makeTestNode} from '@wgmesh/testkit';
import {Simulation, type SimNode} from './control-sim.js';

let sim: Simulation | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

/** An endpoint no simulated node listens on: every dial of it is refused at once. */
const NOWHERE = 'nowhere:4000';
const HOUR = 3_600_000;

/** A member whose record advertises `endpoint` and that never runs: signed and merged into `into`'s store, from where it spreads. */
function advertiseRogue(s: Simulation, into: SimNode, endpoint: string): string {
  const rogue = makeTestNode(s.meshId, {now: s.clock.now()});
  const result = into.store.merge([rogue.record({controlEndpoint: endpoint, wgEndpoint: 'nowhere:51820'})]);
  expect(result.accepted).toHaveLength(1);
  return rogue.id;
}

/** When each node dialled `endpoint`, by node name. */
function dialTimes(s: Simulation, endpoint: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const dial of s.dials) if (dial.to === endpoint) out.set(dial.from, [...(out.get(dial.from) ?? []), dial.at]);
  return out;
}

describe('dials to an endpoint that never answers', () => {
  it('are bounded and exponentially spaced over an hour, and only one node tries it after the horizon', async () => {
    sim = new Simulation({peers: 5, seed: 91});
    await sim.start();
    await sim.advance(5_000);
    const startedAt = sim.clock.now();
    const rogue = advertiseRogue(sim, sim.nodes[0]!, NOWHERE);
    for (let t = 0; t < HOUR; t += 10_000) await sim.advance(10_000);

    const perNode = dialTimes(sim, NOWHERE);
    const total = [...perNode.values()].reduce((sum, times) => sum + times.length, 0);
    console.log(`an hour of a member advertising an endpoint nobody serves, 5 nodes: ${total} dials (${[...perNode.values()].map((times) => times.length).join(', ')} per node)`);
    // Every node learnt the record and tried it; nobody honest was lost on the way.
    expect(perNode.size).toBe(sim.nodes.length);
    expect(sim.nodes.every((node) => !node.control.isAlive(rogue))).toBe(true);
    expect(sim.events.filter((event) => event.target !== rogue)).toEqual([]);

    const {deadProbePeriodMs} = deriveTimings(sim.settings);
    const {graceMs, capMs, jitter} = DIAL_BACKOFF;
    for (const [name, times] of perNode) {
      // The probe rounds that found it dead (a dozen dials in 2 s), a minute at the dead-member probe's pace (20),
      // then ~60 s, 120 s, 240 s, 480 s apart up to the horizon, then nothing (the keeper: one every cap).
      expect(times.length, name).toBeLessThanOrEqual(12 + graceMs / deadProbePeriodMs + 8);
      console.log(`${name}: dials at ${times.map((at) => Math.round((at - times[0]!) / 1000)).join(' ')} s`);
      const first = times[0]!;
      for (let i = 1; i < times.length; i++) {
        const failingFor = times[i - 1]! - first;
        if (failingFor < graceMs) continue;
        const gap = times[i]! - times[i - 1]!;
        // Each wait is the time failed so far (jittered), at most the cap; the probe runs on its own period, hence the slack.
        const wait = Math.min(capMs, failingFor);
        expect(gap, `${name}: gap after ${failingFor} ms of failing`).toBeGreaterThanOrEqual(wait * (1 - jitter));
        expect(gap, `${name}: gap after ${failingFor} ms of failing`).toBeLessThanOrEqual(wait * (1 + jitter) + 2 * deadProbePeriodMs);
      }
    }
    // Past the horizon (counted from each node's first failure, a few seconds after the record arrived) one node, the keeper, still tries, once per cap.
    const late = sim.dials.filter((dial) => dial.to === NOWHERE && dial.at > startedAt + DEAD_PROBE_HORIZON_MS + 60_000);
    expect(new Set(late.map((dial) => dial.from)).size).toBe(1);
    expect(late.length).toBeLessThanOrEqual(Math.ceil((HOUR - DEAD_PROBE_HORIZON_MS) / (capMs * (1 - jitter))));
    expect(late.length).toBeGreaterThanOrEqual(1);
  });

  it('still let a partition that outlasts the horizon heal by itself', async () => {
    sim = new Simulation({peers: 5, seed: 93, settings: {deadProbeHorizonMs: 5 * 60_000}});
    await sim.start();
    await sim.advance(10_000);
    const sideA = sim.nodes.slice(0, 3);
    const sideB = sim.nodes.slice(3);
    sim.network.partition(
      sideA.map((node) => node.name),
      sideB.map((node) => node.name),
    );
    for (let t = 0; t < 20 * 60_000; t += 10_000) await sim.advance(10_000);
    expect(sim.allViewsAre(sideA, sideA) && sim.allViewsAre(sideB, sideB)).toBe(true);
    sim.network.heal();
    // The keepers try every cap at most (jittered), and one success heals everything.
    const healed = await sim.until(() => sim!.allViewsAre(sim!.nodes), DIAL_BACKOFF.capMs * (1 + DIAL_BACKOFF.jitter) + 30_000, 'full view after a long partition', 100);
    console.log(`a 20-minute partition (horizon 5 min): every view complete ${healed} ms after the heal`);
  });

  it('let a node that was down for minutes come back at once when it restarts', async () => {
    sim = new Simulation({peers: 6, seed: 95});
    await sim.start();
    await sim.advance(10_000);
    const victim = sim.nodes[2]!;
    await sim.crash(victim);
    // Long past the grace: every other node's dials to it are backed off by now.
    for (let t = 0; t < 5 * 60_000; t += 10_000) await sim.advance(10_000);
    expect(sim.allViewsAre(sim.upNodes, sim.upNodes)).toBe(true);
    await sim.restart(victim, sim.nodes[0]!);
    const back = await sim.until(() => sim!.allViewsAre(sim!.nodes), 10_000, 'restarted node back everywhere');
    console.log(`a node down for 5 min was back in every view ${back} ms after its restart`);
    expect(back).toBeLessThanOrEqual(3 * sim.settings.syncIntervalMs);
    // And a change it makes reaches everyone at once.
    const version = sim.publish(victim, {alias: 'back-again'});
    await sim.until(() => sim!.nodes.every((node) => node.store.get(victim.id)?.value.version === version), 2_000, 'its change everywhere');
  });

  it('let a node that was cut off from everyone for minutes come back as soon as the link heals', async () => {
    sim = new Simulation({peers: 6, seed: 97});
    await sim.start();
    await sim.advance(10_000);
    const lonely = sim.nodes[4]!;
    const rest = sim.nodes.filter((node) => node !== lonely);
    sim.network.partition(
      [lonely.name],
      rest.map((node) => node.name),
    );
    // Long past the grace: every failure of its own would back its dials off, but it reached nobody, so they say nothing.
    for (let t = 0; t < 5 * 60_000; t += 10_000) await sim.advance(10_000);
    expect(sim.allViewsAre(rest, rest)).toBe(true);
    sim.network.heal();
    const back = await sim.until(() => sim!.allViewsAre(sim!.nodes), 60_000, 'the isolated node back everywhere', 100);
    console.log(`a node cut off for 5 min was back in every view ${back} ms after the heal`);
    expect(back).toBeLessThanOrEqual(2 * sim.settings.heartbeatIntervalMs);
  });

  it('fall off too when the member runs, heartbeats and stays alive, but cannot be reached at what it advertises', async () => {
    sim = new Simulation({peers: 6, seed: 99});
    await sim.start();
    await sim.advance(5_000);
    const liar = sim.nodes[1]!;
    sim.publish(liar, {controlEndpoint: NOWHERE});
    const from = sim.clock.now();
    for (let t = 0; t < 20 * 60_000; t += 10_000) await sim.advance(10_000);
    const dials = sim.dials.filter((dial) => dial.to === NOWHERE);
    const lastTen = dials.filter((dial) => dial.at >= from + 10 * 60_000).length;
    console.log(`a live member advertising an endpoint nobody serves, 6 nodes, 20 min: ${dials.length} dials, ${lastTen} in the last 10 min`);
    // Its heartbeats keep it alive: being unreachable at its endpoint is not a reason to remove it.
    expect(sim.nodes.every((node) => node.control.isAlive(liar.id))).toBe(true);
    expect(sim.events).toEqual([]);
    // Hearing from it does not reopen its endpoint: each node is down to about one try per backoff cap.
    expect(lastTen).toBeLessThanOrEqual(2 * (sim.nodes.length - 1));
  });
});
