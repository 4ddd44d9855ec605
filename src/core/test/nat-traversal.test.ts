import {describe, expect, it} from 'vitest';
import {meshPrefix, type NodeRecord, type Role} from '../src/index.js';
import {planWireGuard, homePeer} from '../src/runtime/wg-plan.js';
import {decodeControlReply, encodeControlReply} from '../src/control/messages.js';
import {verifyEntry} from '../src/model/entries.js';
import {MAX_NAT_DIRECT_PEERS, nodeRecordSchema, type NatInfo} from '../src/model/record.js';
import {handshakenPeers, OBSERVED_HANDSHAKE_MAX_AGE_MS} from '../src/nat/agent.js';
import {parseIpEndpoint} from '../src/nat/ip-endpoint.js';
import {ObservedEndpoints} from '../src/nat/observations.js';
import {DEFAULT_PUNCH_SETTINGS, mayPunch, Punches, type PunchCandidate, type PunchStats} from '../src/nat/punch.js';
import {decode, encode} from '../src/util/codec.js';
import {z} from 'zod';
import {FIXTURE_NOW, makeTestNode, testMeshId} from '@wgmesh/testkit';

const meshId = testMeshId();
const local = {port: 51820, addresses: ['10.1.0.2', '127.0.0.1']};

function node(role: Role, nat?: NatInfo): NodeRecord {
  const endpoints = role === 'peer' ? {controlEndpoint: '192.0.2.1:4000', wgEndpoint: `192.0.2.${Math.floor(Math.random() * 200) + 1}:51820`} : {controlEndpoint: null, wgEndpoint: null};
  return makeTestNode(meshId).recordBody({role, ...endpoints, ...(nat ? {nat} : {})});
}

describe('observed endpoints', () => {
  it('accepts only IP endpoints', () => {
    expect(parseIpEndpoint('198.18.1.1:51820')).toEqual({host: '198.18.1.1', port: 51820, family: 4});
    expect(parseIpEndpoint('[fd00::1]:1')).toEqual({host: 'fd00::1', port: 1, family: 6});
    for (const bad of ['host.example:51820', '198.18.1.1', '198.18.1.1:0', '198.18.1.1:65536', 'fd00::1:80', '[198.18.1.1]:80', `[${'1:'.repeat(30)}1]:80`]) {
      expect(parseIpEndpoint(bad), bad).toBeUndefined();
    }
  });

  it('classifies: one observer unknown, two that agree endpoint-independent, two that differ varies, own socket none', () => {
    const seen = new ObservedEndpoints();
    expect(seen.summary(0, local)).toEqual({endpoint: null, mapping: 'unknown'});
    seen.report('a', '198.18.1.1:51820', 0);
    expect(seen.summary(0, local)).toEqual({endpoint: '198.18.1.1:51820', mapping: 'unknown'});
    seen.report('b', '198.18.1.1:51820', 1);
    expect(seen.summary(1, local)).toEqual({endpoint: '198.18.1.1:51820', mapping: 'endpoint-independent'});
    seen.report('b', '198.18.1.1:40000', 2);
    expect(seen.summary(2, local)).toEqual({endpoint: null, mapping: 'varies'});
    const open = new ObservedEndpoints();
    open.report('a', '10.1.0.2:51820', 0);
    open.report('b', '10.1.0.2:51820', 0);
    expect(open.summary(0, local)).toEqual({endpoint: '10.1.0.2:51820', mapping: 'none'});
  });

  it('forgets reports after their time, keeps a bounded number of observers, and ignores garbage', () => {
    const seen = new ObservedEndpoints({maxObservers: 3, ttlMs: 1_000});
    expect(seen.report('x', 'not an endpoint', 0)).toBe(false);
    for (let i = 0; i < 10; i++) seen.report(`m${i}`, `198.18.1.1:${1000 + i}`, i);
    expect(seen.fresh(10).map(([id]) => id)).toEqual(['m7', 'm8', 'm9']);
    expect(seen.summary(2_000, local)).toEqual({endpoint: null, mapping: 'unknown'});
  });

  it('the ok and ae replies carry an observed endpoint; a malformed one is dropped, not the reply', () => {
    expect(decodeControlReply(encodeControlReply({t: 'ok', w: '198.18.1.1:51820'}))).toEqual({t: 'ok', w: '198.18.1.1:51820'});
    expect(decodeControlReply(encode({t: 'ok', w: 'x'.repeat(5000)}))).toEqual({t: 'ok'});
    expect(decodeControlReply(encode({t: 'ok', w: 42}))).toEqual({t: 'ok'});
    expect(decodeControlReply(encodeControlReply({t: 'ae', s: true, w: '[fd00::1]:51820'}))).toEqual({t: 'ae', s: true, w: '[fd00::1]:51820'});
    expect(decodeControlReply(encode({t: 'ae', s: true, w: 'evil.example:53'}))).toEqual({t: 'ae', s: true});
    // The extremes of a port and of an address's length.
    expect(decodeControlReply(encode({t: 'ok', w: '198.18.1.1:65535'}))).toEqual({t: 'ok', w: '198.18.1.1:65535'});
    for (const w of ['198.18.1.1:0', '198.18.1.1:65536', '198.18.1.1:99999999', `[${'f'.repeat(60)}]:1`, '256.1.1.1:1']) {
      expect(decodeControlReply(encode({t: 'ok', w})), w).toEqual({t: 'ok'});
    }
  });
});

