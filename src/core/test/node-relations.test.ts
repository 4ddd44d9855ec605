/** What `mesh show` adds to each node: alias owner and conflict, home peer; and the `node.set` parameters. */
import fc from 'fast-check';
import {describe, expect, it} from 'vitest';
import {nodeSetSchema, type MeshView, type NodeRecord, type NodeView, type Role} from '../src/index.js';
import {homePeer} from '../src/runtime/wg-plan.js';
import {meshRelations, withRelations} from '../src/views/node-relations.js';
import {FIXTURE_NOW, makeTestNode, testMeshId} from '@wgmesh/testkit';

const meshId = testMeshId();

function record(patch: Partial<NodeRecord> & {role?: Role} = {}): NodeRecord {
  const role = patch.role ?? 'peer';
  const endpoints = role === 'peer' ? {} : {controlEndpoint: null, wgEndpoint: null};
  return makeTestNode(meshId).recordBody({...endpoints, ...patch});
}

/** The view the mesh runtime would build of `records` (no statistics). */
function viewOf(records: readonly NodeRecord[]): MeshView {
  const nodes: NodeView[] = records.map((r) => ({
    id: r.id,
    wgPublicKey: r.wgPublicKey,
    address: r.address,
    role: r.role,
    controlEndpoint: r.controlEndpoint,
    wgEndpoint: r.wgEndpoint,
    alias: r.alias,
    description: r.description,
    services: r.services,
    routes: r.routes,
    self: false,
    stats: null,
    receivedAt: null,
  }));
  return {meshId, prefix: 'fd00::/64', nodes, inbound: {snapshots: 0, syncs: 0, messages: 0}};
}

describe('alias relations', () => {
  it('gives a contested alias to the earliest createdAt, then the smaller id, and marks every claimant', () => {
    const late = record({alias: 'web', createdAt: FIXTURE_NOW + 2000});
    const [tieA, tieB] = [record({alias: 'web', createdAt: FIXTURE_NOW + 1000}), record({alias: 'web', createdAt: FIXTURE_NOW + 1000})].sort((a, b) => (a.id < b.id ? -1 : 1)) as [NodeRecord, NodeRecord];
    const unique = record({alias: 'db'});
    const none = record();
    const relations = meshRelations([late, tieB, unique, tieA, none]);

    for (const claimant of [late, tieA, tieB]) expect(relations.of(claimant)).toMatchObject({aliasOwner: tieA.id, aliasConflict: true});
    expect(relations.of(unique)).toEqual({aliasOwner: unique.id, aliasConflict: false, homePeer: null});
    expect(relations.of(none)).toEqual({aliasOwner: null, aliasConflict: false, homePeer: null});
    expect(relations.conflicts).toEqual([{alias: 'web', owner: tieA.id, others: [tieB.id, late.id]}]);
  });

  it('resolves the same owner whatever order the records arrive in', () => {
    const claimants = Array.from({length: 5}, (_, i) => record({alias: 'shared', createdAt: FIXTURE_NOW + (i % 3) * 1000}));
    const expected = meshRelations(claimants).conflicts;
    fc.assert(
      fc.property(fc.shuffledSubarray(claimants, {minLength: claimants.length}), (shuffled) => {
        expect(meshRelations(shuffled).conflicts).toEqual(expected);
      }),
      {numRuns: 50},
    );
  });

  it('lets an alias that is not a valid label claim nothing', () => {
    const hostile = record({alias: 'Not A Label"<>'});
    const upper = record({alias: 'WEB'});
    const relations = meshRelations([hostile, upper]);
    expect(relations.of(hostile)).toMatchObject({aliasOwner: null, aliasConflict: false});
    expect(relations.of(upper)).toMatchObject({aliasOwner: null, aliasConflict: false});
    expect(relations.conflicts).toEqual([]);
  });

  it("gives each client the home peer WireGuard uses, and peers none", () => {
    const peers = [record(), record(), record()];
    const clients = [record({role: 'client'}), record({role: 'client'})];
    const relations = meshRelations([...peers, ...clients]);
    for (const client of clients) {
      const home = relations.of(client).homePeer;
      expect(home).toBe(homePeer(client.id, peers)!.id);
    }
    for (const peer of peers) expect(relations.of(peer).homePeer).toBeNull();
    expect(meshRelations(clients).of(clients[0]!).homePeer).toBeNull();
  });

  it('adds the relations to every node of a view and lists the conflicts', () => {
    const first = record({alias: 'api', createdAt: FIXTURE_NOW});
    const second = record({alias: 'api', createdAt: FIXTURE_NOW + 1});
    const shown = withRelations(viewOf([second, first]), [first, second]);
    expect(shown.nodes.map((node) => [node.id, node.aliasOwner, node.aliasConflict])).toEqual([
      [second.id, first.id, true],
      [first.id, first.id, true],
    ]);
    expect(shown.aliasConflicts).toEqual([{alias: 'api', owner: first.id, others: [second.id]}]);
    expect(shown.inbound).toEqual({snapshots: 0, syncs: 0, messages: 0});
  });
});

describe('node.set parameters', () => {
  it('trims and lower-cases the alias, and accepts null to remove a field', () => {
    expect(nodeSetSchema.parse({alias: '  Web-1 '})).toEqual({alias: 'web-1'});
    expect(nodeSetSchema.parse({alias: null, description: null, meshId: 'x'})).toEqual({alias: null, description: null, meshId: 'x'});
  });

  it.each([
    [{alias: '-web'}, /DNS label/],
    [{alias: 'a'.repeat(64)}, /DNS label/],
    [{alias: 'web.example'}, /DNS label/],
    [{alias: ''}, /DNS label/],
    [{description: 'x'.repeat(257)}, /at most 256/],
    [{description: 'two\nlines'}, /control characters/],
    [{description: 'escape \u001b[31m'}, /control characters/],
    [{}, /alias or a description/],
    [{alias: 'web', extra: 1}, /extra|unrecognized/i],
  ])('rejects %j', (params, message) => {
    const parsed = nodeSetSchema.safeParse(params);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.message).join(' ')).toMatch(message);
  });
});
