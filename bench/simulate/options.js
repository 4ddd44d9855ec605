/**
 * Command line of the simulator: options, their defaults, validation (one
 * clear error line for anything wrong) and the help text.
 */
import {resolve} from 'node:path';
import {parseArgs} from 'node:util';
import {CONFIG_DEFAULTS, parseDurationMs} from '@wgmesh/core';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** Scenario names in the order `all` runs them. */
export const SCENARIO_NAMES = ['change', 'revocation', 'crash', 'partition', 'steady', 'churn', 'join'];

export const HELP = `Simulate N wgmesh nodes (real store, sync sessions, gossip and failure
detector) in one process on a simulated clock, and measure the scenarios of
issues 8 and 15. Build first: npm run build.

Usage: node bench/simulate [options]

Scenarios (--scenarios, comma-separated, default all):
  change     one node rewrites its record; time until every node holds it
  revocation the mesh authority revokes a node; time until every node holds it
  crash      1% of nodes crash at once; time until each leaves every view
  partition  a 50/50 split for --partition, then healed; views whole again
  steady     nothing changes for --steady; idle traffic and false positives
  churn      nodes join and leave continuously for --churn
  join       one node joins; snapshot download time and its record spreading

Mesh and network:
  --nodes N                 mesh size (default 3000)
  --seed S                  seed of every random choice (default 1)
  --latency-ms MS           one-way latency per message (default 5)
  --loss P                  probability that a message is lost (default 0.01)
  --bandwidth-mbit M        upload bandwidth per node, 0 = unlimited (default 100)
  --failures silent|refuse  lost messages and cut links time out (silent,
                            default) or fail at once like a refused connection

Control settings (default: the config defaults, as a daemon without a config file):
  --sync-interval D --heartbeat-interval D --pull-interval D
  --request-timeout D (the config's timeout) --branch N --cluster-size N
  --inter-cluster-chance P --infection-count N
  (D is a duration: 500ms, 2s, 1m; a bare number is seconds)

Scenario options:
  --warmup D                simulated time a fresh mesh runs first (default 10s)
  --changes K               changes in the change scenario (default 3)
  --revocations K           revocations in the revocation scenario (default 3)
  --crash-fraction P        share of nodes that crash (default 0.01)
  --crash-mode silent|refuse  dead host (requests time out, default) or dead
                            process (connection refused at once)
  --partition D             how long the partition lasts (default 20s)
  --partition-nodes N       mesh size of the partition scenario, at most --nodes
                            (default 1000: while it heals, every node holds a
                            claim or refutation about every member, ~5 KB per
                            node pair, and it runs ~10x slower than the others)
  --steady D                length of the steady state (default 10m)
  --churn D                 length of the churn (default 60s)
  --churn-rate R            joins per second, and leaves per second (default 0.5)
  --joins K                 joins in the join scenario (default 3)
  --timeout D               give up waiting for a scenario's event after this
                            long (default 60s)

Identities:
  --identity-cache DIR      node identities (key pairs) kept between runs, so
                            node i is the same node every time and a seed
                            reproduces a run (default bench/.cache/identities;
                            the first run creates them, ~2 ms each)
  --fresh-identities        new random identities instead

Output:
  --out DIR                 SVG plots and a JSON file per run
                            (default bench/results/simulate/)
  --no-plots                write nothing to --out
  --json                    print one JSON object instead of the summary
  --heap-mib N              V8 heap limit of the run (default: sized for the
                            nodes and scenarios)
  -h, --help                this text

Examples:
  node bench/simulate --nodes 300 --scenarios change,crash   # a quick look (~1 min)
  node bench/simulate --nodes 3000                           # every scenario (partition at 1,000), ~1.5 h
  node bench/simulate --nodes 3000 --scenarios steady --json > steady.json
  node bench/simulate --nodes 10000 --scenarios change       # ~30 min, ~11 GB

Memory grows with N^2 (each node holds every record and a view of every
member: ~60 bytes per node pair plus ~0.15 MB per node; peak RSS 0.5 GB at
1,000 nodes, 0.8 GB at 2,000, about 11 GB expected at 10,000); the process
restarts itself with a large enough heap.
`;

