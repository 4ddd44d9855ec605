/**
 * The targets and the anchors it names, checked against a run's
 * results. Each row: what is required, what was measured, met or not (null
 * when the run cannot say, e.g. the target is for another mesh size).
 */

/** Anchors named by the issue (not measured here). */
export const ANCHORS = [
  {system: 'the original (3,000 peers)', claim: 'a change reaches 99% in 12 s and all in about 20 s'},
  {system: 'memberlist (3,000 nodes)', claim: '99.99% of nodes in about 2.4 s'},
];

const s = (ms) => (ms === null || ms === undefined ? 'never' : `${(ms / 1000).toFixed(2)} s`);

/**
 * @param {object[]} results scenario results (failed ones carry `error`)
 * @param {{nodes: number, simulation: {settings: {heartbeatIntervalMs: number}}}} options
 * @returns {{scenario: string, target: string, value: string, met: boolean | null}[]}
 */
export function evaluateTargets(results, options) {
  const rows = [];
  const byName = new Map(results.filter((r) => !r.error).map((r) => [r.name, r]));
  const n = options.nodes;
  const change = byName.get('change');
  if (change) {
    const {worstP99, worstMax} = change.details;
    if (n >= 10_000) {
      rows.push({scenario: 'change', target: `${n} nodes: a change reaches 100% in < 3 s`, value: `worst 100% ${s(worstMax)}`, met: worstMax !== null && worstMax < 3000});
    } else {
      const at = n === 3000 ? '' : ` (target is for 3,000 nodes; this run: ${n})`;
      rows.push({scenario: 'change', target: `a change reaches 99% in < 1 s${at}`, value: `worst 99% ${s(worstP99)}`, met: worstP99 !== null && worstP99 < 1000});
      rows.push({scenario: 'change', target: `a change reaches 100% in < 2 s${at}`, value: `worst 100% ${s(worstMax)}`, met: worstMax !== null && worstMax < 2000});
    }
  }
  const revocation = byName.get('revocation');
  if (revocation) {
    const {worstP99, worstMax} = revocation.details;
    const at = n === 3000 ? '' : ` (target is for 3,000 nodes; this run: ${n})`;
    rows.push({scenario: 'revocation', target: `a revocation reaches 99% in < 2 s${at}`, value: `worst 99% ${s(worstP99)}`, met: worstP99 !== null && worstP99 < 2000});
    rows.push({scenario: 'revocation', target: `a revocation reaches 100% in < 2 s${at}`, value: `worst 100% ${s(worstMax)}`, met: worstMax !== null && worstMax < 2000});
  }
  const crash = byName.get('crash');
  if (crash) {
    const bound = crash.details.boundMs;
    rows.push({scenario: 'crash', target: `a crashed node leaves 100% of views within 3 x heartbeatInterval + 2 s = ${s(bound)}`, value: `worst ${s(crash.detection.max)}`, met: crash.detection.max !== null && crash.detection.max <= bound});
    rows.push({scenario: 'crash', target: 'no live node removed meanwhile', value: `${crash.falsePositives} false positives`, met: crash.falsePositives === 0});
  }
  const steady = byName.get('steady');
  if (steady) {
    rows.push({scenario: 'steady', target: `zero false positives in ${steady.params.steadyMs / 60_000} simulated minutes`, value: `${steady.falsePositives}`, met: steady.falsePositives === 0});
    rows.push({scenario: 'steady', target: 'idle traffic < 1 KB/s per node (payload, both directions counted once)', value: `${steady.traffic.bytesPerNodePerSecond.toFixed(0)} B/s (p99 node ${steady.traffic.bytesPerNodePerSecondP99.toFixed(0)} B/s)`, met: steady.traffic.bytesPerNodePerSecond < 1000});
  }
  const join = byName.get('join');
  if (join) {
    const worstFetch = join.details.download.max;
    rows.push({scenario: 'join', target: `a join downloads the mesh in < 1 s (simulated, ${n} nodes)`, value: `worst ${s(worstFetch)} (+ ${s(join.details.loadCpuMs.max)} CPU to verify it)`, met: worstFetch !== null && worstFetch < 1000});
  }
  for (const name of ['partition', 'churn']) {
    const r = byName.get(name);
    if (r) rows.push({scenario: name, target: 'no live node removed (implied)', value: `${r.falsePositives} false positives`, met: r.falsePositives === 0});
  }
  return rows;
}
