/**
 * End to end: routing between meshes and through exits, with real daemons,
 * real WireGuard (wireguard-go) and ICMPv6, each node in a network namespace
 * of its own (see e2e-netns.test.ts for the lab). One topology grows through
 * the tests, which run in order:
 *
 *   M1: n1, x1, e1, e2 (+ x2, z later)      e1, e2: exits (::/0) of M1
 *   M2: n2, c2 (a client), x1, y (+ x2)     x1, x2: bridges M1-M2
 *   M3: n3, y (+ z)                          y: bridge M2-M3; z: bridge M1-M3
 *
 * Every bridge joins both its meshes with --advertise-routes. Checked on
 * every host: `ip -6 route show proto 119` and `wg show` agree with what the
 * node's own view of the meshes selects (one WireGuard peer and one kernel
 * route per destination), pings cross the bridges, forwarding is turned on
 * by the driver where a node relays, and the hosts' own default routes are
 * never touched. Measured times are printed at the end.
 */
import {DEFAULT_DESTINATION, meshPrefix, selectRoutes, type NodeRecord, type RoutingMesh} from '@wgmesh/core';
import type {MeshSummary, MeshView, NodeView} from '@wgmesh/core/client';
import {netnsAvailable, skipWithout} from '@wgmesh/testkit';
import {isDeepStrictEqual} from 'node:util';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {timed} from './helpers/mesh-cluster.js';
import {NetnsCluster, waitForPing, type NetnsNode} from './helpers/netns-cluster.js';

const SKIP = skipWithout('the routing end-to-end tests in network namespaces', netnsAvailable());

/** Failure-detection bound at the default intervals (heartbeatInterval 2 s): 3 x 2 s + 2 s. */
const DETECTION_BOUND_MS = 8_000;
/** Routes follow a record change within a few gossip rounds (syncInterval 1 s). */
const CONVERGENCE_MS = 15_000;
/** A first handshake (or one across two tunnels) and a few pings; WireGuard retries a lost handshake after 5 s. */
const PING_BOUND_MS = 30_000;
const TEST_TIMEOUT_MS = 90_000;
/** The address every exit answers on (on its loopback): "the internet" behind the exits. */
const BEYOND_EXIT = '2001:db8:ee::1';
const NAMES = ['n1', 'n2', 'c2', 'n3', 'x1', 'x2', 'y', 'z', 'e1', 'e2'] as const;
type Name = (typeof NAMES)[number];
type MeshLabel = 'M1' | 'M2' | 'M3';

/** What a node joined a mesh with. */
interface Joined {
  role: 'peer' | 'client';
  advertiseRoutes: boolean;
  advertiseDefault: boolean;
}

/** One destination as a host has it installed. */
interface Installed {
  /** Mesh whose interface carries it. */
  meshId: string;
  /** Next hop of the kernel route (a mesh address). */
  via: string;
  /** Public key of the one WireGuard peer whose allowed IPs hold it. */
  peerKey: string;
}

