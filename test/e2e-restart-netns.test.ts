/**
 * Restarts, rejoins and new clients with real WireGuard: real daemons, each in
 * a network namespace of its own (two peers and a client; wireguard-go where
 * the kernel has no module), real gRPC. While one host pings another over the
 * mesh every 0.1 s (one `ping -D` process, so each answer carries its own
 * receive time and round-trip time, hence its send time), a member restarts
 * cleanly (SIGTERM, then started again) or leaves and joins again. What is
 * measured is how long after that member is back the pings are answered
 * again:
 *
 * - *back* for a restart is the moment the restarted daemon is ready: it
 *   logged `daemon ready`, which it does after every saved mesh is restored
 *   (interface up, peers and routes applied) and its IPC answers;
 * - for a rejoin, and for a new client, it is the moment `mesh join` returned.
 *
 * A restart is measured twice: a quick one, and one that waits until the
 * other members declared the node dead (they remove its WireGuard peer, and
 * add it back once they learn it is alive again).
 *
 * The recovery time is then the receive time of the first answer to a ping
 * sent at or after that moment, minus that moment. It must stay under
 * {@link RECOVERY_BOUND_MS}: one round trip plus a handshake (WireGuard's own
 * timers would take 5 to 15 s). The numbers are printed at the end.
 */
import {nodeAddress} from '@wgmesh/core';
import {netnsAvailable, skipWithout} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {interfaceOf} from './helpers/mesh-cluster.js';
import {NetnsCluster, startPinger, waitForPing, type Answer, type NetnsNode, type Pinger} from './helpers/netns-cluster.js';

const SKIP = skipWithout('the restart end-to-end tests in network namespaces', netnsAvailable());

/** What the issue asks: every path works again within one round trip plus a handshake. */
const RECOVERY_BOUND_MS = 1_000;
/** How long a pinger waits for the first answer after the member is back before the test gives up (WireGuard's own timers take up to ~20 s). */
const GIVE_UP_MS = 22_000;
/** Time for a first handshake between members already in the mesh (a lost one is retried after 5 s). */
const PING_BOUND_MS = 15_000;
/**
 * Twice the default: a restart (up to ~7 s on a loaded 2-core machine) stays
 * shorter than failure detection, so it is measured as a restart; the test
 * that restarts after the members declared the node dead waits for that.
 */
const HEARTBEAT_INTERVAL_MS = 4_000;
/** Failure detection: 3 x heartbeatInterval + 2 s. */
const DEAD_BOUND_MS = 3 * HEARTBEAT_INTERVAL_MS + 2_000;
/** A client's persistent keepalive when none is given. */
const DEFAULT_CLIENT_KEEPALIVE_S = 25;

/**
 * Wait until `pinger` has an answer to a ping sent at or after `backMs`
 * (bounded by {@link GIVE_UP_MS}); resolves with the time from `backMs` to
 * that answer, or Infinity when none came.
 */
async function recovery(pinger: Pinger, backMs: number): Promise<number> {
  const first = (): Answer | undefined => pinger.answers.find((answer) => answer.sentMs >= backMs);
  await waitFor(() => first() !== undefined, GIVE_UP_MS, 'an answer after the member was back').catch(() => undefined);
  const answer = first();
  return answer === undefined ? Infinity : Math.round(answer.receivedMs - backMs);
}

