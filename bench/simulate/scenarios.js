/**
 * The simulation's scenarios. Each one builds a fresh converged mesh (so
 * scenarios do not disturb each other), lets it warm up, does one thing to it
 * and measures, on the simulated clock, what the issue asks: propagation and
 * detection times (p50 / p99 / max), traffic per node and second, and false
 * positives (a node that is up and reachable removed from someone's view).
 * Each returns a {@link ScenarioResult}; curves are plotted by index.js.
 */
import {cumulativeCurve} from './svg-chart.js';
import {advanceUntil, advanceUntilSettled, controlCounters, spread, trafficWindow} from './measure.js';
import {Simulation} from './mesh.js';
import {verifyCache} from './verify-cache.js';

/**
 * @typedef {object} ScenarioResult
 * @property {string} name
 * @property {string} title
 * @property {number} nodes mesh size at the start
 * @property {object} params what the scenario did
 * @property {ReturnType<typeof spread> | null} propagation
 * @property {ReturnType<typeof spread> | null} detection
 * @property {ReturnType<ReturnType<typeof trafficWindow>['stop']>} traffic
 * @property {number} falsePositives
 * @property {object} details scenario-specific numbers
 * @property {import('./svg-chart.js').ChartSpec} chart
 * @property {{simulatedMs: number, wallMs: number, setupWallMs: number, liveHeapMiB: number | null, externalMiB: number | null}} cost
 *   `liveHeapMiB` / `externalMiB`: what the warmed-up mesh holds after a full GC (V8 heap; typed-array
 *   and Buffer memory outside it), null without `--expose-gc` (index.js always passes it)
 */

/**
 * @typedef {object} ScenarioContext
 * @property {import('./mesh.js').SimulationOptions} simulation options of every mesh
 * @property {number} warmupMs simulated time a fresh mesh runs before measuring
 * @property {(text: string) => void} log progress
 * @property {object} params the scenario options (see index.js)
 */

const secondsLabel = (ms) => `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)}`;
const percent = (v) => `${Math.round(v * 100)}%`;

/** Build a fresh mesh, warm it up, and hand it to `body`; always close it. */
async function withMesh(ctx, extra, body) {
  const wallStart = performance.now();
  const sim = new Simulation({...ctx.simulation, ...extra, log: ctx.log});
  ctx.log(`building a mesh of ${sim.options.nodes} nodes ...`);
  await sim.build();
  await sim.advance(ctx.warmupMs);
  const live = liveMemory();
  const setupWallMs = performance.now() - wallStart;
  const held = live.liveHeapMiB === null ? '' : `; it holds ${live.liveHeapMiB} MiB of heap + ${live.externalMiB} MiB outside it`;
  ctx.log(`built and warmed up (${ctx.warmupMs / 1000} s simulated) in ${(setupWallMs / 1000).toFixed(0)} s of wall time${held}`);
  const simStart = sim.clock.now();
  const wall = performance.now();
  try {
    const result = await body(sim);
    result.cost = {simulatedMs: sim.clock.now() - simStart, wallMs: performance.now() - wall, setupWallMs, ...live};
    return result;
  } finally {
    await sim.close();
    globalThis.gc?.();
  }
}

/** Memory the mesh holds right now, after a full GC (nulls when the GC cannot be called). */
function liveMemory() {
  if (globalThis.gc === undefined) return {liveHeapMiB: null, externalMiB: null};
  globalThis.gc();
  const usage = process.memoryUsage();
  return {liveHeapMiB: Math.round(usage.heapUsed / 2 ** 20), externalMiB: Math.round(usage.external / 2 ** 20)};
}

/** Difference of two counter snapshots. */
function delta(after, before) {
  return Object.fromEntries(Object.keys(after).map((key) => [key, after[key] - before[key]]));
}

/**
 * Listen for deaths that are false positives: a node that is up declared
 * dead by a node that is up, except where `expected(observer, deadId)` says
 * the death is legitimate.
 */
