#!/usr/bin/env node
/**
 * CLI start-up benchmark: median wall time of `wgmesh mesh list` and
 * `wgmesh status` against a running daemon (wg-stub driver, one mesh), as a
 * user types them: a fresh `node bin/run.js ...` process each time, and of
 * `node -e 0` in the same run as the reference (Node's own start). Each row
 * also gets its ratio to that reference, the steady number on a busy machine.
 * Uses hyperfine when it is installed (`--warmup 3 --runs N --export-json`),
 * else runs the commands in turn (one run of each per round, so that all of
 * them see the same load) N rounds after 3 warm-up rounds, timing each child
 * process from spawn to exit. Target: `mesh list` median under 150 ms where
 * `node -e 0` takes 62 ms, i.e. under 2.4 times the reference on a busy machine.
 *
 * With --profile, also records one `node --cpu-prof` run of `mesh list` and
 * prints where its CPU time went, by package (self time of the functions of
 * each package's files), plus the number of modules loaded per package.
 *
 * Run after a build:  node bench/cli.js [--runs 20] [--profile] [--no-hyperfine] [--json]
 */
import {execFileSync, spawn} from 'node:child_process';
import {mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {packageOf, summarizeProfile} from './lib/cpuprofile.js';
import {BIN, Fleet, ROOT} from './lib/fleet.js';
import {loadAverage, machineInfo, printRows, summarize} from './lib/report.js';

const {values: args} = parseArgs({
  options: {
    runs: {type: 'string', default: '20'},
    warmup: {type: 'string', default: '3'},
    hyperfine: {type: 'boolean', default: true},
    profile: {type: 'boolean', default: false},
    json: {type: 'boolean', default: false},
  },
  allowNegative: true,
});
const runs = Number(args.runs);
const warmup = Number(args.warmup);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(warmup) || warmup < 0) {
  process.stderr.write('error: --runs must be an integer >= 1 and --warmup >= 0\n');
  process.exit(2);
}
/** Target: `mesh list` median, on the machine where `node -e 0` took {@link REFERENCE_MS}. */
const TARGET_MS = 150;
const REFERENCE_MS = 62;
/** The same target as a ratio to `node -e 0` measured in the same run. */
const TARGET_RATIO = TARGET_MS / REFERENCE_MS;
const log = (text) => process.stderr.write(`${text}\n`);

function hasHyperfine() {
  try {
    execFileSync('hyperfine', ['--version'], {stdio: 'ignore'});
    return true;
  } catch {
    return false;
  }
}

/** Quote one argument for the shell hyperfine runs commands in. */
const shellQuote = (s) => `'${s.replaceAll("'", "'\\''")}'`;

/** Wall times (ms) of `runs` runs of each command and their mean CPU time, with hyperfine. */
function timeWithHyperfine(commands, env, dir) {
  const exported = join(dir, 'hyperfine.json');
  const lines = commands.map(({argv}) => argv.map(shellQuote).join(' '));
  execFileSync('hyperfine', ['--warmup', String(warmup), '--runs', String(runs), '--export-json', exported, '--style', 'basic', ...lines], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const {results} = JSON.parse(readFileSync(exported, 'utf8'));
  // hyperfine gives per-run wall times and mean user/system CPU; CPU time is the steadier number on a shared machine.
  return results.map((r) => ({times: r.times.map((t) => t * 1000), cpuMs: (r.user + r.system) * 1000}));
}

/** Wall time (ms) of one child process, spawn to exit; fails on a non-zero exit. */
function timeOnce(argv, env) {
  return new Promise((resolveRun, reject) => {
    const start = performance.now();
    const child = spawn(argv[0], argv.slice(1), {env, stdio: ['ignore', 'ignore', 'pipe']});
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => {
      const ms = performance.now() - start;
      if (code === 0) resolveRun(ms);
      else reject(new Error(`${argv.join(' ')} exited with ${code}:\n${stderr}`));
    });
  });
}

/** Wall times (ms) of `runs` runs of each command, timed here (no CPU time), one run of each command per round. */
async function timeWithLoop(commands, env) {
  for (let i = 0; i < warmup; i++) for (const {argv} of commands) await timeOnce(argv, env);
  const times = commands.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [c, {argv}] of commands.entries()) times[c].push(await timeOnce(argv, env));
  }
  // Node cannot read a child's CPU time (no wait4/rusage per child), so this path reports wall time only.
  return times.map((t) => ({times: t, cpuMs: null}));
}

/**
 * Profile one run of `argv` with `node --cpu-prof` and sum its self time by package.
 * @returns {{totalMs: number, byPackage: {package: string, selfMs: number, scripts: number}[]}}
 */
