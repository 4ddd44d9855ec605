/**
 * Routing between meshes: what a node advertises, which gateway it picks, and
 * how the WireGuard plan installs it, on small hand-made topologies (the
 * property tests in routing-property.test.ts cover random ones).
 */
import {describe, expect, it} from 'vitest';
import {
  DEFAULT_DESTINATION,
  RouteManager,
  advertProblem,
  advertisedRoutes,
  meshPrefix,
  selectRoutes,
  type NodeRecord,
  type RoutedMesh,
  type RouteAdvert,
  type SelectedRoute,
} from '../src/index.js';
import {homePeer, planWireGuard} from '../src/runtime/wg-plan.js';
import {recordingLogger} from '@wgmesh/testkit';
import {RoutingSim, simMeshId, simNodeId, simRecord} from './routing-sim.js';

const [M1, M2, M3, M4] = [1, 2, 3, 4].map(simMeshId) as [string, string, string, string];
const P = (meshId: string): string => meshPrefix(meshId);

describe('advertisement', () => {
  const flags = (meshId: string, advertiseRoutes: boolean, advertiseDefault = false) => ({meshId, advertiseRoutes, advertiseDefault});

  it("exports a mesh's /64 with path [mesh] into the node's other meshes, and nothing into the mesh itself", () => {
    const adverts = advertisedRoutes({meshes: [flags(M1, true), flags(M2, false), flags(M3, false)], selected: []});
    expect(adverts.get(M1)).toEqual([]);
    expect(adverts.get(M2)).toEqual([{destination: P(M1), path: [M1]}]);
    expect(adverts.get(M3)).toEqual([{destination: P(M1), path: [M1]}]);
  });

  it('re-exports the routes it uses through an exported mesh with that mesh appended, never into a mesh the path crossed', () => {
    const selected: SelectedRoute[] = [
      {destination: P(M3), meshId: M1, gatewayId: simNodeId('y'), path: [M3], hops: 1},
      {destination: P(M4), meshId: M1, gatewayId: simNodeId('y'), path: [M4, M2], hops: 2},
      // Used through M2, which this node does not export: not passed on.
      {destination: DEFAULT_DESTINATION, meshId: M2, gatewayId: simNodeId('e'), path: [], hops: 0},
    ];
    const adverts = advertisedRoutes({meshes: [flags(M1, true), flags(M2, false)], selected});
    // [M4, M2] + M1 crossed M2 already: never back into M2.
    expect(adverts.get(M2)).toEqual([
      {destination: P(M1), path: [M1]},
      {destination: P(M3), path: [M3, M1]},
    ]);
    expect(adverts.get(M1)).toEqual([]);
  });

  it('advertises ::/0 with an empty path into a mesh only with both flags (an exit), and passes a learned default on', () => {
    expect(advertisedRoutes({meshes: [flags(M1, true, true)], selected: []}).get(M1)).toEqual([{destination: DEFAULT_DESTINATION, path: []}]);
    expect(advertisedRoutes({meshes: [flags(M1, false, true)], selected: []}).get(M1)).toEqual([]);
    const learned: SelectedRoute = {destination: DEFAULT_DESTINATION, meshId: M1, gatewayId: simNodeId('e'), path: [], hops: 0};
    expect(advertisedRoutes({meshes: [flags(M1, true), flags(M2, false)], selected: [learned]}).get(M2)).toEqual([
      {destination: DEFAULT_DESTINATION, path: [M1]},
      {destination: P(M1), path: [M1]},
    ]);
  });

  it('never advertises a mesh its own prefix, whatever the path says', () => {
    const forged: SelectedRoute = {destination: P(M2), meshId: M1, gatewayId: simNodeId('y'), path: [M3], hops: 1};
    expect(advertisedRoutes({meshes: [flags(M1, true), flags(M2, false)], selected: [forged]}).get(M2)).toEqual([{destination: P(M1), path: [M1]}]);
  });

  it('accepts only ::/0 and the prefix of the path origin, with well-formed, loop-free paths', () => {
    expect(advertProblem({destination: P(M1), path: [M1, M2]})).toBeUndefined();
    expect(advertProblem({destination: DEFAULT_DESTINATION, path: []})).toBeUndefined();
    expect(advertProblem({destination: DEFAULT_DESTINATION, path: [M1]})).toBeUndefined();
    expect(advertProblem({destination: '2001:db8::/32', path: [M1]})).toMatch(/not the prefix of mesh/);
    expect(advertProblem({destination: P(M2), path: [M1]})).toMatch(/not the prefix of mesh/);
    expect(advertProblem({destination: P(M1), path: []})).toMatch(/empty path/);
    expect(advertProblem({destination: P(M1), path: [M1, M2, M1]})).toMatch(/twice/);
    expect(advertProblem({destination: P(M1), path: [M1, 'NOT-A-MESH']})).toMatch(/not a mesh id/);
  });
});

