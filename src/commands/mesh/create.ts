import {DaemonClientCommand} from '../../cli/base-command.js';
import {meshSettingsFlags, meshSettingsFromFlags} from '../../cli/mesh-flags.js';

/** `wgmesh mesh create`: start a new mesh with this node as its first member. */
export default class MeshCreate extends DaemonClientCommand {
  static override summary = 'Create a new mesh with this node as its first member';
  static override description =
    'Asks the running daemon to create a mesh: a new random mesh id, a /64 ULA prefix derived from it, a WireGuard interface and this node\'s signed record. Prints the mesh id; give it to other nodes for `wgmesh mesh join`.';
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --port 51820 --endpoint vpn.example.com',
    '<%= config.bin %> <%= command.id %> --advertise-routes --advertise-default --json',
  ];
  static override flags = meshSettingsFlags;

  async run(): Promise<{meshId: string}> {
    const {flags} = await this.parse(MeshCreate);
    if (flags['advertise-default'] && !flags['advertise-routes']) {
      this.error('--advertise-default needs --advertise-routes', {exit: 2});
    }
    const result = await this.call(flags, 'mesh.create', meshSettingsFromFlags(flags));
    this.log(result.meshId);
    return result;
  }
}