function profile(argv, env, dir) {
  const profDir = join(dir, 'prof');
  execFileSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profDir, ...argv.slice(1)], {env, stdio: 'ignore'});
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  const {totalMs, rows} = summarizeProfile(join(profDir, file));
  return {totalMs, byPackage: rows.map((r) => ({package: r.name, selfMs: r.selfMs, scripts: r.scripts}))};
}

/**
 * Modules whose load cost (in a fresh Node, nothing else loaded) explains a
 * CLI start, each loaded as the CLI loads it (`require` or `import`): the
 * oclif bundle bin/run.js loads (scripts/bundle-oclif.js), the same parts of
 * oclif from its own files and its whole index (which no command loads), the
 * client entry, and zod and yaml, which the client path does not load (zod:
 * replies are checked without it; yaml: only with a config file), for scale.
 */
const IMPORT_PROBES = [
  {module: './dist/oclif.cjs', load: 'require'},
  {module: '@oclif/core/execute', load: 'require'},
  {module: '@oclif/core', load: 'require'},
  {module: '@wgmesh/core/client', load: 'import'},
  {module: 'zod', load: 'import'},
  {module: 'yaml', load: 'import'},
];

/**
 * CPU time (median of `repeats` fresh processes) of loading each module
 * alone, minus nothing: Node's own start is outside the measured span.
 * @param {{module: string, load: 'require' | 'import'}[]} modules
 * @returns {{module: string, cpuMs: number}[]}
 */
function importCosts(modules, env, repeats = 5) {
  return modules.map(({module, load}) => {
    const samples = [];
    const loading = load === 'require' ? `createRequire(process.cwd() + '/')(${JSON.stringify(module)})` : `await import(${JSON.stringify(module)})`;
    for (let i = 0; i < repeats; i++) {
      const code = `import {createRequire} from 'node:module'; const c = process.cpuUsage(); ${loading}; const u = process.cpuUsage(c); process.stdout.write(String((u.user + u.system) / 1000));`;
      samples.push(Number(execFileSync(process.execPath, ['--input-type=module', '-e', code], {cwd: ROOT, env, encoding: 'utf8'})));
    }
    return {module, cpuMs: summarize(samples).median};
  });
}

/** Module-loader hooks that append every loaded file (ESM and CommonJS) with its size to $WGMESH_BENCH_TRACE. */
const TRACE_HOOKS = `
import {appendFileSync, statSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
const note = (url) => { let size = 0; try { size = statSync(fileURLToPath(url)).size; } catch {} appendFileSync(process.env.WGMESH_BENCH_TRACE, size + ' ' + url + '\\n'); };
export async function load(url, context, next) { if (url.startsWith('file:')) note(url); return next(url, context); }
`;
const TRACE_PRELOAD = `
import Module, {register} from 'node:module';
import {appendFileSync} from 'node:fs';
import {pathToFileURL} from 'node:url';
register('./hooks.mjs', import.meta.url);
const compile = Module.prototype._compile;
Module.prototype._compile = function (content, filename) {
  appendFileSync(process.env.WGMESH_BENCH_TRACE, Buffer.byteLength(content) + ' ' + pathToFileURL(filename).href + '\\n');
  return compile.call(this, content, filename);
};
`;

/**
 * The files one run of `argv` loads, counted by package. (A CommonJS file
 * imported from ESM passes both hooks; it is counted once.)
 * @returns {{package: string, files: number, kib: number}[]}
 */
function modulesLoaded(argv, env, dir) {
  const traceDir = join(dir, 'trace');
  mkdirSync(traceDir, {recursive: true});
  writeFileSync(join(traceDir, 'hooks.mjs'), TRACE_HOOKS);
  writeFileSync(join(traceDir, 'preload.mjs'), TRACE_PRELOAD);
  const trace = join(traceDir, 'loaded.txt');
  writeFileSync(trace, '');
  execFileSync(process.execPath, ['--import', join(traceDir, 'preload.mjs'), ...argv.slice(1)], {env: {...env, WGMESH_BENCH_TRACE: trace}, stdio: 'ignore'});
  const byPackage = new Map();
  const seen = new Set();
  for (const line of readFileSync(trace, 'utf8').split('\n')) {
    if (line === '') continue;
    const [size, url] = line.split(' ');
    if (seen.has(url)) continue;
    seen.add(url);
    const name = packageOf(url);
    const entry = byPackage.get(name) ?? {package: name, files: 0, kib: 0};
    entry.files++;
    entry.kib += Number(size) / 1024;
    byPackage.set(name, entry);
  }
  return [...byPackage.values()].sort((a, b) => b.kib - a.kib);
}

