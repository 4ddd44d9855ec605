/**
 * The mesh graph on a `<canvas>`: the layout comes from the worker, the page
 * only draws (in an animation frame when something changed; a running
 * layout at most every {@link LAYOUT_FRAME_MS}). Drag pans, the wheel zooms,
 * a click selects the nearest member; until the user moves the view it keeps
 * the whole graph in frame. The element carries the graph's counts as data
 * attributes (`data-node-count`: member nodes, one per member of each mesh).
 */
import {el} from './dom.js';
import type {GraphModel, GraphNode} from './graph-model.js';
import {layoutSignature, startingPlaces} from './graph-layout.js';
import type {LayoutPositions, LayoutRequest} from './graph-protocol.js';

/** Least time between two frames drawn for a running layout (ms). */
const LAYOUT_FRAME_MS = 50;
/** Labels are drawn when the graph has at most this many nodes, or when zoomed in enough. */
const LABEL_LIMIT = 150;
const COLOURS = {
  member: '#cfcfcf',
  home: '#8a5a00',
  bridge: '#1f5fbf',
  exit: '#137333',
  peer: '#1f5fbf',
  client: '#ffffff',
  clientStroke: '#1f5fbf',
  mesh: '#555555',
  internet: '#137333',
  self: '#000000',
  selected: '#d93025',
  label: '#202124',
} as const;

/** How a node is drawn: its kind, or `exit` for a peer advertising a default route. */
type NodeStyle = GraphNode['kind'] | 'exit';

interface Camera {
  x: number;
  y: number;
  scale: number;
}

/** The graph panel. */
export class GraphView {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly context: CanvasRenderingContext2D;
  private readonly worker: Worker;
  private model: GraphModel = {nodes: [], links: [], summary: {meshes: 0, nodes: 0, homeEdges: 0, bridgeEdges: 0, exitEdges: 0}};
  private generation = 0;
  /** {@link layoutSignature} of the graph being laid out. */
  private layout = '';
  private xy: Float32Array | null = null;
  private camera: Camera = {x: 0, y: 0, scale: 1};
  /** The user moved the view: stop fitting the graph to the frame. */
  private steered = false;
  private selected: string | null = null;
  private frame = 0;
  private readonly sprites = new Map<string, HTMLCanvasElement>();
  private layoutTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the last frame was drawn (performance.now()). */
  private drawnAt = 0;
  /** The canvas's size in CSS pixels. */
  private width = 0;
  private height = 0;
  private onFirstDraw: (() => void) | undefined;

  constructor(workerUrl: URL, private readonly onSelect: (node: GraphNode) => void) {
    this.canvas = el('canvas', {'data-testid': 'graph-canvas', role: 'img', 'aria-label': 'Mesh graph (empty)'});
    this.context = this.canvas.getContext('2d')!;
    const fit = el('button', {type: 'button', 'data-testid': 'graph-fit'}, 'Fit to view');
    fit.addEventListener('click', () => {
      this.steered = false;
      this.schedule();
    });
    const legend = el(
      'ul',
      {class: 'legend', 'aria-label': 'Legend'},
      el('li', {class: 'key-peer'}, 'peer'),
      el('li', {class: 'key-client'}, 'client'),
      el('li', {class: 'key-mesh'}, 'mesh'),
      el('li', {class: 'key-home'}, 'client to home peer'),
      el('li', {class: 'key-bridge'}, 'bridge (same node in two meshes)'),
      el('li', {class: 'key-exit'}, 'exit (default route) to internet'),
    );
    this.element = el('div', {class: 'graph', 'data-testid': 'graph', 'data-node-count': '0', 'data-mesh-count': '0', 'data-drawn': 'false'}, el('div', {class: 'graph-frame'}, this.canvas), el('div', {class: 'toolbar'}, fit, legend));
    this.worker = new Worker(workerUrl, {name: 'graph-layout'});
    this.worker.addEventListener('message', (event: MessageEvent<LayoutPositions>) => {
      if (event.data.type !== 'positions' || event.data.generation !== this.generation) return;
      this.xy = event.data.xy;
      this.scheduleLayoutFrame();
    });
    // The canvas's CSS size, read from the observer: reading clientWidth while drawing would force a layout per call.
    new ResizeObserver(([entry]) => {
      if (entry === undefined) return;
      this.width = entry.contentRect.width;
      this.height = entry.contentRect.height;
      this.schedule();
    }).observe(this.canvas);
    this.listen();
  }

  /** Call `run` once, after the first frame that drew positions. */
  whenDrawn(run: () => void): void {
    this.onFirstDraw = run;
  }

