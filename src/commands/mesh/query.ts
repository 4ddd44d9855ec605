import {Args} from '../../cli/oclif.js';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {checkQuery, evaluateQuery, formatQueryResult, type JsonValue} from '../../cli/query.js';
import {meshIdArg} from '../../cli/mesh-flags.js';

/** `wgmesh mesh query MESH_ID EXPRESSION`: JMESPath over `mesh show --json`. */
export default class MeshQuery extends DaemonClientCommand {
  static override summary = 'Query a mesh with a JMESPath expression';
  static override description = [
    'Evaluates the JMESPath expression (https://jmespath.site, community edition) over exactly the JSON `wgmesh mesh show MESH_ID --json` prints: {meshId, prefix, nodes: [{id, alias, aliasOwner, aliasConflict, address, role, controlEndpoint, wgEndpoint, description, services, routes, homePeer, self, stats, ...}], aliasConflicts, inbound}.',
    'A string result prints as is, anything else as JSON; --json always prints the raw JSON result. A syntax error is reported in one line with its column (1-based).',
  ].join('\n\n');
  static override examples = [
    {description: 'Addresses of every peer', command: "<%= config.bin %> <%= command.id %> MESH_ID \"nodes[?role=='peer'].address\""},
    {description: 'Who offers ssh, and on which port', command: "<%= config.bin %> <%= command.id %> MESH_ID \"nodes[?services.ssh].{alias: alias, address: address, port: services.ssh}\""},
    {description: 'The address the alias "db" resolves to', command: "<%= config.bin %> <%= command.id %> MESH_ID \"nodes[?alias=='db' && aliasOwner==id].address | [0]\""},
    {description: 'Contested aliases, as JSON', command: '<%= config.bin %> <%= command.id %> MESH_ID "aliasConflicts[].alias" --json'},
  ];
  static override args = {
    meshId: meshIdArg({description: 'the mesh id (see `wgmesh mesh list`)', required: true}),
    expression: Args.string({description: 'a JMESPath expression', required: true}),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(MeshQuery);
    // A malformed expression is the user's mistake whether or not the daemon runs: say so first.
    checkQuery(args.expression);
    const view = await this.call(flags, 'mesh.show', {meshId: args.meshId});
    // The IPC reply is decoded JSON, so it is a JSON value as it stands.
    const result = evaluateQuery(view as unknown as JsonValue, args.expression);
    // Printed here rather than returned to oclif: oclif prints only truthy results
    // (null, false, 0 and "" are results too) and takes a string for JSON text.
    process.stdout.write(`${this.jsonEnabled() ? JSON.stringify(result, null, 2) : formatQueryResult(result)}\n`);
  }
}
