/**
 * The detail pane: every field of one member as the selected mesh shows it,
 * and the other meshes the same node is a member of (a bridge).
 */
import type {MeshShowNode} from '@wgmesh/core/client';
import {el} from './dom.js';
import {aliasText, displayName, handshakeCell, routesText, servicesText, transferText} from './node-text.js';

/** The pane. */
export class DetailPane {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly heading: HTMLElement;

  constructor(onClose: () => void) {
    this.heading = el('h2', {id: 'detail-heading'}, 'Node');
    const close = el('button', {type: 'button', 'data-testid': 'detail-close', 'aria-label': 'Close the node details'}, 'Close');
    close.addEventListener('click', onClose);
    this.body = el('dl', {class: 'fields'});
    this.element = el('section', {class: 'detail', 'data-testid': 'detail', 'aria-labelledby': 'detail-heading', hidden: true}, el('div', {class: 'pane-head'}, this.heading, close), this.body);
  }

  /** Show `node` (a member of `meshId`; `alsoIn`: the other meshes it is a member of), or hide the pane. */
  show(node: MeshShowNode | undefined, meshId: string, alsoIn: readonly string[] = []): void {
    this.element.hidden = node === undefined;
    if (node === undefined) return;
    this.heading.textContent = displayName(node);
    this.element.dataset.nodeId = node.id;
    const handshake = handshakeCell(node, Date.now());
    const fields: [string, string][] = [
      ['Node id', node.id],
      ['Alias', aliasText(node)],
      ['Description', node.description ?? '-'],
      ['Address', node.address],
      ['Role', `${node.role}${node.self ? ' (this node)' : ''}`],
      ['Home peer', node.homePeer ?? '-'],
      ['WireGuard key', node.wgPublicKey],
      ['WireGuard endpoint', node.wgEndpoint ?? '-'],
      ['Control endpoint', node.controlEndpoint ?? '-'],
      ['Last handshake', handshake.text],
      ['Received / sent', transferText(node)],
      ['Services', servicesText(node.services) || '-'],
      ['Routes', routesText(node) || '-'],
      ['Record received', node.receivedAt === null ? '-' : new Date(node.receivedAt).toLocaleString()],
      ['Clock lag', node.clockLagMs === undefined ? '-' : `${node.clockLagMs} ms`],
      ['Mesh', meshId],
      ['Also in', alsoIn.length === 0 ? '-' : alsoIn.join(', ')],
    ];
    this.body.replaceChildren(...fields.flatMap(([name, value]) => [el('dt', {}, name), el('dd', {'data-field': name}, value)]));
  }
}
