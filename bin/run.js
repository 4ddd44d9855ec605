#!/usr/bin/env node
// The wgmesh CLI (oclif). Most of what a quick command such as `wgmesh mesh
// list` costs is start-up, so this entry point loads as little as it can
// through oclif's public API:
//
// - oclif bundled into one file (dist/oclif.cjs, scripts/bundle-oclif.js),
//   not its ~130 files, and without its package index (which also checks
//   oclif's own Node version with semver);
// - a command that only talks to the daemon over IPC (its manifest entry says
//   `pluginsNeeded: false`; DaemonClientCommand sets it) runs with the root
//   plugin alone, from its own bundle in dist/quick/: see
//   src/cli/load-options.ts. Every other command, `--help`, and anything not
//   found in the manifest start normally.
import {userInfo} from 'node:os';
import {fileURLToPath} from 'node:url';
import {quickStartOptions} from '../dist/cli/load-options.js';
import {Errors, flush, handle, isOclifExit, run} from '../dist/cli/oclif.js';

// Plugins, linked ones included, run their compiled JavaScript: oclif's
// TypeScript lookup for linked plugins only adds a warning on every command.
(globalThis.oclif ??= {}).enableAutoTranspile = false;

// oclif takes the user's shell (for completion) from SHELL, else from the
// passwd entry, and throws when a uid has neither: a container's arbitrary
// uid, a DynamicUser= service. Such a user gets a POSIX shell.
if (process.env.SHELL === undefined) {
  try {
    userInfo();
  } catch {
    process.env.SHELL = '/bin/sh';
  }
}

const argv = process.argv.slice(2);
// A daemon handles SIGHUP (reload) once it holds its data dir; until then Node's
// default would kill it, e.g. on a `systemctl reload` during start-up. Caught
// from here on, it is logged as arriving too early (daemon.ts).
if (argv[0] === 'daemon') process.on('SIGHUP', () => undefined);
const loadOptions = await quickStartOptions(argv, fileURLToPath(new URL('..', import.meta.url)));
try {
  await run(argv, loadOptions ?? fileURLToPath(import.meta.url));
  await flush();
} catch (error) {
  // A plugin's command runs on the plugin's own copy of oclif, so its
  // `this.exit(code)` throws that copy's ExitError, which this copy's handler
  // would print as an error: it gets this copy's ExitError of the same code.
  const foreignExit = isOclifExit(error) && !(error instanceof Errors.ExitError);
  await handle(foreignExit ? new Errors.ExitError(error.oclif.exit) : error);
}
