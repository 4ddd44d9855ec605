import {assertMeshId} from '@wgmesh/core/client';
import {Listr, ListrLogger} from 'listr2';
import {Flags} from '../../cli/oclif.js';
import {DaemonClientCommand} from '../../cli/base-command.js';
import {counted} from '../../cli/format.js';
import {meshIdArg, meshSettingsFlags, meshSettingsFromFlags} from '../../cli/mesh-flags.js';

/** Same shape as core's endpoint parser; checked here so a typo fails before the daemon is asked. */
const VIA_PATTERN = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/;

/** `wgmesh mesh join --invite LINE`. */
export default class MeshJoin extends DaemonClientCommand {
  static override summary = 'Join a mesh with an invite';
  static override description =
    "Redeems the invite (the line printed by `wgmesh mesh invite` on an admin) for this node's key, presents it to a member the invite names (or --via first), fetches the mesh's state, adds this node's signed record, configures WireGuard and starts gossiping. The admin who issued the invite need not be online. Ends by printing how many members this node sees. On any error nothing is left behind: no interface, no mesh entry.";
  static override examples = [
    '<%= config.bin %> <%= command.id %> --invite wgm1-...',
    '<%= config.bin %> <%= command.id %> --invite wgm1-... --via [fd00::1]:4000 --keepalive 25',
  ];
  static override args = {meshId: meshIdArg({description: 'the mesh id, to check the invite is for it (optional: the invite names its mesh)', required: false})};
  static override flags = {
    invite: Flags.string({description: 'the invite line from `wgmesh mesh invite` (or - to read it from stdin)', required: true}),
    via: Flags.string({description: 'control endpoint of a member to try first: HOST:PORT or [IPv6]:PORT'}),
    ...meshSettingsFlags,
  };

  async run(): Promise<{meshId: string; members: number}> {
    const {args, flags} = await this.parse(MeshJoin);
    if (args.meshId !== undefined) assertMeshId(args.meshId);
    if (flags.via !== undefined) {
      const port = Number(VIA_PATTERN.exec(flags.via)?.[2]);
      if (!(port >= 1 && port <= 65535)) {
        this.error(`--via '${flags.via}' is not an endpoint: expected HOST:PORT or [IPv6]:PORT with a port from 1 to 65535`, {exit: 2});
      }
    }
    if (flags['advertise-default'] && !flags['advertise-routes']) this.error('--advertise-default needs --advertise-routes', {exit: 2});
    const invite = flags.invite === '-' ? await readStdin() : flags.invite;
    let result: {meshId: string; members: number} | undefined;
    const tasks = new Listr(
      [
        {
          title: flags.via ? `Joining with the invite via ${flags.via}` : 'Joining with the invite',
          task: async (_context, task) => {
            result = await this.call(flags, 'mesh.join', {invite, ...(args.meshId ? {meshId: args.meshId} : {}), ...(flags.via ? {via: flags.via} : {}), ...meshSettingsFromFlags(flags)});
            task.title = `Joined mesh ${result.meshId}`;
          },
        },
      ],
      {
        renderer: this.jsonEnabled() ? 'silent' : 'default',
        fallbackRenderer: 'simple',
        exitOnError: true,
        // Progress goes to stdout only: stderr carries the one error line and nothing else.
        // On a terminal the failed task keeps its title: its error is the one line on stderr, not repeated here.
        rendererOptions: {logger: new ListrLogger({useIcons: true, toStderr: []}), showErrorMessage: false},
        fallbackRendererOptions: {logger: new ListrLogger({useIcons: true, toStderr: []})},
      },
    );
    await tasks.run();
    if (!result) this.error('the daemon did not answer the join', {exit: 1});
    this.log(`${counted(result.members, 'member')} seen in mesh ${result.meshId}`);
    return result;
  }
}

/** The first line of stdin (an invite pasted or piped in, kept out of the shell history). */
async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n') || text.length > 16_384) break;
  }
  return text.split('\n')[0]?.trim() ?? '';
}
