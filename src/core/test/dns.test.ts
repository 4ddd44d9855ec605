/** The DNS server for mesh aliases: name parsing, answers from the live view, fuzzing, and the UDP server. */
import {createSocket, type Socket} from 'node:dgram';
import dnsPacket, {type DecodedPacket, type Packet} from 'dns-packet';
import fc from 'fast-check';
import {afterEach, describe, expect, it} from 'vitest';
import {parseZoneName, type AliasSource} from '../src/dns/index.js';
import {DNS_TTL_SECONDS, respondToDnsQuery} from '../src/dns/responder.js';
import {DnsServer} from '../src/dns/server.js';
import {ListenError} from '../src/errors.js';
import type {NodeRecord} from '../src/model/record.js';
import {FIXTURE_NOW, makeTestNode, recordingLogger, silentLogger, testMeshId, type TestNode} from '@wgmesh/testkit';
import {systemClock} from '../src/util/clock.js';

/** A fixed view: mesh id -> live records. */
function sourceOf(meshes: Record<string, readonly NodeRecord[]>): AliasSource {
  return {meshIds: () => Object.keys(meshes), liveRecords: (meshId) => (Object.hasOwn(meshes, meshId) ? meshes[meshId] : undefined)};
}

function query(name: string, type: string, options: {id?: number; edns?: boolean; class?: string; flags?: number} = {}): Buffer {
  const packet: Packet = {
    type: 'query',
    id: options.id ?? 4242,
    flags: options.flags ?? dnsPacket.RECURSION_DESIRED,
    questions: [{name, type: type as 'AAAA', class: (options.class ?? 'IN') as 'IN'}],
    additionals: options.edns ? [{type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: []}] : [],
  };
  return dnsPacket.encode(packet);
}

/** Answer `bytes` and decode the reply (it must be one). */
function ask(bytes: Buffer, source: AliasSource): DecodedPacket & {rcode: string} {
  const outcome = respondToDnsQuery(bytes, source);
  if (outcome.reply === null) throw new Error(`dropped: ${outcome.dropped}`);
  const reply = dnsPacket.decode(outcome.reply) as DecodedPacket & {rcode: string};
  expect(reply.rcode).toBe(outcome.rcode);
  return reply;
}

function addresses(reply: DecodedPacket): string[] {
  return (reply.answers ?? []).flatMap((answer) => (answer.type === 'AAAA' ? [answer.data] : []));
}

/** The address dns-packet prints for a record's address (it compresses zeros the same way). */
function canonical(address: string): string {
  const reply = dnsPacket.decode(dnsPacket.encode({type: 'response', answers: [{type: 'AAAA', name: 'x', data: address}]}));
  const [answer] = reply.answers ?? [];
  if (answer?.type !== 'AAAA') throw new Error('no AAAA record');
  return answer.data;
}

describe('parseZoneName', () => {
  it('places names in the wgmesh. zone, case-insensitively', () => {
    const meshId = testMeshId();
    expect(parseZoneName('wgmesh')).toEqual({kind: 'apex'});
    expect(parseZoneName('WgMesh.')).toEqual({kind: 'apex'});
    expect(parseZoneName('DB.wgmesh')).toEqual({kind: 'single', label: 'db'});
    expect(parseZoneName(`Db.${meshId.toUpperCase()}.WGMESH`)).toEqual({kind: 'qualified', alias: 'db', meshId});
    expect(parseZoneName(`a.b.${meshId}.wgmesh`)).toEqual({kind: 'deep'});
  });

  it('puts every other name outside the zone', () => {
    for (const name of ['.', '', 'example.com', 'wgmesh.com', 'db.wgmesh.example', 'xwgmesh', '..wgmesh']) expect(parseZoneName(name), name).toBeNull();
  });

  it('folds only ASCII letters (RFC 4343)', () => {
    expect(parseZoneName('DÉ.wgmesh')).toEqual({kind: 'single', label: 'dÉ'});
  });
});