describe('records with NAT information', () => {
  it('a client record may carry its reflexive endpoint; one that is not an IP endpoint is rejected', () => {
    const client = makeTestNode(meshId, {now: FIXTURE_NOW});
    const options = {meshId, now: FIXTURE_NOW, maxClockSkewMs: 1000};
    const good = client.record({role: 'client', controlEndpoint: null, wgEndpoint: null, nat: {endpoint: '198.18.1.1:51820', mapping: 'endpoint-independent'}});
    expect(verifyEntry(good, options).value).toMatchObject({nat: {endpoint: '198.18.1.1:51820'}});
    const bad = client.record({role: 'client', controlEndpoint: null, wgEndpoint: null, nat: {endpoint: 'evil.example:53', mapping: 'endpoint-independent'}});
    expect(() => verifyEntry(bad, options)).toThrow(/nat/);
    for (const endpoint of ['198.18.1.1:0', '198.18.1.1:65536', `198.18.1.1:${'9'.repeat(10_000)}`]) {
      const extreme = client.record({role: 'client', controlEndpoint: null, wgEndpoint: null, nat: {endpoint, mapping: 'endpoint-independent'}});
      expect(() => verifyEntry(extreme, options), endpoint.slice(0, 30)).toThrow(/nat/);
    }
    const unknownMapping = client.record({role: 'client', controlEndpoint: null, wgEndpoint: null, nat: {endpoint: null, mapping: 'full-cone' as NatInfo['mapping']}});
    expect(() => verifyEntry(unknownMapping, options)).toThrow(/nat/);
  });

  it('a client record lists at most MAX_NAT_DIRECT_PEERS node ids as handshaken directly; more, or anything else, is rejected', () => {
    const client = makeTestNode(meshId, {now: FIXTURE_NOW});
    const options = {meshId, now: FIXTURE_NOW, maxClockSkewMs: 1000};
    const ids = (n: number): string[] => Array.from({length: n}, (_, i) => i.toString(16).padStart(32, '0'));
    const withDirect = (direct: string[]) => client.record({role: 'client', controlEndpoint: null, wgEndpoint: null, nat: {endpoint: null, mapping: 'unknown', direct}});
    expect(verifyEntry(withDirect(ids(MAX_NAT_DIRECT_PEERS)), options).value).toMatchObject({nat: {direct: ids(MAX_NAT_DIRECT_PEERS)}});
    expect(() => verifyEntry(withDirect(ids(MAX_NAT_DIRECT_PEERS + 1)), options)).toThrow(/nat/);
    for (const bad of ['p2', 'A'.repeat(32), '0'.repeat(10_000)]) expect(() => verifyEntry(withDirect([bad]), options), bad.slice(0, 20)).toThrow(/nat/);
  });
});

