#!/usr/bin/env node
/**
 * `node bench/simulate [options]`: the control-plane simulator (issue 8).
 * This entry point only prepares the process, then hands over to main.js:
 *
 * - N nodes hold N x N entries and views in one heap (about 60 bytes per
 *   pair, 6 GB at 10,000 nodes), over Node's default heap limit: it starts
 *   itself again with `--max-old-space-size` sized for the run (and a larger
 *   young generation, which cuts the garbage collector's share by about a
 *   third) and passes its exit code on;
 * - it registers the module hooks of store-hooks.js before anything loads
 *   core or the store (see there: each distinct signed entry and statement
 *   is verified once per process), so every other module is imported
 *   dynamically, after that.
 */
import {spawnSync} from 'node:child_process';
import {register} from 'node:module';
import {getHeapStatistics} from 'node:v8';

register('./store-hooks.js', import.meta.url);
const {heapNeededMiB, parseCli} = await import('./options.js');

const parsed = parseCli(process.argv.slice(2));
if (parsed.kind === 'exit') {
  process.stdout.write(parsed.text);
  process.exit(parsed.code);
}
if (parsed.kind === 'error') {
  process.stderr.write(`error: ${parsed.message}\nRun 'node bench/simulate --help' for the options.\n`);
  process.exit(2);
}

// Always in a child with these flags (unless already one): every run then gets the same
// heap and the same young generation, which matters as much as the heap limit for speed.
const neededMiB = parsed.options.heapMiB ?? Math.max(heapNeededMiB(parsed.options), Math.ceil(getHeapStatistics().heap_size_limit / 2 ** 20));
if (process.env.WGMESH_SIMULATE_CHILD === undefined) {
  const flags = [`--max-old-space-size=${neededMiB}`, '--max-semi-space-size=64', '--expose-gc'];
  const child = spawnSync(process.execPath, [...flags, ...process.execArgv, import.meta.filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: {...process.env, WGMESH_SIMULATE_CHILD: '1'},
  });
  process.exit(child.status ?? 1);
}

const {main} = await import('./main.js');
process.exitCode = await main(parsed.options);
