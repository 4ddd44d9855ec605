/**
 * The datagram path of the control plane, on a simulated clock: three peers
 * over the memory transport, each given a datagram capability that this file
 * routes to the receiving node's `handleDatagram` (and can drop, as a firewall
 * that drops UDP but passes TCP would). Direct heartbeats and pings go by
 * datagram; one that gets no reply goes over the stream at once; an endpoint
 * whose datagrams keep failing gets the stream only for a while; the server
 * side answers only authentic, fresh liveness requests of members, and does
 * no other work for anything else.
 */
import {createHash} from 'node:crypto';
import {Packr} from 'msgpackr';
import {describe, expect, it} from 'vitest';
import {MemoryNetwork, SeededRandom, makeTestNode, silentLogger, testMeshId, SimulatedClock} from '@wgmesh/testkit';
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import type {DatagramSource, Transport, TransportHandlers} from '../src/contracts/transport.js';
import {DatagramPaths, DATAGRAM_PATHS} from '../src/control/datagram-paths.js';
import {LivenessAuth} from '../src/control/liveness-auth.js';
import {MeshControl} from '../src/control/mesh-control.js';
import {decodeControlReply, decodeControlRequest, encodeControlRequest, type ControlRequest} from '../src/control/messages.js';
import {deriveTimings} from '../src/control/settings.js';
import {DatagramDeclinedError, PeerUnreachableError} from '../src/errors.js';
import {generateIdentity, type NodeIdentity} from '../src/identity/identity.js';
import {DEFAULT_SETTINGS} from './control-sim.js';

const START = Date.UTC(2026, 0, 1);

describe('DatagramPaths', () => {
  it('keeps an endpoint on datagrams until 3 failures in a row, then the stream only for 1 min, doubling to 10 min', async () => {
    const clock = new SimulatedClock(START);
    const paths = new DatagramPaths(clock);
    paths.failed('a');
    paths.failed('a');
    expect(paths.usable('a')).toBe(true);
    paths.worked('a'); // a reply ends the streak
    for (let i = 0; i < DATAGRAM_PATHS.failures; i++) paths.failed('a');
    expect(paths.usable('a')).toBe(false);
    expect(paths.usable('b')).toBe(true);
    await clock.advance(DATAGRAM_PATHS.firstWaitMs - 1);
    expect(paths.usable('a')).toBe(false);
    await clock.advance(1);
    expect(paths.usable('a')).toBe(true);
    // Tried again and failed again: twice as long, up to the cap.
    const waits: number[] = [];
    for (let round = 0; round < 5; round++) {
      paths.failed('a');
      const from = clock.now();
      while (!paths.usable('a')) await clock.advance(1_000);
      waits.push(clock.now() - from);
    }
    expect(waits).toEqual([120_000, 240_000, 480_000, 600_000, 600_000]);
    paths.worked('a');
    paths.failed('a');
    expect(paths.usable('a')).toBe(true);
  });
});

/** What the routed datagrams did. */
interface DatagramLog {
  /** `from>to` of every datagram request sent. */
  sent: string[];
  /** `from>to` of every request type that went over the stream. */
  streamed: string[];
}

/**
 * A memory transport plus a datagram capability: a request to an endpoint
 * reaches that node's datagram handler after the network's latency; a
 * request to or from an endpoint in `dropped` is lost (it never arrives, or
 * its reply never does), so the caller's signal ends it.
 */
class DatagramTransport implements Transport {
  readonly name = 'memory+datagram';
  readonly maxDatagramBytes = 1180;
  declineAll = false;

  constructor(
    private readonly inner: Transport,
    private readonly self: string,
    private readonly net: {clock: SimulatedClock; handlers: Map<string, TransportHandlers>; dropped: Set<string>; log: DatagramLog},
  ) {}

  listen(handlers: TransportHandlers): Promise<{port: number}> {
    this.net.handlers.set(this.self, handlers);
    return this.inner.listen(handlers);
  }

  fetchSnapshot(endpoint: string, meshId: string, signal?: AbortSignal) {
    return this.inner.fetchSnapshot(endpoint, meshId, signal);
  }

  sync(...args: Parameters<Transport['sync']>) {
    return this.inner.sync(...args);
  }

  message(endpoint: string, meshId: string, payload: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    this.net.log.streamed.push(`${decodeControlRequest(payload).t}:${this.self}>${endpoint}`);
    return this.inner.message(endpoint, meshId, payload, signal);
  }

