/**
 * A join of a large mesh: how long a daemon takes from the moment the
 * snapshot has arrived to `mesh join` returning, what CPU that costs (the
 * whole process, and its main thread alone), and the longest event-loop stall
 * meanwhile (perf_hooks.monitorEventLoopDelay), with the snapshot checked on
 * the main thread in one go (`verifyWorkers: 0`) and by worker threads with
 * the event loop taking a slice a turn (the default). The longest
 * stretch of main-thread CPU without an event-loop turn is also given: it is
 * the stall a host with a free core sees, whatever the load of this one.
 *
 * Each join runs in a fresh process (nothing memoised from another join): a
 * real Daemon (stub WireGuard driver) over the in-memory transport joins
 * through a member that serves a snapshot of N signed records (typical peers,
 * each with a membership credential), answers the join request and
 * acknowledges every message, over an in-memory link of `--mbit` (default
 * 100 Mbit/s, 1 ms latency). The records are signed once per run by a
 * separate process. The idle row is the longest stall in a second before the
 * join, on the same machine: what the machine's load alone causes.
 *
 * Run after a build:
 *   node bench/join-scale.js [--nodes 3000] [--workers 0,4] [--runs 3] [--mbit 100] [--json]
 */
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {availableParallelism, loadavg, tmpdir} from 'node:os';
import {join} from 'node:path';
import {monitorEventLoopDelay, performance} from 'node:perf_hooks';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import {
  Daemon,
  decodeControlRequest,
  encodeControlReply,
  encodeInviteToken,
  generateIdentity,
  issueInvite,
  systemClock,
  systemRandom,
  verifyWorkerThreads,
} from '@wgmesh/core';
import {makeTestNode, MemoryNetwork, SeededRandom, silentLogger, testMeshAdmin, testMeshId} from '@wgmesh/testkit';
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import {StubWgDriver} from '@wgmesh/wg-stub';
import {mainThreadCpuMs} from './lib/proc-stats.js';
import {failUsage, integerListOption, integerOption} from './lib/options.js';
import {typicalRecord} from './lib/store-fixtures.js';

const {values: args} = parseArgs({
  options: {
    nodes: {type: 'string', default: '3000'},
    workers: {type: 'string', default: '0,4'},
    runs: {type: 'string', default: '3'},
    seed: {type: 'string', default: '1'},
    mbit: {type: 'string', default: '100'},
    json: {type: 'boolean', default: false},
    generate: {type: 'string'},
    join: {type: 'string'},
  },
});
const nodes = integerOption('nodes', args.nodes, 10, 100_000);
const runs = integerOption('runs', args.runs, 1, 20);
const seed = Number(args.seed);
const workerCounts = integerListOption('workers', args.workers, 0, 64);
const mbit = Number(args.mbit);
if (!(mbit > 0 && mbit <= 100_000)) failUsage(`--mbit must be a number from 0 to 100000 (got "${args.mbit}")`);

/** Records are dated when the run starts and stay fresh for this long. */
const GC_HORIZON_MS = 24 * 3_600_000;

/** The bench's mesh: its authority comes from the seed, so every process of a run makes the same one. */
function benchMesh() {
  const random = new SeededRandom(seed);
  return testMeshId((n) => random.bytes(n));
}

/** Child: sign `nodes` typical records and write the twophase snapshot holding them to `dir`. */
function generate(dir) {
  const meshId = benchMesh();
  const now = Date.now();
  const store = new TwoPhaseStore({meshId, clock: systemClock, logger: silentLogger(), gcHorizonMs: GC_HORIZON_MS, maxClockSkewMs: 300_000});
  const records = Array.from({length: nodes}, (_, i) => typicalRecord(makeTestNode(meshId, {now}), i, {version: now}));
  const merged = store.merge(records);
  if (merged.accepted.length !== nodes) throw new Error(`the generated snapshot lost records: ${merged.rejected[0]?.reason}`);
  writeFileSync(join(dir, 'snapshot.bin'), store.save());
}