describe('direct paths a client has handshaken', () => {
  const peers = [node('peer'), node('peer'), node('peer'), node('peer')];
  const now = 10_000_000;
  it('lists the peers whose handshake is at most 180 s old, sorted; an older one, none, or a key not asked about does not count', () => {
    const [a, b, c, d] = peers as [NodeRecord, NodeRecord, NodeRecord, NodeRecord];
    const stat = (latestHandshakeMs: number | null) => ({publicKey: '', latestHandshakeMs, rxBytes: 0, txBytes: 0, endpoint: null});
    const stats = new Map([
      [a.wgPublicKey, stat(now - 1_000)],
      [b.wgPublicKey, stat(now - OBSERVED_HANDSHAKE_MAX_AGE_MS)],
      [c.wgPublicKey, stat(now - OBSERVED_HANDSHAKE_MAX_AGE_MS - 1)],
      [d.wgPublicKey, stat(null)],
      ['X'.repeat(43) + '=', stat(now)],
    ]);
    expect(handshakenPeers([d, c, b, a], stats, now)).toEqual([a.id, b.id].sort());
    expect(handshakenPeers([], stats, now)).toEqual([]);
  });
});

describe('record compatibility', () => {
  it('a daemon whose schema predates the nat field still accepts a record that carries one (the field is dropped, the signed bytes kept)', () => {
    const client = makeTestNode(meshId, {now: FIXTURE_NOW});
    const entry = client.record({role: 'client', controlEndpoint: null, wgEndpoint: null, nat: {endpoint: '198.18.1.1:51820', mapping: 'endpoint-independent'}});
    const older = nodeRecordSchema.omit({nat: true});
    const parsed = older.safeParse(decode(entry.body, z.unknown(), 'entry'));
    expect(parsed.success).toBe(true);
    expect(parsed.data).not.toHaveProperty('nat');
  });
});

