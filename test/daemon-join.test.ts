/**
 * Daemon.joinMesh in one process, over the in-memory transport, for the join
 * refusals that real clusters reach only through rare histories.
 */
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {Daemon, encodeControlReply, encodeInviteToken, generateIdentity, issueInvite, systemClock, systemRandom, type MeshStore} from '@wgmesh/core';
import {MemoryNetwork, makeTestNode, silentLogger, testMeshAdmin, testMeshId} from '@wgmesh/core/testkit';
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import {StubWgDriver} from '@wgmesh/wg-stub';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';

const control = {syncIntervalMs: 1000, heartbeatIntervalMs: 2000, pullIntervalMs: 20_000, branch: 3, clusterSize: 64, interClusterChance: 0.15, infectionCount: 3, timeoutMs: 5000, maxClockSkewMs: 300_000};

describe('Daemon.joinMesh refusals', () => {
  let dir: string;
  let driver: StubWgDriver;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgmesh-daemon-join-'));
    driver = new StubWgDriver();
  });
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true});
  });

  /** A member at `endpoint` that serves `store` as the snapshot of its mesh. */
  function member(network: MemoryNetwork, endpoint: string, store: MeshStore, storeKind = 'twophase'): void {
    void network.transport(endpoint).listen({
      snapshot: async () => ({storeKind, snapshot: store.save()}),
      openSync: () => store.openSync('responder'),
      // Every join request is let in: these tests are about what the joiner does with the snapshot.
      message: async () => encodeControlReply({t: 'jn', c: [], n: Date.now()}),
    });
  }

  /** An invite to `meshId` naming the member at `endpoint`. */
  function inviteTo(meshId: string, endpoint: string, role: 'peer' | 'client' = 'peer'): string {
    const admin = testMeshAdmin(meshId);
    const invite = issueInvite(admin, {role, uses: 5, now: Date.now(), expiresAt: Date.now() + 3_600_000});
    return encodeInviteToken({chain: admin.chain, signed: invite.signed, key: invite.key, endpoints: [endpoint]});
  }

  function daemon(network: MemoryNetwork): Daemon {
    const identity = generateIdentity();
    return new Daemon({
      identity,
      dataDir: dir,
      store: {kind: 'twophase', open: (options) => new TwoPhaseStore(options)},
      driver,
      transport: network.transport('joiner:4000', identity.nodeId),
      control,
      backendNames: {store: 'twophase', transport: 'memory', wg: 'stub'},
      base: {role: 'peer', ipDiscovery: 'outgoing', publicEndpoint: '192.0.2.1', advertiseRoute: false, advertiseDefaults: false, keepAliveWg: 0, preUp: [], postUp: [], preDown: [], postDown: []},
      controlPort: 4000,
      gcHorizonMs: 24 * 3600_000,
      maxClockSkewMs: 300_000,
      logger: silentLogger(),
      clock: systemClock,
      random: systemRandom,
    });
  }

  function storeWith(meshId: string, role: 'peer' | 'client'): MeshStore {
    const store = new TwoPhaseStore({meshId, clock: systemClock, logger: silentLogger(), gcHorizonMs: 24 * 3600_000, maxClockSkewMs: 300_000});
    const node = makeTestNode(meshId, {now: Date.now()});
    const endpoints = role === 'client' ? {controlEndpoint: null, wgEndpoint: null} : {};
    expect(store.merge([node.record({role, ...endpoints})]).accepted).toHaveLength(1);
    return store;
  }

  it('refuses a client joining a mesh whose snapshot has no peer, leaving nothing behind', async () => {
    const network = new MemoryNetwork();
    const meshId = testMeshId();
    member(network, 'member:4000', storeWith(meshId, 'client'));
    const joiner = daemon(network);
    await joiner.start();
    await expect(joiner.joinMesh(inviteTo(meshId, 'member:4000', 'client'), undefined, {})).rejects.toThrow(/as a client: it has no peers to attach to/);
    expect(joiner.listMeshes()).toEqual([]);
    expect(driver.snapshot().interfaces).toEqual([]);
    await joiner.stop();
  });

  it('lets a client join when the snapshot has a peer', async () => {
    const network = new MemoryNetwork();
    const meshId = testMeshId();
    member(network, 'member:4000', storeWith(meshId, 'peer'));
    const joiner = daemon(network);
    await joiner.start();
    expect(await joiner.joinMesh(inviteTo(meshId, 'member:4000', 'client'), undefined, {})).toEqual({meshId, members: 2});
    expect(driver.snapshot().interfaces).toHaveLength(1);
    await joiner.stop();
  });

  it('refuses a mesh of another store kind, naming both kinds', async () => {
    const network = new MemoryNetwork();
    const meshId = testMeshId();
    member(network, 'member:4000', storeWith(meshId, 'peer'), 'automerge');
    const joiner = daemon(network);
    await joiner.start();
    await expect(joiner.joinMesh(inviteTo(meshId, 'member:4000'), undefined, {})).rejects.toThrow(/uses the 'automerge' store but this daemon runs 'twophase'/);
    expect(joiner.listMeshes()).toEqual([]);
    expect(driver.snapshot().interfaces).toEqual([]);
    await joiner.stop();
  });
});
