#!/usr/bin/env node
/**
 * wgmesh against serf, side by side (issue 20): N serf agents (Debian's
 * `serf`, LAN profile), then N `wgmesh daemon`s (wg-stub driver, default
 * settings), one fleet after the other on this machine, each fleet on the
 * loopback of a network namespace of its own, measured the same way:
 *   - idle bytes on the wire per node per second (the namespace's loopback
 *     counters over the idle window, headers included), idle CPU per process
 *     (/proc/PID/stat), RSS (VmRSS) and private memory (USS) per process,
 *     medians;
 *   - a state change reaching 50/99/100% of the nodes (serf: a tag update on
 *     one agent, seen in every agent's `members`; wgmesh: `service set`, seen
 *     in every daemon's `mesh show`), median over --changes runs;
 *   - a SIGKILLed node reported gone by 50/99/100% of the others (serf: its
 *     status no longer `alive`; wgmesh: gone from the view), median over
 *     --kills runs;
 * and prints both rows and the ratios wgmesh / serf.
 *
 * The wgmesh row is bench/control-plane-daemons.js run with the same options
 * (`--json`); the serf row is measured here with the same polling pace
 * (lib/observe.js) through one RPC connection per agent.
 *
 * Prerequisites: root (namespaces), `apt-get install serf`, a build.
 *   node bench/peer-serf.js [--nodes 50] [--idle 60] [--settle 15] [--changes 5] [--kills 3] [--json]
 */
import {execFile} from 'node:child_process';
import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {canUseNetns, sleep} from './lib/fleet.js';
import {observe} from './lib/observe.js';
import {machineInfo, printRows, seconds, spreadResult, summarize} from './lib/report.js';
import {SerfFleet, serfVersion} from './lib/serf-fleet.js';