describe('selection', () => {
  const gatewayIn = (meshId: string, name: string, routes: RouteAdvert[], role: 'peer' | 'client' = 'peer'): NodeRecord => simRecord(meshId, simNodeId(name), role, routes);

  it('takes the shortest path, whatever the order of meshes and records', () => {
    const live1 = [gatewayIn(M1, 'far', [{destination: P(M4), path: [M4, M3]}]), gatewayIn(M1, 'near', [{destination: P(M4), path: [M4]}])];
    const live2 = [gatewayIn(M2, 'farther', [{destination: P(M4), path: [M4, M3]}])];
    const meshes = [
      {meshId: M1, advertiseRoutes: false, advertiseDefault: false, live: live1},
      {meshId: M2, advertiseRoutes: false, advertiseDefault: false, live: live2},
    ];
    const {routes} = selectRoutes({selfId: simNodeId('self'), meshes});
    expect(routes).toEqual([{destination: P(M4), meshId: M1, gatewayId: simNodeId('near'), path: [M4], hops: 1}]);
    const reversed = [...meshes].reverse().map((mesh) => ({...mesh, live: [...mesh.live].reverse()}));
    expect(selectRoutes({selfId: simNodeId('self'), meshes: reversed}).routes).toEqual(routes);
  });

  it('spreads equal-cost gateways over the nodes by rendezvous hashing, each node picking exactly one', () => {
    const live = ['x1', 'x2', 'x3'].map((name) => gatewayIn(M1, name, [{destination: P(M2), path: [M2]}]));
    const mesh = {meshId: M1, advertiseRoutes: false, advertiseDefault: false, live};
    const picks = new Map<string, number>();
    for (let index = 0; index < 90; index++) {
      const {routes} = selectRoutes({selfId: simNodeId(`n${index}`), meshes: [mesh]});
      expect(routes).toHaveLength(1);
      picks.set(routes[0]!.gatewayId, (picks.get(routes[0]!.gatewayId) ?? 0) + 1);
    }
    // Every gateway carries some of the 90 nodes (each would get 30 on average).
    expect([...picks.keys()].sort()).toEqual(live.map((record) => record.id).sort());
    for (const count of picks.values()) expect(count).toBeGreaterThan(10);
  });

  it('keeps its gateway when another equal-cost gateway goes away or a worse one appears', () => {
    const live = ['x1', 'x2', 'x3', 'x4'].map((name) => gatewayIn(M1, name, [{destination: P(M2), path: [M2]}]));
    const select = (records: NodeRecord[], self: string): string =>
      selectRoutes({selfId: simNodeId(self), meshes: [{meshId: M1, advertiseRoutes: false, advertiseDefault: false, live: records}]}).routes[0]!.gatewayId;
    for (let index = 0; index < 20; index++) {
      const chosen = select(live, `n${index}`);
      const others = live.filter((record) => record.id !== chosen);
      expect(select([live.find((record) => record.id === chosen)!, ...others.slice(1)], `n${index}`)).toBe(chosen);
      expect(select([...live, gatewayIn(M1, 'worse', [{destination: P(M2), path: [M2, M3]}])], `n${index}`)).toBe(chosen);
    }
  });

  it("prefers, among equal paths, one through a mesh it exports, so it can pass the route on", () => {
    const meshes = [
      {meshId: M1, advertiseRoutes: false, advertiseDefault: false, live: [gatewayIn(M1, 'a', [{destination: P(M4), path: [M4]}])]},
      {meshId: M2, advertiseRoutes: true, advertiseDefault: false, live: [gatewayIn(M2, 'b', [{destination: P(M4), path: [M4]}])]},
    ];
    for (let index = 0; index < 10; index++) {
      expect(selectRoutes({selfId: simNodeId(`n${index}`), meshes}).routes[0]?.meshId).toBe(M2);
    }
  });

  it("ignores paths through its own meshes, its own meshes' prefixes, and (as an exit) other exits' default routes", () => {
    const live = [
      gatewayIn(M1, 'x', [
        {destination: P(M3), path: [M3, M2]},
        {destination: P(M2), path: [M2]},
        {destination: DEFAULT_DESTINATION, path: []},
      ]),
    ];
    const asNode = selectRoutes({
      selfId: simNodeId('self'),
      meshes: [
        {meshId: M1, advertiseRoutes: false, advertiseDefault: false, live},
        {meshId: M2, advertiseRoutes: false, advertiseDefault: false, live: []},
      ],
    });
    expect(asNode.routes.map((route) => route.destination)).toEqual([DEFAULT_DESTINATION]);
    const asExit = selectRoutes({selfId: simNodeId('self'), meshes: [{meshId: M1, advertiseRoutes: true, advertiseDefault: true, live}]});
    expect(asExit.routes.map((route) => route.destination)).toEqual([P(M2), P(M3)].sort());
  });

  it('skips and reports malformed advertisements without losing the good ones', () => {
    const live = [gatewayIn(M1, 'x', [{destination: '2001:db8::/32', path: [M2]}, {destination: P(M2), path: [M2]}])];
    const {routes, ignored} = selectRoutes({selfId: simNodeId('self'), meshes: [{meshId: M1, advertiseRoutes: false, advertiseDefault: false, live}]});
    expect(routes.map((route) => route.destination)).toEqual([P(M2)]);
    expect(ignored).toEqual([{meshId: M1, nodeId: simNodeId('x'), destination: '2001:db8::/32', reason: expect.stringMatching(/not the prefix/)}]);
  });
});

