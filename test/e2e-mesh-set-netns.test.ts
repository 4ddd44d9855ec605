/**
 * `mesh set` and the kept WireGuard port end to end with real WireGuard: two
 * real daemons in network namespaces of their own, the `kernel` driver
 * (wireguard-go where the kernel has no module), real gRPC. Host a pings host
 * b over the mesh every 0.1 s, each answer timestamped, while b changes its
 * advertised endpoint (to a second underlay address), its keepalive and its
 * WireGuard port, becomes an exit and stops being one, and becomes a client
 * and a peer again; the largest gap between two answers is printed and must
 * stay under 1 s for every change but the port. Then a, whose mesh
 * was created with port 0, restarts and keeps its port; and restarts again
 * with that port taken by another program: it takes a free one, warns, and b
 * reaches it at the new port.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {readFile} from 'node:fs/promises';
import {join} from 'node:path';
import type {MeshSetResult, NodeView} from '@wgmesh/core/client';
import {netnsAvailable, skipWithout} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {LOG_LEVEL, parseLogLines} from './helpers/mesh-cluster.js';
import {NetnsCluster, waitForPing, type NetnsNode} from './helpers/netns-cluster.js';

const SKIP = skipWithout('the mesh set end-to-end test in network namespaces', netnsAvailable());

/** Pings across one change: one every 0.1 s for 6 s. */
const PING_INTERVAL_S = 0.1;
const PING_COUNT = 60;
/** Largest gap between two answers allowed across an endpoint or keepalive change. */
const MAX_GAP_MS = 1_000;
/** Largest gap across a port change: the new endpoint must reach the pinging side first. */
const MAX_PORT_GAP_MS = 5_000;
/** Time for a first handshake: WireGuard retries a lost one after 5 s. */
const PING_BOUND_MS = 15_000;

/** Gaps measured, printed at the end. */
const measured: Record<string, {gapMs: number; answered: number}> = {};

