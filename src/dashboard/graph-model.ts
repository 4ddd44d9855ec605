/**
 * The mesh graph as the page draws it, built from mesh views (the
 * `GET /api/v1/meshes/{id}` documents) with the relations `wgmesh mesh graph`
 * draws (src/core/src/views/mesh-graph.ts): one graph node per member of each mesh, tied to a
 * node for its mesh; a "home" edge from each client to its home peer; a
 * "bridge" edge between the copies of a node id that is a member of several
 * meshes; an "exit" edge to one shared "internet" node from every node that
 * advertises a default route.
 */
import type {MeshShowNode, MeshShowView} from '@wgmesh/core/client';
import type {MeshGraphSummary} from '@wgmesh/core/graph';
import {displayName} from './node-text.js';

/** What a graph node stands for. */
export type GraphNodeKind = 'mesh' | 'peer' | 'client' | 'internet';
/** What a graph edge stands for. */
export type GraphLinkKind = 'member' | 'home' | 'bridge' | 'exit';

/** One node of the drawn graph. */
export interface GraphNode {
  /** Unique and stable across updates (the layout keeps a node's place by it). */
  key: string;
  kind: GraphNodeKind;
  label: string;
  meshId: string | null;
  /** The member's node id (members only). */
  nodeId: string | null;
  self: boolean;
  /** Advertises a default route. */
  exit: boolean;
}

/** One edge, by indexes into {@link GraphModel.nodes}. */
export interface GraphLink {
  source: number;
  target: number;
  kind: GraphLinkKind;
}

/** A built graph and its counts. */
export interface GraphModel {
  nodes: GraphNode[];
  links: GraphLink[];
  summary: MeshGraphSummary;
}

/** True for a default route (prefix length 0, e.g. `::/0`, `0.0.0.0/0`): the advertising node is an exit (the rule of `mesh graph`, src/core/src/views/mesh-graph.ts). */
export function isExitRoute(destination: string): boolean {
  return /\/0$/.test(destination.trim());
}

function isExit(node: MeshShowNode): boolean {
  return node.routes.some((route) => isExitRoute(route.destination));
}

/** The graph of `views` (a mesh given twice is drawn once), in a stable order. */
export function buildGraphModel(views: readonly MeshShowView[]): GraphModel {
  const nodes: GraphNode[] = [];
  const links: GraphLink[] = [];
  const summary: MeshGraphSummary = {meshes: 0, nodes: 0, homeEdges: 0, bridgeEdges: 0, exitEdges: 0};
  const unique = [...new Map(views.map((view) => [view.meshId, view])).values()].sort((a, b) => (a.meshId < b.meshId ? -1 : 1));
  const copies = new Map<string, number[]>();
  let internet: number | undefined;
  const add = (node: GraphNode): number => nodes.push(node) - 1;

  for (const view of unique) {
    summary.meshes++;
    const hub = add({key: `mesh:${view.meshId}`, kind: 'mesh', label: `mesh ${view.meshId.slice(0, 12)}`, meshId: view.meshId, nodeId: null, self: false, exit: false});
    const byId = new Map<string, number>();
    for (const member of view.nodes) {
      const exit = isExit(member);
      const index = add({key: `node:${view.meshId}:${member.id}`, kind: member.role, label: displayName(member), meshId: view.meshId, nodeId: member.id, self: member.self, exit});
      byId.set(member.id, index);
      copies.set(member.id, [...(copies.get(member.id) ?? []), index]);
      links.push({source: index, target: hub, kind: 'member'});
      summary.nodes++;
      if (exit) {
        internet ??= add({key: 'internet', kind: 'internet', label: 'internet', meshId: null, nodeId: null, self: false, exit: false});
        links.push({source: index, target: internet, kind: 'exit'});
        summary.exitEdges++;
      }
    }
    for (const member of view.nodes) {
      const home = member.homePeer === null ? undefined : byId.get(member.homePeer);
      if (member.role === 'client' && home !== undefined) {
        links.push({source: byId.get(member.id)!, target: home, kind: 'home'});
        summary.homeEdges++;
      }
    }
  }
  for (const indexes of copies.values()) {
    for (let at = 1; at < indexes.length; at++) {
      links.push({source: indexes[at - 1]!, target: indexes[at]!, kind: 'bridge'});
      summary.bridgeEdges++;
    }
  }
  return {nodes, links, summary};
}
