import {afterEach, describe, expect, it} from 'vitest';
import {Simulation, type SimNode} from './control-sim.js';

let sim: Simulation | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

function sum(nodes: readonly SimNode[], key: keyof ReturnType<SimNode['control']['stats']>): number {
  return nodes.reduce((total, node) => total + node.control.stats()[key], 0);
}

describe('gossip', () => {
  it.each([5, 50])('pushes a change from one node to all %i nodes in well under a sync interval', async (count) => {
    sim = new Simulation({peers: count, seed: count});
    await sim.start();
    await sim.advance(5_000);
    const source = sim.nodes[count - 1]!;
    const version = sim.publish(source, {alias: 'changed'});
    const holders = (): number => sim!.nodes.filter((node) => node.store.get(source.id)?.value.version === version).length;
    const t99 = await sim.until(() => holders() >= Math.ceil(0.99 * count), 1_000, '99% of nodes', 1);
    const t100 = t99 + (await sim.until(() => holders() === count, 2_000, 'every node', 1));
    console.log(`change reached 99% of ${count} nodes in ${t99} ms, 100% in ${t100} ms (5 ms latency)`);
    // A few push hops of 5 ms each. Anti-entropy runs once a second per node
    // with one partner, so it could not have carried the change this far this fast.
    expect(t100).toBeLessThan(200);
    expect(sim.events).toEqual([]);
  });

  it('pushes every batch over the same few links while the ring stays the same, and replaces a partner that leaves', async () => {
    sim = new Simulation({peers: 30, seed: 41});
    await sim.start();
    await sim.advance(5_000);
    const {branch} = sim.settings;
    const spread = async (origin: SimNode, alias: string) => {
      const version = sim!.publish(origin, {alias});
      await sim!.until(() => sim!.nodes.every((node) => !node.up || node.store.get(origin.id)?.value.version === version), 1_000, `${alias} everywhere`, 1);
    };
    for (const node of sim.nodes) node.pushedTo.length = 0;
    for (const origin of sim.nodes.slice(0, 10)) await spread(origin, `change-${origin.index}`);
    // Partners drawn afresh for each batch would make that about a dozen distinct peers per node;
    // stable ones are the successor and `branch` partners (one a spare for a batch from a partner).
    const distinct = sim.nodes.map((node) => new Set(node.pushedTo).size);
    expect(Math.max(...distinct)).toBeLessThanOrEqual(branch + 1);
    expect(distinct.reduce((a, b) => a + b, 0)).toBeGreaterThan(sim.nodes.length * (branch - 1));

    // A partner that leaves is replaced; the others stay.
    const node = sim.nodes[12]!;
    const partners = new Set(node.pushedTo);
    const leaver = sim.nodes.find((other) => partners.has(other.name) && other.index >= 10 && other.index !== 12)!;
    sim.tombstone(leaver);
    const leaving = leaver.control.leave();
    await sim.until(() => sim!.nodes.every((other) => other === leaver || !sim!.view(other).has(leaver.id)), 2_000, 'the leaver gone', 1);
    await leaving;
    await sim.crash(leaver);
    node.pushedTo.length = 0;
    for (const origin of sim.nodes.slice(0, 5)) await spread(origin, `after-${origin.index}`);
    const after = new Set(node.pushedTo);
    expect(after.has(leaver.name)).toBe(false);
    // Kept: all but the leaver and perhaps the spare (unused in these five batches).
    expect([...after].filter((endpoint) => partners.has(endpoint)).length).toBeGreaterThanOrEqual(partners.size - 2);
  });

  it('pushes a batch that none of its kept partners took to other peers in the next round', async () => {
    sim = new Simulation({peers: 20, seed: 43});
    await sim.start();
    await sim.advance(5_000);
    const node = sim.nodes[5]!;
    const publishFrom = (alias: string) => sim!.publish(node, {alias});
    publishFrom('first');
    await sim.advance(500);
    const kept = new Set(node.pushedTo);
    expect(kept.size).toBe(sim.settings.branch);

    // Every link to the successor and the partners down: the first push of the next change fails everywhere.
    sim.network.partition([node.name], [...kept]);
    node.pushedTo.length = 0;
    publishFrom('second');
    await sim.advance(3 * sim.settings.syncIntervalMs);
    const first = node.pushedTo.slice(0, kept.size);
    const retried = node.pushedTo.slice(kept.size);
    expect(new Set(first)).toEqual(kept);
    expect(retried.length).toBeGreaterThan(0);
    expect(retried.filter((endpoint) => kept.has(endpoint))).toEqual([]);
  });

  it('exchanges only digests when idle and stays well under 1 KB/s per node', async () => {
    sim = new Simulation({peers: 50, seed: 11});
    await sim.start();
    await sim.advance(10_000);
    const before = {
      bytes: sim.network.stats.bytes,
      messages: sim.network.stats.messages,
      rounds: sum(sim.nodes, 'antiEntropyRounds'),
      equal: sum(sim.nodes, 'antiEntropyEqual'),
      syncs: sum(sim.nodes, 'storeSyncs'),
    };
    const seconds = 60;
    await sim.advance(seconds * 1_000);
    const perNode = (sim.network.stats.bytes - before.bytes) / sim.nodes.length / seconds;
    const messagesPerNode = (sim.network.stats.messages - before.messages) / sim.nodes.length / seconds;
    const rounds = sum(sim.nodes, 'antiEntropyRounds') - before.rounds;
    console.log(`idle traffic, 50 peers: ${perNode.toFixed(0)} bytes/s and ${messagesPerNode.toFixed(1)} deliveries/s per node (payload bytes, both directions counted once)`);
    expect(perNode).toBeLessThan(1_000);
    // One request a second (a heartbeat carrying the round's digests) and its reply; two and a half
    // requests before digests rode on heartbeats. Dead-member probes and stray rounds add a little.
    expect(messagesPerNode).toBeLessThan(2.5);
    expect(rounds).toBeGreaterThan(0.9 * 50 * seconds);
    expect(rounds).toBeLessThan(1.1 * 50 * seconds);
    // Rounds are counted when they start and `equal` when they end: the window's edges may differ by the rounds in flight.
    expect(sum(sim.nodes, 'antiEntropyEqual') - before.equal).toBeGreaterThanOrEqual(rounds - sim.nodes.length);
    expect(sum(sim.nodes, 'storeSyncs')).toBe(before.syncs);
    expect(sim.events).toEqual([]);
  });

  it('never dials a client; clients pull what peers change and push what they change', async () => {
    sim = new Simulation({peers: 8, clients: 4, seed: 21});
    await sim.start();
    await sim.advance(5_000);
    const everyone = sim.nodes;
    const has = (id: string, version: number) => (): boolean => everyone.every((node) => node.store.get(id)?.value.version === version);

    const peer = sim.nodes[0]!;
    const peerVersion = sim.publish(peer, {alias: 'peer-change'});
    const toClients = await sim.until(has(peer.id, peerVersion), 2 * sim.settings.syncIntervalMs + 200, 'peer change everywhere');

    const client = sim.nodes.find((node) => node.role === 'client')!;
    const clientVersion = sim.publish(client, {alias: 'client-change'});
    const peers = everyone.filter((node) => node.role === 'peer');
    const hasClientChange = (nodes: readonly SimNode[]) => (): boolean => nodes.every((node) => node.store.get(client.id)?.value.version === clientVersion);
    const toPeers = await sim.until(hasClientChange(peers), 500, 'client change at every peer', 1);
    const toAll = toPeers + (await sim.until(hasClientChange(everyone), 2 * sim.settings.syncIntervalMs, 'client change everywhere', 1));
    console.log(`peer change reached clients in ${toClients} ms (pull); client change reached peers in ${toPeers} ms (push), other clients in ${toAll} ms`);
    expect(toPeers).toBeLessThan(200);
    expect(toAll).toBeLessThanOrEqual(sim.settings.syncIntervalMs + 100);

    await sim.advance(30_000);
    // Every node sends at least a heartbeat a second, so the check below is about real traffic.
    expect(sim.dialled.length).toBeGreaterThan(sim.nodes.length * 30);
    expect(sim.dialled.filter((endpoint) => !endpoint.startsWith('peer-'))).toEqual([]);
    expect(sim.clientInbound).toEqual([]);
    expect(sim.events).toEqual([]);
    // Clients are watched by peers all the same.
    const watchedClients = new Set(sim.nodes.flatMap((node) => node.control.watching()).filter((id) => sim!.nodes.find((n) => n.id === id)?.role === 'client'));
    expect(watchedClients.size).toBe(4);
  });

  it.each(['peer', 'client'] as const)('removes a %s that leaves from every view within a few pushes, not a detection bound', async (role) => {
    sim = new Simulation({peers: 20, clients: 3, seed: 31});
    await sim.start();
    await sim.advance(5_000);
    const leaver = sim.nodes.find((node) => node.role === role && node.index > 2)!;
    sim.tombstone(leaver);
    const leaving = leaver.control.leave();
    const others = sim.nodes.filter((node) => node !== leaver);
    const gone = (nodes: readonly SimNode[]) => (): boolean => nodes.every((node) => !sim!.view(node).has(leaver.id));
    const peers = others.filter((node) => node.role === 'peer');
    const byPush = await sim.until(gone(peers), 3_000, 'leave seen by every peer', 1);
    const byPull = byPush + (await sim.until(gone(others), 3_000, 'leave seen by every client', 1));
    await leaving;
    await sim.crash(leaver);
    console.log(`${role} leave seen by all ${peers.length} peers in ${byPush} ms (push), by the clients in ${byPull} ms (pull)`);
    expect(byPush).toBeLessThan(100);
    expect(byPull).toBeLessThanOrEqual(sim.settings.syncIntervalMs + 100);
    // Leaving is not dying.
    expect(sim.events).toEqual([]);
    await sim.advance(20_000);
    expect(sim.events).toEqual([]);
  });
});
