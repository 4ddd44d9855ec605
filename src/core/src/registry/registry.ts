/**
 * The backend registry: every store, transport and WireGuard driver the
 * installed plugins provide, and which plugin provides each. It knows nothing
 * of oclif: the CLI fills it from oclif's plugin list and hook results, tests
 * and simulations fill it directly. Commands never import a plugin; they ask
 * the registry for a factory by kind and name.
 *
 * Two plugins providing one `kind:name` is an error (there is no sensible
 * winner). A broken plugin is not: its problem becomes a warning naming it,
 * and only its own backends are unavailable.
 */
import {BACKEND_KINDS, type BackendFactory, type BackendKind} from '../contracts/backend.js';
import {BackendError} from '../errors.js';
import {readBackendDeclarations, type BackendDeclaration} from './declarations.js';
import {checkFactory} from './factory-check.js';

/** One backend as `wgmesh backends` shows it. */
export interface BackendListing {
  kind: BackendKind;
  name: string;
  /** The npm name of the plugin providing it. */
  plugin: string;
  /** One line; empty when neither the factory nor the declaration has one. */
  description: string;
  /** True when the plugin's hook returned a valid factory for it (it can be used). */
  loaded: boolean;
}

/** A problem with one plugin that does not stop the others from working. */
export interface RegistryWarning {
  /** The npm name of the plugin at fault. */
  plugin: string;
  /** A sentence for the user, naming the plugin. */
  message: string;
}

/** Which way a backend reached the registry. */
interface Entry {
  kind: BackendKind;
  name: string;
  plugin: string;
  declared: boolean;
  declaredDescription?: string | undefined;
  factory?: BackendFactory | undefined;
  /** Why the factory the plugin returned for this name was refused. */
  rejected?: string | undefined;
}

/** Text users install more backends with; part of every "unknown backend" message. */
const INSTALL_HINT = "install more with 'wgmesh plugins install <package>'";

/** `kind:name`, the registry's key. */
function keyOf(kind: BackendKind, name: string): string {
  return `${kind}:${name}`;
}

/** The message of any thrown value, without a stack. */
function messageOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && typeof (error as {message?: unknown}).message === 'string') {
    return (error as {message: string}).message;
  }
  return String(error);
}

/** The installed backends, by kind and name, and the plugin behind each. */
export class BackendRegistry {
  private readonly entries = new Map<string, Entry>();
  /** Plugins whose hook failed or timed out, with the reason. */
  private readonly failures = new Map<string, string>();
  /** Warnings known at the time they happen; the rest are derived in {@link warnings}. */
  private readonly problems: RegistryWarning[] = [];

  /**
   * Record a backend a plugin declares in its package.json.
   * @throws BackendError when another plugin already provides the same `kind:name`.
   */
  declare(plugin: string, declaration: BackendDeclaration): void {
    const entry = this.claim(plugin, declaration.kind, declaration.name);
    entry.declared = true;
    entry.declaredDescription ??= declaration.description;
  }

  /**
   * Record the `wgmesh` field of a plugin's package.json (`undefined` when it
   * has none). An invalid field is a warning naming the plugin, not an error:
   * one broken third-party plugin must not stop the CLI.
   * @throws BackendError on a `kind:name` another plugin already provides.
   */
  declarePlugin(plugin: string, field: unknown): void {
    const read = readBackendDeclarations(field);
    if (!read.ok) {
      this.problems.push({plugin, message: `plugin '${plugin}' has an invalid 'wgmesh' field in its package.json (${read.problem}); its backends are not listed`});
      return;
    }
    for (const declaration of read.declarations) this.declare(plugin, declaration);
  }

  /**
   * Register a factory provided by `plugin`. Strict: anything that is not a
   * valid factory of this API version is an error naming the plugin.
   * @throws BackendError when the value is not a usable factory, or when
   *   another plugin (or this one, earlier) already provides its `kind:name`.
   */
  register(plugin: string, candidate: unknown): BackendFactory {
    const check = checkFactory(candidate);
    if (!check.ok) throw new BackendError(`plugin '${plugin}' provides an invalid backend factory: ${check.problem}`);
    const {factory} = check;
    const entry = this.claim(plugin, factory.kind, factory.name);
    if (entry.factory) {
      throw new BackendError(`plugin '${plugin}' provides the ${factory.kind} backend '${factory.name}' twice; it must return one factory per backend`);
    }
    entry.factory = factory;
    entry.rejected = undefined;
    return factory;
  }

