/**
 * @wgmesh/core/graph: the Graphviz graph of meshes (`mesh graph` and the HTTP
 * API's graph) and rendering it with Graphviz's `dot`. Kept apart from the
 * main entry so that `mesh graph` loads no runtime code.
 */
export * from './views/mesh-graph.js';
export * from './views/graphviz.js';
