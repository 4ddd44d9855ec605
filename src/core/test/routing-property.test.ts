/**
 * Property tests of routing on random topologies (fast-check): random meshes,
 * nodes in random subsets of them with random flags, a few exits; the model
 * (routing-sim.ts) runs rounds of the real selection and advertisement until
 * nothing changes. In every converged state, whatever the topology and
 * whatever failed before:
 * - no route loop: following gateways from any node reaches a node that
 *   delivers the destination, one mesh per hop, exactly as the path says;
 * - every node uses at most one gateway per destination, and its WireGuard
 *   plan gives each destination to exactly one peer;
 * - an exit never uses a default route;
 * - a one-hop route exists wherever a bridge exports its mesh;
 * - nodes that advertise nothing never change anybody's selection when they
 *   come or go.
 */
import fc from 'fast-check';
import {describe, expect, it} from 'vitest';
import {DEFAULT_DESTINATION, meshPrefix, selectRoutes, type NodeRecord, type RoutingMesh} from '../src/index.js';
import {planWireGuard} from '../src/runtime/wg-plan.js';
import {RoutingSim, simMeshId, simNodeId, simRecord, type Membership} from './routing-sim.js';

/** One node of a random topology: the meshes it is in (indices) and its flags there. */
interface NodeSpec {
  meshes: {mesh: number; advertiseRoutes: boolean; exit: boolean; client: boolean}[];
}

const nodeSpec: fc.Arbitrary<NodeSpec> = fc.record({
  meshes: fc.array(
    fc.record({
      mesh: fc.nat({max: 5}),
      advertiseRoutes: fc.boolean(),
      // Exits and clients are rarer than plain peers.
      exit: fc.integer({min: 0, max: 7}).map((n) => n === 0),
      client: fc.integer({min: 0, max: 5}).map((n) => n === 0),
    }),
    {minLength: 1, maxLength: 3},
  ),
});

const topology = fc.record({meshCount: fc.integer({min: 2, max: 6}), nodes: fc.array(nodeSpec, {minLength: 2, maxLength: 9})});

/** The memberships of a spec in a topology of `meshCount` meshes (a mesh listed twice counts once). */
function memberships(spec: NodeSpec, meshCount: number): Record<string, Membership> {
  const result: Record<string, Membership> = {};
  for (const entry of spec.meshes) {
    const meshId = simMeshId(entry.mesh % meshCount);
    result[meshId] ??= {advertiseRoutes: entry.advertiseRoutes, advertiseDefault: entry.advertiseRoutes && entry.exit, role: entry.client ? 'client' : 'peer'};
  }
  return result;
}

function build(input: {meshCount: number; nodes: NodeSpec[]}): RoutingSim {
  const sim = new RoutingSim();
  input.nodes.forEach((spec, index) => sim.add(`n${index}`, memberships(spec, input.meshCount)));
  return sim;
}

/** Every node's selection, by node name. */
function selections(sim: RoutingSim): Map<string, string> {
  return new Map([...sim.nodes.keys()].filter((name) => !sim.down.has(name)).map((name) => [name, JSON.stringify(sim.selection(name))]));
}

/** Check every invariant of a converged state; returns the number of routes checked. */
function checkConverged(sim: RoutingSim): number {
  let checked = 0;
  for (const name of sim.nodes.keys()) {
    if (sim.down.has(name)) continue;
    const selection = sim.selection(name);
    const destinations = selection.map((route) => route.destination);
    expect(new Set(destinations).size, `${name} uses one gateway per destination`).toBe(destinations.length);
    if (sim.owns(name, DEFAULT_DESTINATION)) expect(destinations, `exit ${name} uses no default route`).not.toContain(DEFAULT_DESTINATION);
    for (const route of selection) {
      const gateway = sim.nameOf(route.gatewayId);
      expect(sim.down.has(gateway), `${name} routes ${route.destination} via live ${gateway}`).toBe(false);
      const walk = sim.walk(name, route.destination);
      expect(walk.end, `${name} -> ${route.destination}: ${walk.visited.join(' -> ')}`).toBe('delivered');
      // One gateway per mesh crossed: a mesh prefix takes `hops` gateways, the default route one more (the exit).
      expect(walk.visited.length - 1).toBe(route.destination === DEFAULT_DESTINATION ? route.hops + 1 : route.hops);
      checked++;
    }
    // The WireGuard plan of each mesh gives every allowed IP to one peer only.
    for (const mesh of sim.routingMeshes(name)) {
      const self = mesh.live.find((record) => record.id === simNodeId(name));
      if (!self) continue;
      const plan = planWireGuard({
        selfId: self.id,
        self,
        live: mesh.live,
        prefix: meshPrefix(mesh.meshId),
        keepaliveSeconds: 0,
        routes: selection.filter((route) => route.meshId === mesh.meshId),
      });
      const allowed = plan.peers.flatMap((peer) => peer.allowedIps);
      expect(new Set(allowed).size, `${name} in ${mesh.meshId}: no allowed IP on two peers`).toBe(allowed.length);
    }
  }
  return checked;
}

