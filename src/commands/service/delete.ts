import {Args} from '../../cli/oclif.js';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {meshIdFlag} from '../../cli/mesh-flags.js';

/** `wgmesh service delete KEY`. */
export default class ServiceDelete extends DaemonClientCommand {
  static override summary = "Delete a service from this node's record";
  static override description = 'Applies to one mesh with --mesh, else to every mesh this node is in. Deleting a service that is not set is an error naming it.';
  static override examples = ['<%= config.bin %> <%= command.id %> ssh', '<%= config.bin %> <%= command.id %> http --mesh 2jv4k3h6n7q2m5x4z6c8b3d5fa'];
  static override args = {key: Args.string({description: 'service name', required: true})};
  static override flags = {mesh: meshIdFlag({description: 'only this mesh [default: every mesh of this node]'})};

  async run(): Promise<{meshIds: string[]}> {
    const {args, flags} = await this.parse(ServiceDelete);
    const result = await this.call(flags, 'service.delete', {key: args.key, ...(flags.mesh === undefined ? {} : {meshId: flags.mesh})});
    this.log(`service ${args.key} deleted in ${result.meshIds.join(', ')}`);
    return result;
  }
}
