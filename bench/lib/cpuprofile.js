/**
 * Where a `node --cpu-prof` profile spent its time: self time summed by
 * package (which dependency's code ran) or by function, optionally only over
 * a window of the profile (e.g. a daemon's idle phase, after its start-up).
 *
 * Usage as a script:  node bench/lib/cpuprofile.js FILE.cpuprofile [--from-ms N] [--to-ms N] [--functions]
 */
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import {ROOT} from './fleet.js';

/** V8's pseudo-frames, kept apart from "native" code. */
const PSEUDO = new Set(['(garbage collector)', '(program)', '(idle)', '(root)']);

/**
 * The package a script URL belongs to: `@oclif/core`, `@oclif/core (bundle)`
 * (dist/oclif.cjs, oclif and its dependencies), `@wgmesh/core`,
 * `plugins/transport-grpc`, `wgmesh (cli)`, `node: built-ins`.
 * @param {string} url
 */
export function packageOf(url) {
  if (url.startsWith('node:')) return 'node: built-ins';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (path === join(ROOT, 'dist', 'oclif.cjs')) return '@oclif/core (bundle)';
  const inModules = path.lastIndexOf('/node_modules/');
  if (inModules >= 0) {
    const parts = path.slice(inModules + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (path.startsWith(join(ROOT, 'src', 'core'))) return '@wgmesh/core';
  if (path.startsWith(join(ROOT, 'plugins'))) return `plugins/${path.slice(join(ROOT, 'plugins').length + 1).split('/')[0]}`;
  if (path.startsWith(ROOT)) return 'wgmesh (cli)';
  return path;
}

/**
 * Self time of a profile, summed by package (or by function).
 * @param {string} file a .cpuprofile
 * @param {{fromMs?: number, toMs?: number, by?: 'package' | 'function'}} [options] fromMs: skip the first N ms of the profile; toMs: ignore what comes after N ms
 * @returns {{totalMs: number, windowMs: number, rows: {name: string, selfMs: number, scripts: number}[]}}
 */
export function summarizeProfile(file, {fromMs = 0, toMs = Infinity, by = 'package'} = {}) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const frames = new Map(prof.nodes.map((n) => [n.id, n.callFrame]));
  const rows = new Map();
  let t = prof.startTime;
  const from = prof.startTime + fromMs * 1000;
  const to = Math.min(prof.endTime, prof.startTime + toMs * 1000);
  prof.samples.forEach((id, i) => {
    // timeDeltas[i] is the time since the previous sample; it is charged to this one.
    const delta = prof.timeDeltas[i] ?? 0;
    t += delta;
    if (t < from || t > to) return;
    const frame = frames.get(id);
    const pseudo = frame.url === '' && PSEUDO.has(frame.functionName);
    const where = frame.url === '' ? (pseudo ? frame.functionName : '(native)') : packageOf(frame.url);
    const name = by === 'function' && !pseudo ? `${frame.functionName || '(anonymous)'} ${where}${frame.url ? `:${frame.url.split('/').pop()}:${frame.lineNumber + 1}` : ''}` : where;
    const row = rows.get(name) ?? {selfMs: 0, scripts: new Set()};
    row.selfMs += delta / 1000;
    if (frame.url !== '') row.scripts.add(frame.url);
    rows.set(name, row);
  });
  return {
    totalMs: (prof.endTime - prof.startTime) / 1000,
    windowMs: (to - from) / 1000,
    rows: [...rows].map(([name, r]) => ({name, selfMs: r.selfMs, scripts: r.scripts.size})).sort((a, b) => b.selfMs - a.selfMs),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const {values, positionals} = parseArgs({allowPositionals: true, options: {'from-ms': {type: 'string', default: '0'}, 'to-ms': {type: 'string', default: 'Infinity'}, functions: {type: 'boolean', default: false}, top: {type: 'string', default: '25'}}});
  for (const file of positionals) {
    const summary = summarizeProfile(file, {fromMs: Number(values['from-ms']), toMs: Number(values['to-ms']), by: values.functions ? 'function' : 'package'});
    const busy = summary.rows.filter((r) => r.name !== '(idle)').reduce((a, r) => a + r.selfMs, 0);
    process.stdout.write(`${file}: ${summary.windowMs.toFixed(0)} ms window, ${busy.toFixed(0)} ms busy\n`);
    for (const r of summary.rows.slice(0, Number(values.top))) process.stdout.write(`  ${r.selfMs.toFixed(1).padStart(9)} ms  ${r.name}${r.scripts ? ` (${r.scripts} files)` : ''}\n`);
  }
}