describe('respondToDnsQuery', () => {
  const meshA = testMeshId();
  const meshB = testMeshId();
  // One node in both meshes (same identity), and others.
  const shared = makeTestNode(meshA);
  const sharedInB = makeTestNode(meshB, {identity: shared.identity});
  const early = makeTestNode(meshA);
  const late = makeTestNode(meshA);
  const other = makeTestNode(meshB);
  const at = (node: TestNode, alias: string | null, createdAt = FIXTURE_NOW): NodeRecord => node.recordBody({alias, createdAt});
  const source = sourceOf({
    [meshA]: [at(shared, 'db'), at(late, 'web', FIXTURE_NOW + 1000), at(early, 'web', FIXTURE_NOW - 1000), at(makeTestNode(meshA), 'both')],
    [meshB]: [at(sharedInB, 'db'), at(other, 'both'), at(makeTestNode(meshB), null)],
  });

  it('answers AAAA for ALIAS.MESH_ID.wgmesh. with the owner address, TTL and the question spelled as asked', () => {
    const name = `dB.${meshA.toUpperCase()}.wgMESH`;
    const reply = ask(query(name, 'AAAA', {id: 777}), source);
    expect(reply.id).toBe(777);
    expect(reply.type).toBe('response');
    expect(reply.flag_aa).toBe(true);
    expect(reply.flag_rd).toBe(true);
    expect(reply.rcode).toBe('NOERROR');
    expect(reply.questions).toEqual([{name, type: 'AAAA', class: 'IN'}]);
    expect(reply.answers).toHaveLength(1);
    expect(reply.answers![0]).toMatchObject({name, type: 'AAAA', ttl: DNS_TTL_SECONDS, data: canonical(shared.recordBody().address)});
  });

  it('resolves an alias two nodes claim to the earliest claim, as resolveAliases does', () => {
    const reply = ask(query(`web.${meshA}.wgmesh`, 'AAAA'), source);
    expect(addresses(reply)).toEqual([canonical(early.recordBody().address)]);
  });

  it('answers ALIAS.wgmesh. with every address of the one node that owns it, by mesh id', () => {
    const reply = ask(query('db.wgmesh', 'AAAA'), source);
    const expected = [
      {meshId: meshA, address: shared.recordBody().address},
      {meshId: meshB, address: sharedInB.recordBody().address},
    ].sort((a, b) => a.meshId.localeCompare(b.meshId));
    expect(addresses(reply)).toEqual(expected.map((entry) => canonical(entry.address)));
    expect(addresses(ask(query('web.wgmesh', 'AAAA'), source))).toEqual([canonical(early.recordBody().address)]);
  });

  it('gives NXDOMAIN for ALIAS.wgmesh. when different nodes own it in different meshes, and answers the qualified names', () => {
    const reply = ask(query('both.wgmesh', 'AAAA'), source);
    expect(reply.rcode).toBe('NXDOMAIN');
    expect(addresses(ask(query(`both.${meshB}.wgmesh`, 'AAAA'), source))).toEqual([canonical(other.recordBody().address)]);
  });

  it('gives NXDOMAIN with the zone SOA for names of the zone that do not exist', () => {
    for (const name of ['nobody.wgmesh', `nobody.${meshA}.wgmesh`, `db.${testMeshId()}.wgmesh`, `x.db.${meshA}.wgmesh`, `db.not-a-mesh.wgmesh`]) {
      const reply = ask(query(name, 'AAAA'), source);
      expect(reply.rcode, name).toBe('NXDOMAIN');
      expect(reply.answers, name).toEqual([]);
      expect(reply.authorities?.[0], name).toMatchObject({type: 'SOA', name: 'wgmesh', ttl: DNS_TTL_SECONDS});
    }
  });

  it('answers other types of existing names with NOERROR and no answer', () => {
    for (const type of ['TXT', 'A', 'MX', 'SRV']) {
      const reply = ask(query(`db.${meshA}.wgmesh`, type), source);
      expect(reply.rcode, type).toBe('NOERROR');
      expect(reply.answers, type).toEqual([]);
      expect(reply.authorities?.[0]?.type, type).toBe('SOA');
    }
    expect(addresses(ask(query(`db.${meshA}.wgmesh`, 'ANY'), source))).toHaveLength(1);
  });

  it('treats the apex and a mesh id of this node as names with no address', () => {
    const mesh = ask(query(`${meshA}.wgmesh`, 'AAAA'), source);
    expect([mesh.rcode, mesh.answers]).toEqual(['NOERROR', []]);
    const apex = ask(query('wgmesh', 'SOA'), source);
    expect(apex.rcode).toBe('NOERROR');
    expect(apex.answers?.[0]).toMatchObject({type: 'SOA', name: 'wgmesh'});
  });

  it('refuses names outside the zone and classes other than IN', () => {
    expect(ask(query('example.com', 'AAAA'), source).rcode).toBe('REFUSED');
    expect(ask(query(`db.${meshA}.wgmesh`, 'AAAA', {class: 'CH'}), source).rcode).toBe('REFUSED');
  });

  it('answers what it cannot serve with NOTIMP or FORMERR, and drops replies', () => {
    const notify = Buffer.from(query('db.wgmesh', 'SOA'));
    notify[2] = (notify[2]! & 0x87) | (4 << 3); // opcode NOTIFY
    expect(ask(notify, source).rcode).toBe('NOTIMP');
    const two = dnsPacket.encode({type: 'query', id: 1, questions: [{name: 'db.wgmesh', type: 'AAAA'}, {name: 'web.wgmesh', type: 'AAAA'}]});
    expect(ask(two, source).rcode).toBe('FORMERR');
    const none = dnsPacket.encode({type: 'query', id: 1, questions: []});
    expect(ask(none, source).rcode).toBe('FORMERR');
    const reply = dnsPacket.encode({type: 'response', id: 1, questions: [{name: 'db.wgmesh', type: 'AAAA'}]});
    expect(respondToDnsQuery(reply, source)).toEqual({reply: null, dropped: 'response'});
  });

  it('answers EDNS queries with an OPT record', () => {
    const reply = ask(query(`db.${meshA}.wgmesh`, 'AAAA', {edns: true}), source);
    expect(reply.additionals?.find((record) => record.type === 'OPT')).toMatchObject({udpPayloadSize: 1232});
    expect(ask(query(`db.${meshA}.wgmesh`, 'AAAA'), source).additionals).toEqual([]);
  });

  it('truncates a reply too big for UDP instead of sending it', () => {
    // One node that owns the alias in 25 meshes: 25 AAAA records, about 950 bytes.
    const node = makeTestNode(testMeshId());
    const many: Record<string, NodeRecord[]> = {};
    for (let i = 0; i < 25; i++) {
      const meshId = testMeshId();
      many[meshId] = [makeTestNode(meshId, {identity: node.identity}).recordBody({alias: 'big'})];
    }
    const outcome = respondToDnsQuery(query('big.wgmesh', 'AAAA'), sourceOf(many));
    expect(outcome.reply).not.toBeNull();
    expect(outcome.reply!.length).toBeLessThanOrEqual(512);
    const reply = dnsPacket.decode(outcome.reply!);
    expect([reply.flag_tc, reply.answers]).toEqual([true, []]);
    // With EDNS there is room for all of them.
    expect(addresses(ask(query('big.wgmesh', 'AAAA', {edns: true}), sourceOf(many)))).toHaveLength(25);
  });
});

