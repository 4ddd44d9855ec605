import {performance} from 'node:perf_hooks';
import {generateMeshId} from '@wgmesh/core';
import {FIXTURE_NOW, makeTestNode, silentLogger, SimulatedClock, wireEntry, runSync} from '@wgmesh/core/testkit';
import {TwoPhaseStore} from '@wgmesh/store-twophase';
const meshId = generateMeshId();
const clock = new SimulatedClock(FIXTURE_NOW + 60_000);
const open = () => new TwoPhaseStore({meshId, clock, logger: silentLogger(), gcHorizonMs: 7 * 86_400_000, maxClockSkewMs: 60_000});
const N = 10000;
const nodes = Array.from({length: N}, () => makeTestNode(meshId));
const base = nodes.map((n, i) => n.record({version: FIXTURE_NOW, alias: `node-${i}`, description: `rack ${i % 40}`, services: {ssh: '22', metrics: '9100'}}));
const chA = nodes.slice(0, 50).map((n, i) => n.record({version: FIXTURE_NOW + 1, alias: `a${i}`}));
const chB = nodes.slice(50, 100).map((n, i) => n.record({version: FIXTURE_NOW + 1, alias: `b${i}`}));
const sA = open(); sA.merge([...base, ...chA].map(wireEntry));
const sB = open(); sB.merge([...base, ...chB].map(wireEntry));
const snapA = sA.save(), snapB = sB.save();
const out = [];
for (let it = 0; it < 12; it++) {
  const a = open(); a.load(snapA); const b = open(); b.load(snapB);
  globalThis.gc?.(); const c = process.cpuUsage(); const t = performance.now(); runSync(a, b); const cu = process.cpuUsage(c); out.push((performance.now() - t).toFixed(1) + '/' + ((cu.user + cu.system) / 1000).toFixed(1));
}
console.log(out.join(' '));