describe('installation in the WireGuard plan', () => {
  const peers = ['p1', 'p2', 'p3'].map((name) => simRecord(M1, simNodeId(name), 'peer'));
  const clients = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'].map((name) => simRecord(M1, simNodeId(name), 'client'));
  const live = [...peers, ...clients];
  const prefix = P(M1);
  const route = (gateway: NodeRecord, destination = P(M2)): SelectedRoute => ({destination, meshId: M1, gatewayId: gateway.id, path: [M2], hops: 1});
  const allowedOf = (plan: ReturnType<typeof planWireGuard>, record: NodeRecord): string[] | undefined => plan.peers.find((peer) => peer.publicKey === record.wgPublicKey)?.allowedIps;

  it("gives the destination to exactly the gateway peer's allowed IPs and routes it via the gateway's mesh address", () => {
    const [self, gateway] = peers as [NodeRecord, NodeRecord];
    const plan = planWireGuard({selfId: self.id, self, live, prefix, keepaliveSeconds: 0, routes: [route(gateway), route(gateway, DEFAULT_DESTINATION)]});
    expect(allowedOf(plan, gateway)).toEqual(expect.arrayContaining([P(M2), DEFAULT_DESTINATION]));
    const everyAllowed = plan.peers.flatMap((peer) => peer.allowedIps);
    expect(everyAllowed.filter((cidr) => cidr === P(M2))).toHaveLength(1);
    expect(new Set(everyAllowed).size).toBe(everyAllowed.length);
    expect(plan.routes).toEqual([
      {destination: P(M2), via: gateway.address},
      {destination: DEFAULT_DESTINATION, via: gateway.address},
    ]);
    // Not a gateway and no clients of its own: no forwarding needed here.
    const homed = clients.filter((client) => homePeer(client.id, peers)?.id === self.id);
    expect(plan.forwarding).toBe(homed.length > 0);
  });

  it("reaches a client gateway through its home peer, or directly when it is homed here", () => {
    const gateway = clients[0]!;
    const home = homePeer(gateway.id, peers)!;
    const other = peers.find((peer) => peer.id !== home.id)!;
    const viaHome = planWireGuard({selfId: other.id, self: other, live, prefix, keepaliveSeconds: 0, routes: [route(gateway)]});
    expect(allowedOf(viaHome, home)).toContain(P(M2));
    expect(viaHome.routes).toEqual([{destination: P(M2), via: home.address}]);
    const atHome = planWireGuard({selfId: home.id, self: home, live, prefix, keepaliveSeconds: 0, routes: [route(gateway)]});
    expect(allowedOf(atHome, gateway)).toEqual([`${gateway.address}/128`, P(M2)]);
    expect(atHome.routes).toEqual([{destination: P(M2), via: gateway.address}]);
    // A home peer relays for its clients.
    expect(atHome.forwarding).toBe(true);
  });

  it('gives a client its routed destinations through its home peer', () => {
    const client = clients[1]!;
    const home = homePeer(client.id, peers)!;
    const gateway = peers.find((peer) => peer.id !== home.id)!;
    const plan = planWireGuard({selfId: client.id, self: client, live, prefix, keepaliveSeconds: 25, routes: [route(gateway)]});
    expect(plan.peers).toEqual([{publicKey: home.wgPublicKey, endpoint: home.wgEndpoint, allowedIps: [prefix, P(M2)], keepaliveSeconds: 25}]);
    expect(plan.routes).toEqual([{destination: P(M2), via: home.address}]);
    expect(plan.forwarding).toBe(false);
  });

  it('skips a route whose gateway is no longer live, and marks an advertising node as forwarding', () => {
    const [self] = peers as [NodeRecord];
    const gone = simRecord(M1, simNodeId('gone'), 'peer');
    const plan = planWireGuard({selfId: self.id, self, live, prefix, keepaliveSeconds: 0, routes: [route(gone)]});
    expect(plan.routes).toEqual([]);
    expect(plan.peers.flatMap((peer) => peer.allowedIps)).not.toContain(P(M2));
    const bridge = {...self, routes: [{destination: P(M3), path: [M3]}]};
    expect(planWireGuard({selfId: bridge.id, self: bridge, live, prefix, keepaliveSeconds: 0}).forwarding).toBe(true);
  });
});

