/**
 * What the page decides about the layout before the worker runs it: whether
 * a new graph needs a new layout at all, and where its nodes start.
 */
import type {GraphModel} from './graph-model.js';

/** What the layout depends on: the nodes (by key and kind, in order) and the edges. */
export function layoutSignature(model: GraphModel): string {
  return `${model.nodes.map((node) => `${node.key}/${node.kind}`).join(',')}|${model.links.map((link) => `${link.source}-${link.target}-${link.kind}`).join(',')}`;
}

/**
 * Where the nodes of `model` start: where they were in `previous` (positions
 * `xy`), a new node beside the first linked node that has a place (a member
 * beside its mesh), the rest on d3-force's own starting spiral.
 */
export function startingPlaces(previous: GraphModel, xy: Float32Array | null, model: GraphModel): {xy: Float32Array; kept: number} {
  const before = new Map<string, number>();
  if (xy !== null) previous.nodes.forEach((node, index) => before.set(node.key, index));
  const start = new Float32Array(model.nodes.length * 2);
  const placed = new Uint8Array(model.nodes.length);
  let kept = 0;
  model.nodes.forEach((node, index) => {
    const old = before.get(node.key);
    if (old === undefined || xy === null) return;
    start[index * 2] = xy[old * 2]!;
    start[index * 2 + 1] = xy[old * 2 + 1]!;
    placed[index] = 1;
    kept++;
  });
  for (const {source, target} of model.links) {
    for (const [from, to] of [[source, target], [target, source]] as const) {
      if (placed[from] === 1 || placed[to] !== 1) continue;
      start[from * 2] = start[to * 2]! + (Math.random() - 0.5) * 20;
      start[from * 2 + 1] = start[to * 2 + 1]! + (Math.random() - 0.5) * 20;
      placed[from] = 1;
    }
  }
  model.nodes.forEach((_, index) => {
    if (placed[index] === 1) return;
    const radius = 10 * Math.sqrt(0.5 + index);
    const angle = index * Math.PI * (3 - Math.sqrt(5));
    start[index * 2] = radius * Math.cos(angle);
    start[index * 2 + 1] = radius * Math.sin(angle);
  });
  return {xy: start, kept};
}
