#!/usr/bin/env node
// `npm run bench`: every benchmark in turn, each printing its own summary.
// Benchmarks that need root (network namespaces) are skipped with the reason
// when the process is not root. Pass `--quick` for smaller sizes.
import {spawnSync} from 'node:child_process';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const isRoot = process.getuid?.() === 0;
const benches = [
  {script: 'store-merge-sync.js', args: quick ? ['--iterations', '3'] : ['--iterations', '9']},
  {script: 'store-compare.js', args: quick ? ['--sizes', '1000', '--changes', '100'] : ['--sizes', '1000,10000']},
  {script: 'cli.js', args: []},
  // The control-plane simulator: ~1.5 h and ~6 GB at 3,000 nodes; --quick runs 300 nodes in a few minutes.
  {script: 'simulate', args: quick ? ['--nodes', '300', '--steady', '1m', '--churn', '20s'] : ['--nodes', '3000']},
  {script: 'message-wire-cost.js', args: quick ? ['--count', '20'] : [], root: true},
  {script: 'join-to-ping.js', args: quick ? ['--rounds', '3'] : ['--rounds', '10'], root: true},
  {script: 'control-plane-daemons.js', args: ['--nodes', quick ? '20' : '100']},
];

let failed = 0;
for (const bench of benches) {
  console.log(`\n=== ${bench.script} ${bench.args.join(' ')}`);
  if (bench.root && !isRoot) {
    console.log('skipped: needs root (network namespaces and WireGuard)');
    continue;
  }
  const result = spawnSync(process.execPath, [join(here, bench.script), ...bench.args], {stdio: 'inherit'});
  if (result.status !== 0) failed++;
}
process.exitCode = failed > 0 ? 1 : 0;
