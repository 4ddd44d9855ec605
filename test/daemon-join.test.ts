/**
 * Daemon.joinMesh in one process, over the in-memory transport, for the join
 * refusals that real clusters reach only through rare histories.
 */
import {decodeControlRequest, encodeControlReply, encodeInviteToken, issueInvite, systemClock, type MeshStore} from '@wgmesh/core';
import {makeTestNode, silentLogger, testMeshAdmin, testMeshId} from '@wgmesh/testkit';
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {MemoryFleet} from './helpers/memory-daemons.js';

describe('Daemon.joinMesh refusals', () => {
  let fleet: MemoryFleet;
  beforeEach(() => {
    fleet = new MemoryFleet();
  });
  afterEach(async () => {
    await fleet.dispose();
  });

  /** A member at `endpoint` that serves `store` as the snapshot of its mesh. */
  function member(endpoint: string, store: MeshStore, storeKind = 'twophase'): void {
    void fleet.network.transport(endpoint).listen({
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

  function storeWith(meshId: string, role: 'peer' | 'client'): MeshStore {
    const store = new TwoPhaseStore({meshId, clock: systemClock, logger: silentLogger(), gcHorizonMs: 24 * 3600_000, maxClockSkewMs: 300_000});
    const node = makeTestNode(meshId, {now: Date.now()});
    const endpoints = role === 'client' ? {controlEndpoint: null, wgEndpoint: null} : {};
    expect(store.merge([node.record({role, ...endpoints})]).accepted).toHaveLength(1);
    return store;
  }

  it('refuses a client joining a mesh whose snapshot has no peer, leaving nothing behind', async () => {
    const meshId = testMeshId();
    member('member:4000', storeWith(meshId, 'client'));
    const {daemon: joiner, driver} = await fleet.add('joiner');
    await expect(joiner.joinMesh(inviteTo(meshId, 'member:4000', 'client'), undefined, {})).rejects.toThrow(/as a client: it has no peers to attach to/);
    expect(joiner.listMeshes()).toEqual([]);
    expect(driver.snapshot().interfaces).toEqual([]);
  });

  it('lets a client join when the snapshot has a peer', async () => {
    const meshId = testMeshId();
    member('member:4000', storeWith(meshId, 'peer'));
    const {daemon: joiner, driver} = await fleet.add('joiner');
    expect(await joiner.joinMesh(inviteTo(meshId, 'member:4000', 'client'), undefined, {})).toEqual({meshId, members: 2});
    expect(driver.snapshot().interfaces).toHaveLength(1);
  });

  it('refuses a mesh of another store kind, naming both kinds', async () => {
    const meshId = testMeshId();
    member('member:4000', storeWith(meshId, 'peer'), 'automerge');
    const {daemon: joiner, driver} = await fleet.add('joiner');
    await expect(joiner.joinMesh(inviteTo(meshId, 'member:4000'), undefined, {})).rejects.toThrow(/uses the 'automerge' store but this daemon runs 'twophase'/);
    expect(joiner.listMeshes()).toEqual([]);
    expect(driver.snapshot().interfaces).toEqual([]);
  });

  it('serves its members from the moment its control plane runs, before the join is saved', async () => {
    // The member learns of the joiner from its announce and at once asks it for its state: a
    // joiner that answers only once everything is saved refuses members while it announces
    // (on real daemons: heartbeats unanswered, a dial backoff against a node that is up).
    const meshId = testMeshId();
    const node = makeTestNode(meshId, {now: Date.now()});
    const store = new TwoPhaseStore({meshId, clock: systemClock, logger: silentLogger(), gcHorizonMs: 24 * 3600_000, maxClockSkewMs: 300_000});
    expect(store.merge([node.record({role: 'peer', controlEndpoint: 'member:4000'})]).accepted).toHaveLength(1);
    const transport = fleet.network.transport('member:4000', node.identity.nodeId);
    const askedDuringAnnounce: Promise<unknown>[] = [];
    await transport.listen({
      snapshot: async () => ({storeKind: 'twophase', snapshot: store.save()}),
      openSync: () => store.openSync('responder'),
      message: async (_mesh, payload) => {
        if (decodeControlRequest(payload).t !== 'push') return encodeControlReply({t: 'jn', c: [], n: Date.now()});
        const asked = transport.fetchSnapshot('joiner:4000', meshId);
        askedDuringAnnounce.push(asked);
        await asked.catch(() => undefined);
        return encodeControlReply({t: 'ok'});
      },
    });
    const {daemon: joiner} = await fleet.add('joiner');
    expect(await joiner.joinMesh(inviteTo(meshId, 'member:4000'), undefined, {})).toEqual({meshId, members: 2});
    expect(askedDuringAnnounce.length).toBeGreaterThan(0);
    for (const asked of askedDuringAnnounce) await expect(asked).resolves.toMatchObject({storeKind: 'twophase'});
  });
});
