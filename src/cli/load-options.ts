/**
 * How bin/run.js has oclif load its configuration for a command line. A
 * command whose manifest entry says it needs no plugins (`pluginsNeeded:
 * false`, see DaemonClientCommand) is started with the root plugin alone, and
 * that plugin knows of this one command only: its commands come from the
 * command's entry in dist/quick/ (scripts/bundle-quick-commands.js), not from
 * the manifest. So no bundled or installed plugin is discovered or loaded,
 * none of their hooks run, and oclif neither reads nor sorts the list of every
 * command (its sort alone is ~10 ms: the first `localeCompare` sets up ICU's
 * collator). Only oclif's public options are used for that: `Config.load`'s
 * `plugins` (the plugins already loaded) and the root `Plugin`'s
 * `ignoreManifest` with an explicit command target.
 *
 * Words after the command's id can name a plugin's command whose id extends
 * it (`status extra`), which only the start with every plugin finds. They are
 * taken for the command's arguments when it declares some, and otherwise start
 * normally.
 */
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {Plugin} from './oclif.js';

/** Where the build puts each quick command's entry, from the package root. */
export const QUICK_COMMANDS_DIR = join('dist', 'quick');

/** The file of command `id`'s entry in {@link QUICK_COMMANDS_DIR}: `mesh:admin:grant` -> `mesh-admin-grant.js`. */
export function quickCommandFile(id: string): string {
  return `${id.replaceAll(':', '-')}.js`;
}

/** The index of the entries, in {@link QUICK_COMMANDS_DIR}: what a start needs to know of them without the manifest. */
export const QUICK_INDEX_FILE = 'index.json';

/** A command's line in the quick index: whether it declares arguments (a start decides by it whether a following word may be one). */
export interface QuickIndexEntry {
  takesArgs: boolean;
}

/** The quick index: command id -> its line. */
export type QuickIndex = Record<string, QuickIndexEntry>;

/** The commands the manifest lists, as far as a start needs them. */
type Manifest = {commands?: Record<string, {pluginsNeeded?: unknown; args?: object}>};

/** Whether a command's manifest entry declares arguments: the quick index's `takesArgs`. */
export function declaresArgs(command: {args?: object}): boolean {
  return Object.keys(command.args ?? {}).length > 0;
}

/** The quick index of the installation at `root`; empty when there is none (a development tree built before it existed). */
function readQuickIndex(root: string): QuickIndex {
  try {
    return JSON.parse(readFileSync(join(root, QUICK_COMMANDS_DIR, QUICK_INDEX_FILE), 'utf8')) as QuickIndex;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
}

/** oclif's `Config.load` options for a start with the root plugin alone, before that plugin is loaded. */
export interface PluginFreeLoadOptions {
  root: string;
  /** The package's, with no plugins and the command's entry as the one command target. */
  pjson: Record<string, unknown> & {oclif: Record<string, unknown>};
  userPlugins: false;
  devPlugins: false;
}

/** Flags that ask for help instead of running the command: help lists every plugin's commands, so it starts normally. */
const HELP_FLAGS = new Set(['--help', '-h']);

/** Command ids have at most this many words (`mesh admin grant`). */
const MAX_ID_WORDS = 3;

/**
 * oclif load options that skip every plugin, when the command `argv` names
 * needs none and help is not asked for; undefined otherwise, or when anything
 * is unexpected (no manifest in a development tree, an unreadable one): then
 * the normal start is the safe choice.
 * @param root the CLI's package root (where package.json and oclif.manifest.json are).
 */
export function pluginFreeLoadOptions(argv: readonly string[], root: string): PluginFreeLoadOptions | undefined {
  if (argv.some((arg) => HELP_FLAGS.has(arg))) return undefined;
  try {
    // Without an index the manifest decides for every command.
    const quick = readQuickIndex(root);
    // Read only for a command without an entry: it is 80 KiB of JSON.
    let manifest: Manifest | undefined;
    // The command id is the leading words (topics and command), e.g. `mesh list` -> `mesh:list`.
    const words: string[] = [];
    for (const arg of argv) {
      if (arg.startsWith('-') || words.length === MAX_ID_WORDS) break;
      words.push(arg);
    }
    for (let n = words.length; n > 0; n--) {
      const id = words.slice(0, n).join(':');
      let takesArgs: boolean;
      if (Object.hasOwn(quick, id)) {
        takesArgs = quick[id]!.takesArgs;
      } else {
        manifest ??= JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8')) as Manifest;
        const command = Object.hasOwn(manifest.commands ?? {}, id) ? manifest.commands?.[id] : undefined;
        if (command === undefined) continue;
        if (command.pluginsNeeded !== false) return undefined;
        takesArgs = declaresArgs(command);
      }
      if (n < words.length && !takesArgs) return undefined;
      const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PluginFreeLoadOptions['pjson'];
      // A command the build left without an entry (see scripts/bundle-quick-commands.js) comes from the manifest.
      const target = `./${join(QUICK_COMMANDS_DIR, quickCommandFile(id))}`;
      const commands = Object.hasOwn(quick, id) ? {commands: {strategy: 'explicit', target, identifier: 'commands'}} : {};
      return {root, pjson: {...pjson, oclif: {...pjson.oclif, plugins: [], ...commands}}, userPlugins: false, devPlugins: false};
    }
  } catch {
    // Start normally.
  }
  return undefined;
}

/** {@link PluginFreeLoadOptions}, with the root plugin loaded when it comes from a command's entry, as `Config.load` takes them. */
export type QuickStartOptions = PluginFreeLoadOptions & {plugins?: Map<string, Plugin>};

/**
 * The load options of a start without plugins ({@link pluginFreeLoadOptions}),
 * with the root plugin loaded from the command's entry when it has one (that
 * imports the command); undefined when the command line starts normally, or
 * when that plugin fails to load: the normal start then reports what is wrong.
 */
export async function quickStartOptions(argv: readonly string[], root: string): Promise<QuickStartOptions | undefined> {
  const options = pluginFreeLoadOptions(argv, root);
  if (options?.pjson.oclif.commands === undefined || typeof options.pjson.oclif.commands === 'string') return options;
  try {
    const plugin = new Plugin({root, isRoot: true, pjson: options.pjson as ConstructorParameters<typeof Plugin>[0]['pjson'], ignoreManifest: true, errorOnManifestCreate: true});
    await plugin.load();
    return {...options, plugins: new Map([[plugin.name, plugin]])};
  } catch {
    return undefined;
  }
}
