/**
 * The member table of one mesh: a grid with ARIA table roles, virtualised by
 * @tanstack/virtual-core (only the rows in view, plus a few, exist in the
 * DOM), so a mesh of thousands of members scrolls and updates smoothly. Rows
 * are ordered this node first, then by name; a filter narrows them by any
 * text shown. Clicking a row (or Enter on it) selects its node; the arrow
 * keys move between rows.
 */
import {Virtualizer, elementScroll, observeElementOffset, observeElementRect} from '@tanstack/virtual-core';
import type {MeshShowNode} from '@wgmesh/core/client';
import {el} from './dom.js';
import {aliasText, cellText, displayName, handshakeCell, routesText, servicesText, transferText} from './node-text.js';

/** Height of one row in CSS pixels (fixed: rows are one line, long text is cut). */
const ROW_HEIGHT = 32;
/** The columns, in order. */
const COLUMNS = ['Alias', 'Address', 'Role', 'Endpoint', 'Handshake', 'Rx / Tx', 'Services', 'Routes'] as const;

/** `nodes` this node first, then by name, then by id (each name computed once). */
function sortByName(nodes: readonly MeshShowNode[]): MeshShowNode[] {
  return nodes
    .map((node) => ({node, key: `${node.self ? 0 : 1}${displayName(node)}\u0000${node.id}`}))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((entry) => entry.node);
}

function cell(text: string, extra: Record<string, string> = {}): HTMLElement {
  return el('div', {role: 'cell', class: 'cell', title: text, ...extra}, text);
}

/** The node table. */
export class NodeTable {
  /** The element to place in the page. */
  readonly element: HTMLElement;
  private readonly scroller: HTMLElement;
  private readonly body: HTMLElement;
  private readonly count: HTMLElement;
  private readonly filter: HTMLInputElement;
  private readonly virtualizer: Virtualizer<HTMLElement, HTMLElement>;
  private all: MeshShowNode[] = [];
  private rows: MeshShowNode[] = [];
  private selected: string | null = null;
  /** The row the arrow keys moved to, focused once it is rendered. */
  private focusIndex: number | null = null;
  private unmount: (() => void) | undefined;

