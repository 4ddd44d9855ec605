import {reportKnownError} from '../../cli/base-command.js';
import {OclifPluginsUninstall, parseOptionsWithJson} from '../../cli/plugin-commands.js';

/** `wgmesh plugins uninstall NAME...`: oclif's command, with `--json` (`{"uninstalled": [NAME, ...]}`) and wgmesh's error output. */
export default class PluginsUninstall extends OclifPluginsUninstall {
  static enableJsonFlag = true;

  override async run(): Promise<void> {
    const before = [...this.config.plugins.keys()];
    await super.run();
    // oclif's command removes each plugin it uninstalled from the loaded config.
    if (this.jsonEnabled()) this.logJson({uninstalled: before.filter((name) => !this.config.plugins.has(name))});
  }

  /** oclif's command parses with its own class, which has no `--json`: parse with its options and `--json`. */
  protected override async parse(_options?: unknown, argv?: string[]): Promise<any> {
    return super.parse(parseOptionsWithJson(OclifPluginsUninstall), argv);
  }

  protected override async catch(error: Error): Promise<unknown> {
    reportKnownError({json: this.jsonEnabled(), logJson: (json) => this.logJson(json), exit: (code) => this.exit(code)}, error);
    return super.catch(error);
  }
}
