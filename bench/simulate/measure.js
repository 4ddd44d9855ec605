/**
 * Measuring helpers for the scenarios: order statistics of arrival times,
 * traffic windows, and stepping the simulated clock until a condition holds.
 */
import {reachTime} from '../lib/report.js';

/**
 * p50 / p99 / max of arrival times, where null means "never reached": the
 * time by which 50%, 99% and 100% of the observers had it (null when that
 * share never did, so a miss never passes for a fast result).
 * @param {readonly (number | null)[]} arrivals one per observer
 */
export function spread(arrivals) {
  const reached = arrivals.filter((t) => t !== null).length;
  return {
    observers: arrivals.length,
    reached,
    p50: reachTime(arrivals, 0.5),
    p99: reachTime(arrivals, 0.99),
    max: reachTime(arrivals, 1),
  };
}

/**
 * Start counting traffic: messages and payload bytes sent, per node and per
 * second, from now until `stop()`. Each leg of a request (the request, the
 * reply, each message of a sync session) is one message, counted at its
 * sender; bytes are what the core hands the transport (no gRPC, HTTP/2 or
 * TLS framing).
 * @param {import('./mesh.js').Simulation} sim
 */
export function trafficWindow(sim) {
  const {network, clock} = sim;
  const start = clock.now();
  const before = {messages: network.stats.messages, bytes: network.stats.bytes};
  const perNode = new Map(sim.live().map((node) => [node.index, network.statsOf(node.name)]));
  return {
    /** @returns {{seconds: number, nodes: number, messagesPerNodePerSecond: number, bytesPerNodePerSecond: number, bytesPerNodePerSecondP99: number, bytesPerNodePerSecondMax: number}} */
    stop() {
      const seconds = (clock.now() - start) / 1000;
      // Nodes up for the whole window: joiners and leavers would skew the per-node rates.
      const steady = sim.live().filter((node) => perNode.has(node.index));
      const nodes = Math.max(1, sim.live().length);
      const rates = steady.map((node) => (network.statsOf(node.name).bytesSent - perNode.get(node.index).bytesSent) / seconds).sort((a, b) => a - b);
      return {
        seconds,
        nodes,
        messagesPerNodePerSecond: (network.stats.messages - before.messages) / nodes / seconds,
        bytesPerNodePerSecond: (network.stats.bytes - before.bytes) / nodes / seconds,
        bytesPerNodePerSecondP99: rates[Math.min(rates.length - 1, Math.ceil(0.99 * rates.length) - 1)] ?? 0,
        bytesPerNodePerSecondMax: rates.at(-1) ?? 0,
      };
    },
  };
}

/**
 * Advance the clock in steps of `stepMs` until `done()` is true or `timeoutMs`
 * of simulated time passed.
 * @param {import('./mesh.js').Simulation} sim
 * @param {() => boolean} done
 * @returns {Promise<boolean>} whether it became true
 */
export async function advanceUntil(sim, done, {timeoutMs, stepMs = 10}) {
  const end = sim.clock.now() + timeoutMs;
  while (!done()) {
    if (sim.clock.now() >= end) return false;
    await sim.advance(Math.min(stepMs, end - sim.clock.now()));
  }
  return true;
}

/**
 * Advance until `promise` settles (or `timeoutMs` passed); returns its value, or throws its error.
 * @template T
 * @param {import('./mesh.js').Simulation} sim
 * @param {Promise<T>} promise
 * @returns {Promise<T>}
 */
export async function advanceUntilSettled(sim, promise, {timeoutMs, stepMs = 5}) {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  if (!(await advanceUntil(sim, () => settled, {timeoutMs, stepMs}))) throw new Error(`still pending after ${timeoutMs} ms of simulated time`);
  return promise;
}

/** Sum of one control-plane counter over the nodes. */
export function sumStat(nodes, key) {
  let total = 0;
  for (const node of nodes) total += node.control?.stats()[key] ?? 0;
  return total;
}

/** The control-plane counters summed over `nodes` (what happened inside the core). */
export function controlCounters(nodes) {
  const keys = ['pushesSent', 'antiEntropyRounds', 'antiEntropyEqual', 'storeSyncs', 'heartbeatsSent', 'heartbeatsRelayed', 'probeRounds', 'accusations', 'refutations', 'messagesFailed'];
  return Object.fromEntries(keys.map((key) => [key, sumStat(nodes, key)]));
}
