import {Args} from '../../cli/oclif.js';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {meshIdFlag} from '../../cli/mesh-flags.js';

/** `wgmesh service set KEY VALUE`. */
export default class ServiceSet extends DaemonClientCommand {
  static override summary = "Set a service on this node's record";
  static override description =
    "Services are free key/value strings every member sees (in `mesh show` and queries), for example `ssh=22` or `http=fd00::1:8080`. Applies to one mesh with --mesh, else to every mesh this node is in.";
  static override examples = ['<%= config.bin %> <%= command.id %> ssh 22', '<%= config.bin %> <%= command.id %> http 8080 --mesh 2jv4k3h6n7q2m5x4z6c8b3d5fa'];
  static override args = {
    key: Args.string({description: 'service name (printable ASCII, no spaces, at most 63 characters)', required: true}),
    value: Args.string({description: 'service value (at most 512 characters)', required: true}),
  };
  static override flags = {mesh: meshIdFlag({description: 'only this mesh [default: every mesh of this node]'})};

  async run(): Promise<{meshIds: string[]}> {
    const {args, flags} = await this.parse(ServiceSet);
    const result = await this.call(flags, 'service.set', {key: args.key, value: args.value, ...(flags.mesh === undefined ? {} : {meshId: flags.mesh})});
    this.log(`service ${args.key} set in ${result.meshIds.join(', ')}`);
    return result;
  }
}
