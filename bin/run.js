#!/usr/bin/env node
// The wgmesh CLI (oclif). Most of what a quick command such as `wgmesh mesh
// list` costs is start-up, so this entry point loads as little as it can:
//
// - oclif's `execute` from its own subpath, not the package index (which
//   loads every part of oclif and checks its own Node version with semver);
// - a command that only talks to the daemon over IPC runs with the root plugin
//   alone: its manifest entry says `pluginsNeeded: false` (DaemonClientCommand
//   sets it), so the bundled and installed plugins (backends, `wgmesh plugins`)
//   and their hooks are not loaded for it. Every other command, `--help`
//   without a command, and anything not found in the manifest load normally.
import {readFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {execute} from '@oclif/core/execute';

const root = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);

/**
 * oclif load options that skip every plugin, when the command `argv` names
 * needs none; undefined otherwise (or when anything is unexpected: then the
 * normal start is the safe choice).
 */
function pluginFreeLoadOptions(args) {
  try {
    const manifest = JSON.parse(readFileSync(new URL('../oclif.manifest.json', import.meta.url), 'utf8'));
    const words = [];
    for (const arg of args) {
      if (arg.startsWith('-') || words.length === 3) break;
      words.push(arg);
    }
    for (let n = words.length; n > 0; n--) {
      const command = manifest.commands?.[words.slice(0, n).join(':')];
      if (command === undefined) continue;
      if (command.pluginsNeeded !== false) return undefined;
      const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
      return {root, pjson: {...pjson, oclif: {...pjson.oclif, plugins: []}}, userPlugins: false, devPlugins: false};
    }
  } catch {
    // No manifest (a development tree) or an unreadable one: start normally.
  }
  return undefined;
}

const loadOptions = pluginFreeLoadOptions(argv);
await execute(loadOptions ? {args: argv, loadOptions} : {dir: import.meta.url});
