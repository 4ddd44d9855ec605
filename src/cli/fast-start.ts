/**
 * A faster start for the commands that only talk to the daemon (`mesh list`,
 * `status`, ...), used by bin/run.js. Most of what such a command costs is
 * Node loading oclif: ~110 files, a third of them dependencies that oclif
 * requires when it starts but uses only for help, plugin discovery, templates,
 * spinners or pretty-printing an unexpected error. Two things, both of which
 * leave the command's behaviour unchanged:
 *
 * - {@link fastStartOptions}: a command whose manifest entry says it needs no
 *   plugins (`pluginsNeeded: false`, see DaemonClientCommand) starts with the
 *   root plugin alone (no bundled or installed plugins, no hooks);
 * - {@link deferOclifDependencies}: for such a start, those dependencies are
 *   loaded when oclif first uses one (e.g. to print help after a flag error),
 *   not when it starts: oclif gets a stand-in that loads the real module on
 *   first use and forwards everything to it.
 */
import {readFileSync} from 'node:fs';
import Module, {createRequire} from 'node:module';
import {dirname, join, sep} from 'node:path';

/** What oclif's `execute` is given: its own `Config.load` options. */
export interface FastStartOptions {
  root: string;
  pjson: Record<string, unknown> & {oclif: Record<string, unknown>};
  userPlugins: false;
  devPlugins: false;
}

/** Flags that ask for help instead of running the command: help loads everything anyway, so it starts normally. */
const HELP_FLAGS = new Set(['--help', '-h']);

/**
 * oclif load options that skip every plugin, when the command `argv` names
 * needs none and help is not asked for; undefined otherwise, or when anything
 * is unexpected (no manifest in a development tree, an unreadable one): then
 * the normal start is the safe choice.
 * @param root the CLI's package root (where package.json and oclif.manifest.json are).
 */
export function fastStartOptions(argv: readonly string[], root: string): FastStartOptions | undefined {
  if (argv.some((arg) => HELP_FLAGS.has(arg))) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8')) as {commands?: Record<string, {pluginsNeeded?: unknown}>};
    // The command id is the leading words (topics and command), e.g. `mesh list` -> `mesh:list`.
    const words: string[] = [];
    for (const arg of argv) {
      if (arg.startsWith('-') || words.length === 3) break;
      words.push(arg);
    }
    for (let n = words.length; n > 0; n--) {
      const command = manifest.commands?.[words.slice(0, n).join(':')];
      if (command === undefined) continue;
      if (command.pluginsNeeded !== false) return undefined;
      const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as FastStartOptions['pjson'];
      return {root, pjson: {...pjson, oclif: {...pjson.oclif, plugins: []}}, userPlugins: false, devPlugins: false};
    }
  } catch {
    // Start normally.
  }
  return undefined;
}

/**
 * oclif's dependencies that a daemon-client command does not use on its way to
 * a result or a one-line error, and whether each module marks itself
 * `__esModule`. The stand-in must answer `__esModule` without loading the
 * module (oclif's `__importDefault` reads it at start), so the answer is
 * recorded here; test/cli-fast-start.test.ts checks it against the installed
 * modules, and a stand-in whose module turns out otherwise throws on first use.
 */
export const DEFERRED_OCLIF_DEPENDENCIES: Readonly<Record<string, boolean>> = {
  'ansi-escapes': false, // spinners
  'clean-stack': false, // stack traces of unexpected errors
  'cli-spinners': false,
  ejs: false, // templates in help and update URLs
  'indent-string': false, // help, error pretty-printing
  lilconfig: false, // reading a plugin's package.json
  minimatch: true, // matching plugin names
  'string-width': false, // help
  tinyglobby: false, // finding commands without a manifest
  'widest-line': false, // help
  'wrap-ansi': false, // help, error pretty-printing
  wordwrap: false, // lists
};

type Loader = (this: unknown, request: string, parent: {filename?: string | null} | null | undefined, isMain: boolean) => unknown;
const cjs = Module as unknown as {_load: Loader};

/**
 * Make oclif's own `require` of the {@link DEFERRED_OCLIF_DEPENDENCIES} return
 * stand-ins that load the real modules on first use. Only requires made by
 * oclif's files are affected; any other code gets the real modules. Call once,
 * before importing oclif.
 */
export function deferOclifDependencies(): void {
  const oclifLib = join(dirname(createRequire(import.meta.url).resolve('@oclif/core/package.json')), 'lib') + sep;
  const load = cjs._load;
  cjs._load = function (request, parent, isMain) {
    // hasOwn: a request such as "constructor" must not find Object.prototype's.
    if (!Object.hasOwn(DEFERRED_OCLIF_DEPENDENCIES, request) || !parent?.filename?.startsWith(oclifLib)) {
      return load.call(this, request, parent, isMain);
    }
    return deferredModule(request, DEFERRED_OCLIF_DEPENDENCIES[request] === true, () => load.call(this, request, parent, isMain));
  };
}

/**
 * A stand-in for the module `name` that `load`s it on first use and forwards
 * every operation to it: property reads, calls (a module that is a function),
 * `new`, `in`, and listing its keys.
 * @param esModule what the module's `__esModule` is, answered without loading it.
 */
export function deferredModule(name: string, esModule: boolean, load: () => unknown): unknown {
  let loaded: {module: object} | undefined;
  const real = (): object => {
    if (loaded !== undefined) return loaded.module;
    const module = Object(load()) as object;
    if (Boolean((module as {__esModule?: unknown}).__esModule) !== esModule) {
      throw new Error(`internal error: ${name}'s __esModule is not ${esModule}; update DEFERRED_OCLIF_DEPENDENCIES in src/cli/fast-start.ts`);
    }
    loaded = {module};
    return module;
  };
  // A bound function: callable and constructible like a module that is a function, and
  // without an own non-configurable `prototype` that would constrain the proxy's answers.
  const target = function deferred() {}.bind(undefined);
  return new Proxy(target, {
    get: (_target, key) => (key === '__esModule' ? (esModule ? true : undefined) : Reflect.get(real(), key)),
    set: (_target, key, value) => Reflect.set(real(), key, value),
    has: (_target, key) => Reflect.has(real(), key),
    apply: (_target, self, args) => Reflect.apply(real() as (...a: unknown[]) => unknown, self, args),
    construct: (_target, args) => Reflect.construct(real() as new (...a: unknown[]) => object, args),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (_target, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(real(), key);
      // A proxy may not call a property non-configurable that its target lacks.
      return descriptor === undefined ? undefined : {...descriptor, configurable: true};
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
  });
}