describe('topologies (synchronous model)', () => {
  it('a bridge X between M1 and M2 gives N1 and N2 a 1-hop route to each other through X', () => {
    const sim = new RoutingSim()
      .add('n1', {[M1]: {}})
      .add('n2', {[M2]: {}})
      .add('x', {[M1]: {advertiseRoutes: true}, [M2]: {advertiseRoutes: true}});
    sim.converge();
    expect(sim.route('n1', P(M2))).toEqual({destination: P(M2), meshId: M1, gatewayId: simNodeId('x'), path: [M2], hops: 1});
    expect(sim.route('n2', P(M1))?.gatewayId).toBe(simNodeId('x'));
    expect(sim.selection('x')).toEqual([]);
  });

  it('a chain M1-X-M2-Y-M3 gives N1 a 2-hop route to M3; a direct bridge switches it to 1 hop', () => {
    const sim = new RoutingSim()
      .add('n1', {[M1]: {}})
      .add('x', {[M1]: {advertiseRoutes: true}, [M2]: {advertiseRoutes: true}})
      .add('y', {[M2]: {advertiseRoutes: true}, [M3]: {advertiseRoutes: true}})
      .add('n3', {[M3]: {}});
    sim.converge();
    expect(sim.route('n1', P(M3))).toEqual({destination: P(M3), meshId: M1, gatewayId: simNodeId('x'), path: [M3, M2], hops: 2});
    expect(sim.route('n3', P(M1))?.path).toEqual([M1, M2]);
    expect(sim.walk('n1', P(M3))).toEqual({visited: ['n1', 'x', 'y'], end: 'delivered'});
    sim.add('z', {[M1]: {advertiseRoutes: true}, [M3]: {advertiseRoutes: true}});
    sim.converge();
    expect(sim.route('n1', P(M3))).toEqual({destination: P(M3), meshId: M1, gatewayId: simNodeId('z'), path: [M3], hops: 1});
    // Withdrawal: z gone, back to 2 hops through x.
    sim.down.add('z');
    sim.converge();
    expect(sim.route('n1', P(M3))?.hops).toBe(2);
  });

  it("an exit's ::/0 is used by the others, not by a second exit, and is passed on by a bridge", () => {
    const sim = new RoutingSim()
      .add('e1', {[M1]: {advertiseRoutes: true, advertiseDefault: true}})
      .add('e2', {[M1]: {advertiseRoutes: true, advertiseDefault: true}})
      .add('n', {[M1]: {}})
      .add('x', {[M1]: {advertiseRoutes: true}, [M2]: {}})
      .add('m', {[M2]: {}});
    sim.converge();
    expect([simNodeId('e1'), simNodeId('e2')]).toContain(sim.route('n', DEFAULT_DESTINATION)?.gatewayId);
    expect(sim.route('e1', DEFAULT_DESTINATION)).toBeUndefined();
    expect(sim.route('e2', DEFAULT_DESTINATION)).toBeUndefined();
    expect(sim.route('m', DEFAULT_DESTINATION)).toEqual({destination: DEFAULT_DESTINATION, meshId: M2, gatewayId: simNodeId('x'), path: [M1], hops: 1});
    expect(sim.walk('m', DEFAULT_DESTINATION).end).toBe('delivered');
  });
});

