/**
 * The human form of `mesh show`: one row per node with what an operator looks
 * at first (name, address, role, endpoint, last handshake, transfer), alias
 * conflicts marked, and everything from a record printed through `printable`
 * (any member writes its own record, so it may carry terminal escapes).
 */
import {handshakeState, truncate, type MeshShowNode, type MeshShowView} from '@wgmesh/core/client';
import {palette, type Palette} from './colour.js';
import {counted, formatAge, formatBytes, printable} from './format.js';
import {renderTable, type Cell} from './table.js';

/** How to render a mesh. */
export interface MeshTableOptions {
  /** Current time (ms since the epoch) for relative handshake ages. */
  now: number;
  /** Colour on (a terminal) or off. */
  colour: boolean;
  /** Add the node id, control endpoint, services, routes and description. */
  wide?: boolean;
}

/** Marker after an alias that resolves to this node although other nodes claim it too. */
export const ALIAS_OWNER_MARK = '*';
/** Marker after an alias that another node claimed first: the name does not resolve to this node. */
export const ALIAS_LOST_MARK = '!';

/** What it means that a node is isolated in a mesh (`status`, `mesh list`, `mesh show`). */
export const ISOLATED_TEXT = "this node reaches no other member of the mesh (no answer, no heartbeat for 3 heartbeat intervals); the members stay in its view. Check this host's network";

/** Added to the handshake of a node the answering node cannot reach. */
export const UNREACHABLE_MARK = 'unreachable from here';

function aliasCell(node: MeshShowNode, colours: Palette): Cell {
  if (node.alias === null) return {text: '-', style: colours.dim};
  const text = printable(node.alias);
  if (node.aliasOwner === null) return {text: `${text} (invalid)`, style: colours.red};
  if (!node.aliasConflict) return text;
  return node.aliasOwner === node.id ? {text: `${text}${ALIAS_OWNER_MARK}`, style: colours.yellow} : {text: `${text}${ALIAS_LOST_MARK}`, style: colours.red};
}

function handshakeCell(node: MeshShowNode, now: number, colours: Palette): Cell {
  if (node.self) return {text: '(self)', style: colours.dim};
  const age = node.stats === null ? '-' : node.stats.latestHandshakeMs === null ? 'never' : formatAge(node.stats.latestHandshakeMs, now);
  if (node.unreachable === true) return {text: `${age}, ${UNREACHABLE_MARK}`, style: colours.red};
  if (node.stats === null) return {text: age, style: colours.dim};
  if (node.stats.latestHandshakeMs === null) return {text: age, style: colours.yellow};
  return handshakeState(node.stats.latestHandshakeMs, now) === 'fresh' ? age : {text: age, style: colours.yellow};
}

function transferCell(node: MeshShowNode, colours: Palette): Cell {
  if (node.self || node.stats === null) return {text: '-', style: colours.dim};
  return `${formatBytes(node.stats.rxBytes)} rx, ${formatBytes(node.stats.txBytes)} tx`;
}

/** A node's address, or the start of its id when it is not in the view. */
function nodeName(view: MeshShowView, id: string): string {
  return view.nodes.find((node) => node.id === id)?.address ?? id.slice(0, 12);
}

/** `peer`, or `client` with its home peer (the one peer it attaches to): `client (home fd00::3)`, `client (no home peer)` while no peer is alive; `, direct` (or `, trying`) from a client with a punched path to it. */
function roleCell(node: MeshShowNode, view: MeshShowView, colours: Palette): Cell {
  if (node.role !== 'client') return 'peer';
  // Between two clients: whether their traffic takes a punched direct path.
  const path = node.path === undefined || node.path === 'relayed' ? '' : `, ${node.path}`;
  return {text: `client (${node.homePeer === null ? 'no home peer' : `home ${nodeName(view, node.homePeer)}`}${path})`, style: colours.cyan};
}

/**
 * The WireGuard endpoint: the advertised one, else the reflexive one members
 * see (a client behind NAT); with NAT traversal on there, the observed NAT
 * behaviour after it: `198.18.1.1:51820 (nat endpoint-independent)`.
 */
function endpointCell(node: MeshShowNode, colours: Palette): Cell {
  const endpoint = node.wgEndpoint ?? node.nat?.endpoint ?? null;
  const nat = node.nat === undefined ? '' : ` (nat ${node.nat.mapping})`;
  if (endpoint === null && nat === '') return {text: '-', style: colours.dim};
  return `${endpoint === null ? '-' : printable(endpoint)}${nat}`;
}

function servicesText(node: MeshShowNode): string {
  const entries = Object.entries(node.services);
  return entries.length === 0 ? '-' : entries.map(([key, value]) => `${printable(key)}=${truncate(printable(value), 40)}`).join(',');
}

function routesText(node: MeshShowNode): string {
  // An exit's own ::/0 has an empty path (it starts there); other routes list the meshes they crossed, origin first.
  const one = (route: MeshShowNode['routes'][number]): string =>
    route.path.length === 0 ? `${printable(route.destination)} (own exit)` : `${printable(route.destination)} via [${route.path.map(printable).join('>')}]`;
  return node.routes.length === 0 ? '-' : node.routes.map(one).join(', ');
}

/** One line per contested alias: who gets it and who else claims it. */
function conflictLines(view: MeshShowView): string[] {
  const name = (id: string): string => nodeName(view, id);
  return view.aliasConflicts.map(
    (conflict) =>
      `alias ${printable(conflict.alias)} is claimed by ${conflict.others.length + 1} nodes: it resolves to ${name(conflict.owner)} (${ALIAS_OWNER_MARK}, in the mesh longest), not to ${conflict.others.map(name).join(', ')} (${ALIAS_LOST_MARK})`,
  );
}

/** `mesh show` as text: a title line, the table, and a line per alias conflict. */
export function renderMeshTable(view: MeshShowView, options: MeshTableOptions): string {
  const colours = palette(options.colour);
  const wide = options.wide === true;
  const headers = ['ALIAS', 'ADDRESS', 'ROLE', 'ENDPOINT', 'HANDSHAKE', 'TRANSFER', ...(wide ? ['ID', 'CONTROL', 'SERVICES', 'ROUTES', 'DESCRIPTION'] : [])];
  const rows = view.nodes.map((node): Cell[] => {
    const base: Cell[] = [
      aliasCell(node, colours),
      node.self ? {text: node.address, style: colours.green} : node.address,
      roleCell(node, view, colours),
      endpointCell(node, colours),
      handshakeCell(node, options.now, colours),
      transferCell(node, colours),
    ];
    if (!wide) return base;
    return [
      ...base,
      node.id,
      node.controlEndpoint === null ? '-' : printable(node.controlEndpoint),
      servicesText(node),
      routesText(node),
      node.description === null ? '-' : truncate(printable(node.description), 60),
    ];
  });
  const admin = view.admin === undefined ? '' : `  this node is an admin (${view.admin === 'authority' ? 'holds the authority key' : 'by grant'})`;
  const title = `mesh ${view.meshId}  prefix ${view.prefix}  ${counted(view.nodes.length, 'node')}${admin}`;
  const table = renderTable(
    headers.map((header) => ({text: header, style: colours.bold})),
    rows,
  );
  const state = [...(view.isolated === true ? [`ISOLATED: ${ISOLATED_TEXT}`] : []), ...(view.problem === undefined ? [] : [`PROBLEM: ${view.problem}`])];
  return [colours.bold(title), ...state.map((line) => colours.red(line)), table, ...conflictLines(view).map((line) => colours.yellow(line))].join('\n');
}
