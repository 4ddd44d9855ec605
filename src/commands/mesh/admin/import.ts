import {Args} from '../../../cli/oclif.js';
import {DaemonClientCommand} from '../../../cli/base-command.js';

/** `wgmesh mesh admin import LINE`. */
export default class MeshAdminImport extends DaemonClientCommand {
  static override summary = 'Become an admin of a mesh: import an authority key or an admin grant';
  static override description =
    "Takes a line from `wgmesh mesh admin export` (the authority's key) or `wgmesh mesh admin grant` (admin rights for this node's own key) and stores it 0600 in the data dir. This node need not be a member of the mesh yet. Pass - to read the line from stdin (keeps it out of the shell history).";
  static override examples = ['<%= config.bin %> <%= command.id %> - < mesh-admin.key', '<%= config.bin %> <%= command.id %> wgmgrant1-...'];
  static override args = {line: Args.string({description: 'the admin line, or - for stdin', required: true})};

  async run(): Promise<{meshId: string; kind: 'authority' | 'grant'}> {
    const {args, flags} = await this.parse(MeshAdminImport);
    let line = args.line;
    if (line === '-') {
      line = '';
      for await (const chunk of process.stdin) line += String(chunk);
      line = line.trim();
    }
    const result = await this.call(flags, 'mesh.admin.import', {line});
    this.log(`this node is now an admin of mesh ${result.meshId} (${result.kind === 'authority' ? 'holds the authority key' : 'by grant'})`);
    return result;
  }
}
