/**
 * Runs the chosen scenarios one after another (each on a fresh mesh), checks
 * the results against the issue's targets, prints a summary (or `--json`) and
 * writes one SVG plot per scenario plus the JSON of the run to `--out`.
 */
import {mkdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {getHeapStatistics} from 'node:v8';
import {loadAverage, machineInfo, printRows} from '../lib/report.js';
import {SCENARIOS} from './scenarios.js';
import {lineChart} from './svg-chart.js';
import {evaluateTargets} from './targets.js';
import {ringCache} from './ring-cache.js';
import {statementCache} from './statement-cache.js';
import {verifyCache} from './verify-cache.js';

const log = (text) => process.stderr.write(`[simulate ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

/**
 * @param {ReturnType<typeof import('./options.js').parseCli>['options']} options
 * @returns {Promise<number>} exit code
 */
export async function main(options) {
  const machine = machineInfo();
  const started = performance.now();
  const results = [];
  let failed = false;
  for (const name of options.scenarios) {
    log(`scenario ${name} at ${options.nodes} nodes`);
    try {
      const result = await SCENARIOS[name]({simulation: options.simulation, warmupMs: options.warmupMs, params: options.params, log});
      results.push(result);
      if (options.plots) writePlot(options, result);
      log(`scenario ${name} done: ${(result.cost.simulatedMs / 1000).toFixed(1)} s simulated in ${(result.cost.wallMs / 1000).toFixed(0)} s of wall time (+${(result.cost.setupWallMs / 1000).toFixed(0)} s set-up)`);
    } catch (error) {
      failed = true;
      log(`scenario ${name} failed: ${error?.stack ?? error}`);
      results.push({name, error: String(error?.message ?? error)});
    }
  }
  const report = {
    command: `node bench/simulate ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {...machine, loadavgAtEnd: loadAverage(), heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20), peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024)},
    nodes: options.nodes,
    simulation: options.simulation,
    warmupMs: options.warmupMs,
    params: options.params,
    // Each result keeps its chart spec (the curves), so a plot can be redrawn or drawn elsewhere.
    results,
    targets: evaluateTargets(results, options),
    verification: {
      entries: {verified: verifyCache.verified, servedFromCache: verifyCache.hits},
      statements: {verified: statementCache.verified, servedFromCache: statementCache.hits},
      rings: {built: ringCache.built, shared: ringCache.reused},
    },
    wallMs: Math.round(performance.now() - started),
  };
  if (options.plots) {
    mkdirSync(options.out, {recursive: true});
    const file = join(options.out, `run-n${options.nodes}-${options.scenarios.join('-')}.json`);
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${file}`);
  }
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else printSummary(report);
  return failed ? 1 : 0;
}

function writePlot(options, result) {
  mkdirSync(options.out, {recursive: true});
  const file = join(options.out, `${result.name}-n${result.nodes}.svg`);
  writeFileSync(file, lineChart(result.chart));
  log(`wrote ${file}`);
}

const ms = (v) => (v === null || v === undefined ? 'never' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const triple = (s) => (s ? `${ms(s.p50)} / ${ms(s.p99)} / ${ms(s.max)}` : '-');

function printSummary(report) {
  const out = (text) => process.stdout.write(text);
  const s = report.simulation;
  out(`wgmesh control-plane simulation: ${report.nodes} nodes, latency ${s.latencyMs} ms, loss ${s.lossRate * 100}%, ` + `${s.bandwidthBytesPerSecond > 0 ? `${(s.bandwidthBytesPerSecond * 8) / 1e6} Mbit/s` : 'unlimited'} upload, failures ${s.silentFailures ? 'silent (time out)' : 'refused'}\n`);
  out(`settings: ${JSON.stringify(s.settings)}\n`);
  out(`machine: ${report.machine.nproc} CPUs, Node ${report.machine.node}, ${report.machine.date}, load ${report.machine.loadavg.join(' ')} -> ${report.machine.loadavgAtEnd.join(' ')}\n\n`);
  out('scenario         propagation p50/p99/max      detection p50/p99/max        msgs/node/s  bytes/node/s  false pos.  wall\n');
  for (const r of report.results) {
    if (r.error) {
      out(`${r.name.padEnd(16)} FAILED: ${r.error}\n`);
      continue;
    }
    const name = r.nodes === report.nodes ? r.name : `${r.name} (${r.nodes})`;
    out(
      `${name.padEnd(16)} ${triple(r.propagation).padEnd(28)} ${triple(r.detection).padEnd(28)} ${r.traffic.messagesPerNodePerSecond.toFixed(1).padStart(11)}  ` +
        `${r.traffic.bytesPerNodePerSecond.toFixed(0).padStart(12)}  ${String(r.falsePositives).padStart(10)}  ${((r.cost.wallMs + r.cost.setupWallMs) / 1000).toFixed(0)} s\n`,
    );
  }
  out('\n');
  for (const r of report.results) {
    if (r.error) continue;
    out(`${r.title}:\n`);
    printRows(detailRows(r), out);
    out('\n');
  }
  out('targets (issues 8 and 15):\n');
  printRows(
    report.targets.map((t) => [`  ${t.target}`, `${t.value}  ${t.met === null ? '' : t.met ? 'met' : 'MISSED'}`]),
    out,
  );
}

function detailRows(r) {
  const d = r.details;
  const rows = [];
  switch (r.name) {
    case 'change':
      for (const [i, c] of d.perChange.entries()) rows.push([`  change ${i + 1} from ${c.source}`, `50% ${ms(c.p50)}, 99% ${ms(c.p99)}, 100% ${ms(c.max)} (${c.reached}/${c.observers})`]);
      break;
    case 'revocation':
      for (const [i, c] of d.perRevocation.entries()) rows.push([`  revocation ${i + 1} of ${c.target}`, `50% ${ms(c.p50)}, 99% ${ms(c.p99)}, 100% ${ms(c.max)} (${c.reached}/${c.observers})`]);
      break;
    case 'crash':
      rows.push(['  victims', `${r.params.victims} (${r.params.crashMode})`]);
      rows.push(['  (observer, victim) pairs p50/p99/max', triple(r.detection)]);
      rows.push(['  victim gone from every view p50/p99/max', triple(d.goneFromAllViews)]);
      rows.push(['  bound 3 x H + 2 s', ms(d.boundMs)]);
      rows.push(['  victims revived anywhere', String(d.victimsRevived)]);
      break;
    case 'partition':
      rows.push(['  cross-side removals during the cut', `${d.crossRemovalsDuringCut} of ${d.crossPairs} pairs, p50/p99/max ${triple(r.detection)}`]);
      rows.push(['  views whole after the heal p50/p99/max', triple(r.propagation)]);
      rows.push(['  cross-side removals after the heal', `${d.lateRemovalsAfterHeal.count}${d.lateRemovalsAfterHeal.count ? `, the last ${ms(d.lateRemovalsAfterHeal.lastMs)} after it` : ''}`]);
      rows.push(['  traffic during the cut', `${d.trafficDuringCut.messagesPerNodePerSecond.toFixed(1)} msgs, ${d.trafficDuringCut.bytesPerNodePerSecond.toFixed(0)} bytes /node/s`]);
      break;
    case 'steady':
      rows.push(['  bytes/node/s p99 / max node', `${r.traffic.bytesPerNodePerSecondP99.toFixed(0)} / ${r.traffic.bytesPerNodePerSecondMax.toFixed(0)}`]);
      break;
    case 'churn':
      rows.push(['  joiners\u2019 records p50/p99/max', triple(d.joinRecords)]);
      rows.push(['  tombstones p50/p99/max', triple(d.tombstones)]);
      rows.push(['  joins failed', String(d.joinsFailed)]);
      break;
    case 'join':
      for (const [i, j] of d.perJoin.entries()) {
        rows.push([`  join ${i + 1} via ${j.via}`, `snapshot ${(j.snapshotBytes / 1024).toFixed(0)} KiB in ${ms(j.fetchMs)} (simulated), load ${ms(j.loadWallMs)} CPU, announce ${ms(j.announceMs)}; record 99% ${ms(j.record.p99)}, 100% ${ms(j.record.max)}`]);
      }
      break;
  }
  if (d.counters) rows.push(['  core counters (sum)', Object.entries(d.counters).map(([k, v]) => `${k} ${v}`).join(', ')]);
  if (d.falsePositiveSummary?.count) {
    const f = d.falsePositiveSummary;
    rows.push(['  false positives', `${f.count} removals of ${f.subjects} live nodes by ${f.observers} observers, from +${ms(f.firstAtMs)} to +${ms(f.lastAtMs)}; removed for p50/p99/max ${triple(f.removedFor)}`]);
  }
  if (d.falsePositiveSamples?.length) rows.push(['  false positives (first)', d.falsePositiveSamples.map((f) => `${f.observer} removed ${f.subject} at +${ms(f.atMs)}`).join('; ')]);
  rows.push(['  traffic', `${r.traffic.messagesPerNodePerSecond.toFixed(1)} messages, ${r.traffic.bytesPerNodePerSecond.toFixed(0)} bytes per node per second over ${r.traffic.seconds.toFixed(0)} s`]);
  return rows;
}
