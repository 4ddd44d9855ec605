/**
 * How the page names and describes a node. Record text is written by any
 * member: it only ever reaches the page as `textContent` or canvas text, and
 * is cut to a length that keeps a cell or label readable.
 */
import type {MeshShowNode, NodeView} from '@wgmesh/core/client';
import {formatAge, formatBytes} from '../cli/format.js';
import {truncate} from '../core/src/util/text.js';
import {handshakeState, type HandshakeState} from '../core/src/views/handshake.js';

/** Longest record text shown in a table cell or a graph label. */
const MAX_CELL = 80;

/** A node's name: the alias it owns, else its address (the rule of `mesh graph`). */
export function displayName(node: Pick<MeshShowNode, 'id' | 'alias' | 'aliasOwner' | 'address'>): string {
  return node.alias !== null && node.alias.trim() !== '' && node.aliasOwner === node.id ? truncate(node.alias, MAX_CELL) : node.address;
}

/** The alias column: the alias, marked when it is invalid, contested or another node's; '-' for none. */
export function aliasText(node: Pick<MeshShowNode, 'id' | 'alias' | 'aliasOwner' | 'aliasConflict'>): string {
  if (node.alias === null) return '-';
  const alias = cellText(node.alias, 63);
  if (node.aliasOwner === null) return `${alias} (invalid)`;
  if (node.aliasOwner !== node.id) return `${alias} (another node's)`;
  return node.aliasConflict ? `${alias} (contested, resolves here)` : alias;
}

/** Record text for one line of a cell: whitespace runs (line breaks too) as one space, cut to a readable length. */
export function cellText(text: string, max = MAX_CELL): string {
  return truncate(text.replace(/\s+/g, ' '), max);
}

/** The handshake column: its text and its state (the daemon's rule: stale after 180 s, none when never), or this node, or no statistics. */
export interface HandshakeCell {
  text: string;
  state: 'self' | 'unknown' | HandshakeState;
}

/** The handshake age of `node` at `now` (ms), classified as `mesh show` and the API's events do. */
export function handshakeCell(node: Pick<NodeView, 'self' | 'stats' | 'unreachable'>, now: number): HandshakeCell {
  if (node.self) return {text: '(this node)', state: 'self'};
  const suffix = node.unreachable === true ? ', unreachable from here' : '';
  if (node.stats === null) return {text: `-${suffix}`, state: 'unknown'};
  const at = node.stats.latestHandshakeMs;
  const state = handshakeState(at, now);
  return {text: `${at === null || state === 'none' ? 'never' : formatAge(at, now)}${suffix}`, state};
}

/** `1.5 KiB / 20 KiB` (received / sent), or '-' for this node and when there are no statistics. */
export function transferText(node: Pick<NodeView, 'self' | 'stats'>): string {
  if (node.self || node.stats === null) return '-';
  return `${formatBytes(node.stats.rxBytes)} / ${formatBytes(node.stats.txBytes)}`;
}

/** `key=value, ...` of a node's services, sorted by key. */
export function servicesText(services: Record<string, string>): string {
  return Object.entries(services)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join(', ');
}

/** A node's routes, `destination (via a > b)` for relayed ones. */
export function routesText(node: Pick<NodeView, 'routes'>): string {
  return node.routes.map((route) => (route.path.length > 0 ? `${route.destination} (via ${route.path.join(' > ')})` : route.destination)).join(', ');
}
