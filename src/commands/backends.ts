import type {BackendKind, BackendListing} from '@wgmesh/core/backends';
import {Flags} from '../cli/oclif.js';
import {WgmeshCommand} from '../cli/base-command.js';
import {renderTable} from '../cli/table.js';

/** One line of `wgmesh backends --json`. */
export type BackendsJson = BackendListing[];

/** `wgmesh backends`: every installed backend, by kind, and the plugin that provides it. No daemon needed. */
export default class Backends extends WgmeshCommand {
  static override summary = 'List installed backends (stores, transports, WireGuard drivers) and the plugin providing each';
  static override description = [
    "Backends come from plugins: the ones bundled with wgmesh and any you add with 'wgmesh plugins install <package>' or 'wgmesh plugins link <dir>'. Select one with the daemon's --store, --transport and --wg flags (or the config file).",
    '',
    'Each plugin is loaded to check that it works: a plugin that fails is reported on stderr with its name, and its backends are marked unavailable. Two plugins providing the same backend is an error naming both. WGMESH_PLUGIN_TIMEOUT_MS sets how long one plugin may take to load (default 10000).',
  ].join('\n');

  static override examples = [
    {description: 'List every installed backend', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Only the WireGuard drivers', command: '<%= config.bin %> <%= command.id %> --kind wg'},
    {description: 'Machine-readable, e.g. to find the plugin behind a backend', command: "<%= config.bin %> <%= command.id %> --json | jq '.[] | select(.name == \"stub\")'"},
  ];

  static override flags = {
    // Literal list rather than core's BACKEND_KINDS: importing core here would
    // load it at startup for every command (oclif imports command modules).
    kind: Flags.option({description: 'only backends of this kind', options: ['store', 'transport', 'wg'] as const satisfies readonly BackendKind[]})(),
  };

  async run(): Promise<BackendsJson> {
    const {flags} = await this.parse(Backends);
    // Imported here, not at the top: building the registry imports core and
    // every plugin's hook, which no other command should pay for at startup.
    const {loadBackendRegistry, printRegistryWarnings} = await import('../cli/backends.js');
    const registry = await loadBackendRegistry(this.config);
    printRegistryWarnings(registry);
    const backends = registry.list(flags.kind);
    if (!this.jsonEnabled()) {
      if (backends.length === 0) this.log("no backends installed (install some with 'wgmesh plugins install <package>')");
      else {
        this.log(
          renderTable(
            ['KIND', 'NAME', 'PLUGIN', 'DESCRIPTION'],
            backends.map((backend) => [backend.kind, backend.name, backend.plugin, backend.loaded ? backend.description : `(unavailable, see warning) ${backend.description}`.trimEnd()]),
          ),
        );
      }
    }
    return backends;
  }
}