function falsePositiveWatch(sim, expected = () => false) {
  const byId = new Map(sim.nodes.map((node) => [node.id, node]));
  const start = sim.clock.now();
  const list = [];
  /** Open false positives by "observer|subject id", to time how long each lasted. */
  const open = new Map();
  const listener = (observer, change) => {
    if (observer.state !== 'up') return;
    const now = sim.clock.now();
    for (const id of change.died) {
      const subject = byId.get(id) ?? sim.nodes.find((node) => node.id === id);
      if (subject?.state !== 'up' || expected(observer, id)) continue;
      const entry = {atMs: now - start, observer: observer.name, subject: subject.name, removedForMs: null};
      list.push(entry);
      open.set(`${observer.index}|${id}`, entry);
    }
    for (const id of change.revived) {
      const entry = open.get(`${observer.index}|${id}`);
      if (!entry) continue;
      entry.removedForMs = now - start - entry.atMs;
      open.delete(`${observer.index}|${id}`);
    }
  };
  sim.liveListeners.add(listener);
  return {
    list,
    stop: () => sim.liveListeners.delete(listener),
    /** How long the false removals lasted (null: still removed at the end). */
    summary: () => ({count: list.length, subjects: new Set(list.map((f) => f.subject)).size, observers: new Set(list.map((f) => f.observer)).size, removedFor: spread(list.map((f) => f.removedForMs)), firstAtMs: list[0]?.atMs ?? null, lastAtMs: list.at(-1)?.atMs ?? null}),
  };
}

/**
 * Record when each node's store first holds an entry of node `subjectId`
 * matching `accept` (relative to `t0()`).
 */
function arrivalWatch(sim, subjectId, accept, t0) {
  const arrivals = new Map();
  const listener = (node, change) => {
    if (change.id !== subjectId || arrivals.has(node.index) || !accept(change.current)) return;
    arrivals.set(node.index, sim.clock.now() - t0());
  };
  sim.entryListeners.add(listener);
  return {arrivals, stop: () => sim.entryListeners.delete(listener)};
}

// ---------------------------------------------------------------------------

/**
 * One change spreading: a random node rewrites its record (as `service set`
 * does); how long until every other node holds it. Repeated `changes` times.
 * @param {ScenarioContext} ctx
 * @returns {Promise<ScenarioResult>}
 */
export function changeScenario(ctx) {
  const {changes, timeoutMs} = ctx.params;
  return withMesh(ctx, {}, async (sim) => {
    const traffic = trafficWindow(sim);
    const countersBefore = controlCounters(sim.nodes);
    const runs = [];
    for (let k = 0; k < changes; k++) {
      const source = sim.pick();
      const receivers = sim.live().filter((node) => node !== source);
      let version = Infinity;
      const start = sim.clock.now();
      const watch = arrivalWatch(sim, source.id, (entry) => entry.value.version >= version, () => start);
      version = sim.changeRecord(source, `change-${k}`);
      watch.arrivals.delete(source.index);
      await advanceUntil(sim, () => watch.arrivals.size >= receivers.length, {timeoutMs});
      watch.stop();
      const arrivals = receivers.map((node) => watch.arrivals.get(node.index) ?? null);
      runs.push({source: source.name, ...spread(arrivals), arrivals});
      ctx.log(`change ${k + 1}/${changes} from ${source.name}: 50% ${fmt(runs.at(-1).p50)}, 99% ${fmt(runs.at(-1).p99)}, 100% ${fmt(runs.at(-1).max)}`);
      await sim.advance(2000);
    }
    const pooled = runs.flatMap((run) => run.arrivals);
    return {
      name: 'change',
      title: 'One change spreading',
      nodes: sim.options.nodes,
      params: {changes},
      propagation: spread(pooled),
      detection: null,
      traffic: traffic.stop(),
      falsePositives: 0,
      details: {
        perChange: runs.map(({arrivals, ...rest}) => rest),
        worstP99: worst(runs.map((run) => run.p99)),
        worstMax: worst(runs.map((run) => run.max)),
        counters: delta(controlCounters(sim.nodes), countersBefore),
      },
      chart: {
        title: `A change spreading through ${sim.options.nodes} nodes`,
        subtitle: subtitle(ctx),
        xLabel: 'milliseconds since the change (log scale)',
        xScale: 'log',
        yLabel: 'nodes holding the change',
        yDomain: [0, 1],
        yFormat: percent,
        series: runs.map((run, i) => ({name: `change ${i + 1} (from ${run.source})`, step: true, points: cumulativeCurve(run.arrivals.filter((t) => t !== null), run.arrivals.length)})),
        references: [{axis: 'y', value: 0.99, label: '99%'}],
      },
    };
  });
}