const cliOptions = {
  scenarios: {type: 'string', default: 'all'},
  nodes: {type: 'string', default: '3000'},
  seed: {type: 'string', default: '1'},
  'latency-ms': {type: 'string', default: '5'},
  loss: {type: 'string', default: '0.01'},
  'bandwidth-mbit': {type: 'string', default: '100'},
  failures: {type: 'string', default: 'silent'},
  'sync-interval': {type: 'string'},
  'heartbeat-interval': {type: 'string'},
  'pull-interval': {type: 'string'},
  'request-timeout': {type: 'string'},
  branch: {type: 'string'},
  'cluster-size': {type: 'string'},
  'inter-cluster-chance': {type: 'string'},
  'infection-count': {type: 'string'},
  warmup: {type: 'string', default: '10s'},
  changes: {type: 'string', default: '3'},
  revocations: {type: 'string', default: '3'},
  'crash-fraction': {type: 'string', default: '0.01'},
  'crash-mode': {type: 'string', default: 'silent'},
  partition: {type: 'string', default: '20s'},
  'partition-nodes': {type: 'string', default: '1000'},
  steady: {type: 'string', default: '10m'},
  churn: {type: 'string', default: '60s'},
  'churn-rate': {type: 'string', default: '0.5'},
  joins: {type: 'string', default: '3'},
  timeout: {type: 'string', default: '60s'},
  out: {type: 'string', default: resolve(ROOT, 'bench', 'results', 'simulate')},
  'identity-cache': {type: 'string', default: resolve(ROOT, 'bench', '.cache', 'identities')},
  'fresh-identities': {type: 'boolean', default: false},
  plots: {type: 'boolean', default: true},
  json: {type: 'boolean', default: false},
  'heap-mib': {type: 'string'},
  help: {type: 'boolean', short: 'h', default: false},
};

class OptionError extends Error {}

function integer(name, text, min, max = Number.MAX_SAFE_INTEGER) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new OptionError(`--${name} must be an integer from ${min} to ${max} (got "${text}")`);
  return value;
}

function fraction(name, text, {open = false} = {}) {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 1 || (open && value === 0)) throw new OptionError(`--${name} must be a number from 0 to 1 (got "${text}")`);
  return value;
}

function positive(name, text) {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new OptionError(`--${name} must be a number greater than 0 (got "${text}")`);
  return value;
}

function duration(name, text, {allowZero = false} = {}) {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms < 0 || (!allowZero && ms === 0)) throw new OptionError(`--${name} must be a duration${allowZero ? '' : ' greater than 0'} such as 500ms, 2s or 1m (got "${text}")`);
  return ms;
}

function oneOf(name, text, choices) {
  if (!choices.includes(text)) throw new OptionError(`--${name} must be one of ${choices.join(', ')} (got "${text}")`);
  return text;
}

/**
 * Parse the command line.
 * @param {string[]} argv
 * @returns {{kind: 'run', options: object} | {kind: 'exit', code: number, text: string} | {kind: 'error', message: string}}
 */