describe.skipIf(SKIP)('restarts, rejoins and new clients with real WireGuard in network namespaces', {timeout: 90_000}, () => {
  let cluster: NetnsCluster | undefined;
  let a: NetnsNode, b: NetnsNode, c: NetnsNode;
  let meshId = '';
  /** Measured recovery times in ms (Infinity: none within {@link GIVE_UP_MS}), printed at the end. */
  const measured: Record<string, number> = {};
  const pingers: Pinger[] = [];

  async function addressOf(node: NetnsNode): Promise<string> {
    return nodeAddress(meshId, (await node.call('status', {})).nodeId);
  }

  /** The peer among a and b that `client`'s WireGuard lists (its home). */
  async function homeOf(client: NetnsNode): Promise<NetnsNode> {
    const keys = ((await client.wgShow(await interfaceOf(client, meshId)))?.peers ?? []).map((peer) => peer.publicKey);
    const statuses = await Promise.all([a, b].map(async (node) => ({node, key: (await node.call('status', {})).wgPublicKey})));
    const home = statuses.find((status) => keys.length === 1 && keys[0] === status.key);
    if (!home) throw new Error(`${client.name}'s WireGuard does not list exactly one of a and b: ${keys.join(', ')}`);
    return home.node;
  }

  function pinger(from: NetnsNode, address: string, seconds: number): Pinger {
    const started = startPinger(from, address, seconds);
    pingers.push(started);
    return started;
  }

  /** SIGTERM `node`'s daemon, start it again, and return the moment it was ready again. */
  async function restart(node: NetnsNode): Promise<number> {
    await node.kill('SIGTERM');
    await node.start();
    return Date.now();
  }

  beforeAll(async () => {
    cluster = await NetnsCluster.create({hosts: 3, prefix: 'wgmesh-restart-'});
    [a, b, c] = (await cluster.addNodes(['a', 'b', 'c'].map((name) => ({name, config: {heartbeatInterval: `${HEARTBEAT_INTERVAL_MS}ms`}})))) as [NetnsNode, NetnsNode, NetnsNode];
    ({meshId} = await a.cliJson<{meshId: string}>(['mesh', 'create']));
    await b.join(meshId, a, a);
    await waitForPing(b, await addressOf(a), PING_BOUND_MS);
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(pingers.map((running) => running.stop()));
    await cluster?.close();
    await killAllDaemons();
    console.log(`restart recovery in ms (answer to the first ping sent after the member was back; bound ${RECOVERY_BOUND_MS}, none: no answer within ${GIVE_UP_MS}): ${JSON.stringify(measured, (_key, value: unknown) => (value === Infinity ? 'none' : value))}`);
  });

  it('a new client answers pings from its home peer and from the other peer within 1 s of mesh join returning, and keeps a 25 s keepalive', async () => {
    const address = await addressOf(c);
    await c.join(meshId, a, b, ['--role', 'client']);
    const joined = Date.now();
    const home = await homeOf(c);
    const other = home === a ? b : a;
    const fromHome = pinger(home, address, 30);
    const fromOther = pinger(other, address, 30);
    [measured.newClientFromHome, measured.newClientFromOther] = await Promise.all([recovery(fromHome, joined), recovery(fromOther, joined)]);
    await Promise.all([fromHome.stop(), fromOther.stop()]);
    const [homePeer] = (await c.wgShow(await interfaceOf(c, meshId)))?.peers ?? [];
    expect(homePeer?.keepaliveSeconds).toBe(DEFAULT_CLIENT_KEEPALIVE_S);
    expect(measured.newClientFromHome).toBeLessThan(RECOVERY_BOUND_MS);
    expect(measured.newClientFromOther).toBeLessThan(RECOVERY_BOUND_MS);
  });

  it('a peer that restarts cleanly answers again within 1 s of being ready', async () => {
    const home = await homeOf(c);
    const restarting = home === a ? b : a;
    const other = home;
    const ping = pinger(other, await addressOf(restarting), 40);
    await waitFor(() => ping.answers.length > 0, PING_BOUND_MS, 'pings before the restart');
    const ready = await restart(restarting);
    measured.peerRestart = await recovery(ping, ready);
    await ping.stop();
    expect(measured.peerRestart).toBeLessThan(RECOVERY_BOUND_MS);
  });

  it('a peer that restarts cleanly after the members declared it dead answers again within 1 s of being ready', async () => {
    const home = await homeOf(c);
    const restarting = home === a ? b : a;
    const other = home;
    const ping = pinger(other, await addressOf(restarting), 40);
    await waitFor(() => ping.answers.length > 0, PING_BOUND_MS, 'pings before the stop');
    const members = await other.view(meshId);
    await restarting.kill('SIGTERM');
    // A slow start: the other peer removes it from WireGuard meanwhile, and adds it back once it learns it is alive.
    await waitFor(async () => (await other.view(meshId)).length === members.length - 1, DEAD_BOUND_MS, `${other.name} to declare ${restarting.name} dead`);
    await restarting.start();
    const ready = Date.now();
    measured.peerRestartAfterDead = await recovery(ping, ready);
    await ping.stop();
    expect(measured.peerRestartAfterDead).toBeLessThan(RECOVERY_BOUND_MS);
  });

  it("a client's home peer that restarts cleanly: the client and the other peer reach the client's paths again within 1 s", async () => {
    const home = await homeOf(c);
    const other = home === a ? b : a;
    const clientToHome = pinger(c, await addressOf(home), 40);
    const otherToClient = pinger(other, await addressOf(c), 40);
    await waitFor(() => clientToHome.answers.length > 0 && otherToClient.answers.length > 0, PING_BOUND_MS, 'pings before the restart');
    const ready = await restart(home);
    [measured.homeRestartClientToHome, measured.homeRestartOtherToClient] = await Promise.all([recovery(clientToHome, ready), recovery(otherToClient, ready)]);
    await Promise.all([clientToHome.stop(), otherToClient.stop()]);
    expect(await homeOf(c)).toBe(home);
    expect(measured.homeRestartClientToHome).toBeLessThan(RECOVERY_BOUND_MS);
    expect(measured.homeRestartOtherToClient).toBeLessThan(RECOVERY_BOUND_MS);
  });

  it('a peer that leaves and joins again answers within 1 s of mesh join returning', async () => {
    const home = await homeOf(c);
    const leaving = home === a ? b : a;
    const other = home;
    // Issued before the leave: the admin (a) may be the one leaving.
    const invite = await a.invite(meshId);
    const ping = pinger(other, await addressOf(leaving), 40);
    await waitFor(() => ping.answers.length > 0, PING_BOUND_MS, 'pings before the leave');
    await leaving.cliJson(['mesh', 'leave', meshId]);
    await leaving.cliJson(['mesh', 'join', meshId, '--invite', invite, '--via', other.endpoint]);
    const joined = Date.now();
    measured.peerRejoin = await recovery(ping, joined);
    await ping.stop();
    expect(measured.peerRejoin).toBeLessThan(RECOVERY_BOUND_MS);
  });
});