  /**
   * Record what a plugin's `wgmesh:backends` hook returned. Lenient: values
   * that are not valid factories become warnings naming the plugin (and make
   * `resolve` explain why that backend is unavailable).
   * @throws BackendError on a duplicate `kind:name`, which is never tolerated.
   */
  addHookResult(plugin: string, result: unknown): void {
    if (!Array.isArray(result)) {
      this.problems.push({plugin, message: `plugin '${plugin}': its 'wgmesh:backends' hook returned ${result === null ? 'null' : typeof result}, not an array of backend factories`});
      return;
    }
    for (const candidate of result as unknown[]) {
      const check = checkFactory(candidate);
      if (check.ok) {
        this.register(plugin, check.factory);
        continue;
      }
      this.problems.push({plugin, message: `plugin '${plugin}' returned an invalid backend factory: ${check.problem}`});
      if (check.kind !== undefined && check.name !== undefined) {
        const entry = this.claim(plugin, check.kind, check.name);
        entry.rejected = check.problem;
      }
    }
  }

  /** Record that a plugin's hook threw or timed out; its backends become unavailable. */
  addHookFailure(plugin: string, error: unknown): void {
    this.failures.set(plugin, messageOf(error));
  }

  /**
   * The factory for `kind:name`.
   * @throws BackendError when no plugin provides it (listing the installed names
   *   of that kind), or when its plugin is installed but could not provide it.
   */
  resolve<K extends BackendKind>(kind: K, name: string): BackendFactory<K> {
    const entry = this.entries.get(keyOf(kind, name));
    if (entry?.factory) return entry.factory as BackendFactory<K>;
    if (!entry) {
      const installed = this.names(kind);
      throw new BackendError(
        `no ${kind} backend named '${name}' is installed; installed: ${installed.length > 0 ? installed.join(', ') : 'none'} (${INSTALL_HINT})`,
      );
    }
    throw new BackendError(`the ${kind} backend '${name}' from plugin '${entry.plugin}' is not available: ${this.unavailableReason(entry)}`);
  }

  /** True when `kind:name` is installed and loaded. */
  has(kind: BackendKind, name: string): boolean {
    return this.entries.get(keyOf(kind, name))?.factory !== undefined;
  }

  /** Installed names of one kind (loaded or not), sorted: for config errors and flag help. */
  names(kind: BackendKind): string[] {
    return this.list(kind).map((entry) => entry.name);
  }

  /** Every backend (of one kind, if given), sorted by kind then name. */
  list(kind?: BackendKind): BackendListing[] {
    return [...this.entries.values()]
      .filter((entry) => kind === undefined || entry.kind === kind)
      .sort((a, b) => BACKEND_KINDS.indexOf(a.kind) - BACKEND_KINDS.indexOf(b.kind) || a.name.localeCompare(b.name))
      .map((entry) => ({
        kind: entry.kind,
        name: entry.name,
        plugin: entry.plugin,
        description: entry.factory?.description ?? entry.declaredDescription ?? '',
        loaded: entry.factory !== undefined,
      }));
  }

  /**
   * Problems with individual plugins, each naming its plugin: invalid
   * package.json fields and factories, hooks that failed or timed out,
   * backends declared but not provided, and provided but not declared.
   */
  get warnings(): RegistryWarning[] {
    const derived: RegistryWarning[] = [];
    for (const [plugin, reason] of this.failures) {
      const lost = this.list().filter((entry) => entry.plugin === plugin && !entry.loaded);
      const which = lost.length > 0 ? `its backends (${lost.map((entry) => `${entry.kind}:${entry.name}`).join(', ')}) are unavailable` : 'it provides no backends';
      derived.push({plugin, message: `plugin '${plugin}' failed to load its backends: ${reason}; ${which}`});
    }
    for (const entry of this.entries.values()) {
      if (!entry.factory && entry.rejected === undefined && !this.failures.has(entry.plugin)) {
        derived.push({
          plugin: entry.plugin,
          message: `plugin '${entry.plugin}' declares the ${entry.kind} backend '${entry.name}' in its package.json, but its 'wgmesh:backends' hook does not provide it`,
        });
      }
      if (entry.factory && !entry.declared) {
        derived.push({
          plugin: entry.plugin,
          message: `plugin '${entry.plugin}' provides the ${entry.kind} backend '${entry.name}' without declaring it in the 'wgmesh' field of its package.json`,
        });
      }
    }
    return [...this.problems, ...derived];
  }

  /** The entry for `kind:name` owned by `plugin`, created if new. */
  private claim(plugin: string, kind: BackendKind, name: string): Entry {
    const key = keyOf(kind, name);
    const existing = this.entries.get(key);
    if (existing && existing.plugin !== plugin) {
      throw new BackendError(
        `two plugins provide the ${kind} backend '${name}': '${existing.plugin}' and '${plugin}'; ` +
          "uninstall one of them with 'wgmesh plugins uninstall <plugin>'",
      );
    }
    if (existing) return existing;
    const entry: Entry = {kind, name, plugin, declared: false};
    this.entries.set(key, entry);
    return entry;
  }

  /** Why a known backend has no factory. */
  private unavailableReason(entry: Entry): string {
    const failure = this.failures.get(entry.plugin);
    if (failure !== undefined) return `the plugin failed to load (${failure})`;
    if (entry.rejected !== undefined) return entry.rejected;
    return "the plugin's 'wgmesh:backends' hook does not provide it";
  }
}
