import {assertMeshId} from '@wgmesh/core/client';
import {DaemonClientCommand} from '../../../cli/base-command.js';
import {meshIdArg} from '../../../cli/mesh-flags.js';

/** `wgmesh mesh admin export MESH_ID`. */
export default class MeshAdminExport extends DaemonClientCommand {
  static override summary = "Print the mesh authority's key as one secret line";
  static override description =
    "Whoever holds this line is an admin of the mesh for ever: keep it offline (a password manager, paper) as the backup of the mesh's root of trust, or import it on another machine with `wgmesh mesh admin import`. To add an admin without copying it, prefer `wgmesh mesh admin grant`.";
  static override examples = ['<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa > mesh-admin.key'];
  static override args = {meshId: meshIdArg({description: 'the mesh id', required: true})};

  async run(): Promise<{meshId: string; line: string}> {
    const {args, flags} = await this.parse(MeshAdminExport);
    assertMeshId(args.meshId);
    const result = await this.call(flags, 'mesh.admin.export', {meshId: args.meshId});
    this.log(result.line);
    return result;
  }
}
