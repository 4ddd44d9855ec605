import {writeFile} from 'node:fs/promises';
import {InvalidInputError, type MeshShowView} from '@wgmesh/core/client';
import {Flags} from '../../cli/oclif.js';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {meshGraphDot, renderDot, requireDot, type MeshGraphSummary, type RenderFormat} from '@wgmesh/core/graph';
import {meshIdArg} from '../../cli/mesh-flags.js';

/** `mesh graph --json`. */
export interface MeshGraphResult {
  format: 'dot' | RenderFormat;
  meshIds: string[];
  summary: MeshGraphSummary;
  /** The file written, or null when the graph went to stdout. */
  output: string | null;
  /** The graph when no file was written: DOT or SVG text, PNG as base64. */
  data: string | null;
}

/** `wgmesh mesh graph [MESH_ID]`: Graphviz picture of one or every mesh. */
export default class MeshGraph extends DaemonClientCommand {
  static override summary = 'Draw one mesh, or every mesh of this node, as a Graphviz graph';
  static override description = [
    'Prints Graphviz DOT: a cluster per mesh; a node per member, labelled by the alias it owns or else its address, with its description and services (peers are boxes, clients ellipses, this node has a thick border); a dashed "home" edge from each client to its home peer; a "bridge" edge joining the copies of a node that is in several meshes; an "exit" edge to an "internet" node from each node advertising a default route (::/0).',
    "--format svg or png renders it with Graphviz's `dot` program, which must be installed (Debian/Ubuntu: apt-get install graphviz); --format dot needs nothing. The output is valid DOT whatever aliases, descriptions and services contain.",
  ].join('\n\n');
  static override examples = [
    '<%= config.bin %> <%= command.id %> > meshes.dot',
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa --format svg --output mesh.svg',
    '<%= config.bin %> <%= command.id %> | dot -Tpng -o meshes.png',
  ];
  static override args = {meshId: meshIdArg({description: 'the mesh id (see `wgmesh mesh list`) [default: every mesh of this node]', required: false})};
  static override flags = {
    format: Flags.string({char: 'f', description: 'output format (svg and png need Graphviz)', options: ['dot', 'svg', 'png'], default: 'dot'}),
    output: Flags.string({char: 'o', description: 'write the graph to this file instead of stdout'}),
  };

  async run(): Promise<MeshGraphResult> {
    const {args, flags} = await this.parse(MeshGraph);
    const format = flags.format as MeshGraphResult['format'];
    // Fail before any work when the renderer is missing or the output cannot be shown.
    const dotProgram = format === 'dot' ? undefined : requireDot(format, process.env.PATH);
    if (format === 'png' && flags.output === undefined && !this.jsonEnabled() && process.stdout.isTTY) {
      throw new InvalidInputError('will not write a PNG image to a terminal: give --output FILE or redirect stdout');
    }
    const views = await this.views(flags, args.meshId);
    const {dot, summary} = meshGraphDot(views);
    const bytes = dotProgram === undefined ? Buffer.from(dot) : await renderDot(dotProgram, dot, format as RenderFormat);
    const meshIds = views.map((view) => view.meshId);
    if (flags.output !== undefined) {
      await writeFile(flags.output, bytes);
      this.log(`wrote the ${format} graph of ${meshIds.length} mesh(es) to ${flags.output}`);
    } else if (!this.jsonEnabled()) {
      process.stdout.write(bytes);
    }
    const data = flags.output !== undefined ? null : format === 'png' ? bytes.toString('base64') : bytes.toString('utf8');
    return {format, meshIds, summary, output: flags.output ?? null, data};
  }

  /** The views to draw: the mesh asked for, or every mesh of this node. */
  private async views(flags: {socket?: string; config?: string}, meshId: string | undefined): Promise<MeshShowView[]> {
    if (meshId !== undefined) return [await this.call(flags, 'mesh.show', {meshId})];
    const meshes = await this.call(flags, 'mesh.list', {});
    if (meshes.length === 0) throw new InvalidInputError('this node is in no mesh (create one with `wgmesh mesh create` or join one)');
    const views: MeshShowView[] = [];
    for (const mesh of meshes) views.push(await this.call(flags, 'mesh.show', {meshId: mesh.meshId}));
    return views;
  }
}
