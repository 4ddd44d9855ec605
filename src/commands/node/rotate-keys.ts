import type {NodeRotateKeysResult} from '@wgmesh/core/client';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {meshIdFlag} from '../../cli/mesh-flags.js';

/** `wgmesh node rotate-keys`. */
export default class NodeRotateKeys extends DaemonClientCommand {
  static override summary = "Replace this node's WireGuard key pair";
  static override description = [
    "Makes a new WireGuard key pair, stores it in the daemon's identity file (0600), puts it on the interface of every mesh this node is in, and publishes the new public key in each mesh. Members switch their peer entry to the new key as soon as the change reaches them (normally well under a second), and start a handshake to it at once, so traffic stops for about that long. The node id, addresses, aliases and credentials stay the same: they belong to the node's signing key, which is not rotated.",
    "The key is per node: it changes in every mesh at once. --mesh is accepted only when it names this node's only mesh.",
  ].join('\n\n');
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];
  static override flags = {
    mesh: meshIdFlag({description: "the mesh to rotate the key in; must be this node's only mesh (the key is per node) [default: every mesh]"}),
  };

  async run(): Promise<NodeRotateKeysResult> {
    const {flags} = await this.parse(NodeRotateKeys);
    const result = await this.call(flags, 'node.rotateKeys', flags.mesh === undefined ? {} : {meshId: flags.mesh});
    const where = result.meshIds.length === 0 ? 'no mesh yet' : result.meshIds.length === 1 ? `mesh ${result.meshIds[0]}` : `${result.meshIds.length} meshes (${result.meshIds.join(', ')})`;
    this.log(`WireGuard key rotated in ${where}\n  old public key  ${result.oldPublicKey}\n  new public key  ${result.newPublicKey}`);
    return result;
  }
}
