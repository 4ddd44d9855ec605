/**
 * The Graphviz model of `wgmesh mesh graph` and the HTTP API's graph, built with ts-graphviz from mesh
 * views (what `mesh show --json` prints), so it needs no daemon to test:
 * - one cluster per mesh, one graph node per member, labelled by the alias it
 *   owns, else by its address; peers are boxes, clients ellipses;
 * - a dashed edge from each client to its home peer (`homePeer`, resolved by
 *   the daemon with the same rule WireGuard uses);
 * - a bold undirected "bridge" edge joining the copies of a node that is a
 *   member of several of the meshes (same node id);
 * - services and description inside the node's label;
 * - an edge to one shared "internet" node from every node that advertises a
 *   default route (any destination of prefix length 0, such as `::/0`).
 *
 * Every text that comes from a record (any member writes its own) goes into an
 * HTML-like label through {@link htmlText}, which escapes markup and drops what
 * XML cannot carry, so the output stays valid DOT whatever a record contains.
 * Graph ids are made by us from validated ids, never from record text.
 */
import {Digraph, toDot, type HTMLLikeLabel, type NodeModel, type SubgraphModel} from 'ts-graphviz';
import type {MeshShowNode, MeshShowView} from '../ipc/methods.js';
import {truncate} from '../util/text.js';

/** Longest text of one label line taken from a record (longer ones are cut with an ellipsis). */
const MAX_LINE = 48;
/** Services listed in a node's label; the rest are counted. */
const MAX_SERVICES = 8;

/** True for a code point XML 1.0 allows (HTML-like labels are parsed as XML). */
function xmlAllowed(code: number): boolean {
  return code === 0x9 || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}

const ENTITIES: Record<string, string> = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'};

/**
 * `text` as the content of an HTML-like Graphviz label: markup characters
 * escaped as entities, line breaks as `<BR/>`, and characters XML cannot carry
 * (other control characters, lone surrogates, U+FFFE/U+FFFF) as U+FFFD.
 */
export function htmlText(text: string): string {
  let out = '';
  for (const char of text.replace(/\r\n?/g, '\n')) {
    if (char === '\n') out += '<BR/>';
    else if (char in ENTITIES) out += ENTITIES[char];
    else out += xmlAllowed(char.codePointAt(0)!) ? char : '\uFFFD';
  }
  return out;
}

/** An HTML-like label from already escaped markup (never empty: `<>` is not a label). */
function html(markup: string): HTMLLikeLabel {
  return `<${markup === '' ? ' ' : markup}>`;
}

/** `inner` markup inside an element, or nothing when it is empty (Graphviz rejects empty `<B></B>`, `<FONT></FONT>`...). */
function element(open: string, inner: string): string {
  if (inner === '') return '';
  const name = /^<([A-Z]+)/.exec(open)?.[1] ?? '';
  return `${open}${inner}</${name}>`;
}

/** A graph id made only of characters that need no quoting or escaping. */
function safeId(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Record text cut to one line of the label and escaped. */
function line(text: string, max = MAX_LINE): string {
  return htmlText(truncate(text.replace(/\s+/g, ' '), max));
}

/** What a node is called in the graph: the alias it owns, else its address. */
export function nodeTitle(node: MeshShowNode): string {
  return node.alias !== null && node.alias.trim() !== '' && node.aliasOwner === node.id ? node.alias : node.address;
}

function aliasNote(node: MeshShowNode, view: MeshShowView): string | undefined {
  if (node.alias === null) return undefined;
  if (node.aliasOwner === null) return `invalid alias "${line(node.alias)}"`;
  if (node.aliasOwner !== node.id) {
    const owner = view.nodes.find((other) => other.id === node.aliasOwner);
    return `alias "${line(node.alias)}" belongs to ${line(owner ? nodeTitle(owner) : node.aliasOwner)}`;
  }
  if (node.aliasConflict) return 'alias also claimed by other nodes';
  return undefined;
}

function nodeLabel(node: MeshShowNode, view: MeshShowView): HTMLLikeLabel {
  const title = nodeTitle(node);
  const small = '<FONT POINT-SIZE="10">';
  const parts = [element('<B>', line(title))];
  if (title !== node.address) parts.push(htmlText(node.address));
  parts.push(element('<FONT COLOR="red">', aliasNote(node, view) ?? ''));
  parts.push(element('<I>', line(node.description ?? '')));
  const services = Object.entries(node.services).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [key, value] of services.slice(0, MAX_SERVICES)) parts.push(element(small, line(`${key}: ${value}`)));
  if (services.length > MAX_SERVICES) parts.push(element(small, `+${services.length - MAX_SERVICES} more services`));
  parts.push(element(small, `${node.role}${node.self ? ' (this node)' : ''}`));
  return html(parts.filter((part) => part !== '').join('<BR/>'));
}