/**
 * The longest stretch of CPU the main thread ran without its event loop
 * turning: a timer ticks every 5 ms and reads the thread's CPU time, and the
 * most the thread used between two ticks is kept. On a host with a free core
 * this is the longest event-loop stall; on a busy one the stall in wall time
 * (monitorEventLoopDelay) is longer, by however long the thread waited for a CPU.
 */
function busyStretches() {
  let last = mainThreadCpuMs();
  const stretches = {
    maxCpuMs: 0,
    reset() {
      last = mainThreadCpuMs();
      stretches.maxCpuMs = 0;
    },
    stop: () => clearInterval(timer),
  };
  const timer = setInterval(() => {
    const now = mainThreadCpuMs();
    stretches.maxCpuMs = Math.max(stretches.maxCpuMs, now - last);
    last = now;
  }, 5);
  return stretches;
}

/** Child: one join with `workers` verification workers; prints one JSON line. */
async function joinOnce(dir, workers) {
  const meshId = benchMesh();
  const snapshot = readFileSync(join(dir, 'snapshot.bin'));
  // The snapshot downloads as over a real link, while the workers start.
  const network = new MemoryNetwork({clock: systemClock, latencyMs: 1, bandwidthBytesPerSecond: (mbit * 1e6) / 8});
  await network.transport('member:4000').listen({
    snapshot: async () => ({storeKind: 'twophase', snapshot}),
    openSync: () => {
      throw new Error('this member does not sync');
    },
    message: async (_meshId, payload) => {
      const request = decodeControlRequest(payload);
      // As a member answers a join: with its clock and how many entries it holds.
      return encodeControlReply(request.t === 'jn' ? {t: 'jn', c: [], n: Date.now(), e: nodes} : {t: 'ok'});
    },
  });
  const identity = generateIdentity();
  const transport = network.transport('joiner:4000', identity.nodeId);
  let arrived;
  const fetchSnapshot = transport.fetchSnapshot.bind(transport);
  transport.fetchSnapshot = async (...request) => {
    const fetched = await fetchSnapshot(...request);
    arrived = {at: performance.now(), cpu: process.cpuUsage(), mainCpuMs: mainThreadCpuMs()};
    delay.reset();
    busy.reset();
    return fetched;
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'wgmesh-join-scale-'));
  const daemon = new Daemon({
    identity,
    dataDir,
    store: {kind: 'twophase', open: (options) => new TwoPhaseStore(options)},
    driver: new StubWgDriver(),
    transport,
    control: {syncIntervalMs: 1000, heartbeatIntervalMs: 2000, pullIntervalMs: 20_000, branch: 3, clusterSize: 64, interClusterChance: 0.15, infectionCount: 3, timeoutMs: 5000, maxClockSkewMs: 300_000},
    backendNames: {store: 'twophase', transport: 'memory', wg: 'stub'},
    base: {role: 'peer', ipDiscovery: 'outgoing', publicEndpoint: 'joiner', advertiseRoute: false, advertiseDefaults: false, keepAliveWg: 0, clientKeepAliveWg: 25, preUp: [], postUp: [], preDown: [], postDown: []},
    controlPort: 4000,
    gcHorizonMs: GC_HORIZON_MS,
    maxClockSkewMs: 300_000,
    logger: silentLogger(),
    clock: systemClock,
    random: systemRandom,
    verifyWorkers: workers,
  });
  const delay = monitorEventLoopDelay({resolution: 5});
  const busy = busyStretches();
  // The daemon's and the network's timers do not hold the process open.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    await daemon.start();
    const admin = testMeshAdmin(meshId);
    const now = Date.now();
    const invite = issueInvite(admin, {role: 'peer', uses: 1, now, expiresAt: now + 3_600_000});
    const token = encodeInviteToken({chain: admin.chain, signed: invite.signed, key: invite.key, endpoints: ['member:4000']});
    // The machine's own stalls, for comparison: one quiet second.
    delay.enable();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idleMaxDelayMs = delay.max / 1e6;
    const joined = await daemon.joinMesh(token, undefined, {});
    const wallMs = performance.now() - arrived.at;
    const cpu = process.cpuUsage(arrived.cpu);
    const mainCpuMs = mainThreadCpuMs() - arrived.mainCpuMs;
    delay.disable();
    busy.stop();
    const result = {
      workers,
      poolWorkers: verifyWorkerThreads(workers),
      members: joined.members,
      snapshotBytes: snapshot.byteLength,
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      mainCpuMs,
      maxDelayMs: delay.max / 1e6,
      maxBusyCpuMs: busy.maxCpuMs,
      idleMaxDelayMs,
      load: loadavg()[0],
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await daemon.stop();
    clearInterval(keepAlive);
    rmSync(dataDir, {recursive: true, force: true});
  }
}