  /** Show `model`. */
  setModel(model: GraphModel): void {
    const layout = layoutSignature(model);
    const relayout = layout !== this.layout;
    const previous = this.model;
    this.model = model;
    this.layout = layout;
    const {summary} = model;
    Object.assign(this.element.dataset, {nodeCount: String(summary.nodes), meshCount: String(summary.meshes), homeEdges: String(summary.homeEdges), bridgeEdges: String(summary.bridgeEdges), exitEdges: String(summary.exitEdges)});
    this.canvas.setAttribute('aria-label', `Mesh graph: ${summary.meshes} mesh(es), ${summary.nodes} member node(s), ${summary.homeEdges} client-to-home-peer edge(s), ${summary.bridgeEdges} bridge(s), ${summary.exitEdges} exit(s). The table lists the same members.`);
    if (!relayout) {
      // Same nodes and edges (a handshake, a label changed): the positions still fit, only redraw.
      this.schedule();
      return;
    }
    const {xy, kept} = startingPlaces(previous, this.xy, model);
    this.generation++;
    this.xy = xy;
    // The starting places are drawn at once; the worker's layout moves them from there.
    this.schedule();
    const request: LayoutRequest = {
      type: 'graph',
      generation: this.generation,
      nodes: model.nodes.map((node) => ({key: node.key, kind: node.kind})),
      links: model.links,
      start: xy.slice(),
      // A graph that mostly kept its places settles from a gentle start.
      alpha: kept > model.nodes.length / 2 ? 0.3 : 1,
    };
    this.worker.postMessage(request, [request.start.buffer]);
  }

  /** Highlight every copy of the node with id `nodeId` (null: none). */
  select(nodeId: string | null): void {
    this.selected = nodeId;
    this.schedule();
  }

  /**
   * Draw new positions of a running layout at most every {@link LAYOUT_FRAME_MS}:
   * the worker posts faster than a large graph is worth redrawing.
   */
  private scheduleLayoutFrame(): void {
    if (this.frame !== 0 || this.layoutTimer !== undefined) return;
    const wait = this.drawnAt + LAYOUT_FRAME_MS - performance.now();
    if (wait <= 0) this.schedule();
    else
      this.layoutTimer = setTimeout(() => {
        this.layoutTimer = undefined;
        this.schedule();
      }, wait);
  }

  private schedule(): void {
    if (this.frame === 0) this.frame = requestAnimationFrame(() => this.draw());
  }

  /** Canvas pixels of a world point. */
  private toScreen(x: number, y: number): [number, number] {
    return [(x - this.camera.x) * this.camera.scale + this.width / 2, (y - this.camera.y) * this.camera.scale + this.height / 2];
  }

  private fit(xy: Float32Array): void {
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (let index = 0; index < xy.length; index += 2) {
      minX = Math.min(minX, xy[index]!);
      maxX = Math.max(maxX, xy[index]!);
      minY = Math.min(minY, xy[index + 1]!);
      maxY = Math.max(maxY, xy[index + 1]!);
    }
    if (!Number.isFinite(minX)) return;
    const margin = 40;
    const scale = Math.min((this.width - margin * 2) / Math.max(maxX - minX, 1), (this.height - margin * 2) / Math.max(maxY - minY, 1));
    this.camera = {x: (minX + maxX) / 2, y: (minY + maxY) / 2, scale: Math.max(0.05, Math.min(scale, 3))};
  }

  private draw(): void {
    this.frame = 0;
    this.drawnAt = performance.now();
    const ratio = window.devicePixelRatio || 1;
    const {width, height} = this;
    if (this.canvas.width !== Math.round(width * ratio) || this.canvas.height !== Math.round(height * ratio)) {
      this.canvas.width = Math.round(width * ratio);
      this.canvas.height = Math.round(height * ratio);
    }
    const context = this.context;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const xy = this.xy;
    if (xy === null || xy.length < this.model.nodes.length * 2) return;
    if (!this.steered) this.fit(xy);
    const at = (index: number): [number, number] => this.toScreen(xy[index * 2]!, xy[index * 2 + 1]!);

    for (const kind of ['member', 'home', 'bridge', 'exit'] as const) {
      context.beginPath();
      for (const link of this.model.links) {
        if (link.kind !== kind) continue;
        const [x1, y1] = at(link.source);
        const [x2, y2] = at(link.target);
        context.moveTo(x1, y1);
        context.lineTo(x2, y2);
      }
      context.strokeStyle = COLOURS[kind];
      context.lineWidth = kind === 'bridge' ? 2.5 : kind === 'member' ? 0.75 : 1.5;
      context.setLineDash(kind === 'home' ? [4, 3] : []);
      context.stroke();
    }
    context.setLineDash([]);

    const batches = new Map<NodeStyle, number[]>();
    let drawn = 0;
    this.model.nodes.forEach((node, index) => {
      const [x, y] = at(index);
      if (x < -20 || y < -20 || x > width + 20 || y > height + 20) return;
      if (node.nodeId !== null) drawn++;
      const style = node.kind === 'peer' && node.exit ? 'exit' : node.kind;
      const batch = batches.get(style) ?? [];
      batch.push(index);
      batches.set(style, batch);
    });
    for (const [style, indexes] of batches) this.drawBatch(style, indexes, at);
    const marked = this.model.nodes.flatMap((node, index) => (node.self || (node.nodeId !== null && node.nodeId === this.selected) ? [index] : []));
    for (const index of marked) {
      const node = this.model.nodes[index]!;
      const [x, y] = at(index);
      context.beginPath();
      context.arc(x, y, node.self ? 7 : 9, 0, Math.PI * 2);
      context.strokeStyle = node.nodeId === this.selected ? COLOURS.selected : COLOURS.self;
      context.lineWidth = 2.5;
      context.stroke();
    }

    const labels = this.model.nodes.length <= LABEL_LIMIT || this.camera.scale >= 1.5;
    context.font = '12px sans-serif';
    context.textBaseline = 'middle';
    context.fillStyle = COLOURS.label;
    this.model.nodes.forEach((node, index) => {
      if (!labels && node.kind !== 'mesh' && node.kind !== 'internet') return;
      const [x, y] = at(index);
      if (x < -20 || y < -20 || x > width + 20 || y > height + 20) return;
      context.fillText(node.label, x + 10, y);
    });
    this.element.dataset.drawnNodes = String(drawn);
    if (this.model.nodes.length > 0 && this.element.dataset.drawn !== 'true') {
      this.element.dataset.drawn = 'true';
      this.onFirstDraw?.();
      this.onFirstDraw = undefined;
    }
  }