// --- run ------------------------------------------------------------------------
const machine = machineInfo();
const fleet = await Fleet.create({nodes: 1, netns: 'off', log});
const dir = mkdtempSync(join(tmpdir(), 'wgmesh-bench-cli-'));
let report;
try {
  await fleet.start();
  const [daemon] = fleet.nodes;
  const {meshId} = await daemon.client.call('mesh.create', {});
  log(`daemon ${daemon.socket} with mesh ${meshId}`);
  const env = {...fleet.env};
  const commands = [
    {name: 'wgmesh mesh list', argv: [process.execPath, BIN, 'mesh', 'list', '--socket', daemon.socket]},
    {name: 'wgmesh status', argv: [process.execPath, BIN, 'status', '--socket', daemon.socket]},
    // The floor: starting Node itself, for scale.
    {name: 'node -e 0', argv: [process.execPath, '-e', '0']},
  ];
  const useHyperfine = args.hyperfine && hasHyperfine();
  log(`timing ${runs} runs of each (${warmup} warm-up) with ${useHyperfine ? 'hyperfine' : 'a process-timing loop'} ...`);
  const times = useHyperfine ? timeWithHyperfine(commands, env, dir) : await timeWithLoop(commands, env);
  const reference = summarize(times[commands.length - 1].times).median;
  const results = commands.map((c, i) => {
    const summary = summarize(times[i].times);
    return {command: c.name, ...summary, ratioToNode: summary.median / reference, meanCpuMs: times[i].cpuMs};
  });
  const meshList = results[0];
  report = {
    machine: {...machine, loadavgAtEnd: loadAverage()},
    method: useHyperfine ? `hyperfine --warmup ${warmup} --runs ${runs}` : `spawn-to-exit loop, ${warmup} warm-up + ${runs} rounds of one run of each`,
    results,
    target: {
      meshListMedianMs: TARGET_MS,
      met: meshList.median < TARGET_MS,
      ratioToNode: TARGET_RATIO,
      ratioMet: meshList.ratioToNode < TARGET_RATIO,
    },
  };
  if (args.profile || !report.target.met) {
    log('profiling one `mesh list` run with --cpu-prof ...');
    report.profile = profile(commands[0].argv, env, dir);
    log('counting the modules one `mesh list` loads, and timing imports alone ...');
    report.modulesLoaded = modulesLoaded(commands[0].argv, env, dir);
    report.importCpuMs = importCosts(IMPORT_PROBES, env);
  }
} catch (error) {
  log(`bench failed: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await fleet.close();
  rmSync(dir, {recursive: true, force: true});
}

if (report !== undefined) {
  if (args.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const ms = (v) => `${v.toFixed(0)} ms`;
    printRows([
      ['method', report.method],
      ...report.results.map((r) => [
        r.command,
        `median ${ms(r.median)} (min ${ms(r.min)}, max ${ms(r.max)}), ${r.ratioToNode.toFixed(2)}x node -e 0${r.meanCpuMs === null ? '' : `, mean CPU ${ms(r.meanCpuMs)}`}`,
      ]),
      [`target mesh list < ${TARGET_MS} ms`, report.target.met ? 'met' : 'MISSED'],
      [`target mesh list < ${TARGET_RATIO.toFixed(2)}x node -e 0`, report.target.ratioMet ? 'met' : 'MISSED'],
    ]);
    if (report.profile) {
      process.stdout.write(`\none profiled mesh list run: ${ms(report.profile.totalMs)} of profile; self time by package:\n`);
      printRows(report.profile.byPackage.slice(0, 15).map((p) => [`  ${p.package}`, `${p.selfMs.toFixed(1)} ms${p.scripts ? ` in ${p.scripts} files` : ''}`]));
      const files = report.modulesLoaded.reduce((a, p) => a + p.files, 0);
      process.stdout.write(`\nfiles one mesh list run loads: ${files}; by package (top 12):\n`);
      printRows(report.modulesLoaded.slice(0, 12).map((p) => [`  ${p.package}`, `${p.files} files, ${p.kib.toFixed(0)} KiB`]));
      process.stdout.write('\nCPU time to load each alone in a fresh Node, as the CLI loads it (median of 5):\n');
      printRows(report.importCpuMs.map((p) => [`  ${p.module} (${IMPORT_PROBES.find((probe) => probe.module === p.module).load})`, ms(p.cpuMs)]));
    }
  }
}
