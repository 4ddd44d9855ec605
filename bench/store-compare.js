#!/usr/bin/env node
/**
 * The two bundled stores side by side (issue 5): twophase and automerge, at
 * 1,000 and 10,000 nodes. For each store and size a child process of its own
 * (so one store's memory and JIT state never mix with the other's) builds a
 * replica of N typical signed records and measures:
 *   - memory: RSS, V8 heap and external memory after GC, holding that one
 *     replica (the signed fixtures dropped first);
 *   - apply one change: `merge([one newer record])`, one call per change, each
 *     entry verified (Ed25519) as a daemon does; median and mean per change;
 *   - merge: one `merge` of a batch of newer records for 1% of the nodes;
 *   - full sync to an empty replica: one complete sync session (the empty one
 *     initiates, as a joining node's first anti-entropy round would), bytes
 *     both ways;
 *   - snapshot: `save()` size and time, `load()` into an empty replica.
 * Signing the records is set-up and not measured.
 *
 * Run after a build:
 *   node bench/store-compare.js [--sizes 1000,10000] [--changes 300] [--json]
 * Targets: automerge within 5x of twophase per change; under 300 MB RSS at 10,000 nodes.
 */
import {execFileSync} from 'node:child_process';
import {availableParallelism, loadavg} from 'node:os';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import {FIXTURE_NOW, makeTestNode, wireEntry} from '@wgmesh/testkit';
import {runSync} from '@wgmesh/testkit/compliance';
import {benchStore, time, typicalRecord} from './lib/store-fixtures.js';

const STORES = ['twophase', 'automerge'];
const TARGET_CHANGE_RATIO = 5;
const TARGET_RSS_MB = 300;

const {values: args} = parseArgs({
  options: {
    sizes: {type: 'string', default: '1000,10000'},
    changes: {type: 'string', default: '300'},
    json: {type: 'boolean', default: false},
    // Internal: run one store at one size and print its measurements as JSON.
    child: {type: 'string'},
    nodes: {type: 'string'},
  },
});

const log = (text) => process.stderr.write(`${text}\n`);
const MB = 1024 * 1024;

/** The backend factory of a bundled store. */
async function factoryOf(store) {
  if (store === 'twophase') return (await import('@wgmesh/store-twophase')).twophaseStoreFactory;
  if (store === 'automerge') return (await import('@wgmesh/store-automerge')).automergeStoreFactory;
  throw new Error(`unknown store ${store}`);
}

