/**
 * Scale experiment for the control plane (NOT part of the test suite: the
 * suite's include pattern is `*.test.ts`). It measures, for N peers on a
 * SimulatedClock over a MemoryNetwork with 5 ms latency and 1% loss: idle
 * traffic per node, how fast a change spreads, how fast a crash leaves every
 * view, and false positives meanwhile. Run:
 *
 *   N=3000 npx vitest run --config src/core/test/control-scale.vitest.config.mjs
 *
 * Stores are an in-memory fake that trusts entries instead of verifying their
 * Ed25519 signatures: N replicas verifying N records each is N^2 verifications
 * (9 million at 3,000 nodes), which would measure crypto, not the control plane.
 * A candidate for bench/ once the lead builds the 3,000-node benchmark.
 */
import {createHash} from 'node:crypto';
import {expect, it} from 'vitest';
import {z} from 'zod';
import {generateMeshId} from '../src/addressing/mesh-id.js';
import type {MergeResult, MeshStore, StoreChange, SyncRole, SyncSession, SyncStats} from '../src/contracts/store.js';
import {MeshControl} from '../src/control/mesh-control.js';
import {generateIdentity} from '../src/identity/identity.js';
import {compareEntries, entryBodySchema, isRecord, type NodeRecord, type SignedEntry, type VerifiedEntry} from '../src/model/record.js';
import {MemoryNetwork} from '../src/testkit/memory-transport.js';
import {SeededRandom} from '../src/testkit/seeded-random.js';
import {makeTestNode, silentLogger, type TestNode} from '../src/testkit/signed-fixtures.js';
import {SimulatedClock} from '../src/testkit/simulated-clock.js';
import {decode, encode} from '../src/util/codec.js';
import {DEFAULT_SETTINGS} from './control-sim.js';

const wireEntries = z.array(z.object({body: z.instanceof(Uint8Array), signature: z.instanceof(Uint8Array)}));

/** A MeshStore that trusts what it is given (decodes, never verifies); sync sends the whole state both ways. */
class TrustingStore implements MeshStore {
  readonly kind = 'trusting';
  private readonly held = new Map<string, VerifiedEntry>();
  private readonly listeners = new Set<(change: StoreChange) => void>();
  private readonly xor = new Uint8Array(32);

  constructor(readonly meshId: string) {}

  get size(): number {
    return this.held.size;
  }

  merge(entries: readonly SignedEntry[]): MergeResult {
    const result: MergeResult = {accepted: [], rejected: []};
    const changes: StoreChange[] = [];
    for (const entry of entries) {
      const verified: VerifiedEntry =
        'value' in entry
          ? (entry as VerifiedEntry)
          : {
              body: entry.body,
              signature: entry.signature,
              value: decode(entry.body, entryBodySchema, 'entry'),
              hash: new Uint8Array(createHash('sha256').update(entry.signature).update(entry.body).digest()),
            };
      const previous = this.held.get(verified.value.id);
      if (previous && compareEntries(verified, previous) <= 0) continue;
      for (let i = 0; i < 32; i++) this.xor[i]! ^= (previous?.hash[i] ?? 0) ^ verified.hash[i]!;
      this.held.set(verified.value.id, verified);
      result.accepted.push(verified);
      changes.push({id: verified.value.id, current: verified, previous});
    }
    for (const change of changes) for (const listener of this.listeners) listener(change);
    return result;
  }

  get(id: string): VerifiedEntry | undefined {
    return this.held.get(id);
  }

  entries(): VerifiedEntry[] {
    return [...this.held.values()];
  }

