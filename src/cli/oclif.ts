/**
 * The parts of oclif wgmesh's commands use, from dist/oclif.cjs: oclif and its
 * dependencies bundled into one file by scripts/bundle-oclif.js, which Node
 * loads several times faster than oclif's ~130 files (see BENCHMARKS.md, CLI
 * start-up). bin/run.js starts oclif from here too, so the commands, the
 * configuration and the errors are all of one copy of oclif. Required, not
 * imported: the bundle is CommonJS, and importing CommonJS from an ES module
 * makes Node scan its source for exports.
 *
 * The path is from the package root, so that this module finds the bundle from
 * dist/cli/ and, in tests, from src/cli/ (after `npm run build`).
 */
import {createRequire} from 'node:module';
import type * as OclifArgs from '@oclif/core/args';
import type * as OclifCommand from '@oclif/core/command';
import type * as OclifConfig from '@oclif/core/config';
import type * as OclifErrors from '@oclif/core/errors';
import type * as OclifExecute from '@oclif/core/execute';
import type * as OclifFlags from '@oclif/core/flags';
import type * as OclifFlush from '@oclif/core/flush';
import type * as OclifHandle from '@oclif/core/handle';
import type * as OclifRun from '@oclif/core/run';

const oclif = createRequire(import.meta.url)('../../dist/oclif.cjs') as {
  Args: typeof OclifArgs;
  Command: typeof OclifCommand.Command;
  Errors: typeof OclifErrors;
  Flags: typeof OclifFlags;
  execute: typeof OclifExecute.execute;
  flush: typeof OclifFlush.flush;
  handle: typeof OclifHandle.handle;
  Plugin: typeof OclifConfig.Plugin;
  run: typeof OclifRun.run;
};

/** oclif's argument definitions (`Args.string(...)`). */
export const Args = oclif.Args;
/** oclif's base class of commands. */
export const Command = oclif.Command;
/** oclif's error classes and helpers. */
export const Errors = oclif.Errors;
/** oclif's flag definitions (`Flags.string(...)`). */
export const Flags = oclif.Flags;
/** oclif's plugin: a package's commands and hooks (bin/run.js loads the root one itself for a quick start). */
export const Plugin = oclif.Plugin;
/** A loaded plugin. */
export type Plugin = OclifConfig.Plugin;
/** oclif's start of a CLI: {@link run}, then {@link flush}, and {@link handle} for what it throws. */
export const {execute, flush, handle, run} = oclif;

/**
 * True for an error of oclif's (a CLIError, a parse error, an exit), from
 * this copy of oclif or from the one a plugin's command is built on: told by
 * its shape (`oclif` holds the exit code), which every copy gives it.
 */
export function isOclifError(error: unknown): error is Error & {oclif: {exit?: number}} {
  const oclif = (error as {oclif?: unknown} | null)?.oclif;
  return error instanceof Error && typeof oclif === 'object' && oclif !== null;
}

/** True for oclif's ExitError (`this.exit(code)`), from any copy of oclif. */
export function isOclifExit(error: unknown): error is Error & {oclif: {exit: number}} {
  return isOclifError(error) && (error as {code?: unknown}).code === 'EEXIT' && typeof error.oclif.exit === 'number';
}
