/**
 * `wgmesh mesh set` with real daemons (stub WireGuard, grpc on loopback):
 * each setting changes in place and reaches the other members (their view of
 * the record, their WireGuard peer), alias and services stay, the change is
 * saved (it survives a restart), a role change is refused where the node's
 * credential does not allow it, and a mesh made with port 0 keeps its port
 * across restarts.
 */
import {readFile, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {createSocket} from 'node:dgram';
import type {AddressInfo} from 'node:net';
import type {MeshSetResult, NodeView} from '@wgmesh/core/client';
import {parse, stringify} from 'yaml';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {interfaceOf, LOG_LEVEL, MeshCluster, parseLogLines, type MeshNode} from './helpers/mesh-cluster.js';

/** A UDP port that was free a moment ago. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const {port} = socket.address() as AddressInfo;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Collapse oclif's wrapping of an error to one line. */
function oneLine(text: string): string {
  return text.replace(/\s*›\s*/g, ' ').replace(/\s+/g, ' ');
}

describe('mesh set', () => {
  let cluster: MeshCluster;
  let alpha: MeshNode;
  let beta: MeshNode;
  let gamma: MeshNode;
  let meshId: string;
  let betaId: string;

  /** `observer`'s view of `nodeId`'s record in the mesh. */
  async function recordAt(observer: MeshNode, nodeId: string): Promise<NodeView | undefined> {
    return (await observer.call('mesh.show', {meshId, nodeId})).nodes[0];
  }

  /** Wait until `observer` sees beta's record match `check`. */
  async function untilBetaSeen(observer: MeshNode, check: (record: NodeView) => boolean, what: string): Promise<NodeView> {
    let seen: NodeView | undefined;
    await waitFor(async () => ((seen = await recordAt(observer, betaId)) !== undefined && check(seen)), 15_000, what);
    return seen!;
  }

  /** `mesh set` on `node` with the CLI and --json; it must succeed. */
  function set(node: MeshNode, args: readonly string[]): Promise<MeshSetResult> {
    return node.cliJson<MeshSetResult>(['mesh', 'set', meshId, ...args]);
  }

  /** alpha's WireGuard peer for beta (stub state). */
  async function alphaPeerForBeta(): Promise<{endpoint: string | null; keepaliveSeconds?: number | undefined} | undefined> {
    const record = await recordAt(alpha, betaId);
    const state = await alpha.wireguard(await interfaceOf(alpha, meshId));
    return state?.peers.find((peer) => peer.publicKey === record?.wgPublicKey);
  }

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-mesh-set-');
    [alpha, beta, gamma] = (await cluster.addNodes([{name: 'alpha'}, {name: 'beta'}, {name: 'gamma'}])) as [MeshNode, MeshNode, MeshNode];
    ({meshId} = await alpha.call('mesh.create', {}));
    await beta.join(meshId, alpha, alpha);
    await gamma.join(meshId, alpha, alpha, ['--role', 'client']);
    betaId = (await beta.call('status', {})).nodeId;
    await beta.call('node.set', {meshId, alias: 'bee', description: 'the second'});
    await beta.call('service.set', {meshId, key: 'web', value: '8080'});
    await untilBetaSeen(alpha, (record) => record.services.web === '8080', 'alpha to see beta with its alias and service');
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
  });

  it('--help lists every setting, and no setting at all is an error', async () => {
    const help = await beta.cli(['mesh', 'set', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--endpoint', '--port', '--keepalive', '--role', '--[no-]advertise-routes', '--[no-]advertise-default']) expect(help.stdout).toContain(flag);
    const none = await beta.cli(['mesh', 'set', meshId]);
    expect(none.code).not.toBe(0);
    expect(oneLine(none.stderr)).toContain('give at least one setting to change');
    const unknown = await beta.cli(['mesh', 'set', 'aaaaaaaaaaaaaaaaaaaaaaaaaa', '--keepalive', '5']);
    expect(unknown.code).not.toBe(0);
    expect(oneLine(unknown.stderr)).toContain('not a member of mesh aaaaaaaaaaaaaaaaaaaaaaaaaa');
  });

  it('--endpoint publishes the new control and WireGuard endpoints; alias, description and services stay', async () => {
    const result = await set(beta, ['--endpoint', 'localhost']);
    expect(result.changed).toEqual(['endpoint']);
    expect(result.settings.endpoint).toBe('localhost');
    const seen = await untilBetaSeen(alpha, (record) => record.controlEndpoint?.startsWith('localhost:') === true, 'alpha to see the new endpoint');
    expect(seen.wgEndpoint).toBe(`localhost:${result.settings.boundPort}`);
    expect(seen).toMatchObject({alias: 'bee', description: 'the second', services: {web: '8080'}, role: 'peer'});
    await waitFor(async () => (await alphaPeerForBeta())?.endpoint === `localhost:${result.settings.boundPort}`, 10_000, "alpha's WireGuard peer for beta to take the new endpoint");
    await set(beta, ['--endpoint', '127.0.0.1']);
    await untilBetaSeen(alpha, (record) => record.controlEndpoint === beta.endpoint, 'alpha to see the endpoint back');
  });

  it('--port moves the interface to the new port, keeping its peers, and members dial the new port', async () => {
    const iface = await interfaceOf(beta, meshId);
    const peersBefore = (await beta.wireguard(iface))!.peers.map((peer) => peer.publicKey).sort();
    const port = await freeUdpPort();
    const result = await set(beta, ['--port', String(port)]);
    expect(result.changed).toEqual(['port']);
    expect(result.settings).toMatchObject({port, boundPort: port});
    const state = (await beta.wireguard(iface))!;
    expect(state.listenPort).toBe(port);
    expect(state.peers.map((peer) => peer.publicKey).sort()).toEqual(peersBefore);
    await untilBetaSeen(alpha, (record) => record.wgEndpoint === `127.0.0.1:${port}`, 'alpha to see the new WireGuard port');
    await waitFor(async () => (await alphaPeerForBeta())?.endpoint === `127.0.0.1:${port}`, 10_000, "alpha's peer for beta to take the new port");
  });

  it('--keepalive changes the keepalive of every WireGuard peer', async () => {
    const iface = await interfaceOf(beta, meshId);
    const result = await set(beta, ['--keepalive', '7']);
    expect(result.changed).toEqual(['keepalive']);
    await waitFor(async () => (await beta.wireguard(iface))!.peers.every((peer) => peer.keepaliveSeconds === 7), 10_000, "beta's peers to get keepalive 7");
    const again = await set(beta, ['--keepalive', '7']);
    expect(again.changed).toEqual([]);
    expect((await beta.cli(['mesh', 'set', meshId, '--keepalive', '7'])).stdout).toContain('nothing changed');
  });

  it('--advertise-routes and --advertise-default make beta an exit; --no-advertise-default withdraws the default route', async () => {
    const refused = await beta.cli(['mesh', 'set', meshId, '--advertise-default']);
    expect(refused.code).not.toBe(0);
    expect(oneLine(refused.stderr)).toContain('--advertise-default needs --advertise-routes');
    const result = await set(beta, ['--advertise-routes', '--advertise-default']);
    expect(result.changed.sort()).toEqual(['advertiseDefault', 'advertiseRoutes']);
    await untilBetaSeen(alpha, (record) => record.routes.some((route) => route.destination === '::/0'), 'alpha to see the default route from beta');
    await set(beta, ['--no-advertise-default']);
    await untilBetaSeen(alpha, (record) => !record.routes.some((route) => route.destination === '::/0'), 'alpha to see the default route withdrawn');
    await set(beta, ['--no-advertise-routes']);
  });

  it('--role: a client credential cannot become a peer; a peer becomes a client and a peer again', async () => {
    const refused = await gamma.cli(['mesh', 'set', meshId, '--role', 'peer']);
    expect(refused.code).not.toBe(0);
    expect(oneLine(refused.stderr)).toContain('its credential admits it as a client only');
    await set(beta, ['--role', 'client']);
    const asClient = await untilBetaSeen(alpha, (record) => record.role === 'client', 'alpha to see beta as a client');
    expect(asClient.controlEndpoint).toBeNull();
    const back = await set(beta, ['--role', 'peer']);
    expect(back.changed).toEqual(['role']);
    const asPeer = await untilBetaSeen(alpha, (record) => record.role === 'peer' && record.controlEndpoint === beta.endpoint, 'alpha to see beta as a peer again');
    expect(asPeer.services).toEqual({web: '8080'});
    // Gossip works in both directions again: beta sees a change of alpha's.
    await alpha.call('service.set', {meshId, key: 'after-role', value: '1'});
    const alphaId = (await alpha.call('status', {})).nodeId;
    await waitFor(async () => (await beta.call('mesh.show', {meshId, nodeId: alphaId})).nodes[0]?.services['after-role'] === '1', 15_000, 'beta to see the change of alpha');
  });

  it('the settings are saved: a restart keeps them, and a mesh created with port 0 keeps its port', async () => {
    const alphaPort = (await alpha.wireguard(await interfaceOf(alpha, meshId)))!.listenPort;
    await beta.kill('SIGTERM');
    await alpha.kill('SIGTERM');
    const saved = JSON.parse(await readFile(join(beta.dataDir, 'meshes', meshId, 'settings.json'), 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({keepaliveSeconds: 7, endpointHost: '127.0.0.1', role: 'peer', advertiseRoutes: false, advertiseDefault: false});
    expect(JSON.parse(await readFile(join(alpha.dataDir, 'meshes', meshId, 'settings.json'), 'utf8'))).toMatchObject({listenPort: 0, pickedPort: alphaPort});
    await alpha.start();
    await beta.start();
    expect((await alpha.wireguard(await interfaceOf(alpha, meshId)))!.listenPort).toBe(alphaPort);
    const result = await set(beta, ['--keepalive', '7']);
    expect(result.changed).toEqual([]);
  }, 60_000);

  it('after a config edit, hooks follow the config at the next start; the per-mesh settings stay, and the log says how to change them', async () => {
    const marker = join(cluster.sandbox.dir, 'beta-post-up-ran');
    const config = parse(await readFile(beta.configFile, 'utf8')) as {baseConfiguration: Record<string, unknown>};
    config.baseConfiguration = {...config.baseConfiguration, keepAliveWg: 11, postUp: [`touch ${marker}`]};
    await writeFile(beta.configFile, stringify(config));
    await beta.kill('SIGTERM');
    await beta.start();
    await stat(marker);
    const saved = JSON.parse(await readFile(join(beta.dataDir, 'meshes', meshId, 'settings.json'), 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({keepaliveSeconds: 7, postUp: [`touch ${marker}`]});
    const hint = parseLogLines(beta.daemon.logs()).find((line) => line.level === LOG_LEVEL.info && String(line.msg).includes('baseConfiguration differs'));
    expect(String(hint?.msg)).toContain('keepAliveWg (mesh: --keepalive 7)');
    expect(String(hint?.msg)).toContain(`wgmesh mesh set ${meshId}`);
  }, 60_000);
});
