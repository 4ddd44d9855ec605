import {Args, Flags} from '@oclif/core';
import {assertMeshId} from '@wgmesh/core/client';
import {Listr, ListrLogger} from 'listr2';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {meshSettingsFlags, meshSettingsFromFlags} from '../../cli/mesh-flags.js';

/** Same shape as core's endpoint parser; checked here so a typo fails before the daemon is asked. */
const VIA_PATTERN = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/;

/** `wgmesh mesh join MESH_ID --via HOST:PORT`. */
export default class MeshJoin extends DaemonClientCommand {
  static override summary = 'Join an existing mesh through any of its members';
  static override description =
    "Fetches the mesh's state from the member at --via (its control endpoint, as `wgmesh mesh show` lists it), adds this node's signed record, configures WireGuard and starts gossiping. Ends by printing how many members this node sees. On any error nothing is left behind: no interface, no mesh entry.";
  static override examples = [
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa --via 192.0.2.10:4000',
    '<%= config.bin %> <%= command.id %> 2jv4k3h6n7q2m5x4z6c8b3d5fa --via [fd00::1]:4000 --role client --keepalive 25',
  ];
  static override args = {meshId: Args.string({description: 'the mesh id (from `wgmesh mesh create` on any member)', required: true})};
  static override flags = {
    via: Flags.string({description: 'control endpoint of any member: HOST:PORT or [IPv6]:PORT', required: true}),
    ...meshSettingsFlags,
  };

  async run(): Promise<{meshId: string; members: number}> {
    const {args, flags} = await this.parse(MeshJoin);
    assertMeshId(args.meshId);
    const port = Number(VIA_PATTERN.exec(flags.via)?.[2]);
    if (!(port >= 1 && port <= 65535)) {
      this.error(`--via '${flags.via}' is not an endpoint: expected HOST:PORT or [IPv6]:PORT with a port from 1 to 65535`, {exit: 2});
    }
    if (flags['advertise-default'] && !flags['advertise-routes']) this.error('--advertise-default needs --advertise-routes', {exit: 2});
    let result: {meshId: string; members: number} | undefined;
    const tasks = new Listr(
      [
        {
          title: `Joining mesh ${args.meshId} via ${flags.via}`,
          task: async (_context, task) => {
            result = await this.call(flags, 'mesh.join', {meshId: args.meshId, via: flags.via, ...meshSettingsFromFlags(flags)});
            task.title = `Joined mesh ${args.meshId} via ${flags.via}`;
          },
        },
      ],
      {
        renderer: this.jsonEnabled() ? 'silent' : 'default',
        fallbackRenderer: 'simple',
        exitOnError: true,
        // Progress goes to stdout only: stderr carries the one error line and nothing else.
        rendererOptions: {logger: new ListrLogger({useIcons: true, toStderr: []})},
        fallbackRendererOptions: {logger: new ListrLogger({useIcons: true, toStderr: []})},
      },
    );
    await tasks.run();
    if (!result) this.error('the daemon did not answer the join', {exit: 1});
    this.log(`${result.members} member(s) seen in mesh ${result.meshId}`);
    return result;
  }
}
