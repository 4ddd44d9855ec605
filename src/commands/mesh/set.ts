import {assertMeshId, type MeshSetResult} from '@wgmesh/core/client';
import {Flags} from '../../cli/oclif.js';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {meshIdArg, meshSettingsFlags, meshSettingsFromFlags} from '../../cli/mesh-flags.js';

/** `wgmesh mesh set MESH_ID --endpoint ... --port ... --keepalive ...`. */
export default class MeshSet extends DaemonClientCommand {
  static override summary = "Change this node's settings in a mesh without leaving it";
  static override description = [
    "Changes what this node chose when it created or joined the mesh, in place: the endpoint it advertises, its WireGuard port and keepalive, whether it advertises routes (and a default route, as an exit), and its role where its credential allows. Alias, description and services stay. The settings file is replaced atomically, a new port is set on the running interface (its peers stay), and the node's new record spreads to the other members like any change.",
    'These settings belong to the mesh from its create or join on: editing baseConfiguration later does not change them, this command does.',
    "--role peer needs a credential that admits a peer (a node that joined with a client invite needs a peer invite and a new join); --role client needs another peer in the mesh to attach to.",
  ].join('\n\n');
  static override examples = [
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa --endpoint vpn.example.net',
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa --port 51820 --keepalive 25',
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa --no-advertise-default',
  ];
  static override args = {meshId: meshIdArg({description: 'the mesh id (see `wgmesh mesh list`)', required: true})};
  static override flags = {
    ...meshSettingsFlags,
    port: Flags.integer({description: 'WireGuard listen port (0: any, keeping the port bound now)', min: 0, max: 65535}),
    endpoint: Flags.string({description: 'host name or IP other nodes use to reach this node (no port)'}),
    'advertise-routes': Flags.boolean({description: "advertise this mesh's prefix and learned routes into this node's other meshes", allowNo: true}),
    'advertise-default': Flags.boolean({description: 'advertise a default route (::/0) into this mesh: this node is an exit (needs --advertise-routes)', allowNo: true}),
  };

  async run(): Promise<MeshSetResult> {
    const {args, flags} = await this.parse(MeshSet);
    assertMeshId(args.meshId);
    const settings = meshSettingsFromFlags(flags);
    if (Object.keys(settings).length === 0) {
      this.error('give at least one setting to change: --endpoint, --port, --keepalive, --role, --[no-]advertise-routes or --[no-]advertise-default', {exit: 2});
    }
    const result = await this.call(flags, 'mesh.set', {meshId: args.meshId, ...settings});
    const now = result.settings;
    const shown: Record<string, string> = {
      role: now.role,
      endpoint: now.endpoint ?? '-',
      port: now.port === 0 ? `any (bound: ${now.boundPort})` : String(now.port),
      keepalive: now.keepalive === 0 ? 'off' : `${now.keepalive} s`,
      advertiseRoutes: String(now.advertiseRoutes),
      advertiseDefault: String(now.advertiseDefault),
    };
    if (result.changed.length === 0) this.log(`nothing changed in mesh ${result.meshId}`);
    else this.log(`changed in mesh ${result.meshId}: ${result.changed.map((name) => `${name} ${shown[name] ?? ''}`).join(', ')}`);
    return result;
  }
}
