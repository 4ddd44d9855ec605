/**
 * The events of `GET /api/v1/events` and what each does to a held mesh view:
 * a joined or changed node is put in place (keeping the relations only a
 * fresh `GET /meshes/{id}` resolves), a node that left or died is taken out,
 * and a handshake change updates the node's statistics. The page re-fetches
 * the mesh after every event anyway; the patch shows the change at once.
 */
import type {MeshShowNode, MeshShowView, NodeView} from '@wgmesh/core/client';

/** Event types that concern the members of one mesh. */
const MEMBER_TYPES = new Set(['member.joined', 'member.left', 'member.died', 'member.revived', 'record.changed', 'handshake.changed']);
/** Event types that change the list of meshes. */
const MESH_TYPES = new Set(['mesh.added', 'mesh.removed']);

/** One decoded event of the stream. */
export interface MeshEvent {
  type: string;
  meshId: string;
  nodeId?: string;
  node?: NodeView;
  latestHandshakeAt?: number | null;
}

function isNodeView(value: unknown): value is NodeView {
  if (typeof value !== 'object' || value === null) return false;
  const node = value as Partial<NodeView>;
  return typeof node.id === 'string' && typeof node.address === 'string' && (node.role === 'peer' || node.role === 'client') && Array.isArray(node.routes) && typeof node.services === 'object' && node.services !== null;
}

/** The event of a stream message, or undefined when its type is unknown or its data is not what the type carries. */
export function decodeMeshEvent(type: string, data: string): MeshEvent | undefined {
  if (!MEMBER_TYPES.has(type) && !MESH_TYPES.has(type)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const fields = value as Record<string, unknown>;
  if (typeof fields.meshId !== 'string') return undefined;
  const event: MeshEvent = {type, meshId: fields.meshId};
  if (typeof fields.nodeId === 'string') event.nodeId = fields.nodeId;
  if (isNodeView(fields.node)) event.node = fields.node;
  if (typeof fields.latestHandshakeAt === 'number' || fields.latestHandshakeAt === null) event.latestHandshakeAt = fields.latestHandshakeAt;
  return event;
}

/** True when `event` changes the list of meshes rather than one mesh's members. */
export function isMeshListEvent(event: MeshEvent): boolean {
  return MESH_TYPES.has(event.type);
}

/** `view` with `event` applied (a new object when something changed, `view` itself otherwise). */
export function applyMeshEvent(view: MeshShowView, event: MeshEvent): MeshShowView {
  if (event.meshId !== view.meshId) return view;
  const index = view.nodes.findIndex((node) => node.id === (event.node?.id ?? event.nodeId));
  switch (event.type) {
    case 'member.left':
    case 'member.died':
      return index === -1 ? view : {...view, nodes: view.nodes.filter((_, at) => at !== index)};
    case 'member.joined':
    case 'member.revived':
    case 'record.changed': {
      if (event.node === undefined) return view;
      const old = index === -1 ? undefined : view.nodes[index];
      // Until the re-fetch resolves it, an alias is taken to be the node's own.
      const aliasOwner = old !== undefined && old.alias === event.node.alias ? old.aliasOwner : event.node.alias === null ? null : event.node.id;
      // The relations are the page's own guess whatever the event carries (a NodeView has none).
      const node: MeshShowNode = {...event.node, aliasOwner, aliasConflict: old?.aliasConflict ?? false, homePeer: old?.homePeer ?? null};
      const nodes = [...view.nodes];
      if (index === -1) nodes.push(node);
      else nodes[index] = node;
      return {...view, nodes};
    }
    case 'handshake.changed': {
      const old = index === -1 ? undefined : view.nodes[index];
      if (old === undefined || event.latestHandshakeAt === undefined) return view;
      const stats = {rxBytes: 0, txBytes: 0, ...old.stats, latestHandshakeMs: event.latestHandshakeAt};
      const nodes = [...view.nodes];
      nodes[index] = {...old, stats};
      return {...view, nodes};
    }
    default:
      return view;
  }
}