  records(): NodeRecord[] {
    return this.entries()
      .filter(isRecord)
      .map((entry) => entry.value)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  digest(): Uint8Array {
    const digest = new Uint8Array(36);
    new DataView(digest.buffer).setUint32(0, this.held.size);
    digest.set(this.xor, 4);
    return digest;
  }

  openSync(role: SyncRole): SyncSession {
    const stats: SyncStats = {messagesSent: 0, bytesSent: 0, bytesReceived: 0, entriesMerged: 0, entriesRejected: 0};
    let done = false;
    const everything = (): Uint8Array => {
      const message = encode(this.entries().map((entry) => ({body: entry.body, signature: entry.signature})));
      stats.messagesSent++;
      stats.bytesSent += message.byteLength;
      return message;
    };
    return {
      start: everything,
      receive: (message) => {
        stats.bytesReceived += message.byteLength;
        stats.entriesMerged += this.merge(decode(message, wireEntries, 'sync')).accepted.length;
        done = true;
        return role === 'responder' ? everything() : null;
      },
      get done() {
        return done;
      },
      stats: () => stats,
    };
  }

  save(): Uint8Array {
    return new Uint8Array(0);
  }

  load(): MergeResult {
    return {accepted: [], rejected: []};
  }

  collectGarbage(): number {
    return 0;
  }

  onChange(listener: (change: StoreChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

interface Node {
  test: TestNode;
  store: TrustingStore;
  control: MeshControl;
  close(): Promise<void>;
  up: boolean;
}

const N = Number(process.env.N ?? 1000);

it(`control plane at ${N} peers`, async () => {
  const wallStart = Date.now();
  const clock = new SimulatedClock();
  const random = new SeededRandom(9);
  const meshId = generateMeshId((n) => random.bytes(n));
  const network = new MemoryNetwork({clock, latencyMs: 5, lossRate: 0.01, random: random.fork()});
  const members = Array.from({length: N}, (_, i) => {
    const test = makeTestNode(meshId, {identity: generateIdentity(), now: clock.now()});
    return {test, name: `peer-${i}`, record: test.record({controlEndpoint: `peer-${i}`})};
  });
  const records = members.map((member) => member.record);
  let deaths = 0;
  const nodes: Node[] = [];
  for (const {test, name} of members) {
    const store = new TrustingStore(meshId);
    store.merge(records);
    const transport = network.transport(name);
    const control = new MeshControl({meshId, identity: test.identity, role: 'peer', store, transport, clock, random: random.fork(), logger: silentLogger(), settings: DEFAULT_SETTINGS});
    control.onLiveViewChange((change) => (deaths += change.died.length));
    await transport.listen({
      snapshot: async () => ({storeKind: store.kind, snapshot: store.save()}),
      openSync: () => store.openSync('responder'),
      message: (_meshId, payload, peer) => control.handleMessage(payload, peer),
    });
    control.start();
    nodes.push({test, store, control, close: () => transport.close(), up: true});
  }
  const report = (line: string): void => console.log(`[${N} peers] ${line}`);
  report(`set-up took ${Date.now() - wallStart} ms of wall time`);

  await clock.advance(10_000);
  const bytesBefore = network.stats.bytes;
  const idleWall = Date.now();
  await clock.advance(20_000);
  report(`idle: ${((network.stats.bytes - bytesBefore) / N / 20).toFixed(0)} payload bytes/s per node; ${((Date.now() - idleWall) / 20).toFixed(0)} ms of wall time per simulated second`);

  const source = nodes[7]!;
  const current = source.store.get(source.test.id)!.value as NodeRecord;
  const version = clock.now();
  source.store.merge([source.test.record({...current, alias: 'changed', version, updatedAt: version})]);
  const changeStart = clock.now();
  let t99 = -1;
  for (;;) {
    const holders = nodes.filter((node) => node.store.get(source.test.id)!.value.version === version).length;
    if (t99 < 0 && holders >= 0.99 * N) t99 = clock.now() - changeStart;
    if (holders === N || clock.now() - changeStart > 10_000) break;
    await clock.advance(5);
  }
  report(`change reached 99% in ${t99} ms and 100% in ${clock.now() - changeStart} ms`);

  const victim = nodes[11]!;
  await victim.control.stop();
  await victim.close();
  victim.up = false;
  const crashStart = clock.now();
  while (nodes.some((node) => node.up && node.control.isAlive(victim.test.id)) && clock.now() - crashStart < 20_000) await clock.advance(10);
  const detection = clock.now() - crashStart;
  await clock.advance(10_000);
  report(`crash left every live view in ${detection} ms; deaths observed ${deaths} (${N - 1} expected, one per live node)`);
  for (const node of nodes) await node.control.stop();
  report(`total wall time ${Date.now() - wallStart} ms`);
  expect(deaths).toBe(N - 1);
}, 3_600_000);