function median(list) {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function memory() {
  globalThis.gc();
  globalThis.gc();
  const usage = process.memoryUsage();
  return {rssMB: usage.rss / MB, heapUsedMB: usage.heapUsed / MB, externalMB: usage.external / MB, arrayBuffersMB: usage.arrayBuffers / MB};
}

/** One store at one size, in this (child) process. */
async function measure(store, nodeCount, changeCount) {
  const baseline = memory();
  const {meshId, open} = await benchStore(await factoryOf(store));
  const afterLoad = memory();

  log(`  ${store} ${nodeCount}: signing ${nodeCount} records ...`);
  const nodes = Array.from({length: nodeCount}, () => makeTestNode(meshId));
  let base = nodes.map((node, i) => wireEntry(typicalRecord(node, i)));

  // --- the replica, and memory while it is all the process holds ---------------
  const replica = open();
  const built = time(() => replica.merge(base));
  if (built.result.accepted.length !== nodeCount) throw new Error('building the replica did not accept every record');
  base = undefined;
  const held = memory();

  // --- apply one change ----------------------------------------------------------
  // Newer records of random nodes, signed before the clock starts.
  const pick = (i) => (i * 7919) % nodeCount;
  const updates = Array.from({length: changeCount}, (_, i) => wireEntry(typicalRecord(nodes[pick(i)], pick(i), {version: FIXTURE_NOW + 1 + i, alias: `changed-${i}`})));
  const perChange = [];
  const perChangeCpu = [];
  for (const update of updates) {
    const applied = time(() => replica.merge([update]));
    if (applied.result.accepted.length !== 1) throw new Error('a change was not accepted');
    perChange.push(applied.ms);
    perChangeCpu.push(applied.cpuMs);
  }

  // --- merge a 1% batch into a copy --------------------------------------------
  const snapshot = time(() => replica.save());
  const copy = open();
  const loaded = time(() => copy.load(snapshot.result));
  if (copy.size !== nodeCount) throw new Error('load did not restore every entry');
  const batchSize = Math.max(1, Math.round(nodeCount / 100));
  const batch = Array.from({length: batchSize}, (_, i) => wireEntry(typicalRecord(nodes[i], i, {version: FIXTURE_NOW + 10_000 + i, alias: `batch-${i}`})));
  const merged = time(() => copy.merge(batch));
  if (merged.result.accepted.length !== batchSize) throw new Error('the batch was not accepted');

  // --- full sync to an empty replica -------------------------------------------
  const empty = open();
  const synced = time(() => runSync(empty, replica));
  if (Buffer.compare(empty.digest(), replica.digest()) !== 0) throw new Error('the empty replica differs after the sync session');
  const session = synced.result;

  const extra = {};
  if (typeof replica.compact === 'function') {
    const ops = replica.historyOps();
    extra.compaction = {historyOpsBefore: ops, ms: time(() => replica.compact()).ms, historyOpsAfter: replica.historyOps()};
  }

  return {
    store,
    nodes: nodeCount,
    memory: {baseline, afterLoad, held},
    buildMs: built.ms,
    perChange: {
      medianUs: median(perChange) * 1000,
      meanUs: (perChange.reduce((a, b) => a + b, 0) / perChange.length) * 1000,
      cpuMedianUs: median(perChangeCpu) * 1000,
      cpuMeanUs: (perChangeCpu.reduce((a, b) => a + b, 0) / perChangeCpu.length) * 1000,
      changes: changeCount,
    },
    mergeBatch: {entries: batchSize, ms: merged.ms, cpuMs: merged.cpuMs},
    fullSync: {
      ms: synced.ms,
      cpuMs: synced.cpuMs,
      messages: session.messages,
      bytesEmptyToFull: session.initiator.bytesSent,
      bytesFullToEmpty: session.responder.bytesSent,
      entriesMerged: session.initiator.entriesMerged,
    },
    snapshot: {bytes: snapshot.result.byteLength, saveMs: snapshot.ms, loadMs: loaded.ms},
    ...extra,
  };
}

if (args.child) {
  const result = await measure(args.child, Number(args.nodes), Number(args.changes));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const sizes = args.sizes.split(',').map(Number);
  const loadBefore = loadavg()[0];
  const results = [];
  for (const nodes of sizes) {
    for (const store of STORES) {
      log(`${store} at ${nodes} nodes (child process) ...`);
      const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', store, '--nodes', String(nodes), '--changes', args.changes], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 16 * MB,
      });
      results.push(JSON.parse(out));
    }
  }
  const of = (store, nodes) => results.find((r) => r.store === store && r.nodes === nodes);
  const verdicts = sizes.map((nodes) => {
    const [two, auto] = [of('twophase', nodes), of('automerge', nodes)];
    return {
      nodes,
      changeRatio: auto.perChange.medianUs / two.perChange.medianUs,
      changeCpuRatio: auto.perChange.cpuMeanUs / two.perChange.cpuMeanUs,
      automergeRssMB: auto.memory.held.rssMB,
    };
  });
  const largest = verdicts.find((v) => v.nodes === 10_000);
  const summary = {
    machine: {cpus: availableParallelism(), node: process.version, loadAverage1m: {before: loadBefore, after: loadavg()[0]}},
    results,
    verdicts,
    targets: {
      changeRatio: TARGET_CHANGE_RATIO,
      rssMB: TARGET_RSS_MB,
      changeRatioMet: verdicts.every((v) => v.changeRatio <= TARGET_CHANGE_RATIO),
      rssMet: largest === undefined ? null : largest.automergeRssMB < TARGET_RSS_MB,
    },
  };
  if (args.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    const kib = (n) => (n >= MB ? `${(n / MB).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`);
    const rows = [
      ['apply one change, wall (median / mean)', (r) => `${r.perChange.medianUs.toFixed(0)} / ${r.perChange.meanUs.toFixed(0)} µs`],
      ['apply one change, CPU (median / mean)', (r) => `${r.perChange.cpuMedianUs.toFixed(0)} / ${r.perChange.cpuMeanUs.toFixed(0)} µs`],
      ['merge 1% (one batch)', (r) => `${r.mergeBatch.entries} in ${r.mergeBatch.ms.toFixed(1)} ms`],
      ['full sync to an empty replica', (r) => `${r.fullSync.ms.toFixed(0)} ms, ${r.fullSync.messages} msgs`],
      ['  bytes empty->full / full->empty', (r) => `${kib(r.fullSync.bytesEmptyToFull)} / ${kib(r.fullSync.bytesFullToEmpty)}`],
      ['snapshot size', (r) => kib(r.snapshot.bytes)],
      ['snapshot save / load', (r) => `${r.snapshot.saveMs.toFixed(0)} / ${r.snapshot.loadMs.toFixed(0)} ms`],
      ['build (merge all N)', (r) => `${r.buildMs.toFixed(0)} ms`],
      ['RSS after GC, replica held', (r) => `${r.memory.held.rssMB.toFixed(0)} MB (baseline ${r.memory.baseline.rssMB.toFixed(0)})`],
      ['V8 heap / external after GC', (r) => `${r.memory.held.heapUsedMB.toFixed(0)} / ${r.memory.held.externalMB.toFixed(0)} MB`],
      ['compaction (automerge)', (r) => (r.compaction ? `${r.compaction.ms.toFixed(0)} ms, ${r.compaction.historyOpsBefore} -> ${r.compaction.historyOpsAfter} ops` : '-')],
    ];
    const headers = sizes.flatMap((nodes) => STORES.map((store) => `${store} ${nodes}`));
    const table = [['', ...headers], ...rows.map(([name, cell]) => [name, ...sizes.flatMap((nodes) => STORES.map((store) => cell(of(store, nodes))))])];
    const widths = table[0].map((_, col) => Math.max(...table.map((row) => row[col].length)));
    process.stdout.write(`machine: ${summary.machine.cpus} CPUs, node ${summary.machine.node}, load average ${loadBefore.toFixed(1)} -> ${summary.machine.loadAverage1m.after.toFixed(1)}\n`);
    for (const row of table) process.stdout.write(`${row.map((cell, col) => cell.padEnd(widths[col])).join('  ')}\n`);
    for (const v of verdicts) {
      process.stdout.write(
        `${v.nodes} nodes: automerge/twophase per change ${v.changeRatio.toFixed(2)}x wall (median), ${v.changeCpuRatio.toFixed(2)}x CPU (mean) (target <= ${TARGET_CHANGE_RATIO}x), automerge RSS ${v.automergeRssMB.toFixed(0)} MB\n`,
      );
    }
    process.stdout.write(`targets: per change ${summary.targets.changeRatioMet ? 'met' : 'MISSED'}; RSS < ${TARGET_RSS_MB} MB at 10,000 nodes ${summary.targets.rssMet === null ? 'not measured' : summary.targets.rssMet ? 'met' : 'MISSED'}\n`);
  }
}