const {values: args} = parseArgs({
  options: {
    nodes: {type: 'string', default: '50'},
    idle: {type: 'string', default: '60'},
    settle: {type: 'string', default: '15'},
    changes: {type: 'string', default: '5'},
    kills: {type: 'string', default: '3'},
    'poll-ms': {type: 'string', default: '50'},
    'poll-rate': {type: 'string', default: '500'},
    json: {type: 'boolean', default: false},
  },
});
const log = (text) => process.stderr.write(`${text}\n`);
function fail(message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}
function integer(name, min) {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}`);
  return n;
}
const nodes = integer('nodes', 3);
const idleS = integer('idle', 1);
const settleS = integer('settle', 0);
const changes = integer('changes', 1);
const kills = integer('kills', 1);
if (kills > nodes - 2) fail('--kills must leave at least 2 nodes alive');
const pacing = {pollMs: integer('poll-ms', 1), rate: integer('poll-rate', 1), timeoutMs: 60_000};
if (!canUseNetns()) fail('this bench needs root and iproute2: each fleet runs in a network namespace of its own');
const serf = serfVersion();
if (serf === null) fail('serf is not installed (apt-get install serf): it is the reference this bench compares with');

const pick = (list) => list[Math.floor(Math.random() * list.length)];

/** Every live agent sees `expected` alive members. */
async function waitForAlive(fleet, expected, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(fleet.alive().map(async (agent) => (await agent.rpc.members()).filter((m) => m.Status === 'alive').length));
    if (counts.every((count) => count === expected)) return;
    if (performance.now() > deadline) throw new Error(`serf agents still do not all see ${expected} alive members (counts: ${counts.join(' ')})`);
    await sleep(500);
  }
}

/** The serf row: start, settle, idle, changes, kills. */
async function measureSerf() {
  log(`serf: starting ${nodes} agents (${serf}) ...`);
  const fleet = await SerfFleet.start({count: nodes, log});
  try {
    await waitForAlive(fleet, nodes, 120_000);
    log(`serf: every agent sees ${nodes} members; settling ${settleS} s ...`);
    await sleep(settleS * 1000);

    log(`serf: measuring idle for ${idleS} s ...`);
    const lo0 = fleet.loopbackCounters();
    const proc0 = fleet.processStats();
    const start = performance.now();
    await sleep(idleS * 1000);
    const lo1 = fleet.loopbackCounters();
    const proc1 = fleet.processStats();
    const elapsedS = (performance.now() - start) / 1000;
    const agents = fleet.alive();
    const idle = {
      bytesPerNodePerS: (lo1.txBytes - lo0.txBytes) / agents.length / elapsedS,
      cpuPerProcess: summarize(agents.map((a) => ((proc1.get(a.pid)?.cpuMs ?? 0) - (proc0.get(a.pid)?.cpuMs ?? 0)) / (elapsedS * 1000))),
      rssMiB: summarize(agents.map((a) => proc1.get(a.pid)?.rssMiB ?? 0)),
      ussMiB: summarize(agents.map((a) => proc1.get(a.pid)?.ussMiB ?? 0)),
    };

    const changeRuns = [];
    for (let i = 0; i < changes; i++) {
      const origin = pick(fleet.alive());
      const value = `${process.pid}-${i}-${Date.now()}`;
      const t0 = performance.now();
      await origin.rpc.setTags({bench: value});
      const arrivals = await observe(fleet.alive(), async (agent) => (await agent.rpc.members()).some((m) => m.Name === origin.name && m.Tags?.bench === value), t0, pacing);
      changeRuns.push(spreadResult(arrivals, {origin: origin.name}));
      log(`  serf change ${i + 1}/${changes}: p50 ${seconds(changeRuns.at(-1).p50Ms)}, p99 ${seconds(changeRuns.at(-1).p99Ms)}, all ${seconds(changeRuns.at(-1).allMs)}`);
      await sleep(1_000);
    }

    const killRuns = [];
    for (let i = 0; i < kills; i++) {
      // Never the first agent: the others joined through it (as the daemon bench spares the mesh's creator).
      const victim = pick(fleet.alive().slice(1));
      const observers = fleet.alive().filter((agent) => agent !== victim);
      const t0 = performance.now();
      await fleet.kill(victim);
      const arrivals = await observe(observers, async (agent) => !(await agent.rpc.members()).some((m) => m.Name === victim.name && m.Status === 'alive'), t0, pacing);
      killRuns.push(spreadResult(arrivals, {victim: victim.name}));
      log(`  serf kill ${i + 1}/${kills}: gone from p50 ${seconds(killRuns.at(-1).p50Ms)}, p99 ${seconds(killRuns.at(-1).p99Ms)}, all ${seconds(killRuns.at(-1).allMs)}`);
      await sleep(2_000);
    }
    return {idle, changes: spreadSummary(changeRuns), kills: spreadSummary(killRuns)};
  } finally {
    fleet.closeSync();
  }
}

/** Medians over runs of their 50/99/100% times. */
function spreadSummary(runs) {
  return {runs, p50Ms: summarize(runs.map((r) => r.p50Ms)), p99Ms: summarize(runs.map((r) => r.p99Ms)), allMs: summarize(runs.map((r) => r.allMs))};
}

/** The wgmesh row: bench/control-plane-daemons.js with the same options. */
function measureWgmesh() {
  log(`wgmesh: running bench/control-plane-daemons.js with ${nodes} daemons ...`);
  const benchArgs = ['--nodes', String(nodes), '--idle', String(idleS), '--settle', String(settleS), '--changes', String(changes), '--kills', String(kills), '--revocations', '0', '--poll-ms', args['poll-ms'], '--poll-rate', args['poll-rate'], '--change-poll-rate', args['poll-rate'], '--json'];
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [new URL('./control-plane-daemons.js', import.meta.url).pathname, ...benchArgs], {maxBuffer: 64 * 1024 * 1024}, (error, stdout) => {
      if (error && stdout.trim() === '') return reject(error);
      const report = JSON.parse(stdout);
      if (report.error) return reject(new Error(`the wgmesh bench failed: ${report.error}`));
      resolve({
        idle: {bytesPerNodePerS: report.idle.wire.bytesPerNodePerS, cpuPerProcess: report.idle.cpuPerDaemon, rssMiB: report.idle.rssMiB, ussMiB: report.idle.ussMiB},
        changes: report.changes,
        kills: report.kills,
      });
    });
    child.stderr.on('data', (chunk) => process.stderr.write(chunk));
  });
}

const report = {machine: machineInfo(), nodes, idleSeconds: idleS, settleSeconds: settleS, serfVersion: serf};
report.serf = await measureSerf();
report.wgmesh = await measureWgmesh();

const ratio = (w, s) => (w === null || s === null || s === undefined || s === 0 ? '-' : `${(w / s).toFixed(2)}x`);
const rows = [
  ['bytes on the wire per node per second', (r) => r.idle.bytesPerNodePerS, (v) => `${v.toFixed(0)} B`],
  ['CPU per process (share of a core)', (r) => r.idle.cpuPerProcess.median, (v) => `${(v * 100).toFixed(2)}%`],
  ['RSS per process', (r) => r.idle.rssMiB.median, (v) => `${v.toFixed(1)} MiB`],
  ['private memory (USS) per process', (r) => r.idle.ussMiB.median, (v) => `${v.toFixed(1)} MiB`],
  ['a change reaches 50%', (r) => r.changes.p50Ms.median, (v) => seconds(v)],
  ['a change reaches 99%', (r) => r.changes.p99Ms.median, (v) => seconds(v)],
  ['a change reaches 100%', (r) => r.changes.allMs.median, (v) => seconds(v)],
  ['a killed node gone from 50%', (r) => r.kills.p50Ms.median, (v) => seconds(v)],
  ['a killed node gone from 99%', (r) => r.kills.p99Ms.median, (v) => seconds(v)],
  ['a killed node gone from 100%', (r) => r.kills.allMs.median, (v) => seconds(v)],
];
report.table = rows.map(([what, get]) => ({what, serf: get(report.serf), wgmesh: get(report.wgmesh)}));
if (args.json) {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} else {
  process.stdout.write(`${nodes} nodes each, idle ${idleS} s, medians (changes over ${changes} runs, kills over ${kills}); ${report.machine.date}, ${report.machine.nproc} cores, commit ${report.machine.commit}\n`);
  printRows([
    ['', 'serf | wgmesh | wgmesh / serf'],
    ...rows.map(([what, get, show]) => {
      const s = get(report.serf);
      const w = get(report.wgmesh);
      return [what, `${s === null ? 'never' : show(s)} | ${w === null ? 'never' : show(w)} | ${ratio(w, s)}`];
    }),
  ]);
}