describe.skipIf(SKIP)('mesh set and the kept port with real WireGuard in network namespaces', {timeout: 90_000}, () => {
  let cluster: NetnsCluster | undefined;
  let a: NetnsNode, b: NetnsNode;
  let meshId = '';
  let blocker: ChildProcess | undefined;

  async function selfOf(node: NetnsNode): Promise<NodeView> {
    return (await node.call('mesh.show', {meshId})).nodes.find((view) => view.self)!;
  }

  async function ifaceOf(node: NetnsNode): Promise<string> {
    return (await node.call('mesh.list', {}))[0]!.interface;
  }

  /**
   * Ping `to` from `from` every {@link PING_INTERVAL_S} while `change` runs a
   * second in; resolves with the largest gap between two answers (from the
   * first ping to the last answer) and how many were answered.
   */
  async function pingAcross(from: NetnsNode, to: string, change: () => Promise<void>): Promise<{gapMs: number; answered: number}> {
    await waitForPing(from, to, PING_BOUND_MS);
    const started = Date.now();
    const ping = from.exec('ping', ['-6', '-n', '-D', '-i', String(PING_INTERVAL_S), '-c', String(PING_COUNT), '-W', '1', to], {timeoutMs: 30_000}).catch(
      // ping exits 1 when some pings were lost; its output is still on stdout.
      (error: unknown) => ({stdout: String((error as {stdout?: unknown}).stdout ?? (error as Error).message), stderr: ''}),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await change();
    const {stdout} = await ping;
    const answers = [...stdout.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=\d+ .*time=/gm)].map((match) => Number(match[1]) * 1000);
    expect(answers.length, `answers in:\n${stdout}`).toBeGreaterThan(0);
    const times = [started, ...answers];
    let gapMs = 0;
    for (let i = 1; i < times.length; i++) gapMs = Math.max(gapMs, times[i]! - times[i - 1]!);
    // A silence at the end shows as answers missing: every one but a second's worth must be there.
    expect(answers.length, `answers in:\n${stdout}`).toBeGreaterThanOrEqual(PING_COUNT - MAX_GAP_MS / 1000 / PING_INTERVAL_S);
    return {gapMs: Math.round(gapMs), answered: answers.length};
  }

  beforeAll(async () => {
    cluster = await NetnsCluster.create({hosts: 2, prefix: 'wgmesh-mesh-set-netns-'});
    // b listens for control traffic on every address of its namespace, so a second address can be advertised.
    [a, b] = (await cluster.addNodes([{name: 'a'}, {name: 'b', grpc: {listenAddress: '::'}}])) as [NetnsNode, NetnsNode];
    ({meshId} = await a.call('mesh.create', {port: 0}));
    await b.call('mesh.join', {invite: await a.invite(meshId), via: a.endpoint});
    await waitForPing(a, (await selfOf(b)).address, PING_BOUND_MS);
  }, 60_000);

  afterAll(async () => {
    blocker?.kill('SIGKILL');
    console.log('largest gap between ping answers across each change:', JSON.stringify(measured));
    await cluster?.close();
    await killAllDaemons();
  });

  it('--endpoint: a second underlay address is advertised and used, no gap over 1 s', async () => {
    const second = cluster!.lab.prefix.replace(/::\/64$/, '::ee:1');
    await b.exec('ip', ['addr', 'add', `${second}/64`, 'dev', b.host.interface, 'nodad']);
    const bAddress = (await selfOf(b)).address;
    let result: MeshSetResult | undefined;
    measured.endpoint = await pingAcross(a, bAddress, async () => {
      result = await b.cliJson<MeshSetResult>(['mesh', 'set', meshId, '--endpoint', second]);
    });
    expect(result!.changed).toEqual(['endpoint']);
    const wgEndpoint = `[${second}]:${result!.settings.boundPort}`;
    const aIface = await ifaceOf(a);
    const bKey = (await selfOf(b)).wgPublicKey;
    await waitFor(async () => (await a.wgShow(aIface))?.peers.find((peer) => peer.publicKey === bKey)?.endpoint === wgEndpoint, 10_000, "a's WireGuard peer for b to take the new endpoint");
    expect(measured.endpoint.gapMs).toBeLessThan(MAX_GAP_MS);
  });

  it('--keepalive: every peer gets the new keepalive, no gap over 1 s', async () => {
    measured.keepalive = await pingAcross(a, (await selfOf(b)).address, async () => {
      await b.cliJson<MeshSetResult>(['mesh', 'set', meshId, '--keepalive', '3']);
    });
    const bIface = await ifaceOf(b);
    await waitFor(async () => ((await b.wgShow(bIface))?.peers ?? []).every((peer) => peer.keepaliveSeconds === 3), 10_000, "b's peers to get keepalive 3");
    expect(measured.keepalive.gapMs).toBeLessThan(MAX_GAP_MS);
  });

  it('--port: the interface moves to the new port with its peers, and a reaches b there', async () => {
    const bIface = await ifaceOf(b);
    const before = (await b.wgShow(bIface))!;
    const port = before.interface.listenPort === 51999 ? 51998 : 51999;
    measured.port = await pingAcross(a, (await selfOf(b)).address, async () => {
      await b.cliJson<MeshSetResult>(['mesh', 'set', meshId, '--port', String(port)]);
    });
    const after = (await b.wgShow(bIface))!;
    expect(after.interface.listenPort).toBe(port);
    expect(after.peers.map((peer) => peer.publicKey)).toEqual(before.peers.map((peer) => peer.publicKey));
    const bKey = (await selfOf(b)).wgPublicKey;
    const aPeer = (await a.wgShow(await ifaceOf(a)))!.peers.find((peer) => peer.publicKey === bKey);
    expect(aPeer?.endpoint?.endsWith(`]:${port}`)).toBe(true);
    expect(measured.port.gapMs).toBeLessThan(MAX_PORT_GAP_MS);
  });

  it('--advertise-routes --advertise-default: b becomes an exit, a installs its default route, no gap over 1 s', async () => {
    const bAddress = (await selfOf(b)).address;
    let result: MeshSetResult | undefined;
    measured.exit = await pingAcross(a, bAddress, async () => {
      result = await b.cliJson<MeshSetResult>(['mesh', 'set', meshId, '--advertise-routes', '--advertise-default']);
    });
    expect(result!.changed.sort()).toEqual(['advertiseDefault', 'advertiseRoutes']);
    // a has no default route of its own in its namespace: it takes b's, in wgmesh's exit table.
    await waitFor(async () => (await a.ipv6Routes(['table', 'all', 'proto', '119'])).some((route) => route.dst === 'default' && route.gateway === bAddress), 10_000, 'a to install the default route via b');
    expect(measured.exit.gapMs).toBeLessThan(MAX_GAP_MS);
    measured.exitOff = await pingAcross(a, bAddress, async () => {
      await b.cliJson<MeshSetResult>(['mesh', 'set', meshId, '--no-advertise-routes', '--no-advertise-default']);
    });
    await waitFor(async () => !(await a.ipv6Routes(['table', 'all', 'proto', '119'])).some((route) => route.dst === 'default'), 10_000, "a to drop b's default route");
    expect(measured.exitOff.gapMs).toBeLessThan(MAX_GAP_MS);
  });

  it('--role client and back to peer: b homes on a and back, no gap over 1 s either way', async () => {
    const bAddress = (await selfOf(b)).address;
    const bIface = await ifaceOf(b);
    const aKey = (await selfOf(a)).wgPublicKey;
    measured.toClient = await pingAcross(a, bAddress, async () => {
      await b.cliJson<MeshSetResult>(['mesh', 'set', meshId, '--role', 'client']);
    });
    // A client lists exactly its home peer, with the whole mesh /64.
    await waitFor(async () => {
      const peers = (await b.wgShow(bIface))?.peers ?? [];
      return peers.length === 1 && peers[0]!.publicKey === aKey && peers[0]!.allowedIps.some((cidr) => cidr.endsWith('/64'));
    }, 10_000, 'b to list only a, with the mesh /64');
    expect((await selfOf(b)).role).toBe('client');
    expect(measured.toClient.gapMs).toBeLessThan(MAX_GAP_MS);
    measured.toPeer = await pingAcross(a, bAddress, async () => {
      await b.cliJson<MeshSetResult>(['mesh', 'set', meshId, '--role', 'peer']);
    });
    await waitFor(async () => (await b.wgShow(bIface))?.peers.every((peer) => peer.allowedIps.every((cidr) => cidr.endsWith('/128'))) === true, 10_000, "b's peer for a to carry a's /128 again");
    expect((await selfOf(b)).role).toBe('peer');
    expect(measured.toPeer.gapMs).toBeLessThan(MAX_GAP_MS);
  });

  it('a mesh created with port 0 keeps its port across a restart; when the port is taken it takes another, warns and publishes it', async () => {
    const port = (await a.wgShow(await ifaceOf(a)))!.interface.listenPort;
    await a.kill('SIGTERM');
    await a.start();
    expect((await a.wgShow(await ifaceOf(a)))!.interface.listenPort).toBe(port);
    const bAddress = (await selfOf(b)).address;
    await waitForPing(a, bAddress, PING_BOUND_MS);

    await a.kill('SIGTERM');
    // Another program holds the port (IPv4 and IPv6) in a's namespace.
    blocker = spawn('ip', ['netns', 'exec', a.host.netns, 'python3', '-c', `import socket,time\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\ns.bind(('::',${port}))\nprint('bound',flush=True)\ntime.sleep(120)`], {stdio: ['ignore', 'pipe', 'inherit']});
    await new Promise<void>((resolve, reject) => {
      blocker!.stdout!.once('data', () => resolve());
      blocker!.once('exit', (code) => reject(new Error(`the port blocker exited with ${code}`)));
    });
    await a.start();
    const newPort = (await a.wgShow(await ifaceOf(a)))!.interface.listenPort;
    expect(newPort).not.toBe(port);
    const warned = parseLogLines(a.daemon.logs()).filter((line) => line.level === LOG_LEVEL.warn && String(line.msg).includes(`WireGuard port ${port}`));
    expect(warned.length, a.daemon.logs()).toBe(1);
    expect(String(warned[0]!.msg)).toContain(`now using port ${newPort}`);
    const saved = JSON.parse(await readFile(join(a.dataDir, 'meshes', meshId, 'settings.json'), 'utf8')) as {pickedPort?: number};
    expect(saved.pickedPort).toBe(newPort);
    const aKey = (await selfOf(a)).wgPublicKey;
    await waitFor(async () => (await b.wgShow(await ifaceOf(b)))?.peers.find((peer) => peer.publicKey === aKey)?.endpoint === `[${a.host.address}]:${newPort}`, 10_000, "b's peer for a to take a's new port");
    await waitForPing(b, (await selfOf(a)).address, PING_BOUND_MS);
  });
});