/**
 * One revocation spreading: the mesh authority's node (node 0, the mesh
 * creator) revokes a random node, as `wgmesh mesh revoke` does; how long until
 * every other node holds the revocation. The revoked node keeps running (it
 * is told, and leaves, in a real daemon): it is neither source nor receiver,
 * of its own revocation or of later ones (members serve a revoked node
 * nothing). Repeated `revocations` times, a different node each time.
 * @param {ScenarioContext} ctx
 * @returns {Promise<ScenarioResult>}
 */
export function revocationScenario(ctx) {
  const {revocations, timeoutMs} = ctx.params;
  return withMesh(ctx, {}, async (sim) => {
    const traffic = trafficWindow(sim);
    const countersBefore = controlCounters(sim.nodes);
    const admin = sim.nodes[0];
    const targets = sim.sample(sim.live().filter((node) => node !== admin), revocations);
    const runs = [];
    const revoked = new Set();
    for (const [k, target] of targets.entries()) {
      revoked.add(target);
      const receivers = sim.live().filter((node) => node !== admin && !revoked.has(node));
      const start = sim.clock.now();
      const watch = arrivalWatch(sim, target.id, (entry) => entry.value.kind === 'revocation', () => start);
      sim.revoke(admin, target);
      watch.arrivals.delete(admin.index);
      watch.arrivals.delete(target.index);
      await advanceUntil(sim, () => receivers.every((node) => watch.arrivals.has(node.index)), {timeoutMs});
      watch.stop();
      const arrivals = receivers.map((node) => watch.arrivals.get(node.index) ?? null);
      runs.push({source: admin.name, target: target.name, ...spread(arrivals), arrivals});
      ctx.log(`revocation ${k + 1}/${revocations} of ${target.name}: 50% ${fmt(runs.at(-1).p50)}, 99% ${fmt(runs.at(-1).p99)}, 100% ${fmt(runs.at(-1).max)}`);
      await sim.advance(2000);
    }
    const pooled = runs.flatMap((run) => run.arrivals);
    return {
      name: 'revocation',
      title: 'One revocation spreading',
      nodes: sim.options.nodes,
      params: {revocations},
      propagation: spread(pooled),
      detection: null,
      traffic: traffic.stop(),
      falsePositives: 0,
      details: {
        perRevocation: runs.map(({arrivals, ...rest}) => rest),
        worstP99: worst(runs.map((run) => run.p99)),
        worstMax: worst(runs.map((run) => run.max)),
        counters: delta(controlCounters(sim.nodes), countersBefore),
      },
      chart: {
        title: `A revocation spreading through ${sim.options.nodes} nodes`,
        subtitle: subtitle(ctx),
        xLabel: 'milliseconds since the revocation (log scale)',
        xScale: 'log',
        yLabel: 'nodes holding the revocation',
        yDomain: [0, 1],
        yFormat: percent,
        series: runs.map((run, i) => ({name: `revocation ${i + 1} (of ${run.target})`, step: true, points: cumulativeCurve(run.arrivals.filter((t) => t !== null), run.arrivals.length)})),
        references: [{axis: 'y', value: 0.99, label: '99%'}],
      },
    };
  });
}

/**
 * 1% of the nodes crash at once (a dead host: silence; `--crash-mode refuse`:
 * a dead process, refused at once). Detection: when each victim leaves each
 * live view. False positives: any other node removed meanwhile.
 * @param {ScenarioContext} ctx
 */
