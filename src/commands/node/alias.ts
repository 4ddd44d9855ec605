import {normaliseAlias, type NodeSetResult} from '@wgmesh/core/client';
import {Args} from '../../cli/oclif.js';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {describeChange, nodeMetadataFlags, valueOrClear} from '../../cli/node-metadata.js';

/** `wgmesh node alias NAME`. */
export default class NodeAlias extends DaemonClientCommand {
  static override summary = "Set this node's alias";
  static override description = [
    'The alias is a DNS label (1-63 letters, digits and "-", not starting or ending with "-"), stored lower-case; other members see it in `mesh show`, queries, graphs and DNS. Applies to one mesh with --mesh, else to every mesh this node is in. --clear removes it.',
    'Aliases are not reserved: when several nodes claim one, every node resolves it to the same one, the node that has been in the mesh longest (earliest join time; on a tie the smaller node id), and `mesh show` marks the conflict. The command warns when the alias already belongs to another node.',
  ].join('\n\n');
  static override examples = [
    '<%= config.bin %> <%= command.id %> web-1',
    '<%= config.bin %> <%= command.id %> db --mesh 2jv4k3h6n7q2m5x4z6c8b3d5fa',
    '<%= config.bin %> <%= command.id %> --clear',
  ];
  static override args = {name: Args.string({description: 'the alias (a DNS label; upper case is folded to lower case)', required: false})};
  static override flags = nodeMetadataFlags('alias');

  async run(): Promise<NodeSetResult & {alias: string | null}> {
    const {args, flags} = await this.parse(NodeAlias);
    const alias = valueOrClear(args.name, flags.clear, 'alias', normaliseAlias);
    const result = await this.call(flags, 'node.set', {alias, ...(flags.mesh === undefined ? {} : {meshId: flags.mesh})});
    this.log(describeChange('alias', alias, result));
    for (const lost of result.aliasLost) {
      this.logToStderr(
        `Warning: in mesh ${lost.meshId} the alias ${lost.alias} already belongs to ${lost.ownerAddress} (node ${lost.owner}), which has been in the mesh longer; there the name resolves to that node`,
      );
    }
    return {...result, alias};
  }
}