describe.skipIf(SKIP)('routing between meshes and exits with real WireGuard in network namespaces', {timeout: TEST_TIMEOUT_MS}, () => {
  let cluster: NetnsCluster | undefined;
  const mesh: Record<MeshLabel, string> = {M1: '', M2: '', M3: ''};
  const ids = new Map<Name, {nodeId: string; wgPublicKey: string}>();
  /** Memberships as the test made them: node -> mesh id -> flags. */
  const joined = new Map<Name, Map<string, Joined>>();
  /** Nodes whose daemons run (a killed one is removed). */
  const running = new Set<Name>(NAMES);
  const measured: Record<string, number> = {};

  const node = (name: Name): NetnsNode => cluster!.node(name);
  const idOf = (name: Name): string => ids.get(name)!.nodeId;
  const nameOfId = (id: string): Name => [...ids].find(([, value]) => value.nodeId === id)![0];
  const nameOfKey = (key: string): Name | undefined => [...ids].find(([, value]) => value.wgPublicKey === key)?.[0];
  const P = (label: MeshLabel): string => meshPrefix(mesh[label]);
  const meshesOf = (name: Name): string[] => [...(joined.get(name)?.keys() ?? [])];

  function joinArgs(flags: Partial<Joined>): string[] {
    return [
      ...(flags.role === 'client' ? ['--role', 'client', '--keepalive', '5'] : []),
      ...(flags.advertiseRoutes ? ['--advertise-routes'] : []),
      ...(flags.advertiseDefault ? ['--advertise-default'] : []),
    ];
  }

  function remember(name: Name, meshId: string, flags: Partial<Joined>): void {
    if (!joined.has(name)) joined.set(name, new Map());
    joined.get(name)!.set(meshId, {role: flags.role ?? 'peer', advertiseRoutes: flags.advertiseRoutes ?? false, advertiseDefault: flags.advertiseDefault ?? false});
  }

  /**
   * One invite per mesh, issued by its creator (its admin) right after
   * creating it, for every node of the test: joins go on while the admin is down.
   */
  const invites = new Map<MeshLabel, string>();

  async function create(name: Name, label: MeshLabel, flags: Partial<Joined> = {}): Promise<void> {
    ({meshId: mesh[label]} = await node(name).cliJson<{meshId: string}>(['mesh', 'create', ...joinArgs(flags)]));
    invites.set(label, await node(name).invite(mesh[label], {uses: 50}));
    remember(name, mesh[label], flags);
  }

  async function join(name: Name, label: MeshLabel, via: Name, flags: Partial<Joined> = {}): Promise<void> {
    await node(name).cliJson(['mesh', 'join', mesh[label], '--invite', invites.get(label)!, '--via', node(via).endpoint, ...joinArgs(flags)]);
    remember(name, mesh[label], flags);
  }

  async function leave(name: Name, label: MeshLabel): Promise<void> {
    await node(name).cliJson(['mesh', 'leave', mesh[label]]);
    joined.get(name)!.delete(mesh[label]);
  }

  /** Members of a mesh the test expects alive. */
  function members(label: MeshLabel): Name[] {
    return NAMES.filter((name) => running.has(name) && joined.get(name)?.has(mesh[label]));
  }

  /** Wait until every live member of each mesh sees exactly the live members. */
  async function viewsSettle(labels: readonly MeshLabel[], timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        for (const label of labels) {
          const want = members(label).map(idOf).sort().join(',');
          for (const name of members(label)) if ((await node(name).view(mesh[label])).join(',') !== want) return false;
        }
        return true;
      },
      timeoutMs,
      `every member of ${labels.join(', ')} to see exactly the live members`,
    );
  }

  /** Each mesh of `name` as its daemon shows it. */
  async function views(name: Name): Promise<Map<string, MeshView>> {
    return new Map(await Promise.all(meshesOf(name).map(async (meshId) => [meshId, await node(name).call('mesh.show', {meshId})] as const)));
  }

  /** The mesh address of `name` in `meshId`, from `name`'s own view. */
  async function addressIn(name: Name, label: MeshLabel): Promise<string> {
    return (await node(name).call('mesh.show', {meshId: mesh[label]})).nodes.find((view) => view.self)!.address;
  }

  /** A record for the pure selection, made from what `mesh show` says (signature fields do not matter to it). */
  function asRecord(meshId: string, view: NodeView): NodeRecord {
    return {
      kind: 'record',
      meshId,
      id: view.id,
      signingKey: view.wgPublicKey,
      wgPublicKey: view.wgPublicKey,
      address: view.address,
      addressCounter: 0,
      role: view.role,
      controlEndpoint: view.controlEndpoint,
      wgEndpoint: view.wgEndpoint,
      alias: view.alias,
      description: view.description,
      services: view.services,
      routes: view.routes,
      version: 0,
      createdAt: 0,
      updatedAt: 0,
    };
  }

  /**
   * What `name` has installed, per destination: kernel routes marked proto
   * 119 on its mesh interfaces, and the WireGuard peers holding each routed
   * destination. Throws when a destination has two routes or two peers, or
   * a route without a peer (also for a moment while a reconcile runs: poll).
   */
  async function installed(name: Name): Promise<Map<string, Installed>> {
    const host = node(name);
    const summaries = await host.call('mesh.list', {});
    const meshOfIface = new Map(summaries.map((summary: MeshSummary) => [summary.interface, summary.meshId]));
    const result = new Map<string, Installed>();
    // Every table: default routes through an exit live in a table of their own.
    const routes = await host.ipv6Routes(['table', 'all', 'proto', '119']);
    const holders = new Map<string, string[]>();
    for (const summary of summaries) {
      const own = summary.prefix;
      for (const peer of (await host.wgShow(summary.interface))?.peers ?? []) {
        for (const cidr of peer.allowedIps) {
          if (cidr.endsWith('/128') || cidr === own) continue;
          holders.set(cidr, [...(holders.get(cidr) ?? []), peer.publicKey]);
        }
      }
    }
    for (const route of routes) {
      const destination = route.dst === 'default' ? DEFAULT_DESTINATION : route.dst;
      if (result.has(destination)) throw new Error(`${name} has two kernel routes to ${destination}`);
      const keys = holders.get(destination) ?? [];
      if (keys.length !== 1) throw new Error(`${name}: ${keys.length} WireGuard peers hold ${destination}, not exactly one`);
      result.set(destination, {meshId: meshOfIface.get(route.dev ?? '') ?? `?${route.dev}`, via: route.gateway ?? '', peerKey: keys[0]!});
    }
    for (const destination of holders.keys()) if (!result.has(destination)) throw new Error(`${name}: ${destination} is in allowed IPs but has no kernel route`);
    return result;
  }

  /**
   * What `name` should have installed, from its own view of its meshes: the
   * pure selection over the live records it shows, installed through the
   * gateway itself (a peer) or, on a client, through its home peer.
   */
  async function expected(name: Name): Promise<Map<string, Installed>> {
    const shown = await views(name);
    const meshes: RoutingMesh[] = [...shown].map(([meshId, view]) => ({
      meshId,
      advertiseRoutes: joined.get(name)!.get(meshId)!.advertiseRoutes,
      advertiseDefault: joined.get(name)!.get(meshId)!.advertiseDefault,
      live: view.nodes.map((nodeView) => asRecord(meshId, nodeView)),
    }));
    const result = new Map<string, Installed>();
    for (const route of selectRoutes({selfId: idOf(name), meshes}).routes) {
      const view = shown.get(route.meshId)!;
      const self = view.nodes.find((entry) => entry.self)!;
      let carrier = view.nodes.find((entry) => entry.id === route.gatewayId)!;
      if (self.role === 'client') {
        // A client has one WireGuard peer, its home: whatever it is, it carries everything.
        const home = (await node(name).wgShow((await node(name).call('mesh.list', {})).find((summary) => summary.meshId === route.meshId)!.interface))?.peers[0];
        carrier = view.nodes.find((entry) => entry.wgPublicKey === home?.publicKey) ?? carrier;
      }
      result.set(route.destination, {meshId: route.meshId, via: carrier.address, peerKey: carrier.wgPublicKey});
    }
    return result;
  }

  /** Wait until every running node's installed routes are exactly what its own view selects; resolves with the time it took. */
  async function expectInstalledAsSelected(timeoutMs = CONVERGENCE_MS): Promise<number> {
    const start = Date.now();
    const compare = async (): Promise<{actual: Record<string, unknown>; wanted: Record<string, unknown>}> => {
      const actual: Record<string, unknown> = {};
      const wanted: Record<string, unknown> = {};
      for (const name of [...running].filter((candidate) => meshesOf(candidate).length > 0)) {
        actual[name] = Object.fromEntries([...(await installed(name))].sort());
        wanted[name] = Object.fromEntries([...(await expected(name))].sort());
      }
      return {actual, wanted};
    };
    let last: Awaited<ReturnType<typeof compare>> | undefined;
    await waitFor(
      async () => {
        try {
          last = await compare();
        } catch {
          return false;
        }
        return isDeepStrictEqual(last.actual, last.wanted);
      },
      timeoutMs,
      'every node to install exactly the routes it selects',
    ).catch(() => undefined);
    last ??= await compare();
    expect(last.actual).toEqual(last.wanted);
    return Date.now() - start;
  }

  /** The gateway (node name) `name` uses for `destination`, by its installed WireGuard peer; undefined when it has none. */
  async function gatewayOf(name: Name, destination: string): Promise<Name | undefined> {
    const entry = (await installed(name)).get(destination);
    return entry ? nameOfKey(entry.peerKey) : undefined;
  }

  /** Who routes through each bridge: `node destination` for every installed route whose WireGuard peer is x1 or x2. */
  async function bridgeUsers(): Promise<Map<Name, string[]>> {
    const users = new Map<Name, string[]>([
      ['x1', []],
      ['x2', []],
    ]);
    for (const name of running) {
      for (const [destination, entry] of await installed(name)) {
        const gateway = nameOfKey(entry.peerKey);
        if (gateway === 'x1' || gateway === 'x2') users.get(gateway)!.push(`${name} ${destination}`);
      }
    }
    return users;
  }

  /** `condition` for {@link waitFor}, false (look again) while the hosts are mid-change and a read throws. */
  function settled(condition: () => Promise<boolean>): () => Promise<boolean> {
    return () => condition().catch(() => false);
  }

  /** The advertisement of `destination` in `advertiser`'s record in `label`, as `observer` shows it. */
  async function advertised(observer: Name, label: MeshLabel, advertiser: Name, destination: string): Promise<string[] | undefined> {
    const view = await node(observer).call('mesh.show', {meshId: mesh[label]});
    return view.nodes.find((entry) => entry.id === idOf(advertiser))?.routes.find((route) => route.destination === destination)?.path;
  }

  beforeAll(async () => {
    const start = Date.now();
    cluster = await NetnsCluster.create({hosts: NAMES.length, prefix: 'wgmesh-routing-'});
    await cluster.addNodes(NAMES.map((name) => ({name})));
    for (const name of NAMES) {
      const status = await node(name).call('status', {});
      ids.set(name, {nodeId: status.nodeId, wgPublicKey: status.wgPublicKey});
    }
    // "The internet" behind each exit: one address on its loopback, answered locally.
    for (const exit of ['e1', 'e2'] as const) await node(exit).exec('ip', ['addr', 'add', `${BEYOND_EXIT}/128`, 'dev', 'lo']);
    // Two hosts have an uplink default route of their own (via an address of the underlay nobody has).
    const uplink = cluster.lab.prefix.replace(/::\/64$/, '::fffe');
    for (const name of ['n3', 'e1'] as const) await node(name).exec('ip', ['-6', 'route', 'add', 'default', 'via', uplink, 'dev', node(name).host.interface]);
    measured.setup = Date.now() - start;
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
    console.log(`e2e-routing measured times (ms): ${JSON.stringify(measured)}`);
  });

  it('N1 only in M1 and N2 (and client C2) only in M2 ping each other through the bridge X1', async () => {
    const start = Date.now();
    await create('x1', 'M1', {advertiseRoutes: true});
    await join('n1', 'M1', 'x1');
    await create('x1', 'M2', {advertiseRoutes: true});
    await join('n2', 'M2', 'x1');
    await join('c2', 'M2', 'n2', {role: 'client'});
    await viewsSettle(['M1', 'M2'], CONVERGENCE_MS);
    // X1 advertises each mesh's /64 into the other, path [origin].
    await waitFor(async () => isDeepStrictEqual(await advertised('n1', 'M1', 'x1', P('M2')), [mesh.M2]), CONVERGENCE_MS, 'n1 to see x1 advertise M2');
    expect(await advertised('n2', 'M2', 'x1', P('M1'))).toEqual([mesh.M1]);
    measured.bridgeInstalled = await expectInstalledAsSelected();
    expect(await gatewayOf('n1', P('M2'))).toBe('x1');
    expect((await installed('n1')).get(P('M2'))).toEqual({meshId: mesh.M1, via: await addressIn('x1', 'M1'), peerKey: ids.get('x1')!.wgPublicKey});
    // The client reaches M1 through its home peer, whichever that is.
    expect((await installed('c2')).has(P('M1'))).toBe(true);

    const [n1, n2, c2] = await Promise.all([addressIn('n1', 'M1'), addressIn('n2', 'M2'), addressIn('c2', 'M2')]);
    const times = await Promise.all([
      waitForPing(node('n1'), n2, PING_BOUND_MS),
      waitForPing(node('n2'), n1, PING_BOUND_MS),
      waitForPing(node('n1'), c2, PING_BOUND_MS),
      waitForPing(node('c2'), n1, PING_BOUND_MS),
    ]);
    measured.bridgePing = Math.max(...times);
    measured.bridgeSetupToPing = Date.now() - start;
    // The driver turned forwarding on where a node relays (the bridge, a client's home peer), and only there.
    expect(await node('x1').sysctl('net/ipv6/conf/all/forwarding')).toBe('1');
    expect(await node('n1').sysctl('net/ipv6/conf/all/forwarding')).toBe('0');
    const home = nameOfKey((await node('c2').wgShow((await node('c2').call('mesh.list', {}))[0]!.interface))!.peers[0]!.publicKey)!;
    expect(await node(home).sysctl('net/ipv6/conf/all/forwarding')).toBe('1');
  });

  it('a chain M1-X1-M2-Y-M3 gives N1 a 2-hop route to M3, shown with its path in mesh show', async () => {
    await join('y', 'M2', 'n2', {advertiseRoutes: true});
    await create('y', 'M3', {advertiseRoutes: true});
    await join('n3', 'M3', 'y');
    await viewsSettle(['M2', 'M3'], CONVERGENCE_MS);
    // X1 learned M3 in M2 from Y ([M3]) and passes it into M1 with M2 appended: 2 hops.
    measured.chainAdvertised = await timed(() =>
      waitFor(async () => isDeepStrictEqual(await advertised('n1', 'M1', 'x1', P('M3')), [mesh.M3, mesh.M2]), CONVERGENCE_MS, 'x1 to advertise M3 into M1 with path [M3, M2]'),
    );
    const shown = await node('n1').cliJson<MeshView>(['mesh', 'show', mesh.M1]);
    expect(shown.nodes.find((entry) => entry.id === idOf('x1'))?.routes).toEqual(
      expect.arrayContaining([
        {destination: P('M2'), path: [mesh.M2]},
        {destination: P('M3'), path: [mesh.M3, mesh.M2]},
      ]),
    );
    await expectInstalledAsSelected();
    expect(await gatewayOf('n1', P('M3'))).toBe('x1');
    expect(await gatewayOf('n3', P('M1'))).toBe('y');
    expect(await advertised('n3', 'M3', 'y', P('M1'))).toEqual([mesh.M1, mesh.M2]);
    const [n1, n3] = await Promise.all([addressIn('n1', 'M1'), addressIn('n3', 'M3')]);
    measured.chainPing = Math.max(await waitForPing(node('n1'), n3, PING_BOUND_MS), await waitForPing(node('n3'), n1, PING_BOUND_MS));
  });

  it("exits: their ::/0 is installed by the others (through bridges too), never by another exit, and never replaces a host's own default route", async () => {
    await join('e1', 'M1', 'n1', {advertiseRoutes: true, advertiseDefault: true});
    await join('e2', 'M1', 'x1', {advertiseRoutes: true, advertiseDefault: true});
    await viewsSettle(['M1'], CONVERGENCE_MS);
    await waitFor(async () => isDeepStrictEqual(await advertised('n2', 'M2', 'x1', DEFAULT_DESTINATION), [mesh.M1]), CONVERGENCE_MS, 'x1 to pass the default route into M2');
    measured.exitInstalled = await expectInstalledAsSelected();
    for (const name of ['n1', 'x1', 'n2', 'c2', 'y', 'n3'] as const) expect((await installed(name)).has(DEFAULT_DESTINATION), `${name} has the mesh default route`).toBe(true);
    for (const exit of ['e1', 'e2'] as const) {
      expect((await installed(exit)).has(DEFAULT_DESTINATION), `${exit} uses no other exit`).toBe(false);
      expect(await node(exit).sysctl('net/ipv6/conf/all/forwarding')).toBe('1');
      // Forwarding would have made the kernel ignore router advertisements on accept_ra=1 links: raised to 2.
      expect(await node(exit).sysctl(`net/ipv6/conf/${node(exit).host.interface}/accept_ra`)).toBe('2');
    }
    expect([await gatewayOf('n1', DEFAULT_DESTINATION)]).toEqual([expect.stringMatching(/^e[12]$/)]);
    // Hosts with an uplink of their own keep it, alone in main, and it keeps winning: the mesh default is in
    // table 51821, looked up (by traffic without WireGuard's own mark) only after main.
    for (const name of ['n3', 'e1'] as const) {
      expect(await node(name).ipv6Routes(['default']), `${name}'s own default route, alone in main`).toEqual([expect.objectContaining({dev: node(name).host.interface, metric: 1024})]);
    }
    const {stdout} = await node('n3').exec('ip', ['-6', '-j', 'route', 'get', BEYOND_EXIT]);
    expect((JSON.parse(stdout) as Array<{dev?: string}>)[0]?.dev).toBe(node('n3').host.interface);
    expect(await node('n3').ipv6Routes(['default', 'table', '51821'])).toEqual([expect.objectContaining({protocol: '119', metric: 100_000})]);
    const rules = JSON.parse((await node('n3').exec('ip', ['-N', '-6', '-j', 'rule', 'show', 'priority', '32800'])).stdout) as unknown[];
    expect(rules, "n3's rule for the exit table").toEqual([expect.objectContaining({not: null, fwmark: '0xca6d', table: '51821'})]);
    // A host with no way out of its own goes out through an exit: directly (n1), or across a bridge (n2, 2 hops).
    measured.exitPing = Math.max(await waitForPing(node('n1'), BEYOND_EXIT, PING_BOUND_MS), await waitForPing(node('n2'), BEYOND_EXIT, PING_BOUND_MS));
  });

  it('two bridges X1 and X2 between M1 and M2: each node installs exactly one per destination, and both are used', async () => {
    await join('x2', 'M1', 'e1', {advertiseRoutes: true});
    await join('x2', 'M2', 'y', {advertiseRoutes: true});
    await viewsSettle(['M1', 'M2'], CONVERGENCE_MS);
    await waitFor(async () => isDeepStrictEqual(await advertised('n1', 'M1', 'x2', P('M2')), [mesh.M2]), CONVERGENCE_MS, 'x2 to advertise M2 into M1');
    measured.secondBridgeInstalled = await expectInstalledAsSelected();
    // Rendezvous hashing spreads ten independent choices (n1, e1, e2 to M2 and M3; n2, y to M1 and
    // ::/0) over the two bridges, so both carry some: all on one would be a 1-in-512 chance. Polled,
    // because a bridge a loaded machine briefly suspected dead has no users until it is back.
    let users = new Map<Name, string[]>();
    await waitFor(
      settled(async () => {
        users = await bridgeUsers();
        return users.get('x1')!.length > 0 && users.get('x2')!.length > 0;
      }),
      CONVERGENCE_MS,
      'both bridges to carry some routes',
    ).catch(() => undefined);
    expect(users.get('x1')?.length, JSON.stringify(Object.fromEntries(users))).toBeGreaterThan(0);
    expect(users.get('x2')?.length, JSON.stringify(Object.fromEntries(users))).toBeGreaterThan(0);
    measured.bridgeUsers = users.get('x1')!.length + users.get('x2')!.length;
  });

  it("killing X1 moves its users to X2 within the failure-detection bound, and the pings across the bridge go on", async () => {
    const usersOfX1 = async (): Promise<string[]> => (await bridgeUsers()).get('x1')!;
    await waitFor(settled(async () => (await usersOfX1()).length > 0), CONVERGENCE_MS, 'x1 to carry some routes before it is killed');
    await node('x1').kill('SIGKILL');
    const killedAt = Date.now();
    running.delete('x1');
    await waitFor(settled(async () => (await usersOfX1()).length === 0), DETECTION_BOUND_MS + 2_000, 'no node to route through x1 any more');
    measured.killToWithdrawn = Date.now() - killedAt;
    await viewsSettle(['M1', 'M2'], CONVERGENCE_MS);
    await expectInstalledAsSelected();
    measured.killToReinstalled = Date.now() - killedAt;
    expect(await gatewayOf('n1', P('M2'))).toBe('x2');
    expect(await gatewayOf('n2', P('M1'))).toBe('x2');
    // X1's advertisements left with its record.
    expect(await advertised('n1', 'M1', 'x1', P('M2'))).toBeUndefined();
    const [n1, n2] = await Promise.all([addressIn('n1', 'M1'), addressIn('n2', 'M2')]);
    measured.killToPing = Math.max(await waitForPing(node('n1'), n2, PING_BOUND_MS), await waitForPing(node('n2'), n1, PING_BOUND_MS)) + (Date.now() - killedAt);
  });

  it('a direct bridge Z between M1 and M3 switches N1 to a 1-hop route; when Z leaves, back to 2 hops', async () => {
    expect((await expected('n1')).get(P('M3'))?.peerKey).toBe(ids.get('x2')!.wgPublicKey);
    await join('z', 'M1', 'n1', {advertiseRoutes: true});
    await join('z', 'M3', 'n3', {advertiseRoutes: true});
    await viewsSettle(['M1', 'M3'], CONVERGENCE_MS);
    measured.directBridgeSwitch = await timed(() => waitFor(settled(async () => (await gatewayOf('n1', P('M3'))) === 'z'), CONVERGENCE_MS, 'n1 to route M3 through z'));
    await expectInstalledAsSelected();
    expect(await advertised('n1', 'M1', 'z', P('M3'))).toEqual([mesh.M3]);
    const [n1, n3] = await Promise.all([addressIn('n1', 'M1'), addressIn('n3', 'M3')]);
    await waitForPing(node('n1'), n3, PING_BOUND_MS);
    await waitForPing(node('n3'), n1, PING_BOUND_MS);

    await leave('z', 'M3');
    const leftAt = Date.now();
    await waitFor(settled(async () => (await gatewayOf('n1', P('M3'))) === 'x2'), CONVERGENCE_MS, 'n1 to route M3 through x2 again');
    measured.leaveToWithdrawn = Date.now() - leftAt;
    // Z withdrew what it learned in M3 from its M1 record.
    await waitFor(async () => (await advertised('n1', 'M1', 'z', P('M3'))) === undefined, CONVERGENCE_MS, "z's M1 record to drop M3");
    await expectInstalledAsSelected();
    await waitForPing(node('n1'), n3, PING_BOUND_MS);
  });

  it("an exit that leaves: its ::/0 disappears everywhere and every user moves to the other exit", async () => {
    const before = await gatewayOf('n1', DEFAULT_DESTINATION);
    const leaver: Name = before === 'e1' ? 'e1' : 'e2';
    const other: Name = leaver === 'e1' ? 'e2' : 'e1';
    await leave(leaver, 'M1');
    const leftAt = Date.now();
    await waitFor(settled(async () => (await gatewayOf('n1', DEFAULT_DESTINATION)) === other), CONVERGENCE_MS, `n1 to go out through ${other}`);
    measured.exitLeaveToMoved = Date.now() - leftAt;
    await expectInstalledAsSelected();
    for (const name of ['n1', 'x2', 'z'] as const) expect(await gatewayOf(name, DEFAULT_DESTINATION), name).toBe(other);
    await waitForPing(node('n1'), BEYOND_EXIT, PING_BOUND_MS);
    await waitForPing(node('n2'), BEYOND_EXIT, PING_BOUND_MS);
  });
});
