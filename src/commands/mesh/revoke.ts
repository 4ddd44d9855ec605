import {assertMeshId, type IpcMethods} from '@wgmesh/core/client';
import {Args, Flags} from '../../cli/oclif.js';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {meshIdArg} from '../../cli/mesh-flags.js';

/** `wgmesh mesh revoke MESH_ID NODE` or `wgmesh mesh revoke MESH_ID --invite ID`. */
export default class MeshRevoke extends DaemonClientCommand {
  static override summary = 'Revoke a node for good, or cancel an invite (admins only)';
  static override description =
    'Writes a revocation signed by this admin that spreads like any other change. Every member drops the node: its WireGuard peer, routes, aliases and DNS names, and refuses its connections; the node is told and leaves the mesh. The node cannot come back under the same node id, with any invite. With --invite, the invite admits nobody from now on (nodes it admitted stay).';
  static override examples = [
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa laptop --reason "stolen"',
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa --invite 0f3c...',
  ];
  static override args = {
    meshId: meshIdArg({description: 'the mesh id', required: true}),
    node: Args.string({description: "the node: its id, alias or mesh address (as 'wgmesh mesh show' lists)", required: false}),
  };
  static override flags = {
    invite: Flags.string({description: "cancel this invite (its id, as 'wgmesh mesh invites' lists) instead of revoking a node"}),
    reason: Flags.string({description: 'why (shown to the revoked node; at most 200 characters)'}),
  };

  async run(): Promise<IpcMethods['mesh.revoke']['result']> {
    const {args, flags} = await this.parse(MeshRevoke);
    assertMeshId(args.meshId);
    if ((args.node === undefined) === (flags.invite === undefined)) this.error('give either a NODE to revoke or --invite ID', {exit: 2});
    const result = await this.call(flags, 'mesh.revoke', {meshId: args.meshId, ...(args.node ? {node: args.node} : {}), ...(flags.invite ? {invite: flags.invite} : {}), ...(flags.reason ? {reason: flags.reason} : {})});
    this.log(result.nodeId ? `revoked node ${result.nodeId} from mesh ${result.meshId}` : `revoked invite ${result.inviteId ?? ''} of mesh ${result.meshId}`);
    return result;
  }
}
