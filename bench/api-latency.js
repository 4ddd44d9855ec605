#!/usr/bin/env node
/**
 * HTTP API benchmark (issue 18): read latency of `GET /api/v1/meshes/{id}`
 * at 100 and 1,000 members (p50/p99; target p99 under 20 ms at 1,000), and
 * the fan-out of one change to 50 event-stream subscribers (from the change
 * being sent to all 50 having it).
 *
 * One daemon in this process (the real Daemon, store, stub WireGuard driver
 * and API server; no transport, so every record is live), restored from a
 * data dir prepared with one mesh of each size: valid signed records with
 * membership credentials of the mesh's authority (the test kit's), typical
 * peer records (alias, description, two services), and the stub's statistics
 * for every peer, so each request serialises the same document a real
 * daemon would. A child process makes the requests, one after another over
 * one kept-alive connection (node:http), reading each body whole without
 * parsing it. The daemon's CPU time per request (this process, GC threads
 * included) is the number to compare on a loaded machine, where wall times
 * include waiting for a core.
 *
 * Run after a build:  node bench/api-latency.js [--requests 500] [--subscribers 50] [--changes 30] [--json]
 */
import {mkdtemp, rm} from 'node:fs/promises';
import {spawn} from 'node:child_process';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {Daemon, MeshRepository, generateIdentity, systemClock, systemRandom} from '@wgmesh/core';
import {makeTestNode, silentLogger, testMeshId, testMeshSettings} from '@wgmesh/testkit';
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import {StubWgDriver} from '@wgmesh/wg-stub';
import {loadAverage, machineInfo, printRows} from './lib/report.js';

const {values: args} = parseArgs({
  options: {
    requests: {type: 'string', default: '500'},
    warmup: {type: 'string', default: '50'},
    subscribers: {type: 'string', default: '50'},
    changes: {type: 'string', default: '30'},
    sizes: {type: 'string', default: '100,1000'},
    json: {type: 'boolean', default: false},
  },
});
const requests = Number(args.requests);
const warmup = Number(args.warmup);
const subscribers = Number(args.subscribers);
const changes = Number(args.changes);
const sizes = args.sizes.split(',').map(Number);
if (![requests, warmup, subscribers, changes, ...sizes].every((n) => Number.isInteger(n) && n >= 1) || subscribers > 60) {
  process.stderr.write('error: --requests, --warmup, --changes, --sizes must be integers >= 1; --subscribers from 1 to 60\n');
  process.exit(2);
}
const progress = (text) => process.stderr.write(`${text}\n`);

/** The q-quantile of sorted `values` (nearest rank). */
function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * The client of the read benchmark, run in a child process so that its CPU
 * does not count as the daemon's: `warmup` + `requests` sequential GETs of
 * URL over one kept-alive connection (node:http), each body read whole and
 * not parsed; prints the measured times (ms) and the body size as JSON.
 */
const READ_CLIENT = `
import {Agent, get} from 'node:http';
import {performance} from 'node:perf_hooks';
const {URL: url, TOKEN: token, WARMUP: warmup, REQUESTS: requests} = process.env;
const agent = new Agent({keepAlive: true, maxSockets: 1});
const once = () => new Promise((resolve, reject) => {
  const request = get(url, {agent, headers: {Authorization: 'Bearer ' + token}}, (response) => {
    let length = 0;
    response.on('data', (chunk) => (length += chunk.length));
    response.on('end', () => (response.statusCode === 200 ? resolve(length) : reject(new Error('status ' + response.statusCode))));
  });
  request.on('error', reject);
});
const times = [];
let bytes = 0;
for (let i = 0; i < Number(warmup) + Number(requests); i++) {
  const start = performance.now();
  bytes = await once();
  if (i >= Number(warmup)) times.push(performance.now() - start);
}
process.stdout.write(JSON.stringify({times, bytes}));
agent.destroy();
`;