/** Where a bridge exports mesh O into a mesh N, every node of N outside O has a 1-hop route to O; next to an exit, a 0-hop default. */
function checkOneHop(sim: RoutingSim): void {
  for (const [bridge, bridgeMeshes] of sim.nodes) {
    if (sim.down.has(bridge)) continue;
    for (const [origin, flags] of bridgeMeshes) {
      if (!flags.advertiseRoutes) continue;
      for (const target of bridgeMeshes.keys()) {
        for (const [name, meshes] of sim.nodes) {
          if (target === origin || name === bridge || sim.down.has(name) || !meshes.has(target) || meshes.has(origin)) continue;
          expect(sim.route(name, meshPrefix(origin))?.hops, `${name} reaches ${origin} in one hop via ${bridge}`).toBe(1);
        }
      }
      if (!flags.advertiseDefault) continue;
      for (const [name, meshes] of sim.nodes) {
        if (name === bridge || sim.down.has(name) || !meshes.has(origin) || sim.owns(name, DEFAULT_DESTINATION)) continue;
        expect(sim.route(name, DEFAULT_DESTINATION)?.hops, `${name} uses an exit of its own mesh`).toBe(0);
      }
    }
  }
}

const RUNS = 100;

describe('routing on random topologies', () => {
  it('converges, and the converged state has no loop, one gateway per destination, and one-hop routes next to every bridge', () => {
    let routes = 0;
    fc.assert(
      fc.property(topology, (input) => {
        const sim = build(input);
        sim.converge(4 * input.meshCount + 8);
        routes += checkConverged(sim);
        checkOneHop(sim);
      }),
      {numRuns: RUNS},
    );
    // The topologies are not trivially empty: many routes were checked.
    expect(routes).toBeGreaterThan(RUNS);
  });

  it('after nodes fail or leave, re-converges to a state with no loop and no route through a node that is gone', () => {
    fc.assert(
      fc.property(topology, fc.array(fc.nat(), {minLength: 1, maxLength: 3}), fc.boolean(), (input, victims, leave) => {
        const sim = build(input);
        sim.converge(4 * input.meshCount + 8);
        const names = [...sim.nodes.keys()];
        for (const victim of victims) {
          const name = names[victim % names.length]!;
          if (leave) sim.remove(name);
          else sim.down.add(name);
        }
        sim.converge(4 * input.meshCount + 8);
        checkConverged(sim);
        checkOneHop(sim);
      }),
      {numRuns: RUNS},
    );
  });

  it('nodes that advertise nothing change nobody’s selection when they come or go', () => {
    fc.assert(
      fc.property(topology, nodeSpec, (input, quiet) => {
        const sim = build(input);
        sim.converge(4 * input.meshCount + 8);
        const before = selections(sim);
        const plain: NodeSpec = {meshes: quiet.meshes.map((entry) => ({...entry, advertiseRoutes: false, exit: false}))};
        sim.add('quiet', memberships(plain, input.meshCount));
        sim.converge(4 * input.meshCount + 8);
        const during = selections(sim);
        during.delete('quiet');
        expect(during).toEqual(before);
        sim.remove('quiet');
        expect(sim.converge(4 * input.meshCount + 8)).toBe(0);
        expect(selections(sim)).toEqual(before);
      }),
      {numRuns: RUNS},
    );
  });
});

describe('rendezvous choice among equal-cost gateways', () => {
  const M1 = simMeshId(1);
  const destination = meshPrefix(simMeshId(2));
  const pick = (self: string, gateways: readonly string[], extra: NodeRecord[] = []): string | undefined => {
    const live = [...gateways.map((name) => simRecord(M1, simNodeId(name), 'peer', [{destination, path: [simMeshId(2)]}])), ...extra];
    const mesh: RoutingMesh = {meshId: M1, advertiseRoutes: false, advertiseDefault: false, live};
    return selectRoutes({selfId: simNodeId(self), meshes: [mesh]}).routes[0]?.gatewayId;
  };

  it('moves only when the chosen gateway goes, never when another one goes or a longer path appears', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({min: 0, max: 50}), {minLength: 2, maxLength: 8}), fc.nat(), fc.nat(), (ids, self, removed) => {
        const gateways = ids.map((id) => `g${id}`);
        const chosen = pick(`s${self}`, gateways)!;
        expect(gateways.map(simNodeId)).toContain(chosen);
        const victim = gateways[removed % gateways.length]!;
        const rest = gateways.filter((name) => name !== victim);
        if (simNodeId(victim) !== chosen) expect(pick(`s${self}`, rest)).toBe(chosen);
        const longer = simRecord(M1, simNodeId('longer'), 'peer', [{destination, path: [simMeshId(2), simMeshId(3)]}]);
        expect(pick(`s${self}`, gateways, [longer])).toBe(chosen);
        // Any order of the same candidates gives the same choice.
        expect(pick(`s${self}`, [...gateways].reverse())).toBe(chosen);
      }),
      {numRuns: 300},
    );
  });
});