export function crashScenario(ctx) {
  const {crashFraction, crashMode, timeoutMs, settleMs} = ctx.params;
  return withMesh(ctx, {}, async (sim) => {
    const victims = sim.sample(sim.live(), Math.max(1, Math.round(sim.options.nodes * crashFraction)));
    const victimIds = new Set(victims.map((node) => node.id));
    const observers = sim.live().filter((node) => !victimIds.has(node.id));
    const detected = new Map(observers.map((node) => [node.index, new Map()]));
    let revivals = 0;
    const start = sim.clock.now();
    const listener = (observer, change) => {
      const seen = detected.get(observer.index);
      if (!seen) return;
      for (const id of change.died) if (victimIds.has(id) && !seen.has(id)) seen.set(id, sim.clock.now() - start);
      for (const id of change.revived) if (victimIds.has(id)) revivals++;
    };
    sim.liveListeners.add(listener);
    const falsePositives = falsePositiveWatch(sim);
    const traffic = trafficWindow(sim);
    const countersBefore = controlCounters(sim.nodes);
    for (const victim of victims) await sim.crash(victim, {refuse: crashMode === 'refuse'});
    const pairs = observers.length * victims.length;
    let found = 0;
    await advanceUntil(sim, () => (found = [...detected.values()].reduce((n, seen) => n + seen.size, 0)) >= pairs, {timeoutMs, stepMs: 50});
    const detectedBy = sim.clock.now() - start;
    await sim.advance(settleMs);
    sim.liveListeners.delete(listener);
    falsePositives.stop();
    const arrivals = [];
    for (const seen of detected.values()) for (const id of victimIds) arrivals.push(seen.get(id) ?? null);
    const perVictim = victims.map((victim) => spread([...detected.values()].map((seen) => seen.get(victim.id) ?? null)).max);
    const bound = 3 * sim.options.settings.heartbeatIntervalMs + 2000;
    ctx.log(`crash: ${victims.length} victims; all ${found}/${pairs} (observer, victim) pairs detected after ${fmt(detectedBy)}; ${falsePositives.list.length} false positives`);
    return {
      name: 'crash',
      title: `${Math.round(crashFraction * 100)}% of nodes crashing`,
      nodes: sim.options.nodes,
      params: {victims: victims.length, crashMode},
      propagation: null,
      detection: spread(arrivals),
      traffic: traffic.stop(),
      falsePositives: falsePositives.list.length,
      details: {
        boundMs: bound,
        goneFromAllViews: spread(perVictim),
        victimsRevived: revivals,
        falsePositiveSamples: falsePositives.list.slice(0, 10),
        falsePositiveSummary: falsePositives.summary(),
        counters: delta(controlCounters(sim.nodes), countersBefore),
      },
      chart: {
        title: `${victims.length} of ${sim.options.nodes} nodes crash (${crashMode === 'refuse' ? 'connections refused' : 'silent host'})`,
        subtitle: subtitle(ctx),
        xLabel: 'seconds since the crash',
        yLabel: 'views without the crashed node',
        xFormat: secondsLabel,
        yDomain: [0, 1],
        yFormat: percent,
        series: [
          {name: '(observer, victim) pairs', step: true, points: cumulativeCurve(arrivals.filter((t) => t !== null), arrivals.length)},
          {name: 'victims gone from every view', step: true, points: cumulativeCurve(perVictim.filter((t) => t !== null), perVictim.length)},
        ],
        references: [{axis: 'x', value: bound, label: `target 3 x H + 2 s = ${bound / 1000} s`}],
      },
    };
  });
}

/**
 * The mesh splits in two halves for `partitionMs` (silent: packets across
 * vanish), then heals. Each side should remove the other (and nobody of its
 * own side); after the heal every view should be whole again by itself.
 * @param {ScenarioContext} ctx
 */