/** True for a default route (prefix length 0, e.g. `::/0`): the advertising node is an exit. */
export function isExitRoute(destination: string): boolean {
  return /\/0$/.test(destination.trim());
}

/** Counts of what a graph holds (for `--json` and tests). */
export interface MeshGraphSummary {
  meshes: number;
  nodes: number;
  homeEdges: number;
  bridgeEdges: number;
  exitEdges: number;
}

/** A built graph and what it holds. */
export interface BuiltMeshGraph {
  graph: Digraph;
  summary: MeshGraphSummary;
}

/** Build the graph of `views` (one or more meshes; a mesh given twice is drawn once). */
export function buildMeshGraph(views: readonly MeshShowView[]): BuiltMeshGraph {
  const graph = new Digraph('wgmesh', {label: html('<B>wgmesh</B>'), labelloc: 't'});
  const summary: MeshGraphSummary = {meshes: 0, nodes: 0, homeEdges: 0, bridgeEdges: 0, exitEdges: 0};
  const unique = [...new Map(views.map((view) => [view.meshId, view])).values()].sort((a, b) => (a.meshId < b.meshId ? -1 : 1));
  /** Graph nodes of each node id, one per mesh it is in (for bridges). */
  const copies = new Map<string, NodeModel[]>();
  let internet: NodeModel | undefined;

  for (const [meshIndex, view] of unique.entries()) {
    summary.meshes++;
    const cluster: SubgraphModel = graph.createSubgraph(`cluster_${meshIndex}`, {
      label: html(`<B>mesh ${htmlText(view.meshId)}</B><BR/>${htmlText(view.prefix)} · ${view.nodes.length} node(s)`),
      style: 'rounded',
      color: 'gray50',
    });
    const members = [...view.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const byId = new Map<string, NodeModel>();
    for (const node of members) {
      const model = cluster.createNode(`m${meshIndex}_${safeId(node.id)}`, {
        label: nodeLabel(node, view),
        shape: node.role === 'client' ? 'ellipse' : 'box',
        style: 'rounded',
        penwidth: node.self ? 2 : 1,
        tooltip: `node ${safeId(node.id)}`,
      });
      byId.set(node.id, model);
      copies.set(node.id, [...(copies.get(node.id) ?? []), model]);
      summary.nodes++;
    }
    for (const node of members) {
      const model = byId.get(node.id)!;
      const home = node.homePeer === null ? undefined : byId.get(node.homePeer);
      if (node.role === 'client' && home !== undefined) {
        graph.createEdge([model, home], {label: html('home'), style: 'dashed'});
        summary.homeEdges++;
      }
      for (const route of node.routes.filter((candidate) => isExitRoute(candidate.destination))) {
        internet ??= graph.createNode('internet', {label: html('<B>internet</B>'), shape: 'doublecircle'});
        // An exit's own default route has an empty path; a relayed one lists the meshes it came through.
        const relayed = route.path.length > 0 ? `<BR/>via ${line(route.path.join(' > '), 120)}` : '';
        graph.createEdge([model, internet], {label: html(`exit ${line(route.destination, 20)}${relayed}`), color: 'darkgreen', style: route.path.length > 0 ? 'dashed' : 'solid'});
        summary.exitEdges++;
      }
    }
  }
  for (const models of copies.values()) {
    for (let index = 1; index < models.length; index++) {
      graph.createEdge([models[index - 1]!, models[index]!], {label: html('bridge'), dir: 'none', style: 'bold', color: 'blue'});
      summary.bridgeEdges++;
    }
  }
  return {graph, summary};
}

/** The DOT text of the graph of `views` (ending with a newline) and what it holds. */
export function meshGraphDot(views: readonly MeshShowView[]): {dot: string; summary: MeshGraphSummary} {
  const {graph, summary} = buildMeshGraph(views);
  return {dot: `${toDot(graph)}\n`, summary};
}