/** Run {@link READ_CLIENT} against `url`; resolves with its output. */
function readClient(url, token) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', READ_CLIENT], {env: {...process.env, URL: url, TOKEN: token, WARMUP: String(warmup), REQUESTS: String(requests)}, stdio: ['ignore', 'pipe', 'inherit']});
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`the read client exited with ${code}`))));
  });
}

/** Write a mesh of `members` nodes (this daemon's own record included) into `dataDir`, as `mesh create` and gossip would have left it. */
async function prepareMesh(dataDir, identity, members, index) {
  const meshId = testMeshId();
  const now = Date.now();
  const store = new TwoPhaseStore({meshId, clock: systemClock, logger: silentLogger(), gcHorizonMs: 24 * 3_600_000, maxClockSkewMs: 300_000});
  const entries = [];
  for (let i = 1; i < members; i++) {
    const node = makeTestNode(meshId, {now});
    entries.push(node.record({version: now, alias: `node-${i}`, description: `rack ${i % 40}, row ${i % 7}`, services: {ssh: '22', metrics: '9100'}, controlEndpoint: `10.${(i >> 8) & 255}.${i & 255}.1:4000`, wgEndpoint: `10.${(i >> 8) & 255}.${i & 255}.1:51820`}));
  }
  const merged = store.merge(entries);
  if (merged.rejected.length > 0) throw new Error(`the store rejected ${merged.rejected.length} records: ${merged.rejected[0]?.reason}`);
  const repository = new MeshRepository(dataDir);
  await repository.saveSettings(testMeshSettings(meshId, identity, {interfaceName: `wgmbench${index}`, endpointHost: '127.0.0.1', joinedAt: now}));
  await repository.saveState(meshId, store.save());
  return {meshId, peers: entries.map((entry) => entry.value)};
}

