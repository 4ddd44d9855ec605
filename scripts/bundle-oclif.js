#!/usr/bin/env node
/**
 * Bundle the parts of oclif the CLI uses (execute, run, flush, handle,
 * Command, Flags, Args, Errors, Plugin), with oclif's own dependencies, into one file: dist/oclif.cjs. Node
 * then loads one file instead of ~130 (oclif requires every dependency when it
 * starts, help and plugin discovery included), which halves what oclif costs
 * a command's start. Plugins keep their own @oclif/core from node_modules;
 * oclif supports plugins built on another copy of it (it reloads the
 * configuration for their commands). Run by `npm run build`.
 */
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {build} from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

await build({
  stdin: {
    contents: `
      exports.execute = require('@oclif/core/execute').execute;
      exports.run = require('@oclif/core/run').run;
      exports.flush = require('@oclif/core/flush').flush;
      exports.handle = require('@oclif/core/handle').handle;
      exports.Command = require('@oclif/core/command').Command;
      exports.Flags = require('@oclif/core/flags');
      exports.Args = require('@oclif/core/args');
      exports.Errors = require('@oclif/core/errors');
      exports.Plugin = require('@oclif/core/config').Plugin;
    `,
    resolveDir: root,
    sourcefile: 'oclif-entry.cjs',
    loader: 'js',
  },
  outfile: join(root, 'dist/oclif.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // oclif loads TypeScript only to run a linked plugin's sources, which this CLI turns off.
  external: ['typescript'],
  // Less source for Node to read and V8 to pre-parse on every start; names stay as they are.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'inline',
  logLevel: 'warning',
});
