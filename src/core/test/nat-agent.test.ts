import {describe, expect, it} from 'vitest';
import type {WgDriver, WgPeerStats} from '../src/contracts/wg-driver.js';
import type {NatInfo, NodeRecord, Role} from '../src/model/record.js';
import {DEFAULT_NAT_SETTINGS, NatAgent, OBSERVED_WAIT_MS} from '../src/nat/agent.js';
import {flushMicrotasks, makeTestNode, silentLogger, SimulatedClock, testMeshId} from '@wgmesh/testkit';

const meshId = testMeshId();

function node(role: Role, nat?: NatInfo): NodeRecord {
  return makeTestNode(meshId).recordBody({role, ...(role === 'client' ? {controlEndpoint: null, wgEndpoint: null} : {}), ...(nat ? {nat} : {})});
}

/** A NatAgent on a simulated clock over a driver whose statistics the test sets. */
function setup(self: NodeRecord, others: NodeRecord[]) {
  const clock = new SimulatedClock();
  let stats: WgPeerStats[] = [];
  let reads = 0;
  let published = 0;
  let reconciled = 0;
  /** While set, a statistics read waits for it (a `wg show` slow to start on a loaded host). */
  let slow: Promise<void> | undefined;
  const driver = {
    name: 'fake',
    stats: async () => {
      reads++;
      await slow;
      return stats.map((peer) => ({...peer}));
    },
  } as unknown as WgDriver;
  let current = self;
  const agent = new NatAgent({
    settings: {...DEFAULT_NAT_SETTINGS, enabled: true},
    clock,
    logger: silentLogger(),
    driver,
    interfaceName: 'wgtest0',
    active: () => true,
    self: () => current,
    live: () => [current, ...others],
    localSocket: () => ({port: 51820, addresses: ['10.1.0.2']}),
    publish: () => {
      published++;
      current = {...current, nat: agent.natInfo()!};
    },
    reconcile: () => reconciled++,
  });
  return {
    clock,
    agent,
    setStats: (next: WgPeerStats[]) => (stats = next),
    /** Make statistics reads wait until the returned function is called. */
    slowReads: (): (() => void) => {
      let release = (): void => undefined;
      slow = new Promise((resolve) => (release = resolve));
      return () => {
        slow = undefined;
        release();
      };
    },
    counts: () => ({reads, published, reconciled}),
  };
}

const peerStats = (record: NodeRecord, endpoint: string, latestHandshakeMs: number | null, rxBytes = 0): WgPeerStats => ({publicKey: record.wgPublicKey, endpoint, latestHandshakeMs, rxBytes, txBytes: 0});

describe('NAT agent', () => {
  it('tells a member where its packets come from only after a recent handshake, and reads statistics a bounded number of times', async () => {
    const self = node('peer', {endpoint: null, mapping: 'unknown'});
    const client = node('client');
    const stranger = node('client');
    const {clock, agent, setStats, counts} = setup(self, [client]);
    setStats([peerStats(client, '198.18.1.1:40000', null)]);
    expect(await agent.observedFor(client.id)).toBeUndefined();
    setStats([peerStats(client, '198.18.1.1:40000', clock.now())]);
    // The statistics are re-read for a member they did not show, at most every 250 ms.
    expect(await agent.observedFor(client.id)).toBeUndefined();
    await clock.advance(300);
    expect(await agent.observedFor(client.id)).toBe('198.18.1.1:40000');
    expect(await agent.observedFor(stranger.id)).toBeUndefined();
    const before = counts().reads;
    await Promise.all(Array.from({length: 100}, () => agent.observedFor(client.id)));
    expect(counts().reads).toBe(before);
    await clock.advance(200_000);
    setStats([peerStats(client, '198.18.1.1:40000', clock.now() - 190_000)]);
    expect(await agent.observedFor(client.id)).toBeUndefined();
  });

  it('answers a heartbeat without waiting for a slow statistics read: with the last read, and the fresh one serves the next answer', async () => {
    const self = node('peer', {endpoint: null, mapping: 'unknown'});
    const client = node('client');
    const {clock, agent, setStats, slowReads} = setup(self, [client]);
    setStats([peerStats(client, '198.18.1.1:40000', clock.now())]);
    expect(await agent.observedFor(client.id)).toBe('198.18.1.1:40000');
    await clock.advance(1_500);
    setStats([peerStats(client, '198.18.1.1:40001', clock.now())]);
    const release = slowReads();
    let answered: {endpoint: string | undefined} | undefined;
    void agent.observedFor(client.id).then((endpoint) => (answered = {endpoint}));
    // Well within a heartbeat's probe timeout (500 ms by default), the answer goes with the last read.
    await clock.advance(OBSERVED_WAIT_MS);
    await flushMicrotasks();
    expect(answered).toEqual({endpoint: '198.18.1.1:40000'});
    release();
    await flushMicrotasks();
    expect(await agent.observedFor(client.id)).toBe('198.18.1.1:40001');
  });

  it('publishes what members report only when the summary changes', () => {
    const self = node('client');
    const [p1, p2] = [node('peer'), node('peer')];
    const {agent, counts} = setup(self, [p1, p2]);
    expect(agent.natInfo()).toEqual({endpoint: null, mapping: 'unknown'});
    agent.observedBy(p1.id, '198.18.1.1:51820');
    agent.observedBy(p1.id, '198.18.1.1:51820');
    expect(counts().published).toBe(1);
    agent.observedBy(p2.id, '198.18.1.1:51820');
    expect(agent.natInfo()).toEqual({endpoint: '198.18.1.1:51820', mapping: 'endpoint-independent'});
    expect(counts().published).toBe(2);
    agent.observedBy(p2.id, 'not an endpoint');
    expect(counts().published).toBe(2);
  });

  it('punches to a client whose NAT allows it, goes direct on the handshake, and asks for reconciliation each time', async () => {
    const ei = (endpoint: string): NatInfo => ({endpoint, mapping: 'endpoint-independent'});
    const self = node('client', ei('198.18.1.1:51820'));
    const other = node('client', ei('198.18.1.2:51820'));
    const symmetric = node('client', {endpoint: null, mapping: 'varies'});
    const {clock, agent, setStats, counts} = setup(self, [other, symmetric, node('peer', ei('198.18.0.1:51820'))]);
    agent.start();
    await clock.advance(DEFAULT_NAT_SETTINGS.checkIntervalMs);
    await flushMicrotasks();
    expect([...agent.punched().keys()]).toEqual([other.id]);
    expect(agent.punched().get(other.id)).toMatchObject({endpoint: '198.18.1.2:51820', carries: false});
    expect(counts().reconciled).toBe(1);
    setStats([peerStats(other, '198.18.1.2:51820', clock.now(), 148)]);
    await clock.advance(300);
    await flushMicrotasks();
    expect(agent.pathTo(other.id)).toBe('direct');
    expect(agent.punched().get(other.id)?.carries).toBe(true);
    expect(counts().reconciled).toBe(2);
    agent.stop();
  });
});
