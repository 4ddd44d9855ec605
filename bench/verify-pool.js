/**
 * What checking a join snapshot's entries costs, apart from the rest of a
 * join: N signed typical peer records (each with a membership credential)
 * checked by a VerifyPool of 1 and of 2 workers (started, then given the
 * job, as a join does once the snapshot is in), and the Ed25519 work alone
 * (the two verifications every entry needs, keys already imported) on one
 * thread. Each pool setting runs in a fresh process, so nothing is memoised
 * or compiled from an earlier run; settings alternate run by run.
 *
 * Run after a build:
 *   node bench/verify-pool.js [--nodes 3000] [--workers 1,2] [--runs 3]
 */
import {execFileSync} from 'node:child_process';
import {createPublicKey, verify} from 'node:crypto';
import {availableParallelism, loadavg} from 'node:os';
import {performance} from 'node:perf_hooks';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import {credentialSchema, decode, VerifyPool} from '@wgmesh/core';
import {makeTestNode, SeededRandom, silentLogger, testMeshId} from '@wgmesh/testkit';
import {integerListOption, integerOption} from './lib/options.js';
import {typicalRecord} from './lib/store-fixtures.js';

const {values: args} = parseArgs({
  options: {
    nodes: {type: 'string', default: '3000'},
    workers: {type: 'string', default: '1,2'},
    runs: {type: 'string', default: '3'},
    child: {type: 'string'},
  },
});
const nodes = integerOption('nodes', args.nodes, 10, 100_000);
const runs = integerOption('runs', args.runs, 1, 20);
const workerCounts = integerListOption('workers', args.workers, 1, 64);

const cpuMs = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

/** The entries of the bench's mesh, as a snapshot holds them (the same in every process). */
function snapshotEntries() {
  const random = new SeededRandom(1);
  const meshId = testMeshId((n) => random.bytes(n));
  const now = Date.now();
  const entries = Array.from({length: nodes}, (_, i) => typicalRecord(makeTestNode(meshId, {now}), i, {version: now}));
  return {meshId, entries: entries.map((entry) => ({body: entry.body, signature: entry.signature, value: entry.value}))};
}

/** Child: one pool job of every entry with `workers` workers; prints one JSON line. */
async function poolOnce(workers) {
  const {meshId, entries} = snapshotEntries();
  const wire = entries.map(({body, signature}) => ({body, signature}));
  const pool = new VerifyPool({maxWorkers: workers, logger: silentLogger()});
  pool.warm(wire.length);
  // Started and idle, as when a snapshot arrives after its download.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const start = {at: performance.now(), cpu: cpuMs()};
  const verdicts = await pool.prepare(meshId, wire);
  const result = {workers: pool.workers, verdicts: verdicts.size, wallMs: performance.now() - start.at, cpuMs: cpuMs() - start.cpu};
  await pool.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Child: the two Ed25519 verifications of every entry, keys imported beforehand; prints one JSON line. */
function ed25519Once() {
  const {entries} = snapshotEntries();
  const keyOf = (base64) => createPublicKey({key: {kty: 'OKP', crv: 'Ed25519', x: Buffer.from(base64, 'base64').toString('base64url')}, format: 'jwk'});
  const checks = entries.flatMap(({body, signature, value}) => {
    // The bench's memberships are signed by the authority itself.
    const credential = decode(value.credential, credentialSchema, 'credential');
    return [
      [body, keyOf(value.signingKey), signature],
      [credential.c.b, keyOf(credential.a), credential.c.s],
    ];
  });
  const start = {at: performance.now(), cpu: cpuMs()};
  const good = checks.filter(([data, key, signature]) => verify(null, data, key, signature)).length;
  if (good !== checks.length) throw new Error(`${checks.length - good} signatures did not verify`);
  process.stdout.write(`${JSON.stringify({workers: 0, verifications: good, wallMs: performance.now() - start.at, cpuMs: cpuMs() - start.cpu})}\n`);
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const cell = (values) => `${median(values).toFixed(0)} (${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)})`;

function main() {
  const self = fileURLToPath(import.meta.url);
  const loadStart = loadavg();
  const settings = ['ed25519', ...workerCounts.map(String)];
  const results = [];
  for (let run = 1; run <= runs; run++) {
    for (const setting of settings) {
      const line = execFileSync(process.execPath, [self, '--child', setting, '--nodes', String(nodes)], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']});
      results.push({setting, ...JSON.parse(line.trim().split('\n').at(-1))});
    }
  }
  const out = (text) => process.stdout.write(`${text}\n`);
  out(`checking ${nodes} signed entries; ${availableParallelism()} CPUs, Node ${process.version}, load ${loadStart.map((l) => l.toFixed(1)).join(' ')} -> ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  out(`medians (min-max) of ${runs} runs:`);
  out(`${'what'.padEnd(34)} ${'wall ms'.padStart(18)} ${'CPU ms'.padStart(18)}`);
  for (const setting of settings) {
    const rows = results.filter((r) => r.setting === setting);
    const label = setting === 'ed25519' ? `Ed25519 only (${rows[0].verifications}, 1 thread)` : `pool of ${rows[0].workers} worker${rows[0].workers === 1 ? '' : 's'}`;
    out(`${label.padEnd(34)} ${cell(rows.map((r) => r.wallMs)).padStart(18)} ${cell(rows.map((r) => r.cpuMs)).padStart(18)}`);
  }
}

if (args.child === 'ed25519') ed25519Once();
else if (args.child !== undefined) await poolOnce(Number(args.child));
else main();
