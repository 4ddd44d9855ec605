#!/usr/bin/env node
/**
 * Bundle the verification worker (src/core/dist/runtime/verify-worker.js)
 * with the modules it uses (core's checks, zod, msgpackr) into one file,
 * verify-worker.bundle.js beside it. Each worker thread loads its modules
 * afresh; one file loads in about half the CPU time of ~80 modules, and a
 * join starts its workers while the snapshot downloads. The pool uses the
 * bundle when it exists (see verify-pool.ts). Run by `npm run build`, after tsc.
 */
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {build} from 'esbuild';

const runtime = join(dirname(fileURLToPath(import.meta.url)), '../src/core/dist/runtime');

await build({
  entryPoints: [join(runtime, 'verify-worker.js')],
  outfile: join(runtime, 'verify-worker.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  // A native addon: it loads from node_modules, as in the modules.
  external: ['sodium-native'],
  // Error classes keep their names, as in the modules.
  keepNames: true,
  legalComments: 'inline',
  logLevel: 'warning',
});
