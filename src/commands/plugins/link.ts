import {resolve} from 'node:path';
import {OclifPluginsLink} from '../../cli/plugin-commands.js';

/** `wgmesh plugins link PATH`: oclif's command; `--json` prints `{"linked": ABSOLUTE_PATH}`. */
export default class PluginsLink extends OclifPluginsLink {
  override async run(): Promise<void> {
    await super.run();
    const {args} = (await this.parse()) as {args: {path: string}};
    if (this.jsonEnabled()) this.logJson({linked: resolve(args.path)});
  }
}
