/**
 * The documents `mesh show --json` prints, made by hand for tests of what
 * reads them (tables, metrics, doctor, the dashboard): every field present,
 * with plain defaults a test overrides where it matters.
 */
import type {MeshShowNode, MeshShowView, NodeView} from '@wgmesh/core';

/** A node as the IPC's `mesh.show` sends it, before relations: a peer with no endpoints, statistics or metadata unless `patch` says. */
export function nodeView(id: string, patch: Partial<NodeView> = {}): NodeView {
  return {
    id,
    wgPublicKey: `${id.slice(0, 42)}=`,
    address: 'fd00::1',
    role: 'peer',
    controlEndpoint: null,
    wgEndpoint: null,
    alias: null,
    description: null,
    services: {},
    routes: [],
    self: false,
    stats: null,
    receivedAt: null,
    ...patch,
  };
}

/** A node of `mesh show --json`: {@link nodeView} with no alias owner, no conflict and no home peer unless `patch` says. */
export function meshShowNode(id: string, patch: Partial<MeshShowNode> = {}): MeshShowNode {
  return {...nodeView(id), aliasOwner: null, aliasConflict: false, homePeer: null, ...patch};
}

/** A `mesh show --json` document of `nodes`. */
export function meshShowView(meshId: string, nodes: MeshShowNode[], patch: Partial<MeshShowView> = {}): MeshShowView {
  return {meshId, prefix: 'fd00::/64', nodes, inbound: {snapshots: 0, syncs: 0, messages: 0}, aliasConflicts: [], ...patch};
}