describe('route manager', () => {
  /** A mesh runtime double: records publishes and installed routes. */
  function fakeMesh(meshId: string, flags: {advertiseRoutes: boolean; advertiseDefault?: boolean}, others: NodeRecord[]): RoutedMesh & {installed: SelectedRoute[][]; published: RouteAdvert[][]} {
    let self = simRecord(meshId, simNodeId('self'), 'peer');
    const mesh = {
      meshId,
      settings: {advertiseRoutes: flags.advertiseRoutes, advertiseDefault: flags.advertiseDefault ?? false},
      installed: [] as SelectedRoute[][],
      published: [] as RouteAdvert[][],
      liveRecords: () => [self, ...others],
      self: () => self,
      setRoutes: (routes: readonly SelectedRoute[]) => void mesh.installed.push([...routes]),
      publishSelf: async (patch: {routes: RouteAdvert[]}) => {
        mesh.published.push(patch.routes);
        self = {...self, routes: patch.routes};
      },
    };
    return mesh;
  }

  it('installs the selection in each mesh at once and re-publishes a record only when its advertisements change', async () => {
    const m1 = fakeMesh(M1, {advertiseRoutes: true}, [simRecord(M1, simNodeId('y'), 'peer', [{destination: P(M3), path: [M3]}])]);
    const m2 = fakeMesh(M2, {advertiseRoutes: false}, [simRecord(M2, simNodeId('z'), 'peer')]);
    let queue = Promise.resolve();
    const manager = new RouteManager({
      selfId: simNodeId('self'),
      meshes: () => [m1, m2],
      exclusive: (task) => (queue = queue.then(task)),
      logger: recordingLogger(),
    });
    manager.update();
    expect(m1.installed.at(-1)).toEqual([{destination: P(M3), meshId: M1, gatewayId: simNodeId('y'), path: [M3], hops: 1}]);
    expect(m2.installed.at(-1)).toEqual([]);
    await queue;
    expect(m2.published).toEqual([
      [
        {destination: P(M1), path: [M1]},
        {destination: P(M3), path: [M3, M1]},
      ],
    ]);
    expect(m1.published).toEqual([]);
    // Nothing changed: no new version of any record.
    manager.update();
    manager.update();
    await queue;
    expect(m2.published).toHaveLength(1);
    manager.stop();
  });

  it('logs each set of malformed advertisements once', () => {
    const logger = recordingLogger();
    const bad = fakeMesh(M1, {advertiseRoutes: false}, [simRecord(M1, simNodeId('y'), 'peer', [{destination: '2001:db8::/32', path: [M3]}])]);
    const manager = new RouteManager({selfId: simNodeId('self'), meshes: () => [bad], exclusive: async () => undefined, logger});
    manager.update();
    manager.update();
    expect(logger.lines.filter((line) => line.level === 'warn' && /malformed route advertisement/.test(line.msg ?? ''))).toHaveLength(1);
  });
});
