/**
 * End to end with real WireGuard: five real daemons, each in a network
 * namespace of its own (core test kit lab: veth to a private bridge, ULA IPv6
 * underlay), the `kernel` driver (wireguard-go where the kernel has no
 * module), real gRPC with mutual TLS, and ICMPv6 across the tunnels. Four
 * peers and one client; the tests run in order, each from the state the
 * previous one left, and check what a user would: pings over the mesh
 * addresses, `wg show` and `ip` on every host, and the CLI's errors.
 *
 * Every bound is the one the issue states at the default intervals
 * (syncInterval 1 s, heartbeatInterval 2 s). Measured times are printed at the
 * end. Skips (with the reason) only where the machine cannot run namespaces or
 * lacks wg / wireguard-go / ping.
 */
import {interfaceName} from '@wgmesh/core';
import type {MeshSummary, MeshView, NodeView} from '@wgmesh/core/client';
import {netnsAvailable, skipWithout} from '@wgmesh/testkit';
import {isDeepStrictEqual} from 'node:util';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {timed} from './helpers/mesh-cluster.js';
import {NetnsCluster, newLinks, waitForPing, type NetnsNode} from './helpers/netns-cluster.js';

const SKIP = skipWithout('the WireGuard end-to-end tests in network namespaces', netnsAvailable());

/** The config defaults the daemons run with. */
const SYNC_INTERVAL_MS = 1_000;
const HEARTBEAT_INTERVAL_MS = 2_000;
/** Failure-detection bound of the issue: 3 x heartbeatInterval + 2 s. */
const DETECTION_BOUND_MS = 3 * HEARTBEAT_INTERVAL_MS + 2_000;
/** Time for a first handshake and a few pings: WireGuard retries a lost handshake after 5 s. */
const PING_BOUND_MS = 15_000;
/** Client keepalive (seconds), so its home peer learns (and keeps) its endpoint. */
const CLIENT_KEEPALIVE_S = 5;

/** Per test: every wait inside has its own, tighter bound; this only catches a hang on a loaded machine. */
const TEST_TIMEOUT_MS = 60_000;

