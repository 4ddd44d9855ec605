import type {MeshSummary, StatusView} from '@wgmesh/core/client';
import {DaemonClientCommand} from '../cli/base-command.js';
import {counted} from '../cli/format.js';
import {ISOLATED_TEXT} from '../cli/mesh-table.js';
import {renderKeyValues} from '../cli/table.js';

/** One mesh in `status`: id, members and interface, and on lines of their own whether this node is isolated in it and what is wrong with it, if anything. */
function meshLine(mesh: MeshSummary): string {
  const admin = mesh.admin === undefined ? '' : `, admin (${mesh.admin === 'authority' ? 'holds the authority key' : 'by grant'})`;
  const lines = [`${mesh.meshId} (${counted(mesh.members, 'member')}, ${mesh.interface}${admin})`];
  if (mesh.isolated === true) lines.push(`  ISOLATED: ${ISOLATED_TEXT}`);
  if (mesh.problem !== undefined) lines.push(`  PROBLEM: ${mesh.problem}`);
  return lines.join('\n');
}

/** `wgmesh status`: what the running daemon is. */
export default class Status extends DaemonClientCommand {
  static override summary = 'Show the running daemon: pid, node id, keys, backends and meshes (with any problem a mesh has, and whether this node is isolated in it)';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];

  async run(): Promise<StatusView> {
    const {flags} = await this.parse(Status);
    const status = await this.call(flags, 'status', {});
    this.log(
      renderKeyValues([
        ['pid', String(status.pid)],
        ['node id', status.nodeId],
        ['wireguard key', status.wgPublicKey],
        ['store', status.backends.store],
        ['transport', status.backends.transport],
        ['wireguard driver', status.backends.wg],
        ['dns', status.dns ? status.dns.address : 'off (dnsEnabled)'],
        ['metrics', status.metrics ? status.metrics.url : 'off (metricsEnabled)'],
        ['http api', status.api ? `${status.api.url} (dashboard http://${status.api.address}/)` : 'off (apiEnabled)'],
        ['meshes', status.meshes.length === 0 ? '(none)' : status.meshes.map(meshLine).join('\n')],
      ]),
    );
    return status;
  }
}
