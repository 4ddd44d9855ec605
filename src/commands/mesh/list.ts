import type {MeshSummary} from '@wgmesh/core/client';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {ISOLATED_TEXT} from '../../cli/mesh-table.js';
import {renderTable} from '../../cli/table.js';

/** `wgmesh mesh list`: the meshes this node is in. */
export default class MeshList extends DaemonClientCommand {
  static override summary = 'List the meshes this node is in, any problem one has, and those this node is isolated in';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];

  async run(): Promise<MeshSummary[]> {
    const {flags} = await this.parse(MeshList);
    const meshes = await this.call(flags, 'mesh.list', {});
    if (meshes.length === 0) this.log('this node is in no mesh (create one with `wgmesh mesh create`)');
    else this.log(renderTable(['MESH', 'PREFIX', 'INTERFACE', 'MEMBERS', 'ADMIN'], meshes.map((m) => [m.meshId, m.prefix, m.interface, String(m.members), m.admin ?? '-'])));
    for (const mesh of meshes) {
      if (mesh.isolated === true) this.log(`ISOLATED in mesh ${mesh.meshId}: ${ISOLATED_TEXT}`);
      if (mesh.problem !== undefined) this.log(`PROBLEM in mesh ${mesh.meshId}: ${mesh.problem}`);
    }
    return meshes;
  }
}
