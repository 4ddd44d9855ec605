/** What `wgmesh version` reports: the CLI's, core's, each plugin's and Node's versions. */
import {readFile} from 'node:fs/promises';
import {fileURLToPath} from 'node:url';

/** One oclif plugin as `wgmesh version` lists it. */
export interface PluginVersion {
  name: string;
  version: string;
  /** `bundled` (shipped with wgmesh), `user` (`plugins install`) or `link` (`plugins link`). */
  source: 'bundled' | 'user' | 'link';
}

/** The result of `wgmesh version --json`. */
export interface VersionsView {
  cli: string;
  core: string;
  node: string;
  platform: string;
  plugins: PluginVersion[];
}

/** The version field of the package.json next to the `dist` folder a module of `specifier` resolves to. */
export async function installedVersion(specifier: string): Promise<string> {
  const entry = fileURLToPath(import.meta.resolve(specifier));
  const packageJson = entry.slice(0, entry.lastIndexOf('/dist/')) + '/package.json';
  const {version} = JSON.parse(await readFile(packageJson, 'utf8')) as {version?: unknown};
  return typeof version === 'string' ? version : 'unknown';
}

/** The plugins oclif loaded (the CLI's own root plugin left out), by name. */
export function pluginVersions(plugins: Iterable<{name: string; version: string; type: string; isRoot?: boolean}>): PluginVersion[] {
  return [...plugins]
    .filter((plugin) => plugin.isRoot !== true)
    .map((plugin) => ({name: plugin.name, version: plugin.version, source: plugin.type === 'user' ? ('user' as const) : plugin.type === 'link' ? ('link' as const) : ('bundled' as const)}))
    .sort((a, b) => a.name.localeCompare(b.name));
}
