#!/usr/bin/env node
/**
 * Benchmark of the twophase store: two 10,000-node replicas that differ in 1%
 * of their records (half changed on each side).
 *   (a) merging one replica's differing entries into the other, and loading
 *       the other's whole snapshot;
 *   (b) one sync session between them: wall time, messages and bytes each way,
 *       against the size of the full state (`save()`); then the session that
 *       follows on equal replicas.
 * Signing and verifying the replicas' 10,000 records is set-up and not measured.
 *
 * Run after a build:  node bench/store-merge-sync.js [--nodes N] [--diff 0.01] [--iterations 5] [--json]
 */
import {availableParallelism, loadavg} from 'node:os';
import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {verifyEntry} from '@wgmesh/core';
import {FIXTURE_NOW, makeTestNode, wireEntry} from '@wgmesh/testkit';
import {runSync} from '@wgmesh/testkit/compliance';
import {twophaseStoreFactory} from '@wgmesh/store-twophase';
import {benchStore, time, typicalRecord} from './lib/store-fixtures.js';

const {values: args} = parseArgs({
  options: {
    nodes: {type: 'string', default: '10000'},
    diff: {type: 'string', default: '0.01'},
    iterations: {type: 'string', default: '5'},
    json: {type: 'boolean', default: false},
  },
});
const nodeCount = Number(args.nodes);
const diffRatio = Number(args.diff);
const iterations = Number(args.iterations);
const TARGET_MS = 50;
const TARGET_WIRE_RATIO = 0.1;

const log = (text) => {
  if (!args.json) process.stderr.write(`${text}\n`);
};

// --- set-up (not measured) ---------------------------------------------------
const {meshId, clock, open} = await benchStore(twophaseStoreFactory);

log(`signing ${nodeCount} records ...`);
let setupStart = performance.now();
const nodes = Array.from({length: nodeCount}, () => makeTestNode(meshId));
// A typical peer record: endpoints, an alias, a description and a couple of services.
const typical = typicalRecord;
const base = nodes.map((node, i) => typical(node, i));
const differing = Math.round(nodeCount * diffRatio);
const halfA = Math.floor(differing / 2);
// Distinct nodes changed on each side, newer versions than the shared base.
const changedA = nodes.slice(0, halfA).map((node, i) => typical(node, i, {version: FIXTURE_NOW + 1, alias: `moved-a-${i}`}));
const changedB = nodes.slice(halfA, differing).map((node, i) => typical(node, halfA + i, {version: FIXTURE_NOW + 1, alias: `moved-b-${i}`}));
log(`  ${((performance.now() - setupStart) / 1000).toFixed(1)} s`);

log('building replicas (verifies every record) ...');
setupStart = performance.now();
const seedA = open();
seedA.merge([...base, ...changedA].map(wireEntry));
const seedB = open();
seedB.merge([...base, ...changedB].map(wireEntry));
const snapshotA = seedA.save();
const snapshotB = seedB.save();
log(`  ${((performance.now() - setupStart) / 1000).toFixed(1)} s`);

/** A fresh copy of a replica (set-up: verifies every entry). */
function replica(snapshot) {
  const store = open();
  store.load(snapshot);
  return store;
}

// --- measured -------------------------------------------------------------------
// Other processes on a shared machine inflate wall times: the load average is
// reported with the results, and the minimum is the least-disturbed sample.
const loadBefore = loadavg()[0];
const newSamples = () => ({verify: [], merge: [], load: [], sync: [], syncCpu: [], syncEqual: []});
const samples = newSamples();
let wire;
let coldSyncMs;
// Iteration 0 runs cold code (first JIT compilation) and is reported apart:
// a daemon syncs every few seconds, so its steady state is the warm one.
for (let i = 0; i <= iterations; i++) {
  log(i === 0 ? 'warm-up' : `iteration ${i}/${iterations}`);
  const into = i === 0 ? newSamples() : samples;
  const verified = time(() => {
    for (const entry of [...changedA, ...changedB]) verifyEntry(wireEntry(entry), {meshId, now: clock.now(), maxClockSkewMs: 60_000});
  });
  into.verify.push(verified.ms / (changedA.length + changedB.length));

  const b1 = replica(snapshotB);
  const merged = time(() => b1.merge(changedA.map(wireEntry)));
  if (merged.result.accepted.length !== changedA.length) throw new Error('merge did not accept every differing entry');
  into.merge.push(merged.ms);

  const b2 = replica(snapshotB);
  const loaded = time(() => b2.load(snapshotA));
  if (loaded.result.accepted.length !== changedA.length) throw new Error('load did not accept exactly the differing entries');
  into.load.push(loaded.ms);

  const a = replica(snapshotA);
  const b = replica(snapshotB);
  const synced = time(() => runSync(a, b));
  if (Buffer.compare(a.digest(), b.digest()) !== 0) throw new Error('replicas differ after the sync session');
  into.sync.push(synced.ms);
  into.syncCpu.push(synced.cpuMs);
  const equal = time(() => runSync(a, b));
  into.syncEqual.push(equal.ms);
  wire = {session: synced.result, equal: equal.result};
  if (i === 0) coldSyncMs = synced.ms;
}

