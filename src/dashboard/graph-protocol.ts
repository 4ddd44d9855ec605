/** Messages between the page and the layout worker (`assets/graph-worker.js`). */
import type {GraphLinkKind, GraphNodeKind} from './graph-model.js';

/** Page -> worker: lay out this graph from its starting places. */
export interface LayoutRequest {
  type: 'graph';
  /** Increases with each graph sent; positions carry the generation they belong to. */
  generation: number;
  nodes: {key: string; kind: GraphNodeKind}[];
  links: {source: number; target: number; kind: GraphLinkKind}[];
  /** Starting places, `x0, y0, x1, y1, ...` in node order. */
  start: Float32Array;
  /** The simulation's starting heat (d3 alpha): low when most nodes kept their places. */
  alpha: number;
}

/** Worker -> page: positions of the nodes of one generation, `x0, y0, x1, y1, ...` in node order. */
export interface LayoutPositions {
  type: 'positions';
  generation: number;
  xy: Float32Array;
  /** True when the layout has settled (no more messages until the next graph). */
  settled: boolean;
}
