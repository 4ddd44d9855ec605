import {assertMeshId, parseDurationMs, type IpcMethods} from '@wgmesh/core/client';
import {Flags} from '../../cli/oclif.js';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {meshIdArg} from '../../cli/mesh-flags.js';

/** `wgmesh mesh invite MESH_ID [--uses N] [--expires D] [--role peer|client]`. */
export default class MeshInvite extends DaemonClientCommand {
  static override summary = 'Issue an invite: one line that lets new nodes join (admins only)';
  static override description =
    'Prints a single line holding the mesh id, a few live members to join through and the secret that proves the invite. Paste it on the new node: `wgmesh mesh join --invite LINE`. It admits at most --uses nodes, until --expires; any member checks it, so this node may be offline by then. Treat the line as a secret until it is used up; cancel it with `wgmesh mesh revoke MESH_ID --invite ID`.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa',
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa --uses 5 --expires 7d --role client',
  ];
  static override args = {meshId: meshIdArg({description: 'the mesh id (see `wgmesh mesh list`)', required: true})};
  static override flags = {
    uses: Flags.integer({description: 'how many nodes the invite may admit', default: 1, min: 1, max: 10_000}),
    expires: Flags.string({description: 'how long the invite may be redeemed (e.g. 30m, 1h, 7d)', default: '24h'}),
    role: Flags.string({description: 'the role joined nodes get: peer, or client (never dialled, attaches to a home peer)', options: ['peer', 'client'], default: 'peer'}),
    'advertise-routes': Flags.boolean({description: 'suggest that joined nodes advertise this mesh into their other meshes (their own flags win)'}),
    'advertise-default': Flags.boolean({description: 'suggest that joined nodes advertise a default route: exits (needs --advertise-routes)'}),
  };

  async run(): Promise<IpcMethods['mesh.invite']['result']> {
    const {args, flags} = await this.parse(MeshInvite);
    assertMeshId(args.meshId);
    const validForMs = parseDurationMs(flags.expires);
    if (validForMs === undefined || validForMs < 1000) this.error(`--expires '${flags.expires}' is not a duration of at least 1s (e.g. 30m, 1h, 7d)`, {exit: 2});
    if (flags['advertise-default'] && !flags['advertise-routes']) this.error('--advertise-default needs --advertise-routes', {exit: 2});
    const suggested = {...(flags['advertise-routes'] ? {advertiseRoutes: true} : {}), ...(flags['advertise-default'] ? {advertiseDefault: true} : {})};
    const result = await this.call(flags, 'mesh.invite', {meshId: args.meshId, role: flags.role as 'peer' | 'client', uses: flags.uses, validForMs, ...suggested});
    if (!this.jsonEnabled()) {
      this.log(result.token);
      process.stderr.write(`invite ${result.inviteId}: ${result.uses} use(s) as ${result.role}, until ${new Date(result.expiresAt).toISOString()}${result.endpoints.length === 0 ? ' (names no member to join through: pass --via on the new node)' : ''}\n`);
    }
    return result;
  }
}