const dataDir = await mkdtemp(join(tmpdir(), 'wgmesh-api-bench-'));
const loadBefore = loadAverage();
const identity = generateIdentity();
const driver = new StubWgDriver();
let daemon;
try {
  progress(`signing ${sizes.reduce((a, b) => a + b, 0)} records ...`);
  const meshes = [];
  for (const [index, size] of sizes.entries()) meshes.push({size, ...(await prepareMesh(dataDir, identity, size, index))});
  daemon = new Daemon({
    identity,
    dataDir,
    store: {kind: 'twophase', open: (options) => new TwoPhaseStore(options)},
    driver,
    transport: null,
    control: {syncIntervalMs: 1000, heartbeatIntervalMs: 2000, pullIntervalMs: 20_000, branch: 3, clusterSize: 64, interClusterChance: 0.15, infectionCount: 3, timeoutMs: 5000, maxClockSkewMs: 300_000},
    backendNames: {store: 'twophase', transport: 'none', wg: 'stub'},
    base: {role: 'peer', ipDiscovery: 'outgoing', publicEndpoint: '127.0.0.1', advertiseRoute: false, advertiseDefaults: false, keepAliveWg: 0, clientKeepAliveWg: 25, preUp: [], postUp: [], preDown: [], postDown: []},
    controlPort: 4000,
    gcHorizonMs: 24 * 3_600_000,
    maxClockSkewMs: 300_000,
    logger: silentLogger(),
    clock: systemClock,
    random: systemRandom,
    api: {enabled: true, listen: '127.0.0.1:0', allowRemote: false, corsOrigins: [], maxBodyBytes: 65_536, rateLimit: 100_000, rateBurst: 100_000, maxStreams: 64},
  });
  await daemon.start();
  const {api} = daemon.status();
  const {token} = await daemon.apiToken(false);
  const headers = {Authorization: `Bearer ${token}`};
  // Every peer has statistics, as on a live mesh: the document carries them.
  for (const mesh of meshes) {
    const iface = daemon.mesh(mesh.meshId).settings.interfaceName;
    for (const [i, peer] of mesh.peers.entries()) driver.setPeerStats(iface, peer.wgPublicKey, {latestHandshakeMs: Date.now() - (i % 200) * 1000, rxBytes: 1000 * i, txBytes: 2000 * i, endpoint: peer.wgEndpoint ?? undefined});
  }

  const reads = [];
  for (const mesh of meshes) {
    const url = `${api.url}/meshes/${mesh.meshId}`;
    // The daemon's CPU (this process) while the child reads: the warm-up requests are in it too, and so counted out below.
    const cpu = process.cpuUsage();
    const {times, bytes} = await readClient(url, token);
    const used = process.cpuUsage(cpu);
    const cpuMs = (used.user + used.system) / 1000 / (warmup + requests);
    const members = (await (await fetch(url, {headers})).json()).nodes.length;
    times.sort((a, b) => a - b);
    reads.push({members, bytes, requests, p50Ms: quantile(times, 0.5), p99Ms: quantile(times, 0.99), maxMs: times[times.length - 1], cpuMs});
    progress(`GET /meshes/{id} at ${members} members: p50 ${quantile(times, 0.5).toFixed(2)} ms, p99 ${quantile(times, 0.99).toFixed(2)} ms`);
  }

  // Fan-out: `subscribers` streams; each change is this node's alias in the largest mesh.
  const big = meshes[meshes.length - 1];
  const streams = [];
  for (let i = 0; i < subscribers; i++) {
    const abort = new AbortController();
    const response = await fetch(`${api.url}/events`, {headers, signal: abort.signal});
    const reader = response.body.getReader();
    const stream = {abort, waiting: new Map()};
    const decoder = new TextDecoder();
    let buffer = '';
    void (async () => {
      try {
        for (;;) {
          const {done, value} = await reader.read();
          if (done) return;
          buffer += decoder.decode(value, {stream: true});
          let cut;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const alias = /"alias":"(bench-\d+)"/.exec(block)?.[1];
            if (alias && block.includes('event: record.changed')) stream.waiting.get(alias)?.(performance.now());
          }
        }
      } catch {
        // aborted at the end
      }
    })();
    streams.push(stream);
  }
  const fanout = [];
  const patchTimes = [];
  for (let change = 0; change < changes; change++) {
    const alias = `bench-${change}`;
    const arrivals = streams.map((stream) => new Promise((resolve) => stream.waiting.set(alias, resolve)));
    const start = performance.now();
    const response = await fetch(`${api.url}/node`, {method: 'PATCH', headers: {...headers, 'Content-Type': 'application/json'}, body: JSON.stringify({alias, meshId: big.meshId})});
    await response.arrayBuffer();
    patchTimes.push(performance.now() - start);
    const times = await Promise.all(arrivals);
    fanout.push(Math.max(...times) - start);
  }
  for (const stream of streams) stream.abort.abort();
  fanout.sort((a, b) => a - b);
  patchTimes.sort((a, b) => a - b);
  const result = {
    machine: machineInfo(),
    loadAverage: {before: loadBefore, after: loadAverage()},
    reads,
    fanout: {subscribers, changes, members: big.size, p50Ms: quantile(fanout, 0.5), p99Ms: quantile(fanout, 0.99), maxMs: fanout[fanout.length - 1], patchP50Ms: quantile(patchTimes, 0.5)},
  };
  if (args.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    const ms = (value) => `${value.toFixed(2)} ms`;
    printRows([
      ...reads.flatMap((read) => [[`GET /meshes/{id}, ${read.members} members`, `p50 ${ms(read.p50Ms)}, p99 ${ms(read.p99Ms)}, max ${ms(read.maxMs)}, daemon CPU ${ms(read.cpuMs)} per request (${read.requests} requests, ${(read.bytes / 1024).toFixed(0)} KiB each)`]]),
      [`fan-out to ${subscribers} streams`, `p50 ${ms(result.fanout.p50Ms)}, p99 ${ms(result.fanout.p99Ms)}, max ${ms(result.fanout.maxMs)} from the PATCH sent to the last stream having the change (${changes} changes; the PATCH itself: p50 ${ms(result.fanout.patchP50Ms)})`],
      ['load average', `${loadBefore.join(' ')} -> ${result.loadAverage.after.join(' ')}`],
    ]);
  }
} finally {
  await daemon?.stop();
  await rm(dataDir, {recursive: true, force: true});
}
