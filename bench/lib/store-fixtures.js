/**
 * Fixtures the store benchmarks share: signed node records shaped like a
 * typical peer's, and timing of one synchronous call (wall and CPU time).
 */
import {performance} from 'node:perf_hooks';
import {FIXTURE_NOW, silentLogger, SimulatedClock, testMeshId} from '@wgmesh/testkit';

/**
 * A typical peer record of test node `node` (index `i`): endpoints, an alias,
 * a description and two services, about 550 bytes signed.
 * @param {import('@wgmesh/testkit').TestNode} node
 * @param {number} i
 * @param {Record<string, unknown>} [patch] fields to override (e.g. a newer version)
 */
export function typicalRecord(node, i, patch = {}) {
  return node.record({
    version: FIXTURE_NOW,
    alias: `node-${i}`,
    description: `rack ${i % 40}, row ${i % 7}`,
    services: {ssh: '22', metrics: '9100'},
    ...patch,
  });
}

/**
 * Wall time and this process's CPU time of `fn`. The CPU time is the steadier
 * number on a shared machine (other processes steal wall time, not CPU time);
 * it includes V8's helper threads, so it can exceed the wall time.
 * @template T
 * @param {() => T} fn
 * @returns {{ms: number, cpuMs: number, result: T}}
 */
export function time(fn) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const result = fn();
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return {ms, cpuMs: (used.user + used.system) / 1000, result};
}

/**
 * A store backend made by `factory` as a daemon would (placeholder identity,
 * a simulated clock just after the fixtures' time), a new mesh id, and
 * `open()` for a fresh empty store of that mesh (made by `testMeshId`, so
 * test nodes of it carry credentials).
 * @param {import('@wgmesh/core').BackendFactory} factory
 */
export async function benchStore(factory) {
  const meshId = testMeshId();
  const clock = new SimulatedClock(FIXTURE_NOW + 60_000);
  const backend = await factory.create({
    config: {},
    daemonConfig: {},
    logger: silentLogger(),
    dataDir: '/nonexistent',
    signal: new AbortController().signal,
    identity: {nodeId: '0'.repeat(32), signingKey: `${'A'.repeat(43)}=`, wgPublicKey: `${'A'.repeat(43)}=`},
    clock,
    random: {float: Math.random, bytes: (n) => new Uint8Array(n)},
  });
  const open = () => backend.open({meshId, clock, logger: silentLogger(), gcHorizonMs: 7 * 86_400_000, maxClockSkewMs: 60_000});
  return {meshId, clock, backend, open};
}
