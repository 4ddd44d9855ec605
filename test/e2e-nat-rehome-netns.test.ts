/**
 * NAT traversal when a home peer dies, with real WireGuard: three public
 * peers and two clients behind endpoint-independent NAT routers, every
 * daemon with `natTraversal: true`. Once the clients have a direct path, the
 * home peer of one of them is SIGKILLed and its WireGuard interface removed
 * (the host is gone). The client re-homes within the failure-detection
 * bound, keeps its direct path to the other client (pings between them every
 * 0.1 s never stop for more than a second), and reaches the remaining peers.
 */
import {netnsAvailable, skipWithout} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {interfaceOf} from './helpers/mesh-cluster.js';
import {createNatMesh, hasDirectPath, joinClient, meshAddress, PING_BOUND_MS, type NatMesh} from './helpers/nat-cluster.js';
import {startPinger, waitForPing, type NetnsNode} from './helpers/netns-cluster.js';

const SKIP = skipWithout('the NAT traversal re-homing end-to-end test in network namespaces', netnsAvailable({nat: true}));

/** Failure detection at the default heartbeatInterval (2 s): 3 x 2 s + 2 s. */
const DETECTION_BOUND_MS = 8_000;
/** A direct path does not go through the home peer: its pings never stop for longer than this. */
const DIRECT_GAP_BOUND_MS = 1_000;

describe.skipIf(SKIP)('a client behind NAT whose home peer dies', {timeout: 60_000}, () => {
  let mesh: NatMesh | undefined;
  const measured: Record<string, number> = {};

  beforeAll(async () => {
    await killAllDaemons();
    mesh = await createNatMesh(
      3,
      [
        {behaviour: 'endpoint-independent', hosts: 1},
        {behaviour: 'endpoint-independent', hosts: 1},
      ],
      'wgmesh-natrh-',
    );
  }, 60_000);

  afterAll(async () => {
    await mesh?.cluster.close();
    console.log(`NAT traversal re-homing times in ms: ${JSON.stringify(measured)}`);
  });

  /** The peer whose entry on `client` carries the mesh /64 (its home), by public key. */
  async function homeKey(client: NetnsNode): Promise<string | undefined> {
    const dump = await client.wgShow(await interfaceOf(client, mesh!.meshId));
    return dump?.peers.find((peer) => peer.allowedIps.some((ip) => ip.endsWith('::/64')))?.publicKey;
  }

  it('re-homes within the detection bound and keeps its direct path to the other client', async () => {
    const {cluster, peers, meshId} = mesh!;
    const [c1, c2] = mesh!.clients as [NetnsNode, NetnsNode];
    const [site1, site2] = cluster.lab.natSites as [(typeof cluster.lab.natSites)[number], (typeof cluster.lab.natSites)[number]];
    await joinClient(mesh!, c1, peers[0]!);
    await joinClient(mesh!, c2, peers[1]!);
    await waitFor(async () => (await hasDirectPath(mesh!, c1, c2, site2.publicAddress)) && (await hasDirectPath(mesh!, c2, c1, site1.publicAddress)), 15_000, 'a direct path between c1 and c2');
    const target = await meshAddress(mesh!, c2);
    await waitForPing(c1, target, PING_BOUND_MS);

    const keys = await Promise.all(peers.map(async (peer) => (await peer.call('status', {})).wgPublicKey));
    const home = peers[keys.indexOf((await homeKey(c1))!)]!;
    const homeIface = await interfaceOf(home, meshId);
    const pinger = startPinger(c1, target, 20);
    let killedAt = 0;
    try {
      await waitFor(() => pinger.answers.length >= 10, 10_000, 'c1 to get ping answers from c2');
      await home.kill('SIGKILL');
      await home.exec('ip', ['link', 'del', homeIface]);
      killedAt = Date.now();
      await waitFor(async () => {
        const now = await homeKey(c1);
        return now !== undefined && now !== keys[peers.indexOf(home)];
      }, DETECTION_BOUND_MS + 4_000, 'c1 to re-home');
      measured.killToRehome = Date.now() - killedAt;
      await waitFor(() => pinger.answers.some((answer) => answer.sentMs > Date.now() - 1_000 && answer.sentMs > killedAt + 1_000), 5_000, 'answers after the re-homing');
    } finally {
      await pinger.stop();
    }
    expect(measured.killToRehome).toBeLessThanOrEqual(DETECTION_BOUND_MS + 2_000);
    expect(await hasDirectPath(mesh!, c1, c2, site2.publicAddress)).toBe(true);
    const times = pinger.answers.map((answer) => answer.receivedMs).filter((at) => at >= killedAt - 2_000).sort((x, y) => x - y);
    const gap = Math.max(...times.slice(1).map((at, i) => at - times[i]!));
    measured.directPingGap = Math.round(gap);
    expect(gap).toBeLessThanOrEqual(DIRECT_GAP_BOUND_MS);
    // The remaining peers are reached, through the new home or directly.
    for (const peer of peers.filter((node) => node !== home)) await waitForPing(c1, await meshAddress(mesh!, peer), PING_BOUND_MS);
  });
});