export function partitionScenario(ctx) {
  const {partitionMs, timeoutMs, partitionNodes} = ctx.params;
  return withMesh(ctx, {nodes: Math.min(ctx.simulation.nodes, partitionNodes)}, async (sim) => {
    const everyone = sim.sample(sim.live(), sim.live().length);
    const half = Math.floor(everyone.length / 2);
    const sideOf = new Map(everyone.map((node, i) => [node.id, i < half ? 'A' : 'B']));
    const crossPairs = 2 * half * (everyone.length - half);
    let healAt = Infinity;
    const cut = sim.clock.now();
    const crossDeaths = [];
    let crossRevivalsDuringCut = 0;
    /** Cross-side removals after the heal: claims made during the cut whose confirmation ended later (ms after the heal). */
    const lateRemovals = [];
    const deadCount = new Map();
    const completeAt = new Map();
    const listener = (observer, change) => {
      if (observer.state !== 'up') return;
      const now = sim.clock.now();
      for (const id of change.died) {
        if (sideOf.get(id) === sideOf.get(observer.id)) continue;
        if (now >= healAt) lateRemovals.push(now - healAt);
        else crossDeaths.push(now - cut);
      }
      if (now < healAt) {
        for (const id of change.revived) if (sideOf.get(id) !== sideOf.get(observer.id)) crossRevivalsDuringCut++;
        return;
      }
      const count = (deadCount.get(observer.index) ?? 0) + change.died.length - change.revived.length;
      deadCount.set(observer.index, count);
      if (count === 0) completeAt.set(observer.index, now - healAt);
      else completeAt.delete(observer.index);
    };
    sim.liveListeners.add(listener);
    // Only removals within a side are false positives; cross-side ones after the heal are counted apart (lateRemovals).
    const falsePositives = falsePositiveWatch(sim, (observer, id) => sideOf.get(id) !== sideOf.get(observer.id));
    const countersBefore = controlCounters(sim.nodes);
    const names = (side) => everyone.filter((node) => sideOf.get(node.id) === side).map((node) => node.name);
    sim.network.partition(names('A'), names('B'));
    const cutTraffic = trafficWindow(sim);
    for (let t = 0; t < partitionMs; t += 5000) {
      await sim.advance(Math.min(5000, partitionMs - t));
      ctx.log(`partition: ${((t + 5000) / 1000).toFixed(0)} s cut, ${crossDeaths.length}/${crossPairs} cross-side removals so far`);
    }
    const cutStats = cutTraffic.stop();
    const deadAtHeal = sim.live().reduce((n, node) => n + node.control.deadMembers().length, 0);
    for (const node of sim.live()) {
      const dead = node.control.deadMembers().length;
      deadCount.set(node.index, dead);
      if (dead === 0) completeAt.set(node.index, 0);
    }
    sim.network.heal();
    healAt = sim.clock.now();
    const traffic = trafficWindow(sim);
    const observers = sim.live();
    await advanceUntil(sim, () => completeAt.size >= observers.length, {timeoutMs, stepMs: 50});
    const healedBy = sim.clock.now() - healAt;
    await sim.advance(ctx.params.settleMs);
    const healTraffic = traffic.stop();
    sim.liveListeners.delete(listener);
    falsePositives.stop();
    const views = observers.map((node) => completeAt.get(node.index) ?? null);
    const crossArrivals = [...crossDeaths, ...Array(Math.max(0, crossPairs - crossDeaths.length)).fill(null)];
    ctx.log(`partition healed: every view whole after ${fmt(healedBy)}; ${lateRemovals.length} cross-side removals after the heal; ${falsePositives.list.length} same-side false positives`);
    return {
      name: 'partition',
      title: '50/50 partition healing',
      nodes: sim.options.nodes,
      params: {partitionMs, sides: [half, everyone.length - half]},
      propagation: spread(views),
      detection: spread(crossArrivals),
      traffic: healTraffic,
      falsePositives: falsePositives.list.length,
      details: {
        propagationMeans: 'time after the heal until each live view holds every node again',
        detectionMeans: 'time after the cut until each cross-side (observer, member) pair was removed',
        crossRemovalsDuringCut: crossDeaths.length,
        crossPairs,
        crossRevivalsDuringCut,
        deadEntriesAtHeal: deadAtHeal,
        lateRemovalsAfterHeal: {count: lateRemovals.length, lastMs: lateRemovals.length ? Math.max(...lateRemovals) : null},
        trafficDuringCut: cutStats,
        falsePositiveSamples: falsePositives.list.slice(0, 10),
        falsePositiveSummary: falsePositives.summary(),
        counters: delta(controlCounters(sim.nodes), countersBefore),
      },
      chart: {
        title: `${sim.options.nodes} nodes split 50/50 for ${partitionMs / 1000} s, then healed`,
        subtitle: subtitle(ctx),
        xLabel: 'seconds since the cut (removals) / since the heal (whole views)',
        yLabel: 'share',
        xFormat: secondsLabel,
        yDomain: [0, 1],
        yFormat: percent,
        series: [
          {name: 'cross-side pairs removed (since the cut)', step: true, points: cumulativeCurve(crossDeaths, crossPairs)},
          {name: 'views whole again (since the heal)', step: true, points: cumulativeCurve(views.filter((t) => t !== null), views.length)},
        ],
      },
    };
  });
}