  /** Every node in `indexes` in `style`: one copy of a pre-drawn sprite each (far cheaper than a path of 1,000 arcs). */
  private drawBatch(style: NodeStyle, indexes: readonly number[], at: (index: number) => [number, number]): void {
    const ratio = window.devicePixelRatio || 1;
    const sprite = this.sprite(style, ratio);
    const half = sprite.width / ratio / 2;
    for (const index of indexes) {
      const [x, y] = at(index);
      this.context.drawImage(sprite, Math.round(x - half), Math.round(y - half), sprite.width / ratio, sprite.height / ratio);
    }
  }

  /** The sprite of `style` at pixel ratio `ratio` (made once per style and ratio). */
  private sprite(style: NodeStyle, ratio: number): HTMLCanvasElement {
    const key = `${style}@${ratio}`;
    const cached = this.sprites.get(key);
    if (cached !== undefined) return cached;
    const radius = style === 'internet' ? 10 : style === 'mesh' ? 7 : 5;
    const size = (radius + 2) * 2;
    const sprite = el('canvas', {width: String(Math.ceil(size * ratio)), height: String(Math.ceil(size * ratio))});
    const context = sprite.getContext('2d')!;
    context.scale(ratio, ratio);
    context.beginPath();
    if (style === 'mesh') context.rect(2, 2, radius * 2, radius * 2);
    else context.arc(size / 2, size / 2, radius, 0, Math.PI * 2);
    context.fillStyle = style === 'client' ? COLOURS.client : COLOURS[style];
    context.fill();
    context.lineWidth = style === 'client' ? 1.5 : 1.25;
    context.strokeStyle = style === 'client' ? COLOURS.clientStroke : 'rgba(0,0,0,0.4)';
    context.stroke();
    this.sprites.set(key, sprite);
    return sprite;
  }

  /** The member nearest to canvas point (x, y), within 12 px. */
  private nodeAt(x: number, y: number): GraphNode | undefined {
    const xy = this.xy;
    if (xy === null) return undefined;
    let best: GraphNode | undefined;
    let bestDistance = 144;
    this.model.nodes.forEach((node, index) => {
      if (node.nodeId === null) return;
      const [nodeX, nodeY] = this.toScreen(xy[index * 2]!, xy[index * 2 + 1]!);
      const distance = (nodeX - x) ** 2 + (nodeY - y) ** 2;
      if (distance < bestDistance) {
        bestDistance = distance;
        best = node;
      }
    });
    return best;
  }

  private listen(): void {
    let drag: {x: number; y: number; moved: boolean} | undefined;
    this.canvas.addEventListener('pointerdown', (event) => {
      drag = {x: event.offsetX, y: event.offsetY, moved: false};
      this.canvas.setPointerCapture(event.pointerId);
    });
    this.canvas.addEventListener('pointermove', (event) => {
      if (drag === undefined) return;
      const dx = event.offsetX - drag.x;
      const dy = event.offsetY - drag.y;
      if (!drag.moved && dx * dx + dy * dy < 16) return;
      drag.moved = true;
      this.steered = true;
      this.camera.x -= dx / this.camera.scale;
      this.camera.y -= dy / this.camera.scale;
      drag.x = event.offsetX;
      drag.y = event.offsetY;
      this.schedule();
    });
    this.canvas.addEventListener('pointerup', (event) => {
      if (drag !== undefined && !drag.moved) {
        const node = this.nodeAt(event.offsetX, event.offsetY);
        if (node !== undefined) this.onSelect(node);
      }
      drag = undefined;
    });
    this.canvas.addEventListener(
      'wheel',
      (event) => {
        event.preventDefault();
        this.steered = true;
        this.camera.scale = Math.max(0.05, Math.min(this.camera.scale * Math.exp(-event.deltaY / 500), 8));
        this.schedule();
      },
      {passive: false},
    );
  }
}