  datagram(endpoint: string, meshId: string, payload: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    const {clock, handlers, dropped, log} = this.net;
    log.sent.push(`${this.self}>${endpoint}`);
    return new Promise((resolve, reject) => {
      signal.addEventListener('abort', () => reject(new PeerUnreachableError(endpoint, 'no datagram reply in time')), {once: true});
      if (dropped.has(endpoint) || dropped.has(this.self)) return;
      clock.setTimeout(() => {
        if (this.declineAll) return reject(new DatagramDeclinedError('the reply is for the stream'));
        void handlers
          .get(endpoint)
          ?.datagram?.(meshId, payload, {address: this.self})
          .then((reply) => reply && clock.setTimeout(() => resolve(reply), 5));
      }, 5);
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Node {
  name: string;
  identity: NodeIdentity;
  control: MeshControl;
  transport: DatagramTransport;
  store: TwoPhaseStore;
  /** Calls of the NAT exchange's `observedFor` (work done for a heartbeat). */
  observedCalls: number;
}

/** Three peers over one simulated network with datagrams. */
/**
 * `payload` as a member that compares no digests on pings would read it
 * (the digests dropped; the ping's tag does not cover them).
 */
function withoutPingDigests(payload: Uint8Array): Uint8Array {
  const request = decodeControlRequest(payload);
  if (request.t !== 'ping') return payload;
  const {sd: _sd, md: _md, ...ping} = request;
  return encodeControlRequest(ping);
}

/** Three peers over one simulated network with datagrams; the nodes named in `pingsWithoutDigests` answer pings as members that compare no digests on them. */
async function mesh(settings: Partial<typeof DEFAULT_SETTINGS> & {controlDatagrams?: boolean} = {}, pingsWithoutDigests: readonly string[] = []) {
  const clock = new SimulatedClock(START);
  const random = new SeededRandom(7);
  const meshId = testMeshId((n) => random.bytes(n));
  const network = new MemoryNetwork({clock, latencyMs: 5, lossRate: 0, random: random.fork()});
  const net = {clock, handlers: new Map<string, TransportHandlers>(), dropped: new Set<string>(), log: {sent: [], streamed: []} as DatagramLog};
  const tests = ['p0', 'p1', 'p2'].map((name) => ({name, test: makeTestNode(meshId, {identity: generateIdentity((n) => random.bytes(n)), now: START})}));
  const records = tests.map(({name, test}) => test.record({role: 'peer', controlEndpoint: name, wgEndpoint: `${name}:51820`}));
  const all = {...DEFAULT_SETTINGS, ...settings};
  const nodes: Node[] = tests.map(({name, test}) => {
    const store = new TwoPhaseStore({meshId, clock, logger: silentLogger(), gcHorizonMs: 24 * 3_600_000, maxClockSkewMs: 60_000});
    store.merge(records);
    const transport = new DatagramTransport(network.transport(name), name, net);
    const node: Node = {name, identity: test.identity, transport, store, observedCalls: 0, control: undefined as unknown as MeshControl};
    node.control = new MeshControl({
      meshId,
      identity: test.identity,
      role: 'peer',
      store,
      transport,
      clock,
      random: random.fork(),
      logger: silentLogger(),
      settings: all,
      endpoints: {
        observedFor: async () => {
          node.observedCalls++;
          return undefined;
        },
        observedBy: () => undefined,
      },
    });
    return node;
  });
  for (const node of nodes) {
    await node.transport.listen({
      snapshot: async () => {
        throw new Error('not used');
      },
      openSync: () => {
        throw new Error('not used');
      },
      message: (_meshId, payload, peer) => node.control.handleMessage(pingsWithoutDigests.includes(node.name) ? withoutPingDigests(payload) : payload, peer),
      datagram: (_meshId, payload: Uint8Array, _source: DatagramSource) => node.control.handleDatagram(pingsWithoutDigests.includes(node.name) ? withoutPingDigests(payload) : payload, () => true),
    });
    node.control.start();
  }
  const deaths = (): number => nodes.reduce((sum, node) => sum + node.control.stats().deathsObserved, 0);
  const allAlive = (): boolean => nodes.every((observer) => nodes.every((target) => observer.control.isAlive(target.identity.nodeId)));
  return {clock, meshId, net, nodes, deaths, allAlive, settings: all};
}

/** Liveness requests (heartbeats, pings) that went over the stream. */
const streamedLiveness = (log: DatagramLog): string[] => log.streamed.filter((line) => line.startsWith('hb:') || line.startsWith('ping:'));

describe('liveness messages by datagram', () => {
  it('send every direct heartbeat by datagram when the transport offers it, and answer it by datagram', async () => {
    const {clock, net, nodes, allAlive} = await mesh();
    await clock.advance(20_000);
    expect(allAlive()).toBe(true);
    for (const node of nodes) {
      const stats = node.control.stats();
      expect(stats.datagramsSent, node.name).toBeGreaterThanOrEqual(15);
      expect(stats.datagramsAnswered, node.name).toBeGreaterThanOrEqual(15);
      expect(stats.datagramFallbacks, node.name).toBe(0);
    }
    expect(streamedLiveness(net.log)).toEqual([]);
  });

  it('compare anti-entropy digests by datagram too, the rounds pullInterval forces included: an idle mesh opens no stream at all', async () => {
    const {clock, net, nodes, allAlive, settings} = await mesh();
    // Start-up pushes each node's own record over the stream (entries are for the stream only).
    await clock.advance(5_000);
    const started = net.log.streamed.length;
    const rounds = nodes.map((node) => node.control.stats().antiEntropyRounds);
    await clock.advance(5 * settings.pullIntervalMs);
    expect(allAlive()).toBe(true);
    nodes.forEach((node, index) => expect(node.control.stats().antiEntropyRounds - rounds[index]!, node.name).toBeGreaterThanOrEqual((5 * settings.pullIntervalMs) / settings.syncIntervalMs - 2));
    expect(net.log.streamed.slice(started)).toEqual([]);
  });

  it('ask a member that compares no digests on pings with an ae request over the stream', async () => {
    const {clock, net, settings} = await mesh({}, ['p1']);
    await clock.advance(5_000);
    const started = net.log.streamed.length;
    await clock.advance(3 * settings.pullIntervalMs);
    const streamed = net.log.streamed.slice(started);
    expect(streamed.length).toBeGreaterThan(0);
    expect(new Set(streamed)).toEqual(new Set(streamed.filter((line) => line.startsWith('ae:') && line.endsWith('>p1'))));
  });

  it('with datagrams to and from one node lost: the same heartbeats go over the stream at once, nobody dies, and that node gets the stream only after 3 failures', async () => {
    const {clock, net, nodes, deaths, allAlive} = await mesh();
    await clock.advance(5_000);
    net.dropped.add('p2');
    const toP2 = (): number => net.log.sent.filter((line) => line.endsWith('>p2')).length;
    const fromP2 = (): number => net.log.sent.filter((line) => line.startsWith('p2>')).length;
    const before = {to: toP2(), from: fromP2()};
    for (let step = 0; step < 60; step++) {
      await clock.advance(1_000);
      expect(allAlive(), `every member alive ${step + 1} s after the drop`).toBe(true);
    }
    expect(deaths()).toBe(0);
    // No relay was needed: the stream fallback carried each heartbeat.
    expect(nodes.reduce((sum, node) => sum + node.control.stats().heartbeatsRelayed, 0)).toBe(0);
    expect(streamedLiveness(net.log).length).toBeGreaterThanOrEqual(40);
    // Each of the two other nodes tried datagrams to p2 three times (then the stream for 1 min); p2 tried each of them three times.
    expect(toP2() - before.to).toBeLessThanOrEqual(2 * DATAGRAM_PATHS.failures + 2);
    expect(fromP2() - before.from).toBeLessThanOrEqual(2 * DATAGRAM_PATHS.failures + 2);
    expect(nodes.find((node) => node.name === 'p2')!.control.stats().datagramFallbacks).toBeGreaterThanOrEqual(DATAGRAM_PATHS.failures);
    // Datagrams between the two others still flow.
    const between = net.log.sent.filter((line) => line === 'p0>p1' || line === 'p1>p0').length;
    net.dropped.clear();
    await clock.advance(DATAGRAM_PATHS.firstWaitMs + 10_000);
    expect(net.log.sent.filter((line) => line === 'p0>p1' || line === 'p1>p0').length).toBeGreaterThan(between);
    // Once the wait is over, datagrams to p2 are tried again and work: no more liveness over the stream.
    const streamed = streamedLiveness(net.log).length;
    await clock.advance(10_000);
    expect(streamedLiveness(net.log).length).toBe(streamed);
    expect(allAlive()).toBe(true);
  });

  it('go over the stream at once when the member declines the datagram, without backing off datagrams', async () => {
    const {clock, net, nodes, allAlive} = await mesh();
    for (const node of nodes) node.transport.declineAll = true;
    await clock.advance(20_000);
    expect(allAlive()).toBe(true);
    const stats = nodes.map((node) => node.control.stats());
    // Every heartbeat was tried by datagram first (declining is an answer, not a failure of the path).
    for (const s of stats) {
      expect(s.datagramsDeclined).toBe(s.datagramsSent);
      expect(s.datagramFallbacks).toBe(0);
    }
    expect(stats.reduce((sum, s) => sum + s.datagramsSent, 0)).toBeGreaterThanOrEqual(45);
    expect(streamedLiveness(net.log).length).toBe(stats.reduce((sum, s) => sum + s.datagramsSent, 0));
  });

  it('are not used with controlDatagrams: false, and datagrams are then not answered', async () => {
    const {clock, net, nodes, allAlive} = await mesh({controlDatagrams: false});
    await clock.advance(10_000);
    expect(allAlive()).toBe(true);
    expect(net.log.sent).toEqual([]);
    const [a, b] = nodes as [Node, Node];
    expect(await a.control.handleDatagram(encodeControlRequest({t: 'ping', f: b.identity.nodeId, ts: 1, a: new Uint8Array(16)}), () => true)).toBeUndefined();
  });
});

describe('control messages on the wire', () => {
  it('encode each map with its shortest header, and still read the 3-byte headers earlier versions wrote', () => {
    const hb: ControlRequest = {t: 'hb', f: generateIdentity().nodeId, i: 3, ts: START, a: new Uint8Array(16).fill(7), sd: new Uint8Array(16).fill(1), md: new Uint8Array(0)};
    const bytes = encodeControlRequest(hb);
    // fixmap of 7 keys: one byte, 0x80 | 7.
    expect(bytes[0]).toBe(0x87);
    // Binary fields decode as Buffers: compared through their encoding.
    expect(encodeControlRequest(decodeControlRequest(bytes))).toEqual(bytes);
    const map16 = new Packr({useRecords: false, mapsAsObjects: true}).pack(hb);
    expect([...map16.subarray(0, 3)]).toEqual([0xde, 0x00, 0x07]);
    expect(map16.byteLength).toBe(bytes.byteLength + 2);
    expect(encodeControlRequest(decodeControlRequest(map16))).toEqual(bytes);
  });
});

describe('handleDatagram', () => {
  /** `from`'s tagger, as its own control plane has it. */
  function taggerOf(from: Node, meshId: string, clock: SimulatedClock, wgKeyOf: (id: string) => string | undefined): LivenessAuth {
    const timings = deriveTimings(DEFAULT_SETTINGS);
    return new LivenessAuth({meshId, identity: from.identity, clock, wgKeyOf, windowMs: timings.livenessWindowMs, maxClockSkewMs: DEFAULT_SETTINGS.maxClockSkewMs, keyGraceMs: timings.keyGraceMs});
  }

  /** A running mesh, its node `a` receiving datagrams, and `b`'s tagger for requests to `a` (id `to`). */
  async function receiverAndSender() {
    const {clock, meshId, nodes} = await mesh();
    const [a, b] = nodes as [Node, Node, Node];
    await clock.advance(100);
    const keys = new Map(nodes.map((node) => [node.identity.nodeId, node.identity.wgPublicKey]));
    return {nodes, a, b, auth: taggerOf(b, meshId, clock, (id) => keys.get(id)), to: a.identity.nodeId};
  }

  it("compares a heartbeat's store digest in its 16-byte form, and a whole store digest as earlier versions sent it", async () => {
    const {a, b, auth, to} = await receiverAndSender();
    const sameStore = async (sd: Uint8Array): Promise<boolean | undefined> => {
      const ts = auth.stamp();
      const request = encodeControlRequest({t: 'hb', f: b.identity.nodeId, i: 0, ts, a: auth.tag('hb', to, ts)!, sd, md: new Uint8Array(0)});
      const reply = decodeControlReply((await a.control.handleDatagram(request, () => true))!);
      return reply.t === 'ok' ? reply.s : undefined;
    };
    const flipped = (bytes: Uint8Array): Uint8Array => Uint8Array.from(bytes, (byte, index) => (index === 0 ? byte ^ 1 : byte));
    const full = b.store.digest();
    const short = createHash('sha256').update(full).digest().subarray(0, 16);
    expect(full.byteLength).toBeGreaterThan(16);
    expect(await sameStore(short)).toBe(true);
    expect(await sameStore(full)).toBe(true);
    expect(await sameStore(flipped(short))).toBe(false);
    expect(await sameStore(flipped(full))).toBe(false);
  });

  it('answers digests at their size bounds on heartbeats and pings, and refuses them one byte over', async () => {
    const {a, b, auth, to} = await receiverAndSender();
    const answer = async (t: 'hb' | 'ping', sd: Uint8Array, md: Uint8Array): Promise<boolean | undefined> => {
      const ts = auth.stamp();
      const tagged = {f: b.identity.nodeId, ts, a: auth.tag(t, to, ts)!, sd, md};
      const request = encodeControlRequest(t === 'hb' ? {t, i: 0, ...tagged} : {t, ...tagged});
      const reply = await a.control.handleDatagram(request, () => true);
      if (reply === undefined) return undefined;
      const decoded = decodeControlReply(reply);
      return decoded.t === 'ok' ? decoded.s : undefined;
    };
    for (const t of ['hb', 'ping'] as const) {
      // A store digest may be up to 1,024 bytes, a statement digest up to 64: at the bounds they are compared (and differ).
      expect(await answer(t, new Uint8Array(1024), new Uint8Array(64)), `${t} at the bounds`).toBe(false);
      expect(await answer(t, new Uint8Array(1025), new Uint8Array(0)), `${t} with a store digest of 1,025 bytes`).toBeUndefined();
      expect(await answer(t, new Uint8Array(16), new Uint8Array(65)), `${t} with a statement digest of 65 bytes`).toBeUndefined();
    }
  });

  it('answers an authentic, fresh heartbeat of a member, and nothing else, doing no other work for what it refuses', async () => {
    const {nodes, a, b, auth, to} = await receiverAndSender();
    const hb = (ts: number, tag: Uint8Array, f = b.identity.nodeId): Uint8Array => encodeControlRequest({t: 'hb', f, i: 0, ts, a: tag});
    const refused = async (what: string, payload: Uint8Array, admits: (id: string) => boolean = () => true): Promise<void> => {
      const before = {stats: a.control.stats(), observed: a.observedCalls};
      expect(await a.control.handleDatagram(payload, admits), what).toBeUndefined();
      expect(a.control.stats().messagesReceived, `${what}: not counted as received`).toBe(before.stats.messagesReceived);
      expect(a.control.stats().datagramsAnswered, what).toBe(before.stats.datagramsAnswered);
      expect(a.observedCalls, `${what}: no work beyond the check`).toBe(before.observed);
    };

    const ts = auth.stamp() + 1_000;
    const tag = auth.tag('hb', to, ts)!;
    await refused('a forged tag', hb(ts, new Uint8Array(16).fill(1)));
    await refused('a tag for another receiver', hb(ts, auth.tag('hb', nodes[2]!.identity.nodeId, ts)!));
    await refused('a sender that is not admitted', hb(ts, tag), () => false);
    await refused('a sender that is not a member', hb(ts, tag, generateIdentity().nodeId));
    await refused('not MessagePack', new Uint8Array([0xc1, 1, 2]));
    await refused('a request that is not liveness', encodeControlRequest({t: 'ae', f: b.identity.nodeId, sd: new Uint8Array(40), md: new Uint8Array(16)} as ControlRequest));
    await refused('a relayed heartbeat', encodeControlRequest({t: 'relay', f: b.identity.nodeId, to, i: 0, ts, a: tag}));

    const observed = a.observedCalls;
    const reply = await a.control.handleDatagram(hb(ts, tag), () => true);
    expect(reply).toBeDefined();
    const ack = decodeControlReply(reply!);
    expect(ack.t).toBe('ok');
    expect(auth.checkAck(to, ts, ack.t === 'ok' ? ack.a : undefined)).toBe(true);
    expect(a.observedCalls).toBe(observed + 1);
    await refused('the same heartbeat again (a replay)', hb(ts, tag));
    await refused('an older stamp', hb(ts - 1, auth.tag('hb', to, ts - 1)!));
  });
});
