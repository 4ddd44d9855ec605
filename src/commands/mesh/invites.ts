import {assertMeshId, type InviteListItem} from '@wgmesh/core/client';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {meshIdArg} from '../../cli/mesh-flags.js';

/** `wgmesh mesh invites MESH_ID`. */
export default class MeshInvites extends DaemonClientCommand {
  static override summary = 'List the invites issued on this node (admins only)';
  static override description =
    'Shows each invite issued here that has not expired: its id, role, uses so far (as this node sees the mesh) and state (open, used up, revoked). Invites issued on other admin nodes are listed there.';
  static override examples = ['<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa'];
  static override args = {meshId: meshIdArg({description: 'the mesh id', required: true})};

  async run(): Promise<InviteListItem[]> {
    const {args, flags} = await this.parse(MeshInvites);
    assertMeshId(args.meshId);
    const invites = await this.call(flags, 'mesh.invites', {meshId: args.meshId});
    if (!this.jsonEnabled()) {
      if (invites.length === 0) this.log('no invites issued on this node');
      for (const invite of invites) {
        this.log(`${invite.id}  ${invite.role.padEnd(6)}  ${`${invite.used}/${invite.uses}`.padEnd(9)}  ${invite.state.padEnd(7)}  expires ${new Date(invite.expiresAt).toISOString()}`);
      }
    }
    return invites;
  }
}