describe('respondToDnsQuery with hostile bytes', () => {
  const meshId = testMeshId();
  const source = sourceOf({[meshId]: [makeTestNode(meshId).recordBody({alias: 'db'})]});

  /** Whatever came in: no exception, and any reply is a well-formed response. */
  function checkSafe(bytes: Uint8Array): void {
    const outcome = respondToDnsQuery(bytes, source);
    if (outcome.reply !== null) {
      expect(outcome.reply.length).toBeLessThanOrEqual(1232);
      expect(outcome.reply[2]! & 0x80).toBe(0x80);
    }
  }

  it('never throws on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({minLength: 0, maxLength: 700}), (bytes) => checkSafe(bytes)), {numRuns: 3000});
  });

  it('never throws on random bytes behind a plausible header', () => {
    const header = fc.tuple(fc.integer({min: 0, max: 0xffff}), fc.integer({min: 0, max: 0x7fff}), fc.integer({min: 0, max: 3}), fc.integer({min: 0, max: 3}));
    fc.assert(
      fc.property(header, fc.uint8Array({maxLength: 300}), ([id, flags, qd, ar], body) => {
        const head = Buffer.alloc(12);
        head.writeUInt16BE(id, 0);
        head.writeUInt16BE(flags, 2);
        head.writeUInt16BE(qd, 4);
        head.writeUInt16BE(ar, 10);
        checkSafe(Buffer.concat([head, body]));
      }),
      {numRuns: 3000},
    );
  });

  it('drops every truncation of a valid query and survives bit flips', () => {
    const valid = query(`db.${meshId}.wgmesh`, 'AAAA', {edns: true});
    for (let length = 0; length < valid.length; length++) {
      const outcome = respondToDnsQuery(valid.subarray(0, length), source);
      // Cutting into the final EDNS record or question leaves an undecodable packet.
      expect(outcome.reply, `prefix of ${length} bytes`).toBeNull();
    }
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({max: valid.length - 1}), fc.integer({min: 1, max: 255})), {minLength: 1, maxLength: 8}), (flips) => {
        const bytes = Buffer.from(valid);
        for (const [index, mask] of flips) bytes[index] = bytes[index]! ^ mask;
        checkSafe(bytes);
      }),
      {numRuns: 3000},
    );
  });
});