/**
 * Nothing changes for `steadyMs`: idle traffic per node and false positives
 * (with 1% loss, heartbeats and probes are lost now and then; nobody may be
 * removed for it).
 * @param {ScenarioContext} ctx
 */
export function steadyScenario(ctx) {
  const {steadyMs} = ctx.params;
  return withMesh(ctx, {}, async (sim) => {
    const falsePositives = falsePositiveWatch(sim);
    const traffic = trafficWindow(sim);
    const countersBefore = controlCounters(sim.nodes);
    const sampleMs = Math.max(1000, Math.min(10_000, Math.round(steadyMs / 60)));
    const samples = [];
    let last = {t: sim.clock.now(), bytes: sim.network.stats.bytes};
    const start = sim.clock.now();
    while (sim.clock.now() - start < steadyMs) {
      await sim.advance(Math.min(sampleMs, steadyMs - (sim.clock.now() - start)));
      const now = {t: sim.clock.now(), bytes: sim.network.stats.bytes};
      samples.push([(now.t - start) / 1000, (now.bytes - last.bytes) / sim.live().length / ((now.t - last.t) / 1000)]);
      last = now;
      if (samples.length % 6 === 0) ctx.log(`steady: ${((now.t - start) / 1000).toFixed(0)} s, ${falsePositives.list.length} false positives`);
    }
    falsePositives.stop();
    return {
      name: 'steady',
      title: `Steady state, ${steadyMs / 60_000} simulated minutes`,
      nodes: sim.options.nodes,
      params: {steadyMs},
      propagation: null,
      detection: null,
      traffic: traffic.stop(),
      falsePositives: falsePositives.list.length,
      details: {falsePositiveSamples: falsePositives.list.slice(0, 10),
        falsePositiveSummary: falsePositives.summary(), counters: delta(controlCounters(sim.nodes), countersBefore)},
      chart: {
        title: `Idle traffic of ${sim.options.nodes} nodes (${falsePositives.list.length} false positives in ${steadyMs / 60_000} min)`,
        subtitle: subtitle(ctx),
        xLabel: 'simulated seconds',
        yLabel: 'payload bytes sent per node per second',
        series: [{name: `bytes/s per node, ${sampleMs / 1000} s windows`, points: samples}],
        references: [{axis: 'y', value: 1000, label: 'target 1 KB/s'}],
      },
    };
  });
}

/**
 * Churn: for `churnMs`, a node joins every 1/rate seconds (snapshot from a
 * random member, as `mesh join`) and another leaves every 1/rate seconds
 * (signed tombstone, as `mesh leave`). Propagation: how long each join's
 * record and each leave's tombstone take to reach the nodes that were up
 * when it happened (and still are). False positives: nodes that are up removed.
 * @param {ScenarioContext} ctx
 */
