import {WgmeshCommand} from '../cli/base-command.js';
import {printable} from '../cli/format.js';
import {renderTable} from '../cli/table.js';
import {installedVersion, pluginVersions, type VersionsView} from '../cli/versions.js';

/** `wgmesh version`: the versions of the CLI, core, every plugin and Node. */
export default class Version extends WgmeshCommand {
  static override summary = 'Show the versions of wgmesh, its core, every plugin (bundled, installed or linked) and Node';
  static override description = 'Include the output in a bug report. `wgmesh --version` prints the first line only.';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];

  async run(): Promise<VersionsView> {
    const view: VersionsView = {
      cli: this.config.version,
      core: await installedVersion('@wgmesh/core'),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      plugins: pluginVersions(this.config.getPluginsList()),
    };
    this.log(`${this.config.bin}/${view.cli} core/${view.core} ${view.platform} node-${view.node}`);
    // A plugin's package.json is the plugin author's text: printed through `printable`.
    this.log(renderTable(['PLUGIN', 'VERSION', 'SOURCE'], view.plugins.map((plugin) => [printable(plugin.name), printable(plugin.version), plugin.source])));
    return view;
  }
}
