import {Args} from '@oclif/core';
import type {MeshView, NodeView} from '@wgmesh/core/client';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {renderTable} from '../../cli/table.js';

function formatServices(node: NodeView): string {
  const entries = Object.entries(node.services);
  return entries.length === 0 ? '-' : entries.map(([key, value]) => `${key}=${value}`).join(',');
}

function formatRoutes(node: NodeView): string {
  return node.routes.length === 0 ? '-' : node.routes.map((route) => `${route.destination} via [${route.path.join('>')}]`).join(', ');
}

function formatHandshake(node: NodeView, now: number): string {
  if (node.self) return '(self)';
  if (!node.stats || node.stats.latestHandshakeMs === null) return '-';
  return `${Math.max(0, Math.round((now - node.stats.latestHandshakeMs) / 1000))}s ago`;
}

/** `wgmesh mesh show MESH_ID`: every node of a mesh. */
export default class MeshShow extends DaemonClientCommand {
  static override summary = 'Show every node of a mesh';
  static override description =
    'One row per node: id, alias, address, role, endpoints, services, advertised routes and, when the WireGuard driver reports them, the latest handshake and bytes transferred.';
  static override examples = ['<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa', '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa --json'];
  static override args = {meshId: Args.string({description: 'the mesh id (see `wgmesh mesh list`)', required: true})};

  async run(): Promise<MeshView> {
    const {args, flags} = await this.parse(MeshShow);
    const view = await this.call(flags, 'mesh.show', {meshId: args.meshId});
    const now = Date.now();
    this.log(`mesh ${view.meshId}  prefix ${view.prefix}  ${view.nodes.length} node(s)`);
    this.log(
      renderTable(
        ['ID', 'ALIAS', 'ADDRESS', 'ROLE', 'WG ENDPOINT', 'CONTROL ENDPOINT', 'HANDSHAKE', 'RX/TX', 'SERVICES', 'ROUTES'],
        view.nodes.map((node) => [
          node.id.slice(0, 12),
          node.alias ?? '-',
          node.address,
          node.role,
          node.wgEndpoint ?? '-',
          node.controlEndpoint ?? '-',
          formatHandshake(node, now),
          node.stats ? `${node.stats.rxBytes}/${node.stats.txBytes}` : '-',
          formatServices(node),
          formatRoutes(node),
        ]),
      ),
    );
    return view;
  }
}