export function churnScenario(ctx) {
  const {churnMs, churnRate, settleMs} = ctx.params;
  const eventsEach = Math.max(1, Math.floor((churnMs / 1000) * churnRate));
  return withMesh(ctx, {spare: eventsEach + 1}, async (sim) => {
    const falsePositives = falsePositiveWatch(sim);
    const traffic = trafficWindow(sim);
    const countersBefore = controlCounters(sim.nodes);
    /** @type {{kind: 'join' | 'leave', subject: import('./mesh.js').SimNode, t0: number | undefined, receivers: import('./mesh.js').SimNode[], arrivals: Map<number, number>}[]} */
    const events = [];
    const bySubject = new Map();
    const listener = (node, change) => {
      const event = bySubject.get(change.id);
      if (!event || node === event.subject) {
        // The joiner's own record: that is when its join becomes news.
        if (event?.kind === 'join' && event.t0 === undefined && change.current.value.kind === 'record') event.t0 = sim.clock.now();
        return;
      }
      if (event.arrivals.has(node.index) || event.t0 === undefined) return;
      if (change.current.value.kind === (event.kind === 'join' ? 'record' : 'tombstone')) event.arrivals.set(node.index, sim.clock.now() - event.t0);
    };
    sim.entryListeners.add(listener);
    const intervalMs = 1000 / churnRate;
    const joins = [];
    const leaves = [];
    const start = sim.clock.now();
    for (let k = 0; k < eventsEach; k++) {
      const {node, done} = sim.join(sim.pick());
      const join = {kind: 'join', subject: node, t0: undefined, receivers: sim.live(), arrivals: new Map()};
      events.push(join);
      bySubject.set(node.id, join);
      joins.push(done.catch((error) => ({error: String(error)})));
      await sim.advance(intervalMs / 2);
      // Leave: a node that has been up since the start (not a joiner still settling in).
      const candidates = sim.live().filter((n) => n.index < sim.options.nodes);
      const leaver = sim.pick(candidates);
      const leave = {kind: 'leave', subject: leaver, t0: sim.clock.now(), receivers: sim.live().filter((n) => n !== leaver), arrivals: new Map()};
      events.push(leave);
      bySubject.set(leaver.id, leave);
      leaves.push(sim.leave(leaver));
      await sim.advance(intervalMs / 2);
      if ((k + 1) % 10 === 0) ctx.log(`churn: ${((sim.clock.now() - start) / 1000).toFixed(0)} s, ${k + 1} joins and leaves, ${sim.live().length} nodes up`);
    }
    await sim.advance(settleMs);
    sim.entryListeners.delete(listener);
    falsePositives.stop();
    const joinResults = await Promise.all(joins);
    const arrivalsOf = (event) => event.receivers.filter((node) => node.state === 'up').map((node) => event.arrivals.get(node.index) ?? null);
    const joinArrivals = events.filter((e) => e.kind === 'join' && e.t0 !== undefined).flatMap(arrivalsOf);
    const leaveArrivals = events.filter((e) => e.kind === 'leave').flatMap(arrivalsOf);
    const perEvent = events.map((event) => ({kind: event.kind, node: event.subject.name, ...spread(arrivalsOf(event))}));
    ctx.log(`churn: ${eventsEach} joins and ${eventsEach} leaves; join records 99% ${fmt(spread(joinArrivals).p99)}, tombstones 99% ${fmt(spread(leaveArrivals).p99)}; ${falsePositives.list.length} false positives`);
    return {
      name: 'churn',
      title: `Churn: ${churnRate} joins and ${churnRate} leaves per second`,
      nodes: sim.options.nodes,
      params: {churnMs, churnRate, joins: eventsEach, leaves: eventsEach},
      propagation: spread([...joinArrivals, ...leaveArrivals]),
      detection: null,
      traffic: traffic.stop(),
      falsePositives: falsePositives.list.length,
      details: {
        joinRecords: spread(joinArrivals),
        tombstones: spread(leaveArrivals),
        joinsFailed: joinResults.filter((r) => r.error).length,
        joinFailures: joinResults.filter((r) => r.error).slice(0, 5),
        snapshotFetchMs: spread(joinResults.filter((r) => !r.error).map((r) => r.fetchMs)),
        worstEvent: perEvent.reduce((a, b) => ((b.max ?? Infinity) > (a.max ?? Infinity) ? b : a), perEvent[0]),
        falsePositiveSamples: falsePositives.list.slice(0, 10),
        falsePositiveSummary: falsePositives.summary(),
        counters: delta(controlCounters(sim.nodes), countersBefore),
      },
      chart: {
        title: `Churn in ${sim.options.nodes} nodes: ${eventsEach} joins and ${eventsEach} leaves over ${churnMs / 1000} s`,
        subtitle: subtitle(ctx),
        xLabel: 'milliseconds since the join (record created) / leave (log scale)',
        xScale: 'log',
        yLabel: '(event, node) pairs reached',
        yDomain: [0, 1],
        yFormat: percent,
        series: [
          {name: 'joiners\u2019 records', step: true, points: cumulativeCurve(joinArrivals.filter((t) => t !== null), joinArrivals.length)},
          {name: 'tombstones of leavers', step: true, points: cumulativeCurve(leaveArrivals.filter((t) => t !== null), leaveArrivals.length)},
        ],
        references: [{axis: 'y', value: 0.99, label: '99%'}],
      },
    };
  });
}

