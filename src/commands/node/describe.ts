import {RECORD_LIMITS, type NodeSetResult} from '@wgmesh/core/client';
import {Args} from '../../cli/oclif.js';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {describeChange, nodeMetadataFlags, valueOrClear} from '../../cli/node-metadata.js';

/** `wgmesh node describe TEXT`. */
export default class NodeDescribe extends DaemonClientCommand {
  static override summary = "Set this node's description";
  static override description = `Free text every member sees (\`mesh show --wide\`, queries, graphs): one line of at most ${RECORD_LIMITS.description} characters, no control characters. Applies to one mesh with --mesh, else to every mesh this node is in. --clear removes it.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> "build server, rack 3"',
    '<%= config.bin %> <%= command.id %> "staging database" --mesh 2jv4k3h6n7q2m5x4z6c8b3d5fa',
    '<%= config.bin %> <%= command.id %> --clear',
  ];
  static override args = {text: Args.string({description: 'the description (quote it when it has spaces)', required: false})};
  static override flags = nodeMetadataFlags('description');

  async run(): Promise<NodeSetResult & {description: string | null}> {
    const {args, flags} = await this.parse(NodeDescribe);
    const description = valueOrClear(args.text, flags.clear, 'description');
    const result = await this.call(flags, 'node.set', {description, ...(flags.mesh === undefined ? {} : {meshId: flags.mesh})});
    this.log(describeChange('description', description, result));
    return {...result, description};
  }
}
