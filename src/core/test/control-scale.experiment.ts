// Ad-hoc scale experiment (not a test): run with
//   npx vitest run --config /tmp/ctl/vitest.config.ts
import {createHash} from 'node:crypto';
import {it} from 'vitest';
import type {MeshStore, MergeResult, StoreChange, SyncSession, SyncStats, SyncRole} from '../src/contracts/store.js';
import {compareEntries, type SignedEntry, type VerifiedEntry, entryBodySchema, isRecord, type NodeRecord} from '../src/model/record.js';
import {decode, encode} from '../src/util/codec.js';
import {z} from 'zod';
import {generateMeshId} from '../src/addressing/mesh-id.js';
import {MeshControl} from '../src/control/mesh-control.js';
import {generateIdentity} from '../src/identity/identity.js';
import {MemoryNetwork} from '../src/testkit/memory-transport.js';
import {SeededRandom} from '../src/testkit/seeded-random.js';
import {makeTestNode, silentLogger} from '../src/testkit/signed-fixtures.js';
import {SimulatedClock} from '../src/testkit/simulated-clock.js';
import {DEFAULT_SETTINGS} from './control-sim.js';

class FakeStore implements MeshStore {
  readonly kind = 'fake';
  readonly held = new Map<string, VerifiedEntry>();
  private listeners = new Set<(c: StoreChange) => void>();
  private x = Buffer.alloc(32);
  constructor(readonly meshId: string) {}
  get size() { return this.held.size; }
  merge(entries: readonly SignedEntry[]): MergeResult {
    const r: MergeResult = {accepted: [], rejected: []};
    const changes: StoreChange[] = [];
    for (const e of entries) {
      const v: VerifiedEntry = 'value' in e ? (e as VerifiedEntry) : {body: e.body, signature: e.signature, value: decode(e.body, entryBodySchema, 'e'), hash: new Uint8Array(createHash('sha256').update(e.signature).update(e.body).digest())};
      const prev = this.held.get(v.value.id);
      if (prev && compareEntries(v, prev) <= 0) continue;
      if (prev) for (let i = 0; i < 32; i++) this.x[i]! ^= prev.hash[i]!;
      for (let i = 0; i < 32; i++) this.x[i]! ^= v.hash[i]!;
      this.held.set(v.value.id, v);
      r.accepted.push(v);
      changes.push({id: v.value.id, current: v, previous: prev});
    }
    for (const c of changes) for (const l of this.listeners) l(c);
    return r;
  }
  get(id: string) { return this.held.get(id); }
  entries() { return [...this.held.values()]; }
  records(): NodeRecord[] { return [...this.held.values()].filter(isRecord).map((e) => e.value).sort((a, b) => (a.id < b.id ? -1 : 1)); }
  digest() { const d = new Uint8Array(40); d.set(this.x, 8); new DataView(d.buffer).setUint32(0, this.held.size); return d; }
  openSync(role: SyncRole): SyncSession {
    const store = this;
    const stats: SyncStats = {messagesSent: 0, bytesSent: 0, bytesReceived: 0, entriesMerged: 0, entriesRejected: 0};
    let done = false;
    const all = () => encode([...store.held.values()].map((e) => ({body: e.body, signature: e.signature})));
    return {
      start() { const m = all(); stats.bytesSent += m.length; return m; },
      receive(msg) { stats.bytesReceived += msg.length; store.merge(decode(msg, z.array(z.object({body: z.instanceof(Uint8Array), signature: z.instanceof(Uint8Array)})), 's')); done = true; if (role === 'responder') { const m = all(); stats.bytesSent += m.length; return m; } return null; },
      get done() { return done; },
      stats: () => stats,
    };
  }
  save() { return new Uint8Array(); }
  load(): MergeResult { return {accepted: [], rejected: []}; }
  collectGarbage() { return 0; }
  onChange(l: (c: StoreChange) => void) { this.listeners.add(l); return () => this.listeners.delete(l); }
}

const N = Number(process.env.N ?? 1000);
it(`scale ${N}`, async () => {
  const t0 = Date.now();
  const clock = new SimulatedClock();
  const random = new SeededRandom(9);
  const meshId = generateMeshId((n) => random.bytes(n));
  const net = new MemoryNetwork({clock, latencyMs: 5, lossRate: 0.01, random: random.fork()});
  const tests = Array.from({length: N}, (_, i) => {
    const t = makeTestNode(meshId, {identity: generateIdentity(), now: clock.now()});
    return {t, name: `p${i}`, rec: t.record({controlEndpoint: `p${i}`})};
  });
  const nodes = tests.map(({t, name}) => {
    const store = new FakeStore(meshId);
    store.merge(tests.map((x) => x.rec));
    const transport = net.transport(name);
    const control = new MeshControl({meshId, identity: t.identity, role: 'peer', store, transport, clock, random: random.fork(), logger: silentLogger(), settings: DEFAULT_SETTINGS});
    return {t, name, store, transport, control, up: true};
  });
  let deaths = 0;
  for (const n of nodes) {
    n.control.onLiveViewChange((c) => (deaths += c.died.length));
    await n.transport.listen({snapshot: async () => ({storeKind: 'fake', snapshot: new Uint8Array()}), openSync: () => n.store.openSync('responder'), message: (_m, p, peer) => n.control.handleMessage(p, peer)});
    n.control.start();
  }
  console.log('setup ms', Date.now() - t0);
  let w = Date.now();
  await clock.advance(10_000);
  console.log('warmup 10 s simulated took ms', Date.now() - w);
  const b0 = net.stats.bytes; w = Date.now();
  await clock.advance(20_000);
  console.log('idle bytes/node/s', ((net.stats.bytes - b0) / N / 20).toFixed(0), 'wall per simulated s', (Date.now() - w) / 20, 'deaths', deaths);
  // change propagation
  const src = nodes[7]!;
  const cur = src.store.get(src.t.id)!.value as NodeRecord;
  const v = clock.now();
  src.store.merge([src.t.record({...cur, alias: 'x', version: v, updatedAt: v})]);
  let t99 = -1; const start = clock.now();
  for (;;) {
    const have = nodes.filter((n) => n.store.get(src.t.id)!.value.version === v).length;
    if (t99 < 0 && have >= 0.99 * N) t99 = clock.now() - start;
    if (have === N) break;
    if (clock.now() - start > 5000) { console.log('not all after 5s', have); break; }
    await clock.advance(5);
  }
  console.log('change 99%', t99, '100%', clock.now() - start);
  // crash
  const victim = nodes[11]!;
  await victim.control.stop(); await victim.transport.close(); victim.up = false;
  const cs = clock.now();
  for (;;) {
    const stale = nodes.filter((n) => n.up && n.control.isAlive(victim.t.id)).length;
    if (stale === 0) break;
    if (clock.now() - cs > 15_000) { console.log('crash not detected by', stale); break; }
    await clock.advance(50);
  }
  console.log('crash out of all views after', clock.now() - cs, 'deaths total', deaths);
  for (const n of nodes) await n.control.stop();
  console.log('total wall', Date.now() - t0);
}, 1_800_000);