/** The parent: generate once, then alternate the worker settings run by run (so load changes hit both alike). */
function main() {
  const self = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-join-scale-'));
  const log = (text) => {
    if (!args.json) process.stderr.write(`${text}\n`);
  };
  const loadStart = loadavg();
  try {
    log(`signing ${nodes} records ...`);
    execFileSync(process.execPath, [self, '--generate', dir, '--nodes', String(nodes), '--seed', String(seed)], {stdio: ['ignore', 'inherit', 'inherit']});
    const results = [];
    for (let run = 1; run <= runs; run++) {
      for (const workers of workerCounts) {
        const line = execFileSync(process.execPath, [self, '--join', dir, '--workers', String(workers), '--nodes', String(nodes), '--seed', String(seed), '--mbit', String(mbit)], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']});
        const result = {run, ...JSON.parse(line.trim().split('\n').at(-1))};
        results.push(result);
        log(`run ${run}, verifyWorkers ${workers}: joined ${result.members} members in ${result.wallMs.toFixed(0)} ms, max event-loop delay ${result.maxDelayMs.toFixed(0)} ms (load ${result.load.toFixed(1)})`);
      }
    }
    report({date: new Date().toISOString(), machine: {cpus: availableParallelism(), node: process.version, loadStart, loadEnd: loadavg()}, nodes, results});
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function report(summary) {
  if (args.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  const out = (text) => process.stdout.write(`${text}\n`);
  const {machine, results} = summary;
  out(`join of a ${nodes}-node mesh; ${machine.cpus} CPUs, Node ${machine.node}, load ${machine.loadStart.map((l) => l.toFixed(1)).join(' ')} -> ${machine.loadEnd.map((l) => l.toFixed(1)).join(' ')}`);
  out(`snapshot: ${(results[0].snapshotBytes / 1024).toFixed(0)} KiB, ${nodes} signed records, downloaded at ${mbit} Mbit/s`);
  out('medians (min-max) over the runs, from the snapshot\'s arrival to the join returning:');
  out(`${'verifyWorkers'.padEnd(14)} ${'wall ms'.padStart(18)} ${'CPU ms'.padStart(18)} ${'main thread CPU ms'.padStart(20)} ${'longest busy CPU ms'.padStart(20)} ${'max loop delay ms'.padStart(18)} ${'idle max delay ms'.padStart(18)}`);
  const cell = (values) => `${median(values).toFixed(0)} (${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)})`;
  for (const workers of workerCounts) {
    const rows = results.filter((r) => r.workers === workers);
    const label = workers === 0 ? '0 (main)' : `${workers} (${rows[0].poolWorkers} + main)`;
    out(
      `${label.padEnd(14)} ${cell(rows.map((r) => r.wallMs)).padStart(18)} ${cell(rows.map((r) => r.cpuMs)).padStart(18)} ${cell(rows.map((r) => r.mainCpuMs)).padStart(20)} ${cell(rows.map((r) => r.maxBusyCpuMs)).padStart(20)} ${cell(rows.map((r) => r.maxDelayMs)).padStart(18)} ${cell(rows.map((r) => r.idleMaxDelayMs)).padStart(18)}`,
    );
  }
}

if (args.generate !== undefined) generate(args.generate);
else if (args.join !== undefined) await joinOnce(args.join, Number(args.workers));
else main();
