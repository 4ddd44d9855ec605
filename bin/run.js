#!/usr/bin/env node
// The wgmesh CLI (oclif). Most of what a quick command such as `wgmesh mesh
// list` costs is start-up, so this entry point loads as little as it can:
//
// - oclif's `execute` from its own subpath, not the package index (which
//   loads every part of oclif and checks its own Node version with semver);
// - a command that only talks to the daemon over IPC (its manifest entry says
//   `pluginsNeeded: false`; DaemonClientCommand sets it) runs with the root
//   plugin alone, and the oclif dependencies it does not use (help, plugin
//   discovery, templates, spinners) are loaded only if oclif turns to them:
//   see src/cli/fast-start.ts. Every other command, `--help`, and anything not
//   found in the manifest start normally.
import {createRequire} from 'node:module';
import {userInfo} from 'node:os';
import {fileURLToPath} from 'node:url';
import {deferOclifDependencies, fastStartOptions} from '../dist/cli/fast-start.js';

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
const loadOptions = fastStartOptions(argv, fileURLToPath(new URL('..', import.meta.url)));
if (loadOptions !== undefined) deferOclifDependencies();
// Loaded only now, so that oclif's requires go through the deferral above; and
// required, not imported: importing CommonJS from an ES module makes Node scan
// its source for exports, which costs a few ms for nothing here.
const {execute} = createRequire(import.meta.url)('@oclif/core/execute');
await execute(loadOptions ? {args: argv, loadOptions} : {dir: import.meta.url});