describe.skipIf(SKIP)('four peers and a client with real WireGuard in network namespaces', {timeout: TEST_TIMEOUT_MS}, () => {
  let cluster: NetnsCluster | undefined;
  let a: NetnsNode, b: NetnsNode, c: NetnsNode, d: NetnsNode, e: NetnsNode;
  let meshId = '';
  let prefix = '';
  /** Node id and WireGuard key of each node (from `status`). */
  const ids = new Map<NetnsNode, {nodeId: string; wgPublicKey: string}>();
  /** Each node's record in the first mesh (address, role, endpoints), from `mesh show` (its own, once it is live). */
  const records = new Map<NetnsNode, NodeView>();
  /** Each node's interface of the first mesh. */
  const ifaces = new Map<NetnsNode, string>();
  /** Nodes that are members of the first mesh and running, as the tests change them. */
  let live: NetnsNode[] = [];
  /** The peer that left the first mesh (its daemon keeps running, in no mesh). */
  let leaver: NetnsNode | undefined;
  /** Measured times in ms, printed at the end. */
  const measured: Record<string, number> = {};

  const idOf = (node: NetnsNode): string => ids.get(node)!.nodeId;
  const keyOf = (node: NetnsNode): string => ids.get(node)!.wgPublicKey;
  const recordOf = (node: NetnsNode): NodeView => records.get(node)!;
  const nodeByKey = (key: string): NetnsNode | undefined => [...ids].find(([, id]) => id.wgPublicKey === key)?.[0];

  /** True when every observer sees exactly `members` alive in `mesh`. */
  async function viewsAre(mesh: string, observers: readonly NetnsNode[], members: readonly NetnsNode[]): Promise<boolean> {
    const want = members.map(idOf).sort().join(',');
    const views = await Promise.all(observers.map((node) => node.view(mesh)));
    return views.every((view) => view.join(',') === want);
  }

  /**
   * What `wg show` says on every live host of the first mesh (public key ->
   * allowed IPs, plus the endpoint where the target is a peer, which has an
   * advertised one), next to what it must say:
   * - a peer lists every other live peer with its /128 plus the /128 of each
   *   client homed on it, and each client homed on itself with its /128;
   * - a client lists exactly one peer, its home (a live peer), with the mesh /64.
   * The client's home is the one peer its own WireGuard lists; every other
   * host must agree with that choice.
   */
  async function wireguardTables(): Promise<{actual: Record<string, Record<string, string>>; expected: Record<string, Record<string, string>>}> {
    // A node restarted without its interface may have a new WireGuard port: each node's own record says which.
    await Promise.all(live.map(async (node) => records.set(node, (await node.call('mesh.show', {meshId})).nodes.find((view) => view.self)!)));
    const dumps = new Map(await Promise.all(live.map(async (node) => [node, await node.wgShow(ifaces.get(node)!)] as const)));
    const entryOf = (target: NetnsNode, allowed: string[]): string => {
      const record = recordOf(target);
      return record.role === 'peer' ? `${allowed.join(',')} via ${record.wgEndpoint}` : allowed.join(',');
    };
    const actual: Record<string, Record<string, string>> = {};
    for (const [node, dump] of dumps) {
      actual[node.name] = Object.fromEntries(
        (dump?.peers ?? []).map((peer) => {
          const target = nodeByKey(peer.publicKey);
          const shown = target && recordOf(target).role === 'peer' ? `${peer.allowedIps.join(',')} via ${peer.endpoint}` : peer.allowedIps.join(',');
          return [target?.name ?? peer.publicKey, shown];
        }),
      );
    }
    const peers = live.filter((node) => recordOf(node).role === 'peer');
    const clients = live.filter((node) => recordOf(node).role === 'client');
    const homes = new Map<NetnsNode, NetnsNode | undefined>();
    for (const client of clients) {
      const listed = dumps.get(client)?.peers ?? [];
      const home = listed.length === 1 ? nodeByKey(listed[0]!.publicKey) : undefined;
      homes.set(client, home && peers.includes(home) ? home : undefined);
    }
    const expected: Record<string, Record<string, string>> = {};
    for (const node of live) {
      if (recordOf(node).role === 'client') {
        const home = homes.get(node);
        expected[node.name] = home ? {[home.name]: entryOf(home, [prefix])} : {'(one live peer)': entryOf(node, [prefix])};
        continue;
      }
      const table: Record<string, string> = {};
      for (const peer of peers.filter((other) => other !== node)) {
        const homed = clients.filter((client) => homes.get(client) === peer);
        table[peer.name] = entryOf(peer, [peer, ...homed].map((member) => `${recordOf(member).address}/128`).sort());
      }
      for (const client of clients.filter((client) => homes.get(client) === node)) table[client.name] = entryOf(client, [`${recordOf(client).address}/128`]);
      expected[node.name] = table;
    }
    return {actual, expected};
  }

  /** Wait until every live host's WireGuard matches {@link wireguardTables}; fails with the difference otherwise. */
  async function expectWireguardExact(timeoutMs: number): Promise<number> {
    let last: Awaited<ReturnType<typeof wireguardTables>> | undefined;
    let lastError: unknown;
    const start = Date.now();
    await waitFor(
      async () => {
        try {
          last = await wireguardTables();
        } catch (error) {
          // An interface being recreated, a daemon restarting: look again.
          [last, lastError] = [undefined, error];
          return false;
        }
        return isDeepStrictEqual(last.actual, last.expected);
      },
      timeoutMs,
      'every WireGuard configuration to be exactly the expected one',
    ).catch(() => undefined);
    if (!last) throw lastError;
    expect(last.actual).toEqual(last.expected);
    return Date.now() - start;
  }

  /** Wait until every ordered pair of `nodes` pings the other's address (`addressOf`); resolves with the slowest pair's time. */
  async function expectAllPairsPing(nodes: readonly NetnsNode[], addressOf: (node: NetnsNode) => string): Promise<number> {
    const pairs = nodes.flatMap((from) => nodes.filter((to) => to !== from).map((to) => [from, to] as const));
    const times = await Promise.all(pairs.map(([from, to]) => waitForPing(from, addressOf(to), PING_BOUND_MS)));
    return Math.max(...times);
  }

  /** The home peer of `client` as its own WireGuard shows it, or undefined while it has not exactly one peer (re-homing). */
  async function currentHome(client: NetnsNode): Promise<NetnsNode | undefined> {
    const peers = (await client.wgShow(ifaces.get(client)!))?.peers ?? [];
    return peers.length === 1 ? nodeByKey(peers[0]!.publicKey) : undefined;
  }

  /** The home peer of `client`; fails the test unless its WireGuard lists exactly one peer of this test. */
  async function homeOf(client: NetnsNode): Promise<NetnsNode> {
    const home = await currentHome(client);
    if (!home) throw new Error(`${client.name}'s WireGuard does not list exactly one peer of this test`);
    return home;
  }

  /** Run `wgmesh ARGS` on a node; it must fail. Resolves with its JSON error message. */
  async function cliFails(node: NetnsNode, args: readonly string[]): Promise<string> {
    const result = await node.cli([...args, '--json']);
    expect(result.code, `wgmesh ${args.join(' ')} should have failed:\n${result.stdout}`).not.toBe(0);
    const parsed = JSON.parse(result.stdout) as {error?: {message?: string}};
    expect(parsed.error?.message).toEqual(expect.any(String));
    return parsed.error!.message!;
  }

  beforeAll(async () => {
    const start = Date.now();
    cluster = await NetnsCluster.create({hosts: 5});
    [a, b, c, d, e] = (await cluster.addNodes(['a', 'b', 'c', 'd', 'e'].map((name) => ({name})))) as [NetnsNode, NetnsNode, NetnsNode, NetnsNode, NetnsNode];
    for (const node of cluster.nodes) {
      const status = await node.call('status', {});
      ids.set(node, {nodeId: status.nodeId, wgPublicKey: status.wgPublicKey});
    }
    measured.setup = Date.now() - start;
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
    console.log(`e2e-netns measured times (ms): ${JSON.stringify(measured)}`);
  });

  it('four peers and a client join through different members, and every pair pings over the mesh addresses', async () => {
    ({meshId} = await a.cliJson<{meshId: string}>(['mesh', 'create']));
    const start = Date.now();
    const chain: [NetnsNode, NetnsNode, string[]][] = [
      [b, a, []],
      [c, b, []],
      [d, c, []],
      [e, d, ['--role', 'client', '--keepalive', String(CLIENT_KEEPALIVE_S)]],
    ];
    for (const [index, [node, via, extra]] of chain.entries()) {
      const joined = await node.cliJson<{meshId: string; members: number}>(['mesh', 'join', meshId, '--invite', await a.invite(meshId), '--via', via.endpoint, ...extra]);
      expect(joined).toEqual({meshId, members: index + 2});
    }
    measured.joinCommands = Date.now() - start;
    live = [a, b, c, d, e];
    measured.viewConvergence = await timed(() => waitFor(() => viewsAre(meshId, live, live), 5 * SYNC_INTERVAL_MS, 'all five daemons to see all five members'));

    const shown = await a.cliJson<MeshView>(['mesh', 'show', meshId]);
    for (const node of live) {
      const record = shown.nodes.find((candidate) => candidate.id === idOf(node));
      expect(record, `${node.name} in a's mesh show`).toBeDefined();
      records.set(node, record!);
      const [summary] = await node.call('mesh.list', {});
      expect(summary).toEqual(expect.objectContaining({meshId, members: 5}));
      ifaces.set(node, summary!.interface);
      prefix = summary!.prefix;
    }
    expect(recordOf(e).role).toBe('client');
    // Peers advertise their underlay address as a bracketed IPv6 WireGuard endpoint.
    for (const node of [a, b, c, d]) expect(recordOf(node).wgEndpoint).toMatch(new RegExp(`^\\[${node.host.address}\\]:\\d+$`));

    measured.allPairsPing = await expectAllPairsPing(live, (node) => recordOf(node).address);
    measured.joinToAllPairsPing = Date.now() - start;
  });

  it('wg show and ip on every host list exactly the expected peers, allowed IPs and address', async () => {
    await expectWireguardExact(5 * SYNC_INTERVAL_MS);
    for (const node of live) {
      expect(await node.addresses(ifaces.get(node)!), `${node.name}'s interface address`).toEqual([`${recordOf(node).address}/64`]);
      // One interface per mesh, and only in its own namespace.
      expect((await node.links()).filter((name) => name.startsWith('wgm'))).toEqual([ifaces.get(node)]);
    }
    // The client's home peer learnt the client's endpoint from its keepalives.
    const home = await homeOf(e);
    const entry = (await home.wgShow(ifaces.get(home)!))?.peers.find((peer) => peer.publicKey === keyOf(e));
    expect(entry?.endpoint).toMatch(new RegExp(`^\\[${e.host.address}\\]:\\d+$`));
    expect((await e.wgShow(ifaces.get(e)!))?.peers[0]?.keepaliveSeconds).toBe(CLIENT_KEEPALIVE_S);
  });

  it("a leaving node's interface goes away and its peer disappears from every host", async () => {
    const home = await homeOf(e);
    leaver = [b, c, d].find((node) => node !== home)!;
    const iface = ifaces.get(leaver)!;
    const left = await leaver.cliJson<{meshId: string}>(['mesh', 'leave', meshId]);
    expect(left).toEqual({meshId});
    expect(await leaver.hasLink(iface)).toBe(false);
    live = live.filter((node) => node !== leaver);

    const gone = async (): Promise<boolean> => {
      const dumps = await Promise.all(live.map((node) => node.wgShow(ifaces.get(node)!)));
      return dumps.every((dump) => dump !== undefined && !dump.peers.some((peer) => peer.publicKey === keyOf(leaver!)));
    };
    measured.leaveGoneFromWireguard = await timed(() => waitFor(gone, 5 * SYNC_INTERVAL_MS, `${leaver!.name}'s peer to disappear from every host`));
    await waitFor(() => viewsAre(meshId, live, live), 5 * SYNC_INTERVAL_MS, 'every remaining member to list the other remaining ones');
    await expectWireguardExact(5 * SYNC_INTERVAL_MS);
    expect(await live[0]!.ping(recordOf(leaver).address)).toBe(false);
  });

  it('a SIGKILLed peer disappears within the failure-detection bound, and its client re-homes and pings again', async () => {
    const home = await homeOf(e);
    await home.kill('SIGKILL');
    const killedAt = Date.now();
    live = live.filter((node) => node !== home);
    const gone = async (): Promise<boolean> => {
      const dumps = await Promise.all(live.filter((node) => recordOf(node).role === 'peer').map((node) => node.wgShow(ifaces.get(node)!)));
      return dumps.every((dump) => dump !== undefined && !dump.peers.some((peer) => peer.publicKey === keyOf(home)));
    };
    await waitFor(gone, DETECTION_BOUND_MS, `${home.name}'s peer to disappear from every peer's WireGuard`);
    measured.killGoneFromWireguard = Date.now() - killedAt;

    await waitFor(
      async () => {
        const now = await currentHome(e);
        return now !== undefined && now !== home;
      },
      DETECTION_BOUND_MS,
      `${e.name} to re-home`,
    );
    measured.killToRehome = Date.now() - killedAt;
    await expectWireguardExact(5 * SYNC_INTERVAL_MS);
    const peers = live.filter((node) => node !== e);
    const times = await Promise.all(peers.map((peer) => waitForPing(e, recordOf(peer).address, PING_BOUND_MS)));
    measured.rehomeToPing = Math.max(...times);
    measured.killToClientPingsAll = Date.now() - killedAt;
    // The dead peer's wireguard-go and interface outlive its daemon, but nothing routes to it any more.
    expect(await e.ping(recordOf(home).address)).toBe(false);
    await waitFor(() => viewsAre(meshId, live, live), DETECTION_BOUND_MS, 'every live member to list exactly the live ones');
  });

  it('a restarted daemon adopts the interface its killed predecessor left and restores its tunnels', async () => {
    const restarted = [a, b, c, d].find((node) => node !== leaver && !live.includes(node))!;
    const iface = ifaces.get(restarted)!;
    expect(await restarted.hasLink(iface)).toBe(true);
    measured.restartAdopt = await timed(async () => {
      await restarted.start();
      live = [...live, restarted];
      await waitFor(() => viewsAre(meshId, live, live), DETECTION_BOUND_MS, `every member to list ${restarted.name} again`);
      await expectWireguardExact(5 * SYNC_INTERVAL_MS);
      await expectAllPairsPing(live, (node) => recordOf(node).address);
    });
    expect((await restarted.cliJson<MeshSummary[]>(['mesh', 'list'])).map((mesh) => mesh.interface)).toEqual([iface]);
    expect(await restarted.addresses(iface)).toEqual([`${recordOf(restarted).address}/64`]);
  });

  it('a daemon stopped cleanly removes its interface, and on restart restores the interface, its address and its tunnels', async () => {
    const restarted = live.find((node) => recordOf(node).role === 'peer')!;
    const iface = ifaces.get(restarted)!;
    expect(await restarted.daemon.stop('SIGTERM')).toBe(0);
    expect(await restarted.hasLink(iface)).toBe(false);
    measured.restartRecreate = await timed(async () => {
      await restarted.start();
      await waitFor(() => restarted.hasLink(iface), 10_000, `${restarted.name} to recreate ${iface}`);
      await waitFor(() => viewsAre(meshId, live, live), DETECTION_BOUND_MS, 'every member to list every live member');
      await expectWireguardExact(5 * SYNC_INTERVAL_MS);
      await expectAllPairsPing(live, (node) => recordOf(node).address);
    });
    expect(await restarted.addresses(iface)).toEqual([`${recordOf(restarted).address}/64`]);
  });

  describe('a second mesh on the same hosts', () => {
    let mesh2 = '';
    let x: NetnsNode, y: NetnsNode;
    const ifaces2 = new Map<NetnsNode, string>();
    const address2 = new Map<NetnsNode, string>();

    async function summaries(node: NetnsNode): Promise<MeshSummary[]> {
      return (await node.cliJson<MeshSummary[]>(['mesh', 'list'])).sort((one, two) => one.meshId.localeCompare(two.meshId));
    }

    it('gives two interfaces that do not interfere, and leaving one leaves the other intact', async () => {
      [x, y] = live.filter((node) => recordOf(node).role === 'peer') as [NetnsNode, NetnsNode];
      ({meshId: mesh2} = await x.cliJson<{meshId: string}>(['mesh', 'create']));
      await y.cliJson(['mesh', 'join', mesh2, '--invite', await x.invite(mesh2), '--via', x.endpoint]);
      await waitFor(() => viewsAre(mesh2, [x, y], [x, y]), 5 * SYNC_INTERVAL_MS, 'both members of the second mesh to see each other');
      for (const node of [x, y]) {
        const meshes = await summaries(node);
        expect(meshes.map((mesh) => mesh.meshId).sort()).toEqual([meshId, mesh2].sort());
        const second = meshes.find((mesh) => mesh.meshId === mesh2)!;
        expect(second.interface).not.toBe(ifaces.get(node));
        expect(second.prefix).not.toBe(prefix);
        ifaces2.set(node, second.interface);
        const self = (await node.call('mesh.show', {meshId: mesh2})).nodes.find((view) => view.self)!;
        address2.set(node, self.address);
        expect((await node.links()).filter((name) => name.startsWith('wgm')).sort()).toEqual([ifaces.get(node)!, second.interface].sort());
        expect(await node.addresses(second.interface)).toEqual([`${self.address}/64`]);
      }
      // The second mesh's interface has only the other member of the second mesh, the first is unchanged.
      for (const [node, other] of [
        [x, y],
        [y, x],
      ] as const) {
        await waitFor(async () => ((await node.wgShow(ifaces2.get(node)!))?.peers.length ?? 0) === 1, 5 * SYNC_INTERVAL_MS, `${node.name}'s second interface to get its peer`);
        const dump = await node.wgShow(ifaces2.get(node)!);
        expect(dump?.peers.map((peer) => [peer.publicKey, peer.allowedIps])).toEqual([[keyOf(other), [`${address2.get(other)}/128`]]]);
        // Each mesh has its own WireGuard port.
        expect(dump?.interface.listenPort).not.toBe((await node.wgShow(ifaces.get(node)!))?.interface.listenPort);
      }
      await expectWireguardExact(5 * SYNC_INTERVAL_MS);
      measured.secondMeshPing = await expectAllPairsPing([x, y], (node) => address2.get(node)!);
      await expectAllPairsPing(live, (node) => recordOf(node).address);

      const before = {wg: await x.wgShow(ifaces.get(x)!), addresses: await x.addresses(ifaces.get(x)!)};
      await x.cliJson(['mesh', 'leave', mesh2]);
      expect(await x.hasLink(ifaces2.get(x)!)).toBe(false);
      expect((await summaries(x)).map((mesh) => mesh.meshId)).toEqual([meshId]);
      // The first mesh's interface on x is untouched: same port, address, peers and allowed IPs.
      const after = {wg: await x.wgShow(ifaces.get(x)!), addresses: await x.addresses(ifaces.get(x)!)};
      expect(after.addresses).toEqual(before.addresses);
      expect(after.wg?.interface).toEqual(before.wg?.interface);
      const peerSet = (wg: typeof before.wg) => wg?.peers.map((peer) => `${peer.publicKey} ${peer.allowedIps.join(',')}`).sort();
      expect(peerSet(after.wg)).toEqual(peerSet(before.wg));
      await waitFor(async () => (await y.wgShow(ifaces2.get(y)!))?.peers.length === 0, 5 * SYNC_INTERVAL_MS, `x's peer to disappear from y's second interface`);
      await expectWireguardExact(5 * SYNC_INTERVAL_MS);
      await expectAllPairsPing(live, (node) => recordOf(node).address);
    });

    it('mesh create --port with a port already in use fails with a clear error and leaves no interface', async () => {
      const port = (await x.wgShow(ifaces.get(x)!))!.interface.listenPort;
      const links = await x.links();
      const message = await cliFails(x, ['mesh', 'create', '--port', String(port)]);
      expect(message).toMatch(new RegExp(`port ${port}.*in use`, 'i'));
      expect(await newLinks(x, links)).toEqual([]);
      expect((await summaries(x)).map((mesh) => mesh.meshId)).toEqual([meshId]);
    });

    it('a failed join leaves no interface behind, and a later join succeeds', async () => {
      // After the snapshot was fetched: the WireGuard port is taken.
      const port = (await e.wgShow(ifaces.get(e)!))!.interface.listenPort;
      let links = await e.links();
      expect(await cliFails(e, ['mesh', 'join', mesh2, '--invite', await x.invite(mesh2), '--via', y.endpoint, '--port', String(port)])).toMatch(new RegExp(`port ${port}.*in use`, 'i'));
      expect(await newLinks(e, links)).toEqual([]);
      expect((await summaries(e)).map((mesh) => mesh.meshId)).toEqual([meshId]);

      // Before anything was fetched: nothing listens at --via.
      const node = leaver!;
      links = await node.links();
      const nobody = `[${y.host.address}]:${y.port + 1}`;
      expect(await cliFails(node, ['mesh', 'join', mesh2, '--invite', await x.invite(mesh2), '--via', nobody])).toContain(`could not reach ${nobody}`);
      expect(await newLinks(node, links)).toEqual([]);

      // The interface name is taken by a link that is not WireGuard (a bridge): it is left alone.
      const name = interfaceName(mesh2, idOf(node));
      await node.exec('ip', ['link', 'add', name, 'type', 'bridge']);
      expect(await cliFails(node, ['mesh', 'join', mesh2, '--invite', await x.invite(mesh2), '--via', y.endpoint])).toMatch(new RegExp(`name clash: ${name} .*not a WireGuard interface`));
      expect(await newLinks(node, links)).toEqual([name]);
      const {stdout} = await node.exec('ip', ['-j', '-d', 'link', 'show', 'dev', name]);
      expect((JSON.parse(stdout) as Array<{linkinfo?: {info_kind?: string}}>)[0]?.linkinfo?.info_kind).toBe('bridge');
      expect(await node.call('mesh.list', {})).toEqual([]);

      // Nothing of the failures blocks a later join.
      await node.exec('ip', ['link', 'del', name]);
      await node.cliJson(['mesh', 'join', mesh2, '--invite', await x.invite(mesh2), '--via', y.endpoint]);
      const [summary] = await summaries(node);
      expect(summary?.interface).toBe(name);
      const self = (await node.call('mesh.show', {meshId: mesh2})).nodes.find((view) => view.self)!;
      await waitForPing(y, self.address, PING_BOUND_MS);
      await waitForPing(node, address2.get(y)!, PING_BOUND_MS);
    });
  });
});