describe('direct paths in the WireGuard plan', () => {
  const prefix = meshPrefix(meshId);
  const open: NatInfo = {endpoint: null, mapping: 'unknown'};
  const peers = [node('peer', open), node('peer', open), node('peer', open)];
  const ei = (endpoint: string): NatInfo => ({endpoint, mapping: 'endpoint-independent'});
  /** `client` as it publishes once its WireGuard handshook with `peers` on direct entries. */
  const handshook = (client: NodeRecord, with_: readonly NodeRecord[]): NodeRecord => ({...client, nat: {...client.nat!, direct: with_.map((p) => p.id).sort()}});
  const notHome = (client: NodeRecord, among: readonly NodeRecord[]): NodeRecord[] => among.filter((p) => p.id !== homePeer(client.id, among)!.id && p.nat !== undefined);
  const fresh = [node('client', ei('198.18.1.1:51820')), node('client', ei('198.18.1.2:51820')), node('client', {endpoint: null, mapping: 'varies'})];
  const clients = fresh.map((c) => handshook(c, notHome(c, peers)));
  const all = [...peers, ...clients];

  it('leaves members without NAT traversal (no nat field) as they were: relayed through the home peer', () => {
    const old = [node('peer'), node('peer'), node('client'), node('client')];
    for (const self of old) {
      const plain = planWireGuard({selfId: self.id, self, live: old, prefix, keepaliveSeconds: 0});
      expect(planWireGuard({selfId: self.id, self, live: old, prefix, keepaliveSeconds: 0, directToPeers: true})).toEqual(plain);
    }
  });

  it('a client gets every peer: its home with the /64, the others with their /128 and those of their homed clients it reaches through them', () => {
    const client = clients[0]!;
    const home = homePeer(client.id, peers)!;
    const plan = planWireGuard({selfId: client.id, self: client, live: all, prefix, keepaliveSeconds: 25, directToPeers: true});
    expect(plan.peers[0]).toEqual({publicKey: home.wgPublicKey, endpoint: home.wgEndpoint, allowedIps: [prefix], keepaliveSeconds: 25});
    const others = peers.filter((p) => p.id !== home.id);
    // Two direct clients meet at the home of the one with the lower id.
    const homedAt = (peer: NodeRecord): string[] => clients.filter((c) => c.id < client.id && homePeer(c.id, peers)!.id === peer.id).map((c) => `${c.address}/128`);
    expect(plan.peers.slice(1)).toEqual(others.map((p) => ({publicKey: p.wgPublicKey, endpoint: p.wgEndpoint, allowedIps: [`${p.address}/128`, ...homedAt(p)], keepaliveSeconds: 25})));
  });

  it('a direct entry carries nothing until the client lists the peer as handshaken; both ends keep the traffic on the home peer until then', () => {
    const client = fresh[0]!;
    const home = homePeer(client.id, peers)!;
    const [other] = notHome(client, peers) as [NodeRecord];
    const live = [...peers, client, ...clients.slice(1)];
    // The client: an entry for the other peer (so WireGuard handshakes, with a keepalive even when it has none), routing nothing.
    const own = planWireGuard({selfId: client.id, self: client, live, prefix, keepaliveSeconds: 0, directToPeers: true});
    expect(own.peers.find((p) => p.publicKey === other.wgPublicKey)).toEqual({publicKey: other.wgPublicKey, endpoint: other.wgEndpoint, allowedIps: [], keepaliveSeconds: 25});
    // The other peer: an entry for the client routing nothing; the client's /128 stays on its home's entry.
    const theirs = planWireGuard({selfId: other.id, self: other, live, prefix, keepaliveSeconds: 0, directToPeers: true});
    expect(theirs.peers.find((p) => p.publicKey === client.wgPublicKey)?.allowedIps).toEqual([]);
    expect(theirs.peers.find((p) => p.publicKey === home.wgPublicKey)?.allowedIps).toContain(`${client.address}/128`);
    // Listed: both ends move it to the direct entry.
    const listed = handshook(client, [other]);
    const after = [...peers, listed, ...clients.slice(1)];
    expect(planWireGuard({selfId: client.id, self: listed, live: after, prefix, keepaliveSeconds: 0, directToPeers: true}).peers.find((p) => p.publicKey === other.wgPublicKey)?.allowedIps).toContain(`${other.address}/128`);
    const moved = planWireGuard({selfId: other.id, self: other, live: after, prefix, keepaliveSeconds: 0, directToPeers: true});
    expect(moved.peers.find((p) => p.publicKey === client.wgPublicKey)?.allowedIps).toEqual([`${client.address}/128`]);
    expect(moved.peers.find((p) => p.publicKey === home.wgPublicKey)?.allowedIps).not.toContain(`${client.address}/128`);
  });

  it.each([0, 1, 2, 3, 4, 5, 6, 7])('every packet between any two members is delivered, each hop accepted by WireGuard on the way (mixed settings, a punched pair, handshakes done or not: case %i)', (seed) => {
    // Members with NAT traversal on (a nat field) and off, peers and clients; c0 and c1 have a punched direct path.
    const mixedPeers = [node('peer', open), node('peer', open), node('peer'), node('peer', open)];
    const unlisted = [node('client', ei('198.18.1.1:1')), node('client', ei('198.18.1.2:2')), node('client', {endpoint: null, mapping: 'varies'}), node('client'), node('client', ei('198.18.1.4:4')), node('client')];
    // Each client with NAT traversal on has handshaken with a subset of its other direct peers, picked by the case's bits.
    let bit = 0;
    const mixedClients = unlisted.map((c) => (c.nat ? handshook(c, notHome(c, mixedPeers).filter(() => ((seed * 37 + 11) >> bit++ % 9) % 2 === 1)) : c));
    const members = [...mixedPeers, ...mixedClients];
    const [c0, c1] = mixedClients as [NodeRecord, NodeRecord];
    const punchedFor = (self: NodeRecord) => {
      const other = self.id === c0.id ? c1 : self.id === c1.id ? c0 : undefined;
      return other ? new Map([[other.id, {wgPublicKey: other.wgPublicKey, endpoint: other.nat!.endpoint!, carries: true, keepaliveSeconds: 2}]]) : undefined;
    };
    const plans = new Map(members.map((self) => [self.id, planWireGuard({selfId: self.id, self, live: members, prefix, keepaliveSeconds: 0, directToPeers: self.nat !== undefined, punched: punchedFor(self)})]));
    const byKey = new Map(members.map((m) => [m.wgPublicKey, m]));
    /** The entry of `at`'s plan that WireGuard sends `address` to: a /128 wins over the /64. */
    const entryFor = (at: NodeRecord, address: string) => {
      const entries = plans.get(at.id)!.peers;
      return entries.find((e) => e.allowedIps.includes(`${address}/128`)) ?? entries.find((e) => e.allowedIps.includes(prefix));
    };
    const failures: string[] = [];
    for (const from of members) {
      for (const to of members) {
        if (from === to) continue;
        let at = from;
        const hops: string[] = [];
        for (let hop = 0; at !== to; hop++) {
          const entry = entryFor(at, to.address);
          const next = entry && byKey.get(entry.publicKey);
          // WireGuard accepts the packet only when its source routes back to the sender there (longest prefix).
          const back = next && entryFor(next, from.address);
          if (!next || back?.publicKey !== at.wgPublicKey || hop > 3) {
            failures.push(`${members.indexOf(from)}->${members.indexOf(to)} dropped after ${hops.length} hops`);
            break;
          }
          hops.push(String(members.indexOf(next)));
          at = next;
        }
      }
    }
    expect(failures).toEqual([]);
    // The punched pair talks directly.
    expect(entryFor(c0, c1.address)?.publicKey).toBe(c1.wgPublicKey);
  });

  it('a peer gets every client that handshook with it directly, at its reflexive endpoint when it maps alike for all, and no /128 is on two entries', () => {
    for (const self of peers) {
      const plan = planWireGuard({selfId: self.id, self, live: all, prefix, keepaliveSeconds: 0, directToPeers: true});
      const allowed = plan.peers.flatMap((peer) => peer.allowedIps);
      expect([...allowed].sort()).toEqual(all.filter((n) => n.id !== self.id).map((n) => `${n.address}/128`).sort());
      for (const client of clients) {
        const entry = plan.peers.find((peer) => peer.publicKey === client.wgPublicKey)!;
        expect(entry.allowedIps).toEqual([`${client.address}/128`]);
        const homed = homePeer(client.id, peers)!.id === self.id;
        expect(entry.endpoint).toBe(homed || client.nat?.mapping === 'varies' ? null : client.nat!.endpoint);
      }
    }
  });

  it('a punch attempt carries no allowed IPs; a direct path carries the other client\'s /128; a stale entry is left out', () => {
    const [a, b] = clients as [NodeRecord, NodeRecord];
    const entry = {wgPublicKey: b.wgPublicKey, endpoint: b.nat!.endpoint!, keepaliveSeconds: 2};
    const trying = planWireGuard({selfId: a.id, self: a, live: all, prefix, keepaliveSeconds: 25, punched: new Map([[b.id, {...entry, carries: false}]])});
    expect(trying.peers.find((p) => p.publicKey === b.wgPublicKey)).toEqual({publicKey: b.wgPublicKey, endpoint: b.nat!.endpoint, allowedIps: [], keepaliveSeconds: 2});
    const direct = planWireGuard({selfId: a.id, self: a, live: all, prefix, keepaliveSeconds: 25, punched: new Map([[b.id, {...entry, carries: true}]])});
    expect(direct.peers.find((p) => p.publicKey === b.wgPublicKey)?.allowedIps).toEqual([`${b.address}/128`]);
    const gone = planWireGuard({selfId: a.id, self: a, live: all.filter((n) => n.id !== b.id), prefix, keepaliveSeconds: 25, punched: new Map([[b.id, {...entry, carries: true}]])});
    expect(gone.peers.find((p) => p.publicKey === b.wgPublicKey)).toBeUndefined();
  });
});

