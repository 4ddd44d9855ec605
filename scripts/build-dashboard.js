#!/usr/bin/env node
/**
 * Build the web dashboard into dist/dashboard/: type-check src/dashboard (its
 * own tsconfig, DOM lib, no emit), bundle the page and the layout worker with
 * esbuild (minified, no source maps), and copy index.html and the stylesheet.
 * Served by the daemon's HTTP API at `/` (see `dashboardDir`).
 */
import {execFileSync} from 'node:child_process';
import {copyFile, mkdir, rm} from 'node:fs/promises';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {build} from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src/dashboard');
const out = join(root, 'dist/dashboard');

try {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(source, 'tsconfig.json')], {stdio: 'inherit'});
} catch {
  // tsc printed what is wrong.
  console.error('build-dashboard: src/dashboard does not type-check (see above); dist/dashboard was left as it was');
  process.exit(1);
}

await rm(out, {recursive: true, force: true});
await mkdir(join(out, 'assets'), {recursive: true});
await build({
  entryPoints: [
    {in: join(source, 'main.ts'), out: 'app'},
    {in: join(source, 'graph-worker.ts'), out: 'graph-worker'},
    {in: join(source, 'app.css'), out: 'app'},
  ],
  outdir: join(out, 'assets'),
  bundle: true,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile(join(source, 'index.html'), join(out, 'index.html'));
