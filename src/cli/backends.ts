/**
 * The oclif adapter of the backend registry: fills a {@link BackendRegistry}
 * from every installed oclif plugin (bundled, user-installed and linked).
 *
 * Declarations come from each plugin's package.json (`wgmesh` field, no code
 * loaded); factories come from the custom hook `wgmesh:backends`, run through
 * oclif so each failure or timeout is attributed to the plugin it came from.
 * Only `wgmesh daemon` and `wgmesh backends` build a registry: running the
 * hooks imports plugin code, which other commands should not pay for.
 */
import type {Config} from '@oclif/core/config';
import {BackendRegistry, ConfigError} from '@wgmesh/core/backends';

/** The custom oclif hook through which plugins return their backend factories. */
export const BACKENDS_HOOK = 'wgmesh:backends';

/**
 * How long one plugin's hook may take. Hooks only import factories, so this is
 * generous on purpose: a loaded CI machine must not turn into false warnings.
 */
export const DEFAULT_BACKEND_HOOK_TIMEOUT_MS = 10_000;

/** Environment variable that overrides {@link DEFAULT_BACKEND_HOOK_TIMEOUT_MS} (e.g. for a slow plugin on a slow host). */
export const BACKEND_HOOK_TIMEOUT_ENV = 'WGMESH_PLUGIN_TIMEOUT_MS';

/** Largest accepted hook timeout: ten minutes. */
const MAX_HOOK_TIMEOUT_MS = 600_000;

/** Options of {@link loadBackendRegistry}. */
export interface LoadBackendRegistryOptions {
  /** Per-plugin hook timeout; a plugin that takes longer is reported as a warning. Default: from `env`, else the default. */
  timeoutMs?: number;
  /** Where to read {@link BACKEND_HOOK_TIMEOUT_ENV} (default: `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/**
 * The hook timeout set in the environment, or `undefined` when unset.
 * @throws ConfigError when it is set but not a whole number of milliseconds in range.
 */
export function hookTimeoutFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const text = env[BACKEND_HOOK_TIMEOUT_ENV];
  if (text === undefined || text === '') return undefined;
  const value = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(value >= 1 && value <= MAX_HOOK_TIMEOUT_MS)) {
    throw new ConfigError(`${BACKEND_HOOK_TIMEOUT_ENV} must be a whole number of milliseconds from 1 to ${MAX_HOOK_TIMEOUT_MS} (got '${text}')`);
  }
  return value;
}

/** Sort rank of an oclif plugin type (unknown types last, in their original order). */
function typeRank(type: string): number {
  const rank = ['core', 'user', 'link', 'dev'].indexOf(type);
  return rank === -1 ? 4 : rank;
}

/**
 * Build the registry from oclif's loaded plugins.
 * @throws BackendError when two plugins provide one `kind:name` (naming both).
 *   Broken plugins (invalid fields, failing or slow hooks, bad factories) are
 *   not errors: they end up in `registry.warnings`, each naming its plugin.
 */
export async function loadBackendRegistry(config: Config, options: LoadBackendRegistryOptions = {}): Promise<BackendRegistry> {
  const timeoutMs = options.timeoutMs ?? hookTimeoutFromEnv(options.env ?? process.env) ?? DEFAULT_BACKEND_HOOK_TIMEOUT_MS;
  const registry = new BackendRegistry();
  // Bundled plugins first, then user-installed, then linked: a duplicate then
  // names the plugin that was there first before the newcomer.
  const plugins = [...config.getPluginsList()].sort((a, b) => typeRank(a.type) - typeRank(b.type));
  for (const plugin of plugins) {
    registry.declarePlugin(plugin.name, (plugin.pjson as {wgmesh?: unknown}).wgmesh);
  }
  // oclif unrefs its timeout timer, so a hook that never settles and holds no
  // handle would let Node exit mid-command with nothing printed (exit code 13).
  // This ref'd timer keeps the process alive until oclif's timeout fires.
  const keepAlive = setTimeout(() => undefined, timeoutMs + 1_000);
  let result: Awaited<ReturnType<Config['runHook']>>;
  try {
    // captureErrors=true: every throw (and every timeout) comes back in
    // `failures` with the plugin it belongs to instead of aborting the command.
    result = await config.runHook(BACKENDS_HOOK, {}, timeoutMs, true);
  } finally {
    clearTimeout(keepAlive);
  }
  // oclif runs the hooks concurrently and records them as they finish; replay
  // them in plugin order so a duplicate always names the plugins the same way.
  const order = new Map(plugins.map((plugin, index) => [plugin.name, index]));
  const byPluginOrder = (a: {plugin: {name: string}}, b: {plugin: {name: string}}): number =>
    (order.get(a.plugin.name) ?? 0) - (order.get(b.plugin.name) ?? 0);
  for (const success of [...result.successes].sort(byPluginOrder)) {
    registry.addHookResult(success.plugin.name, success.result as unknown);
  }
  for (const failure of result.failures) {
    registry.addHookFailure(failure.plugin.name, failure.error);
  }
  return registry;
}

/**
 * Print the registry's warnings on stderr, one line each. Written directly to
 * stderr rather than through `Command.warn`, which oclif silences under
 * `--json`: a broken plugin must be visible whatever the output format.
 */
export function printRegistryWarnings(registry: BackendRegistry, write: (line: string) => void = (line) => process.stderr.write(line)): void {
  for (const warning of registry.warnings) write(`Warning: ${warning.message}\n`);
}
