/**
 * Small helpers the benchmarks share: order statistics, the machine a run
 * happened on, and number formatting for the printed summaries.
 */
import {execFileSync} from 'node:child_process';
import {availableParallelism, loadavg} from 'node:os';
import {resolve} from 'node:path';

/** Repository root. */
const ROOT = resolve(import.meta.dirname, '..', '..');

/**
 * The time by which `fraction` of `total` observers had seen an event: the
 * ceil(fraction x total)-th smallest arrival. Null when fewer than that many
 * saw it at all (a timeout), so a miss can never pass for a fast result.
 * @param {readonly (number | null)[]} arrivals one per observer, null for "never"
 * @param {number} fraction 0 < fraction <= 1
 * @returns {number | null}
 */
export function reachTime(arrivals, fraction) {
  const seen = arrivals.filter((t) => t !== null).sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(fraction * arrivals.length));
  return rank <= seen.length ? seen[rank - 1] : null;
}

/**
 * When an event had reached 50%, 99% and 100% of its observers (ms; null:
 * not that many saw it), how many missed it, and `extra`.
 * @param {readonly (number | null)[]} arrivals one per observer, null for "never"
 * @param {Record<string, unknown>} extra
 */
export function spreadResult(arrivals, extra) {
  return {
    ...extra,
    observers: arrivals.length,
    p50Ms: reachTime(arrivals, 0.5),
    p99Ms: reachTime(arrivals, 0.99),
    allMs: reachTime(arrivals, 1),
    missed: arrivals.filter((a) => a === null).length,
  };
}

/**
 * Median, min and max of a list of numbers (nulls, i.e. misses, make max null).
 * @param {readonly (number | null)[]} values
 * @returns {{median: number | null, min: number | null, max: number | null, n: number}}
 */
export function summarize(values) {
  const present = values.filter((v) => v !== null).sort((a, b) => a - b);
  const missed = present.length < values.length;
  if (present.length === 0) return {median: null, min: null, max: null, n: values.length};
  const mid = Math.floor(present.length / 2);
  const median = present.length % 2 === 1 ? present[mid] : (present[mid - 1] + present[mid]) / 2;
  return {median, min: present[0], max: missed ? null : present[present.length - 1], n: values.length};
}

/** Format ms as seconds with 2 decimals, or "never" for a miss. */
export function seconds(ms) {
  return ms === null || ms === undefined ? 'never' : `${(ms / 1000).toFixed(2)} s`;
}

/**
 * What a result file must say about where it was measured: cores, memory,
 * Node version, the date (UTC), and the load on the machine when it started.
 * @returns {{nproc: number, free: string, node: string, date: string, commit: string, loadavg: number[]}}
 */
export function machineInfo() {
  const run = (cmd, args) => {
    try {
      return execFileSync(cmd, args, {encoding: 'utf8'}).trimEnd();
    } catch {
      return `(${cmd} unavailable)`;
    }
  };
  return {
    nproc: availableParallelism(),
    free: run('free', ['-g']),
    node: process.version,
    date: run('date', ['-u']),
    // The tree is edited while benches run: the commit plus "+dirty" says which code was measured (as built in dist/).
    commit: `${run('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])}${run('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'plugins']) === '' ? '' : '+dirty'}`,
    loadavg: loadAverage(),
  };
}

/** The 1, 5 and 15 minute load averages: on a shared machine they say how much the numbers can be trusted. */
export function loadAverage() {
  return loadavg().map((l) => Number(l.toFixed(2)));
}

/** Print aligned "key  value" rows. */
export function printRows(rows, write = (t) => process.stdout.write(t)) {
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) write(`${k.padEnd(width)}  ${v}\n`);
}
