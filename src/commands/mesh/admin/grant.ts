import {assertMeshId, parseDurationMs} from '@wgmesh/core/client';
import {Args, Flags} from '../../../cli/oclif.js';
import {DaemonClientCommand} from '../../../cli/base-command.js';
import {meshIdArg} from '../../../cli/mesh-flags.js';

/** `wgmesh mesh admin grant MESH_ID NODE [--expires D]`. */
export default class MeshAdminGrant extends DaemonClientCommand {
  static override summary = "Grant admin rights to another member's key (authority holders only)";
  static override description =
    "Prints a line that the granted node imports with `wgmesh mesh admin import`; it can then invite and revoke with its own node key, without a copy of the authority key. A grant cannot grant further.";
  static override examples = ['<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa node-b --expires 90d'];
  static override args = {
    meshId: meshIdArg({description: 'the mesh id', required: true}),
    node: Args.string({description: 'the node: its id, alias or mesh address', required: true}),
  };
  static override flags = {expires: Flags.string({description: 'how long the grant lasts (e.g. 90d); default: for ever'})};

  async run(): Promise<{meshId: string; nodeId: string; line: string}> {
    const {args, flags} = await this.parse(MeshAdminGrant);
    assertMeshId(args.meshId);
    const validForMs = flags.expires === undefined ? undefined : parseDurationMs(flags.expires);
    if (flags.expires !== undefined && (validForMs === undefined || validForMs < 1000)) this.error(`--expires '${flags.expires}' is not a duration of at least 1s`, {exit: 2});
    const result = await this.call(flags, 'mesh.admin.grant', {meshId: args.meshId, node: args.node, ...(validForMs === undefined ? {} : {validForMs})});
    this.log(result.line);
    return result;
  }
}