describe('DnsServer', () => {
  const servers: DnsServer[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
    for (const socket of sockets.splice(0)) socket.close();
  });

  const meshId = testMeshId();
  const node = makeTestNode(meshId);
  const source = sourceOf({[meshId]: [node.recordBody({alias: 'db'})]});

  async function start(listen: string, logger = silentLogger()): Promise<{server: DnsServer; host: string; port: number}> {
    const server = new DnsServer({listen, source, logger, clock: systemClock});
    servers.push(server);
    const bound = await server.start();
    const match = /^\[?([^\]]+)\]?:(\d+)$/.exec(bound)!;
    return {server, host: match[1]!, port: Number(match[2])};
  }

  /** Send `bytes` from a fresh socket and wait for one reply (or time out). */
  function exchange(host: string, port: number, bytes: Uint8Array, timeoutMs = 2000): Promise<DecodedPacket & {rcode: string}> {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sockets.push(socket);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no DNS reply')), timeoutMs);
      socket.once('message', (message) => {
        clearTimeout(timer);
        resolve(dnsPacket.decode(message) as DecodedPacket & {rcode: string});
      });
      socket.send(bytes, port, host);
    });
  }

  it('answers over UDP on an ephemeral IPv4 port', async () => {
    const {host, port} = await start('127.0.0.1:0');
    expect(port).toBeGreaterThan(0);
    const reply = await exchange(host, port, query(`db.${meshId}.wgmesh`, 'AAAA'));
    expect(addresses(reply)).toEqual([canonical(node.recordBody().address)]);
  });

  it('answers on a bracketed IPv6 address', async () => {
    const {host, port, server} = await start('[::1]:0');
    expect(server.address()).toBe(`[::1]:${port}`);
    const reply = await exchange(host, port, query('db.wgmesh', 'AAAA'));
    expect(reply.rcode).toBe('NOERROR');
    expect(addresses(reply)).toHaveLength(1);
  });

  it('keeps answering after garbage, and logs drops at most once a minute', async () => {
    const logger = recordingLogger();
    const {server, host, port} = await start('127.0.0.1:0', logger);
    const sender = createSocket('udp4');
    sockets.push(sender);
    for (let i = 0; i < 200; i++) sender.send(Buffer.from([i, 1, 2, 3, 0xff, 0xff, 0, 1, 0, 0, 0, 0, 0x3f]), port, host);
    // A reply to a good query sent after the garbage from the same socket: the server is alive.
    const reply = await new Promise<DecodedPacket & {rcode: string}>((resolve) => {
      sender.once('message', (message) => resolve(dnsPacket.decode(message) as DecodedPacket & {rcode: string}));
      sender.send(query('db.wgmesh', 'AAAA'), port, host);
    });
    expect(reply.rcode).toBe('NOERROR');
    expect(server.counters().dropped).toBe(200);
    expect(server.counters().replies.NOERROR).toBe(1);
    const dropLines = logger.lines.filter((line) => /dropped DNS packets/.test(line.msg ?? ''));
    expect(dropLines).toHaveLength(1);
    expect(dropLines[0]!.level).toBe('debug');
  });

  it('fails to start with one clear ListenError when the port is taken', async () => {
    const {port} = await start('127.0.0.1:0');
    const second = new DnsServer({listen: `127.0.0.1:${port}`, source, logger: silentLogger(), clock: systemClock});
    servers.push(second);
    const error = await second.start().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ListenError);
    expect((error as Error).message).toBe(
      `cannot serve DNS on 127.0.0.1:${port}: the address is already in use (another program, or another wgmesh daemon?); set dnsListen to a free address, or stop the other program`,
    );
  });

  it('closes: the port is free again', async () => {
    const {server, port} = await start('127.0.0.1:0');
    await server.close();
    await server.close();
    await start(`127.0.0.1:${port}`);
  });
});