/**
 * The same story on the automerge store, reduced to what tells the stores
 * apart (the replicated state and its sync), not WireGuard again: three peers
 * on `store: automerge` create and join a mesh, every pair pings over the mesh
 * addresses, and a leave takes the leaver out of every view and every `wg show`.
 */
describe.skipIf(SKIP)('three peers on the automerge store with real WireGuard in network namespaces', {timeout: TEST_TIMEOUT_MS}, () => {
  let cluster: NetnsCluster | undefined;
  let nodes: NetnsNode[] = [];
  let meshId = '';
  const measured: Record<string, number> = {};
  /** Node id and WireGuard key of each node. */
  const ids = new Map<NetnsNode, {nodeId: string; wgPublicKey: string}>();

  async function viewsAre(observers: readonly NetnsNode[], members: readonly NetnsNode[]): Promise<boolean> {
    const want = members.map((node) => ids.get(node)!.nodeId).sort().join(',');
    return (await Promise.all(observers.map((node) => node.view(meshId)))).every((view) => view.join(',') === want);
  }

  beforeAll(async () => {
    cluster = await NetnsCluster.create({hosts: 3, prefix: 'wgmesh-netns-automerge-'});
    nodes = await cluster.addNodes(['am-a', 'am-b', 'am-c'].map((name) => ({name, config: {store: 'automerge'}})));
    for (const node of nodes) {
      const status = await node.call('status', {});
      expect(status.backends).toEqual(expect.objectContaining({store: 'automerge'}));
      ids.set(node, {nodeId: status.nodeId, wgPublicKey: status.wgPublicKey});
    }
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
    console.log(`e2e-netns (automerge) measured times (ms): ${JSON.stringify(measured)}`);
  });

  it('create, two joins, every pair pings over the mesh addresses, and a leave reaches every host', async () => {
    const [a, b, c] = nodes as [NetnsNode, NetnsNode, NetnsNode];
    ({meshId} = await a.cliJson<{meshId: string}>(['mesh', 'create']));
    const start = Date.now();
    expect(await b.cliJson(['mesh', 'join', meshId, '--invite', await a.invite(meshId), '--via', a.endpoint])).toEqual({meshId, members: 2});
    expect(await c.cliJson(['mesh', 'join', meshId, '--invite', await a.invite(meshId), '--via', b.endpoint])).toEqual({meshId, members: 3});
    await waitFor(() => viewsAre(nodes, nodes), 5 * SYNC_INTERVAL_MS, 'all three daemons to see all three members');
    const shown = await a.cliJson<MeshView>(['mesh', 'show', meshId]);
    const addressOf = (node: NetnsNode) => shown.nodes.find((view) => view.id === ids.get(node)!.nodeId)!.address;
    const pairs = nodes.flatMap((from) => nodes.filter((to) => to !== from).map((to) => [from, to] as const));
    measured.allPairsPing = Math.max(...(await Promise.all(pairs.map(([from, to]) => waitForPing(from, addressOf(to), PING_BOUND_MS)))));
    measured.joinToAllPairsPing = Date.now() - start;

    const [summary] = await c.call('mesh.list', {});
    const iface = summary!.interface;
    expect(await c.hasLink(iface)).toBe(true);
    const left = await c.cli(['mesh', 'leave', meshId]);
    expect(left.code, left.stderr).toBe(0);
    measured.leavePropagation = await timed(() =>
      waitFor(
        async () => {
          if (!(await viewsAre([a, b], [a, b]))) return false;
          for (const node of [a, b]) {
            const [own] = await node.call('mesh.list', {});
            const peers = (await node.wgShow(own!.interface))?.peers.map((peer) => peer.publicKey) ?? [];
            if (peers.includes(ids.get(c)!.wgPublicKey) || peers.length !== 1) return false;
          }
          return true;
        },
        2_000,
        "the leaver gone from every view and every host's WireGuard",
      ),
    );
    expect(await c.hasLink(iface)).toBe(false);
    expect(await c.cliJson<MeshSummary[]>(['mesh', 'list'])).toEqual([]);
    // The two that stay still reach each other.
    await waitForPing(a, addressOf(b), PING_BOUND_MS);
  });
});
