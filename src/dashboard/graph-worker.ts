/**
 * The layout worker: runs a d3-force simulation off the page's thread and
 * posts the positions after each slice of ticks (at most ~12 ms of work per
 * slice), so laying out thousands of nodes never blocks the page. Each graph
 * arrives with its starting places (the page drew them already).
 */
import {forceLink, forceManyBody, forceSimulation, forceX, forceY, type Simulation, type SimulationLinkDatum, type SimulationNodeDatum} from 'd3-force';
import type {GraphLinkKind, GraphNodeKind} from './graph-model.js';
import type {LayoutPositions, LayoutRequest} from './graph-protocol.js';

interface LayoutNode extends SimulationNodeDatum {
  key: string;
  kind: GraphNodeKind;
}

interface LayoutLink extends SimulationLinkDatum<LayoutNode> {
  kind: GraphLinkKind;
}

/** Most nodes the worker moves; any beyond stay where they started (a bound on the work one message can ask for). */
const MAX_NODES = 20_000;
/** Work per slice before positions are posted (ms). */
const SLICE_MS = 12;

const LINK_DISTANCE: Record<GraphLinkKind, number> = {member: 40, home: 25, bridge: 90, exit: 120};
const LINK_STRENGTH: Record<GraphLinkKind, number> = {member: 0.25, home: 0.6, bridge: 0.15, exit: 0.05};

interface WorkerScope {
  postMessage(message: LayoutPositions, transfer: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<LayoutRequest>) => void): void;
}
const scope = self as unknown as WorkerScope;

let simulation: Simulation<LayoutNode, LayoutLink> | undefined;
let generation = 0;
/** The starting places of the current graph. */
let start: Float32Array = new Float32Array(0);
let timer: ReturnType<typeof setTimeout> | undefined;

function post(settled: boolean): void {
  const nodes = simulation?.nodes() ?? [];
  // Every node of the graph has a place: those beyond the ones laid out keep their starting one.
  const xy = start.slice();
  nodes.forEach((node, index) => {
    xy[index * 2] = node.x ?? 0;
    xy[index * 2 + 1] = node.y ?? 0;
  });
  scope.postMessage({type: 'positions', generation, xy, settled}, [xy.buffer]);
}

function run(): void {
  if (simulation === undefined) return;
  const deadline = performance.now() + SLICE_MS;
  do simulation.tick();
  while (performance.now() < deadline && simulation.alpha() > simulation.alphaMin());
  const settled = simulation.alpha() <= simulation.alphaMin();
  post(settled);
  timer = settled ? undefined : setTimeout(run, 0);
}

function layout(request: LayoutRequest): void {
  clearTimeout(timer);
  generation = request.generation;
  start = request.start;
  const count = Math.min(request.nodes.length, MAX_NODES, request.start.length / 2);
  const nodes: LayoutNode[] = request.nodes.slice(0, count).map((node, index) => ({key: node.key, kind: node.kind, x: request.start[index * 2], y: request.start[index * 2 + 1]}));
  const links: LayoutLink[] = request.links.filter((link) => link.source < nodes.length && link.target < nodes.length).map((link) => ({...link}));
  simulation?.stop();
  simulation = forceSimulation<LayoutNode, LayoutLink>(nodes)
    .stop()
    .force('charge', forceManyBody<LayoutNode>().strength((node) => (node.kind === 'mesh' ? -300 : -30)).theta(0.9).distanceMax(500))
    .force('link', forceLink<LayoutNode, LayoutLink>(links).distance((link) => LINK_DISTANCE[link.kind]).strength((link) => LINK_STRENGTH[link.kind]))
    .force('x', forceX<LayoutNode>(0).strength(0.02))
    .force('y', forceY<LayoutNode>(0).strength(0.02))
    .alpha(request.alpha);
  run();
}

scope.addEventListener('message', (event) => {
  if (event.data?.type === 'graph') layout(event.data);
});