  constructor(private readonly onSelect: (node: MeshShowNode) => void) {
    this.filter = el('input', {type: 'search', id: 'node-filter', 'data-testid': 'node-filter', placeholder: 'name, address, service…', autocomplete: 'off'});
    this.count = el('span', {class: 'muted', 'aria-live': 'polite'});
    const header = el('div', {role: 'row', class: 'row header'}, ...COLUMNS.map((name) => el('div', {role: 'columnheader', class: 'cell'}, name)));
    this.body = el('div', {role: 'rowgroup', class: 'rows'});
    // The header scrolls sideways with the rows and sticks to the top.
    this.scroller = el('div', {class: 'table-scroll', 'data-testid': 'node-table-scroll', tabindex: '-1'}, el('div', {role: 'rowgroup', class: 'head'}, header), this.body);
    const table = el('div', {role: 'table', class: 'node-table', 'aria-label': 'Members of the mesh', 'aria-rowcount': '0', 'data-testid': 'node-table'}, this.scroller);
    this.element = el('div', {class: 'table-box'}, el('div', {class: 'toolbar'}, el('label', {for: 'node-filter'}, 'Filter '), this.filter, this.count), table);
    this.filter.addEventListener('input', () => this.applyFilter());
    this.body.addEventListener('click', (event) => this.pick(event.target));
    this.body.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this.pick(event.target);
      } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        this.step(event.target, event.key === 'ArrowDown' ? 1 : -1);
      }
    });
    this.virtualizer = new Virtualizer<HTMLElement, HTMLElement>({
      count: 0,
      getScrollElement: () => this.scroller,
      estimateSize: () => ROW_HEIGHT,
      overscan: 12,
      scrollToFn: elementScroll,
      observeElementRect,
      observeElementOffset,
      onChange: () => this.render(),
    });
  }

  /** Start measuring and rendering (call once the element is in the document). */
  mount(): void {
    this.unmount ??= this.virtualizer._didMount();
    this.virtualizer._willUpdate();
    this.render();
  }

  /** Show `nodes` (a mesh's members). */
  setNodes(nodes: readonly MeshShowNode[]): void {
    this.all = sortByName(nodes);
    this.applyFilter();
  }

  /** Mark the node with id `nodeId` as selected (null: none). */
  select(nodeId: string | null): void {
    this.selected = nodeId;
    this.render();
  }

  /** Redraw the rows in view (handshake ages move with the clock). */
  refresh(): void {
    this.render();
  }

  private applyFilter(): void {
    const needle = this.filter.value.trim().toLowerCase();
    this.rows = needle === '' ? this.all : this.all.filter((node) => [aliasText(node), node.address, node.id, node.wgEndpoint ?? '', servicesText(node.services), routesText(node)].some((text) => text.toLowerCase().includes(needle)));
    this.count.textContent = needle === '' ? `${this.all.length} members` : `${this.rows.length} of ${this.all.length} members`;
    this.virtualizer.setOptions({...this.virtualizer.options, count: this.rows.length});
    this.virtualizer._willUpdate();
    this.render();
  }

  /** Move the keyboard from the row of `target` to the next (`by` 1) or previous (-1) row, scrolling it into view. */
  private step(target: EventTarget | null, by: number): void {
    const row = target instanceof Element ? target.closest<HTMLElement>('[data-index]') : null;
    if (row === null) return;
    const index = Math.max(0, Math.min(this.rows.length - 1, Number(row.dataset.index) + by));
    this.focusIndex = index;
    this.virtualizer.scrollToIndex(index, {align: 'auto'});
    this.render();
  }

  private pick(target: EventTarget | null): void {
    const row = target instanceof Element ? target.closest<HTMLElement>('[data-node-id]') : null;
    const node = row === null ? undefined : this.all.find((candidate) => candidate.id === row.dataset.nodeId);
    if (node !== undefined) this.onSelect(node);
  }

  private row(node: MeshShowNode, index: number, start: number): HTMLElement {
    const handshake = handshakeCell(node, Date.now());
    const alias = aliasText(node);
    const row = el(
      'div',
      {role: 'row', class: 'row', tabindex: '0', 'aria-rowindex': String(index + 2), 'aria-current': String(node.id === this.selected), 'data-index': String(index), 'data-testid': 'node-row', 'data-node-id': node.id, 'data-self': String(node.self)},
      cell(alias, {'data-col': 'alias'}),
      cell(node.address),
      cell(node.role),
      cell(node.wgEndpoint ?? '-'),
      cell(handshake.text, {'data-col': 'handshake', 'data-state': handshake.state}),
      cell(transferText(node)),
      cell(cellText(servicesText(node.services), 200), {'data-col': 'services'}),
      cell(cellText(routesText(node), 200), {'data-col': 'routes'}),
    );
    row.style.transform = `translateY(${start}px)`;
    return row;
  }

  private render(): void {
    const table = this.element.querySelector('[role="table"]')!;
    table.setAttribute('aria-rowcount', String(this.rows.length + 1));
    table.setAttribute('data-row-count', String(this.rows.length));
    this.body.style.height = `${this.virtualizer.getTotalSize()}px`;
    const focused = document.activeElement instanceof HTMLElement && this.body.contains(document.activeElement) ? document.activeElement.dataset.nodeId : undefined;
    const items = this.virtualizer.getVirtualItems();
    const rows = items.flatMap((item) => {
      const node = this.rows[item.index];
      return node === undefined ? [] : [this.row(node, item.index, item.start)];
    });
    this.body.replaceChildren(...rows);
    // Rows are rebuilt on every update: keep the keyboard on the row it was on, or move it where the arrow keys sent it.
    const wanted = this.focusIndex === null ? rows.find((row) => row.dataset.nodeId === focused) : rows.find((row) => row.dataset.index === String(this.focusIndex));
    if (wanted !== undefined && (focused !== undefined || this.focusIndex !== null)) {
      wanted.focus({preventScroll: true});
      this.focusIndex = null;
    }
  }
}