describe('hole punching', () => {
  const s = DEFAULT_PUNCH_SETTINGS;
  const candidate: PunchCandidate = {wgPublicKey: 'K'.repeat(43) + '=', endpoint: '198.18.1.2:51820'};
  const one = new Map([['b', candidate]]);
  const stats = (latestHandshakeMs: number | null, rxBytes: number): Map<string, PunchStats> => new Map([[candidate.wgPublicKey, {latestHandshakeMs, rxBytes}]]);

  it('punches only between two clients that both publish a mapping a hole goes through', () => {
    const ei = (endpoint: string): NatInfo => ({endpoint, mapping: 'endpoint-independent'});
    const a = node('client', ei('198.18.1.1:1'));
    const b = node('client', ei('198.18.1.2:2'));
    expect(mayPunch(a, b)).toEqual({wgPublicKey: b.wgPublicKey, endpoint: '198.18.1.2:2'});
    expect(mayPunch(a, {...b, nat: {endpoint: null, mapping: 'varies'}})).toBeUndefined();
    expect(mayPunch(a, {...b, nat: {endpoint: '198.18.1.2:2', mapping: 'unknown'}})).toBeUndefined();
    expect(mayPunch({...a, nat: undefined}, b)).toBeUndefined();
    expect(mayPunch(a, node('peer', ei('198.18.1.3:3')))).toBeUndefined();
  });

  it('tries at once, goes direct on a handshake, and falls back when the receive counter stops growing', () => {
    const punches = new Punches();
    expect(punches.tick(0, one, new Map())).toEqual([{id: 'b', kind: 'trying'}]);
    expect(punches.entries().get('b')).toMatchObject({carries: false, endpoint: candidate.endpoint});
    expect(punches.tick(1_000, one, stats(null, 0))).toEqual([]);
    expect(punches.tick(2_000, one, stats(1_500, 148))).toEqual([{id: 'b', kind: 'direct'}]);
    expect(punches.entries().get('b')?.carries).toBe(true);
    // Keepalives keep it up.
    for (let t = 3_000, rx = 200; t <= 20_000; t += 1_000, rx += 32) expect(punches.tick(t, one, stats(1_500, rx))).toEqual([]);
    // Silence for deadAfterMs: relayed again.
    expect(punches.tick(20_000 + s.deadAfterMs - 1, one, stats(1_500, 200 + 17 * 32))).toEqual([]);
    expect(punches.tick(20_000 + s.deadAfterMs, one, stats(1_500, 200 + 17 * 32))).toEqual([{id: 'b', kind: 'lost'}]);
    expect(punches.pathTo('b')).toBe('relayed');
    expect(punches.entries().size).toBe(0);
  });

  it('gives up after the punch timeout and retries with doubling backoff up to the cap', () => {
    const punches = new Punches();
    let now = 0;
    const starts: number[] = [];
    while (now < 2_000_000) {
      for (const event of punches.tick(now, one, stats(null, 0))) if (event.kind === 'trying') starts.push(now);
      now += 500;
    }
    const gaps = starts.slice(1).map((at, i) => at - starts[i]!);
    expect(gaps.slice(0, 4)).toEqual([s.punchTimeoutMs + s.backoffBaseMs, s.punchTimeoutMs + 2 * s.backoffBaseMs, s.punchTimeoutMs + 4 * s.backoffBaseMs, s.punchTimeoutMs + 8 * s.backoffBaseMs]);
    expect(Math.max(...gaps)).toBe(s.punchTimeoutMs + s.backoffMaxMs);
  });

  it('caps attempts at once and paths held, whatever the number of candidates', () => {
    const punches = new Punches({...s, maxAttempts: 3, maxDirect: 5});
    const many = new Map(Array.from({length: 100}, (_, i) => [`c${String(i).padStart(3, '0')}`, {wgPublicKey: `k${i}`, endpoint: `198.18.1.1:${i + 1}`}]));
    punches.tick(0, many, new Map());
    expect(punches.entries().size).toBe(3);
    // All three handshake: direct, and two more attempts fit under maxDirect.
    const up = new Map([...punches.entries().values()].map((entry) => [entry.wgPublicKey, {latestHandshakeMs: 500, rxBytes: 100}]));
    punches.tick(1_000, many, up);
    expect(punches.entries().size).toBe(5);
    punches.tick(2_000, many, up);
    expect(punches.entries().size).toBe(5);
  });

  it('forgets a pair whose client is no longer a candidate, and restarts an attempt at a new endpoint', () => {
    const punches = new Punches();
    punches.tick(0, one, new Map());
    punches.tick(1_000, new Map([['b', {...candidate, endpoint: '198.18.1.2:4000'}]]), new Map());
    expect(punches.entries().get('b')?.endpoint).toBe('198.18.1.2:4000');
    // The timeout counts from the new endpoint.
    expect(punches.tick(1_000 + s.punchTimeoutMs - 1, new Map([['b', {...candidate, endpoint: '198.18.1.2:4000'}]]), new Map())).toEqual([]);
    punches.tick(20_000, new Map(), new Map());
    expect(punches.entries().size).toBe(0);
    expect(punches.pathTo('b')).toBe('relayed');
  });
});
