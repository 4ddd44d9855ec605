/**
 * oclif's `plugins link` and `plugins uninstall`, for wgmesh's own versions
 * of them (src/commands/plugins/), which add what every wgmesh command has:
 * `--json` and wgmesh's error output.
 */
import type {Command, Config} from '@oclif/core';
import {commands} from '@oclif/plugin-plugins';

/** A class of oclif's plugin commands, typed without naming their modules (the package exports only its index). */
type PluginCommandClass = new (argv: string[], config: Config) => Command & {run(): Promise<void>};

/** oclif's `plugins link`. */
export const OclifPluginsLink: PluginCommandClass = commands['plugins:link'];
/** oclif's `plugins uninstall`. */
export const OclifPluginsUninstall: PluginCommandClass = commands['plugins:uninstall'];

/**
 * What a subclass of `base` parses with: `base`'s own arguments and flags
 * (oclif's command parses with its own class, and oclif copies a class's own
 * static fields only) plus `--json`.
 */
export function parseOptionsWithJson(base: PluginCommandClass): Record<string, unknown> {
  return {...base, enableJsonFlag: true};
}
