import {DaemonClientCommand} from '../../cli/base-command.js';
import {meshIdArg} from '../../cli/mesh-flags.js';

/** `wgmesh mesh leave MESH_ID`. */
export default class MeshLeave extends DaemonClientCommand {
  static override summary = 'Leave a mesh';
  static override description =
    'Publishes a signed tombstone so the other members drop this node at once, removes the mesh interface and forgets the mesh.';
  static override examples = ['<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa'];
  static override args = {meshId: meshIdArg({description: 'the mesh id (see `wgmesh mesh list`)', required: true})};

  async run(): Promise<{meshId: string}> {
    const {args, flags} = await this.parse(MeshLeave);
    const result = await this.call(flags, 'mesh.leave', {meshId: args.meshId});
    this.log(`left mesh ${result.meshId}`);
    return result;
  }
}