/**
 * A node joins the mesh through a random member, as `mesh join` does: how
 * long the snapshot download takes (simulated: latency plus the member's
 * upload bandwidth), what loading it costs in real CPU (every entry verified,
 * no cache), and how fast the joiner's record then reaches every member.
 * @param {ScenarioContext} ctx
 */
export function joinScenario(ctx) {
  const {joins, timeoutMs} = ctx.params;
  return withMesh(ctx, {spare: joins}, async (sim) => {
    const traffic = trafficWindow(sim);
    const runs = [];
    for (let k = 0; k < joins; k++) {
      const via = sim.pick();
      const receivers = sim.live();
      const start = sim.clock.now();
      const {node, done} = sim.join(via, {measureLoad: (on) => (verifyCache.bypass = on)});
      const watch = arrivalWatch(sim, node.id, (entry) => entry.value.kind === 'record', () => start);
      const phases = await advanceUntilSettled(sim, done, {timeoutMs});
      await advanceUntil(sim, () => receivers.every((r) => watch.arrivals.has(r.index)), {timeoutMs});
      watch.stop();
      const arrivals = receivers.map((r) => watch.arrivals.get(r.index) ?? null);
      runs.push({via: via.name, joiner: node.name, ...phases, record: spread(arrivals), arrivals});
      ctx.log(`join ${k + 1}/${joins} via ${via.name}: snapshot ${(phases.snapshotBytes / 1024).toFixed(0)} KiB in ${phases.fetchMs} ms simulated, load ${phases.loadWallMs.toFixed(0)} ms CPU; record at 99% ${fmt(runs.at(-1).record.p99)} after the join started`);
      await sim.advance(2000);
    }
    const fetches = runs.map((run) => run.fetchMs);
    return {
      name: 'join',
      title: `A join at ${sim.options.nodes} nodes`,
      nodes: sim.options.nodes,
      params: {joins},
      propagation: spread(runs.flatMap((run) => run.arrivals)),
      detection: null,
      traffic: traffic.stop(),
      falsePositives: 0,
      details: {
        download: spread(fetches),
        perJoin: runs.map(({arrivals, ...rest}) => rest),
        loadCpuMs: spread(runs.map((run) => run.loadWallMs)),
      },
      chart: {
        title: `Joining a mesh of ${sim.options.nodes} nodes`,
        subtitle: subtitle(ctx),
        xLabel: 'milliseconds since the join started (log scale)',
        xScale: 'log',
        yLabel: 'members holding the joiner\u2019s record',
        yDomain: [0, 1],
        yFormat: percent,
        series: runs.map((run, i) => ({name: `join ${i + 1}: snapshot in ${run.fetchMs} ms`, step: true, points: cumulativeCurve(run.arrivals.filter((t) => t !== null), run.arrivals.length)})),
        references: [{axis: 'x', value: Math.max(...fetches), label: 'snapshot downloaded'}],
      },
    };
  });
}

/** All scenarios by name, in the order `all` runs them. */
export const SCENARIOS = {
  change: changeScenario,
  revocation: revocationScenario,
  crash: crashScenario,
  partition: partitionScenario,
  steady: steadyScenario,
  churn: churnScenario,
  join: joinScenario,
};

function worst(values) {
  return values.includes(null) ? null : Math.max(...values);
}

function fmt(ms) {
  return ms === null ? 'never' : `${ms} ms`;
}

function subtitle(ctx) {
  const s = ctx.simulation;
  const bw = s.bandwidthBytesPerSecond > 0 ? `${(s.bandwidthBytesPerSecond * 8) / 1e6} Mbit/s up` : 'unlimited bandwidth';
  return `latency ${s.latencyMs} ms, loss ${s.lossRate * 100}%, ${bw}, syncInterval ${s.settings.syncIntervalMs} ms, heartbeatInterval ${s.settings.heartbeatIntervalMs} ms, seed ${s.seed}`;
}
