import {OclifPluginsUninstall} from '../../cli/plugin-commands.js';

/** `wgmesh plugins uninstall NAME...`: oclif's command; `--json` prints `{"uninstalled": [NAME, ...]}`. */
export default class PluginsUninstall extends OclifPluginsUninstall {
  override async run(): Promise<void> {
    const before = [...this.config.plugins.keys()];
    await super.run();
    // oclif's command removes each plugin it uninstalled from the loaded config.
    if (this.jsonEnabled()) this.logJson({uninstalled: before.filter((name) => !this.config.plugins.has(name))});
  }
}
