/**
 * oclif's `plugins link` and `plugins uninstall` with what every wgmesh
 * command has: `--json` and wgmesh's error output (one line, or
 * `{"error": {"code", "message"}}` with `--json`). wgmesh's own commands of
 * the same ids (src/commands/plugins/) extend these and print their result.
 */
import type {Command} from '@oclif/core/command';
import type {Config} from '@oclif/core/config';
import {commands} from '@oclif/plugin-plugins';
import {reportKnownError} from './base-command.js';

/** A class of oclif's plugin commands, typed without naming their modules (the package exports only its index). */
type PluginCommandClass = new (argv: string[], config: Config) => Command & {run(): Promise<void>};

/** `base` with `--json` and wgmesh's error output. */
function withWgmeshOutput(base: PluginCommandClass): PluginCommandClass {
  return class extends base {
    static enableJsonFlag = true;

    /** oclif's command parses with its own class, which has no `--json`: parse with its options (oclif copies a class's own static fields only) and `--json`. */
    protected override async parse(_options?: unknown, argv?: string[]): Promise<any> {
      return super.parse({...base, enableJsonFlag: true}, argv);
    }

    protected override async catch(error: Error): Promise<unknown> {
      reportKnownError({json: this.jsonEnabled(), logJson: (json) => this.logJson(json), exit: (code) => this.exit(code)}, error);
      return super.catch(error);
    }
  };
}

/** oclif's `plugins link`, with `--json` and wgmesh's error output. */
export const OclifPluginsLink = withWgmeshOutput(commands['plugins:link']);
/** oclif's `plugins uninstall`, with `--json` and wgmesh's error output. */
export const OclifPluginsUninstall = withWgmeshOutput(commands['plugins:uninstall']);
