/**
 * The graph of one mesh for `GET /meshes/{meshId}/graph`: DOT, or SVG rendered
 * by Graphviz's `dot` (501 DOT_MISSING without it). The graph module loads
 * only when a graph is asked for.
 */
import {GraphvizMissingError} from '../errors.js';
import type {MeshShowView} from '../ipc/methods.js';

/** The graph of `view` as DOT or SVG text. @throws GraphvizMissingError, GraphvizError */
export async function meshGraph(view: MeshShowView, format: 'dot' | 'svg'): Promise<string> {
  const {meshGraphDot, findExecutable, renderDot, GRAPHVIZ_INSTALL_HINT} = await import('../graph.js');
  const {dot} = meshGraphDot([view]);
  if (format === 'dot') return dot;
  const program = findExecutable('dot', process.env.PATH);
  if (program === undefined) throw new GraphvizMissingError(`SVG needs Graphviz's 'dot' on the daemon's PATH (${GRAPHVIZ_INSTALL_HINT}); ask for format=dot instead`);
  return (await renderDot(program, dot, 'svg')).toString('utf8');
}