const stat = (list) => {
  const sorted = [...list].sort((x, y) => x - y);
  return {median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1]};
};
const fullState = snapshotA.byteLength;
const sessionBytes = wire.session.initiator.bytesSent + wire.session.responder.bytesSent;
const result = {
  machine: {cpus: availableParallelism(), node: process.version, loadAverage1m: {before: loadBefore, after: loadavg()[0]}},
  nodes: nodeCount,
  differingRecords: differing,
  changedOnEachSide: [changedA.length, changedB.length],
  iterations,
  fullStateBytes: fullState,
  verifyEntryMs: stat(samples.verify),
  mergeDifferingMs: stat(samples.merge),
  loadSnapshotMs: stat(samples.load),
  syncSession: {
    ms: stat(samples.sync),
    cpuMs: stat(samples.syncCpu),
    messages: wire.session.messages,
    bytesInitiatorToResponder: wire.session.initiator.bytesSent,
    bytesResponderToInitiator: wire.session.responder.bytesSent,
    bytesTotal: sessionBytes,
    ratioOfFullState: sessionBytes / fullState,
    entriesMerged: {initiator: wire.session.initiator.entriesMerged, responder: wire.session.responder.entriesMerged},
  },
  coldSyncMs,
  syncEqual: {
    ms: stat(samples.syncEqual),
    messages: wire.equal.messages,
    bytesTotal: wire.equal.initiator.bytesSent + wire.equal.responder.bytesSent,
  },
  targets: {ms: TARGET_MS, wireRatio: TARGET_WIRE_RATIO},
};
result.targets.met =
  result.mergeDifferingMs.median < TARGET_MS && result.syncSession.ms.median < TARGET_MS && result.syncSession.ratioOfFullState < TARGET_WIRE_RATIO;

if (args.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  const ms = (s) => `${s.median.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)})`;
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const rows = [
    ['machine', `${result.machine.cpus} CPUs, node ${result.machine.node}, load average ${loadBefore.toFixed(1)} -> ${result.machine.loadAverage1m.after.toFixed(1)}`],
    ['replicas', `${nodeCount} nodes each, ${differing} records differ (${changedA.length} changed on A, ${changedB.length} on B)`],
    ['full state (save())', kib(fullState)],
    ['verifyEntry, one entry (core)', `${(result.verifyEntryMs.median * 1000).toFixed(0)} µs`],
    ['merge A\'s differing entries into B', ms(result.mergeDifferingMs)],
    ['load A\'s whole snapshot into B', ms(result.loadSnapshotMs)],
    ['sync session A<->B', ms(result.syncSession.ms)],
    ['  CPU time', ms(result.syncSession.cpuMs)],
    ['  first session (cold JIT)', `${coldSyncMs.toFixed(1)} ms`],
    ['  messages', String(result.syncSession.messages)],
    ['  bytes A->B / B->A', `${kib(result.syncSession.bytesInitiatorToResponder)} / ${kib(result.syncSession.bytesResponderToInitiator)}`],
    ['  bytes total / full state', `${kib(sessionBytes)} = ${(result.syncSession.ratioOfFullState * 100).toFixed(2)}%`],
    ['sync session when equal', `${ms(result.syncEqual.ms)}, ${result.syncEqual.messages} messages, ${result.syncEqual.bytesTotal} bytes`],
    ['targets (< 50 ms, < 10% of state)', result.targets.met ? 'met' : 'MISSED'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
}