export function parseCli(argv) {
  let values;
  try {
    ({values} = parseArgs({args: argv, options: cliOptions, allowNegative: true, strict: true}));
  } catch (error) {
    return {kind: 'error', message: error.message};
  }
  if (values.help) return {kind: 'exit', code: 0, text: HELP};
  try {
    const d = CONFIG_DEFAULTS;
    const scenarios = values.scenarios === 'all' ? SCENARIO_NAMES : values.scenarios.split(',').map((s) => s.trim());
    for (const name of scenarios) oneOf('scenarios', name, [...SCENARIO_NAMES, 'all']);
    const settings = {
      syncIntervalMs: values['sync-interval'] === undefined ? d.syncIntervalMs : duration('sync-interval', values['sync-interval']),
      heartbeatIntervalMs: values['heartbeat-interval'] === undefined ? d.heartbeatIntervalMs : duration('heartbeat-interval', values['heartbeat-interval']),
      pullIntervalMs: values['pull-interval'] === undefined ? d.pullIntervalMs : duration('pull-interval', values['pull-interval'], {allowZero: true}),
      branch: values.branch === undefined ? d.branch : integer('branch', values.branch, 1),
      clusterSize: values['cluster-size'] === undefined ? d.clusterSize : integer('cluster-size', values['cluster-size'], 1, 65536),
      interClusterChance: values['inter-cluster-chance'] === undefined ? d.interClusterChance : fraction('inter-cluster-chance', values['inter-cluster-chance']),
      infectionCount: values['infection-count'] === undefined ? d.infectionCount : integer('infection-count', values['infection-count'], 1),
      timeoutMs: values['request-timeout'] === undefined ? d.timeoutMs : duration('request-timeout', values['request-timeout']),
      maxClockSkewMs: d.maxClockSkewMs,
    };
    const options = {
      scenarios: [...new Set(scenarios)],
      nodes: integer('nodes', values.nodes, 4, 100_000),
      simulation: {
        seed: integer('seed', values.seed, 0, 2 ** 32 - 1),
        latencyMs: integer('latency-ms', values['latency-ms'], 0, 60_000),
        lossRate: fraction('loss', values.loss),
        bandwidthBytesPerSecond: (positiveOrZero('bandwidth-mbit', values['bandwidth-mbit']) * 1e6) / 8,
        silentFailures: oneOf('failures', values.failures, ['silent', 'refuse']) === 'silent',
        settings,
        identityCache: values['fresh-identities'] ? null : resolve(values['identity-cache']),
      },
      warmupMs: duration('warmup', values.warmup, {allowZero: true}),
      params: {
        changes: integer('changes', values.changes, 1, 100),
        revocations: integer('revocations', values.revocations, 1, 100),
        crashFraction: fraction('crash-fraction', values['crash-fraction'], {open: true}),
        crashMode: oneOf('crash-mode', values['crash-mode'], ['silent', 'refuse']),
        partitionMs: duration('partition', values.partition),
        partitionNodes: integer('partition-nodes', values['partition-nodes'], 4, 100_000),
        steadyMs: duration('steady', values.steady),
        churnMs: duration('churn', values.churn),
        churnRate: positive('churn-rate', values['churn-rate']),
        joins: integer('joins', values.joins, 1, 100),
        timeoutMs: duration('timeout', values.timeout),
        settleMs: 10_000,
      },
      heapMiB: values['heap-mib'] === undefined ? undefined : integer('heap-mib', values['heap-mib'], 512),
      out: resolve(values.out),
      plots: values.plots,
      json: values.json,
    };
    options.simulation.nodes = options.nodes;
    return {kind: 'run', options};
  } catch (error) {
    if (error instanceof OptionError) return {kind: 'error', message: error.message};
    throw error;
  }
}

function positiveOrZero(name, text) {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new OptionError(`--${name} must be a number of at least 0 (got "${text}")`);
  return value;
}

/**
 * Heap (MiB) a run needs (`--heap-mib` overrides): 120 bytes per (node,
 * member) pair, twice what the stores and views hold (~55 bytes at 10,000
 * members: each view's map of members and each store's array of entries; the
 * rest is shared), for the garbage of the run, plus 2 GiB for the per-node
 * state and the process; a partition needs far more while it heals (every
 * node holds a claim or refutation about every member, and the messages
 * carrying them: 4.3 GB peak at 1,000 nodes).
 */
export function heapNeededMiB(options) {
  if (options.heapMiB !== undefined) return options.heapMiB;
  const churnJoins = options.scenarios.includes('churn') ? Math.ceil((options.params.churnMs / 1000) * options.params.churnRate) : 0;
  const n = options.nodes + Math.max(churnJoins, options.params.joins);
  const p = options.scenarios.includes('partition') ? Math.min(options.nodes, options.params.partitionNodes) : 0;
  return Math.ceil(Math.max(120 * n * n, 5000 * p * p) / 2 ** 20 + 2048);
}
