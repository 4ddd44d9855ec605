import {resolve} from 'node:path';
import {reportKnownError} from '../../cli/base-command.js';
import {OclifPluginsLink, parseOptionsWithJson} from '../../cli/plugin-commands.js';

/** `wgmesh plugins link PATH`: oclif's command, with `--json` (`{"linked": ABSOLUTE_PATH}`) and wgmesh's error output. */
export default class PluginsLink extends OclifPluginsLink {
  static enableJsonFlag = true;

  override async run(): Promise<void> {
    await super.run();
    const {args} = (await this.parse()) as {args: {path: string}};
    if (this.jsonEnabled()) this.logJson({linked: resolve(args.path)});
  }

  /** oclif's command parses with its own class, which has no `--json`: parse with its options and `--json`. */
  protected override async parse(_options?: unknown, argv?: string[]): Promise<any> {
    return super.parse(parseOptionsWithJson(OclifPluginsLink), argv);
  }

  protected override async catch(error: Error): Promise<unknown> {
    reportKnownError({json: this.jsonEnabled(), logJson: (json) => this.logJson(json), exit: (code) => this.exit(code)}, error);
    return super.catch(error);
  }
}
