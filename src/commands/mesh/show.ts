import {InvalidInputError, type MeshShowView} from '@wgmesh/core/client';
import {Flags} from '../../cli/oclif.js';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {colourEnabled} from '../../cli/colour.js';
import {ALIAS_LOST_MARK, ALIAS_OWNER_MARK, UNREACHABLE_MARK, renderMeshTable} from '../../cli/mesh-table.js';
import {meshIdArg} from '../../cli/mesh-flags.js';

/** `wgmesh mesh show [MESH_ID]`: every node of a mesh (the only one of this node when no id is given). */
export default class MeshShow extends DaemonClientCommand {
  static override summary = 'Show every node of a mesh';
  static override description = [
    'With no mesh id, shows the mesh this node is in when it is in exactly one.',
    'One row per node: alias, address, role (a client with its home peer, the one peer it attaches to), WireGuard endpoint, latest handshake and bytes transferred (as this node sees them; "-" when the driver reports nothing). --wide adds the node id, control endpoint, services, routes and description.',
    `A node this node cannot reach has "${UNREACHABLE_MARK}" after its handshake (its control endpoint did not answer this node's last request, or this node reaches no member at all: then an ISOLATED line heads the table). A PROBLEM line says what is wrong with the mesh on this node, such as a lost WireGuard interface.`,
    `An alias claimed by several nodes is marked: "${ALIAS_OWNER_MARK}" on the node it resolves to (the one in the mesh longest), "${ALIAS_LOST_MARK}" on the others, with a line per conflict under the table.`,
    'Colour is used only on a terminal and never with NO_COLOR set. --json prints the full view, with aliasOwner, aliasConflict, homePeer, unreachable, nat (reflexive endpoint and NAT mapping, where NAT traversal is on) and path (between clients: direct, trying or relayed) per node and aliasConflicts, isolated and problem for the mesh; `wgmesh mesh query` evaluates JMESPath over exactly that JSON.',
  ].join('\n\n');
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa',
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa --wide',
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa --json',
  ];
  static override args = {meshId: meshIdArg({description: 'the mesh id (see `wgmesh mesh list`) [default: the mesh this node is in, when it is in exactly one]', required: false})};
  static override flags = {wide: Flags.boolean({char: 'w', description: 'also show node ids, control endpoints, services, routes and descriptions'})};

  async run(): Promise<MeshShowView> {
    const {args, flags} = await this.parse(MeshShow);
    const view = await this.call(flags, 'mesh.show', {meshId: args.meshId ?? (await this.onlyMesh(flags))});
    this.log(renderMeshTable(view, {now: Date.now(), colour: colourEnabled(process.stdout, process.env), wide: flags.wide}));
    return view;
  }

  /**
   * The id of this node's one mesh.
   * @throws InvalidInputError when the node is in no mesh or in several (naming them).
   */
  private async onlyMesh(flags: {socket?: string; config?: string}): Promise<string> {
    const meshes = await this.call(flags, 'mesh.list', {});
    if (meshes.length === 1) return meshes[0]!.meshId;
    if (meshes.length === 0) throw new InvalidInputError('this node is in no mesh (create one with `wgmesh mesh create` or join one with `wgmesh mesh join`)');
    throw new InvalidInputError(`this node is in ${meshes.length} meshes: give the mesh id (${meshes.map((mesh) => mesh.meshId).join(', ')})`);
  }
}
