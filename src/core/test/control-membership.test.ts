import {afterEach, describe, expect, it} from 'vitest';
import {Simulation, type SimNode, type ViewEvent} from './control-sim.js';

let sim: Simulation | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

/** Deaths of nodes that were not down (or, with `allowed`, not on the other side of a cut). */
function falseDeaths(events: readonly ViewEvent[], allowed: (event: ViewEvent) => boolean): ViewEvent[] {
  return events.filter((event) => event.kind === 'died' && !allowed(event));
}

function detectionBound(s: Simulation): number {
  return 3 * s.settings.heartbeatIntervalMs + 2 * s.settings.syncIntervalMs;
}

describe('failure detection', () => {
  it('removes crashed peers and clients from every view within 3 x heartbeat + 2 x sync, with no false positive', async () => {
    sim = new Simulation({peers: 20, clients: 6, seed: 41});
    await sim.start();
    await sim.advance(10_000);
    const clients = sim.nodes.filter((node) => node.role === 'client');
    const crashed = new Set<string>();
    // Several clients at once: their monitors probe them at the same time and
    // must not vouch for one another (a dead client is heard by nobody).
    const waves: [SimNode[], 'refused' | 'silent'][] = [
      [[sim.nodes[5]!], 'refused'],
      [clients.slice(0, 3), 'refused'],
      // Requests to these time out instead of failing: the slow path of every probe.
      [[sim.nodes[9]!, clients[3]!], 'silent'],
    ];
    for (const [victims, how] of waves) {
      for (const victim of victims) {
        await (how === 'silent' ? sim.crashSilently(victim) : sim.crash(victim));
        crashed.add(victim.id);
      }
      const what = victims.map((victim) => victim.role).join(' + ');
      const elapsed = await sim.until(() => sim!.allViewsAre(sim!.upNodes), detectionBound(sim), `${what} crash detected everywhere`, 10);
      console.log(`crashed ${what} (${how}) left all ${sim.upNodes.length} live views in ${elapsed} ms (bound ${detectionBound(sim)} ms)`);
      await sim.advance(5_000);
    }
    await sim.advance(60_000);
    expect(sim.allViewsAre(sim.upNodes)).toBe(true);
    expect(falseDeaths(sim.events, (event) => crashed.has(event.target))).toEqual([]);
    expect(sim.events.filter((event) => event.kind === 'revived')).toEqual([]);
    // About one claim per crash; monitors do not all pile on. (Crashed nodes
    // count too: a later victim may have made an earlier claim.)
    const claims = sim.nodes.reduce((total, node) => total + node.control.stats().accusations, 0);
    expect(claims).toBeGreaterThanOrEqual(crashed.size);
    expect(claims).toBeLessThanOrEqual(crashed.size * 3);
  });

  it('lets a crashed node that restarts refute the claim and come back everywhere', async () => {
    sim = new Simulation({peers: 10, clients: 2, seed: 43});
    await sim.start();
    await sim.advance(10_000);
    const victim = sim.nodes[3]!;
    await sim.crash(victim);
    await sim.until(() => sim!.allViewsAre(sim!.upNodes, sim!.upNodes), detectionBound(sim), 'crash detected');
    await sim.advance(5_000);
    await sim.restart(victim, sim.nodes[0]!);
    const back = await sim.until(() => sim!.allViewsAre(sim!.nodes), 5_000, 'restarted node back everywhere');
    console.log(`restarted node refuted and was back in every view after ${back} ms`);
    expect(back).toBeLessThanOrEqual(3 * sim.settings.syncIntervalMs);
    expect(victim.control.stats().refutations).toBe(1);
    await sim.advance(30_000);
    expect(sim.allViewsAre(sim.nodes)).toBe(true);
  });

  it('marks the other side dead on each side of a 3/2 partition, and restores every view on its own after the heal', async () => {
    sim = new Simulation({peers: 5, seed: 51});
    await sim.start();
    await sim.advance(10_000);
    const sideA = sim.nodes.slice(0, 3);
    const sideB = sim.nodes.slice(3);
    const sideOf = (id: string): SimNode[] => (sideA.some((node) => node.id === id) ? sideA : sideB);
    sim.network.partition(
      sideA.map((node) => node.name),
      sideB.map((node) => node.name),
    );
    const split = await sim.until(() => sim!.allViewsAre(sideA, sideA) && sim!.allViewsAre(sideB, sideB), 2 * detectionBound(sim), 'each side sees only itself');
    console.log(`partition: each side removed the other after ${split} ms`);
    // Nobody lost a node of its own side on the way.
    expect(falseDeaths(sim.events, (event) => sideOf(event.observer) !== sideOf(event.target))).toEqual([]);
    await sim.advance(30_000);
    expect(sim.allViewsAre(sideA, sideA) && sim.allViewsAre(sideB, sideB)).toBe(true);

    const healedAt = sim.clock.now();
    sim.network.heal();
    const healed = await sim.until(() => sim!.allViewsAre(sim!.nodes), 15_000, 'full view after heal');
    console.log(`heal: every view complete again after ${healed} ms`);
    // A node tries one dead member every DEAD_PROBE_EVERY_ROUNDS sync intervals; one success is enough.
    expect(healed).toBeLessThanOrEqual(3 * sim.settings.syncIntervalMs + 2 * sim.settings.heartbeatIntervalMs);
    await sim.advance(60_000);
    expect(sim.allViewsAre(sim.nodes)).toBe(true);
    // After the heal, nobody was removed again.
    expect(sim.events.filter((event) => event.kind === 'died' && event.at > healedAt + healed)).toEqual([]);
  });

  it('does not let an isolated node declare anyone dead, lets it see itself isolated (a local view), and brings it back after the heal', async () => {
    sim = new Simulation({peers: 6, seed: 53});
    await sim.start();
    await sim.advance(10_000);
    const lonely = sim.nodes[2]!;
    const rest = sim.nodes.filter((node) => node !== lonely);
    sim.network.partition(
      [lonely.name],
      rest.map((node) => node.name),
    );
    const cutAt = sim.clock.now();
    // Isolated after 3H without contact, seen at the next check (H/4).
    const noticed = await sim.until(() => lonely.control.isolatedSince() !== undefined, 3 * sim.settings.heartbeatIntervalMs + sim.settings.heartbeatIntervalMs / 2, 'the cut-off node to see itself isolated');
    console.log(`isolated node saw itself isolated ${noticed} ms after the cut`);
    expect(lonely.control.isolatedSince()).toBeLessThanOrEqual(cutAt);
    await sim.until(() => sim!.allViewsAre(rest, rest), detectionBound(sim), 'the rest removed the isolated node');
    await sim.advance(20_000);
    // Its probes found no helper to confirm anything: it keeps its view and makes no claim.
    expect(lonely.control.stats().accusations).toBe(0);
    expect(sim.view(lonely).size).toBe(sim.nodes.length);
    expect(rest.every((node) => lonely.control.unreachableFromHere(node.id))).toBe(true);
    expect(lonely.control.unreachableFromHere(lonely.id)).toBe(false);
    expect(rest.every((node) => node.control.isolatedSince() === undefined)).toBe(true);
    sim.network.heal();
    const healed = await sim.until(() => sim!.allViewsAre(sim!.nodes), 15_000, 'isolated node back everywhere');
    console.log(`isolated node back in every view ${healed} ms after the heal`);
    await sim.until(() => lonely.control.isolatedSince() === undefined, sim.settings.heartbeatIntervalMs, 'the node to see itself connected again');
    expect(falseDeaths(sim.events, (event) => event.target === lonely.id)).toEqual([]);
  });

  it('never declares dead a node that is cut off from only one other node', async () => {
    sim = new Simulation({peers: 8, seed: 61});
    await sim.start();
    await sim.advance(5_000);
    const a = sim.nodes[0]!;
    // Cut a from one of its monitors, so its direct heartbeats to it fail and the monitor's pings fail too.
    const monitor = sim.nodes.find((node) => node.id === a.control.monitors()[0])!;
    sim.network.partition([a.name], [monitor.name]);
    await sim.advance(120_000);
    expect(sim.events).toEqual([]);
    expect(a.control.stats().heartbeatsRelayed).toBeGreaterThan(10);
    expect(sim.allViewsAre(sim.nodes)).toBe(true);
    // Locally: that monitor is unreachable from a, nobody else is, and a is not isolated.
    expect(a.control.isolatedSince()).toBeUndefined();
    expect(sim.nodes.filter((node) => a.control.unreachableFromHere(node.id)).map((node) => node.name)).toEqual([monitor.name]);
  });

  it('never declares dead a node that can reach only one other node, which relays its heartbeats', async () => {
    sim = new Simulation({peers: 8, seed: 75});
    await sim.start();
    await sim.advance(5_000);
    const [a, lifeline] = sim.nodes as [SimNode, SimNode];
    sim.network.partition(
      [a.name],
      sim.nodes.filter((node) => node !== a && node !== lifeline).map((node) => node.name),
    );
    await sim.advance(120_000);
    expect(sim.events).toEqual([]);
    expect(sim.allViewsAre(sim.nodes)).toBe(true);
    // One working path is not isolation.
    expect(a.control.isolatedSince()).toBeUndefined();
    expect(a.control.unreachableFromHere(lifeline.id)).toBe(false);
    // a's changes still get out through its one link.
    const version = sim.publish(a, {alias: 'through-the-lifeline'});
    await sim.until(() => sim!.nodes.every((node) => node.store.get(a.id)?.value.version === version), 5_000, 'change from the cut-off node everywhere');
  });

  it('does not probe its peers after its own process stalled, nor is it declared dead for a stall shorter than the detection time', async () => {
    sim = new Simulation({peers: 8, seed: 83});
    await sim.start();
    await sim.advance(10_000);
    const frozen = sim.nodes[3]!;
    const before = frozen.control.stats();
    // Longer than the silence that starts probing (3H/2): the heartbeats its predecessors sent meanwhile sit unread.
    sim.stall(frozen, 3_500);
    await sim.advance(15_000);
    const after = frozen.control.stats();
    expect(after.stallsDetected).toBeGreaterThan(before.stallsDetected);
    expect(after.probeRounds).toBe(before.probeRounds);
    expect(sim.events).toEqual([]);
    expect(sim.allViewsAre(sim.nodes)).toBe(true);
  });

  it('converges and has no false positive over three minutes with 1% loss at 50 nodes', async () => {
    sim = new Simulation({peers: 50, seed: 71, lossRate: 0.01});
    await sim.start();
    await sim.advance(5_000);
    const source = sim.nodes[17]!;
    const version = sim.publish(source, {alias: 'lossy'});
    const elapsed = await sim.until(() => sim!.nodes.every((node) => node.store.get(source.id)?.value.version === version), 2_000, 'change everywhere', 1);
    console.log(`with 1% loss a change reached all 50 nodes in ${elapsed} ms`);
    await sim.advance(180_000);
    const probes = sim.nodes.reduce((total, node) => total + node.control.stats().probeRounds, 0);
    console.log(`1% loss, 50 nodes, 3 min: ${probes} probe rounds, ${sim.events.length} view changes`);
    expect(sim.events).toEqual([]);
    expect(sim.allViewsAre(sim.nodes)).toBe(true);
  });

  it('has no false positive at 20% loss, where heartbeats go missing and probes really run', async () => {
    sim = new Simulation({peers: 30, clients: 3, seed: 73, lossRate: 0.2});
    await sim.start();
    await sim.advance(120_000);
    const stats = sim.nodes.map((node) => node.control.stats());
    const probes = stats.reduce((total, s) => total + s.probeRounds, 0);
    const relayed = stats.reduce((total, s) => total + s.heartbeatsRelayed, 0);
    console.log(`20% loss, 33 nodes, 2 min: ${relayed} relayed heartbeats, ${probes} probe rounds, ${sim.events.length} view changes`);
    expect(probes).toBeGreaterThan(0);
    expect(sim.events).toEqual([]);
  });
});
