/**
 * How bin/run.js has oclif load its configuration for a command line. A
 * command whose manifest entry says it needs no plugins (`pluginsNeeded:
 * false`, see DaemonClientCommand) is started with the root plugin alone: no
 * bundled or installed plugins are discovered or loaded, and none of their
 * hooks run. Only oclif's public `Config.load` options are used for that.
 *
 * Words after the command's id can name a plugin's command whose id extends
 * it (`status extra`), which only the start with every plugin finds. They are
 * taken for the command's arguments when it declares some, and otherwise start
 * normally.
 */
import {readFileSync} from 'node:fs';
import {join} from 'node:path';

/** oclif's `Config.load` options for a start with the root plugin alone. */
export interface PluginFreeLoadOptions {
  root: string;
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
    const manifest = JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8')) as {commands?: Record<string, {pluginsNeeded?: unknown; args?: object}>};
    // The command id is the leading words (topics and command), e.g. `mesh list` -> `mesh:list`.
    const words: string[] = [];
    for (const arg of argv) {
      if (arg.startsWith('-') || words.length === MAX_ID_WORDS) break;
      words.push(arg);
    }
    for (let n = words.length; n > 0; n--) {
      const id = words.slice(0, n).join(':');
      const command = Object.hasOwn(manifest.commands ?? {}, id) ? manifest.commands?.[id] : undefined;
      if (command === undefined) continue;
      if (command.pluginsNeeded !== false) return undefined;
      if (n < words.length && Object.keys(command.args ?? {}).length === 0) return undefined;
      const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PluginFreeLoadOptions['pjson'];
      return {root, pjson: {...pjson, oclif: {...pjson.oclif, plugins: []}}, userPlugins: false, devPlugins: false};
    }
  } catch {
    // Start normally.
  }
  return undefined;
}
