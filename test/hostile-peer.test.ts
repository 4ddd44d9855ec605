/**
 * Bad input over the network never crashes a daemon. Daemon A (log level
 * debug) and a well-behaved daemon B share a mesh; the attacker is this test
 * process, a member of the mesh (admitted with an invite, holding a certificate
 * of the mesh's CA for its node key; or, for the connection attacks, holding
 * no certificate or a foreign one) and talking to A through the grpc
 * transport's own client, a raw grpc-js client, or a bare socket. After every
 * attack: A still runs and answers, its view of the mesh is unchanged (nothing
 * forged got in), it logged the rejection, and B and A still sync both ways.
 * Last, a new daemon joins through A and converges.
 */
import {createHmac, randomBytes} from 'node:crypto';
import {connect} from 'node:net';
import {readFile} from 'node:fs/promises';
import {join} from 'node:path';
import {checkServerIdentity} from 'node:tls';
import {Client, credentials, Metadata, type ChannelCredentials, type ChannelOptions, type ServiceError} from '@grpc/grpc-js';
import {decode, encode, generateIdentity, MAX_CONTROL_MESSAGE_BYTES, selfIssueTlsIdentity, MAX_SYNC_MESSAGE_BYTES, systemClock, systemRandom, type MeshShowView, type MeshStore, type NodeIdentity, type SignedEntry, type SyncSession, type TlsIdentity, type Transport} from '@wgmesh/core';
import {corruptSignature, forgeEntry, makeTestNode, silentLogger, wireEntry, type TestNode} from '@wgmesh/testkit';
import {twophaseStoreFactory} from '@wgmesh/store-twophase';
import {grpcTransportFactory} from '@wgmesh/transport-grpc';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {z} from 'zod';
import {ControlClient} from '../plugins/transport-grpc/src/generated/wgmesh/v1/control.js';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {scriptedSession} from './helpers/member-attacks.js';
import {joinAsMember, LOG_LEVEL, MeshCluster, makePki, parseLogLines, type LogLine, type MeshNode, type TlsFiles} from './helpers/mesh-cluster.js';

/** Failure-detection bound of the issue at the default intervals: 3 x heartbeatInterval + 2 s. */
const DETECTION_BOUND_MS = 8_000;
/** Bytes that are never MessagePack: 0xc1 is the one code the format never uses. */
const GARBAGE = Buffer.concat([Buffer.from([0xc1, 0xff, 0x00]), Buffer.from('this is not a wgmesh message')]);

const anyMessage = z.record(z.string(), z.unknown());

/** The transport's log line for a Sync call that grpc-js ended before our handler could answer (a frame too large or not protobuf). */
const unansweredSync = (line: LogLine): boolean =>
  line.level === LOG_LEVEL.warn && line.method === '/wgmesh.v1.Control/Sync' && (line.msg ?? '').startsWith('call ended without an answer: a frame was refused');

/**
 * A real twophase session whose outgoing entries pass through `tamper` on
 * the way out: a correct protocol run that carries forged records.
 */
function tamperingSession(inner: SyncSession, tamper: (entry: SignedEntry) => SignedEntry): SyncSession {
  const rewrite = (message: Uint8Array | null): Uint8Array | null => {
    if (message === null) return null;
    const value = decode(message, anyMessage, 'own sync message');
    if (!Array.isArray(value.entries)) return message;
    return encode({...value, entries: (value.entries as SignedEntry[]).map(tamper)});
  };
  return {
    start: () => rewrite(inner.start())!,
    receive: (message) => rewrite(inner.receive(message)),
    get done() {
      return inner.done;
    },
    stats: () => inner.stats(),
  };
}

describe('a hostile peer never crashes a daemon', () => {
  let cluster: MeshCluster | undefined;
  let a: MeshNode, b: MeshNode;
  let meshId = '';
  let aId = '';
  let bId = '';
  /** A's own record as A first showed it: it must never change under attack. */
  let aRecord: unknown;
  /** The attacker: an identity, a certificate of the mesh CA for its key, the grpc transport's client, its credential for each mesh it joined. */
  let mallory: TlsFiles;
  let rogue: TlsFiles;
  let caPath = '';
  const identity: NodeIdentity = generateIdentity();
  let tlsIdentity: TlsIdentity | undefined;
  let attacker: Transport | undefined;
  const memberships = new Map<string, Uint8Array>();
  const abort = new AbortController();
  let round = 0;

  /** A store of the attacker's own, for real sync sessions and snapshots. */
  async function localStore(forMesh: string): Promise<MeshStore> {
    const backend = await twophaseStoreFactory.create(backendContext());
    return backend.open({meshId: forMesh, clock: systemClock, logger: silentLogger(), gcHorizonMs: 24 * 3_600_000, maxClockSkewMs: 300_000});
  }

  function backendContext(tls?: TlsFiles) {
    return {
      config: {listenAddress: '127.0.0.1'},
      daemonConfig: {gRPCPort: 1, timeoutMs: 5_000, ...tls},
      logger: silentLogger(),
      dataDir: join(cluster!.sandbox.dir, 'attacker'),
      signal: abort.signal,
      identity: {nodeId: identity.nodeId, signingKey: identity.signingKey, wgPublicKey: identity.wgPublicKey},
      ...(tlsIdentity ? {tls: tlsIdentity} : {}),
      clock: systemClock,
      random: systemRandom,
    };
  }

  /** The attacker as a node of `forMesh` (a mesh it joined), with entries dated now. */
  const attackerNode = (forMesh: string): TestNode => makeTestNode(forMesh, {identity, now: Date.now(), credential: memberships.get(forMesh)});

  /**
   * Make the attacker a member of `forMesh` through A: admitted with an
   * invite, then its own record, a client's (never dialled), with `services`.
   */
  async function becomeMember(forMesh: string, services: Record<string, string> = {}): Promise<void> {
    memberships.set(forMesh, await joinAsMember({identity, transport: attacker!, close: async () => undefined}, a, forMesh, a));
    const own = attackerNode(forMesh).record({role: 'client', controlEndpoint: null, wgEndpoint: null, services});
    expect(await sendMessage(push([own]), forMesh)).toMatchObject({t: 'ok'});
  }

  /** A push request carrying `entries`, as a member would send it. */
  const push = (entries: readonly SignedEntry[]): Uint8Array => encode({t: 'push', f: identity.nodeId, e: entries.map(wireEntry)});

  /** Send a control message to A and return its decoded reply. */
  async function sendMessage(payload: Uint8Array, toMesh = meshId): Promise<Record<string, unknown>> {
    return decode(await attacker!.message(a.endpoint, toMesh, payload), anyMessage, 'reply');
  }

  /** Wait until A has logged, since `mark`, a line that `matches`. */
  async function expectLogged(mark: number, what: string, matches: (line: LogLine) => boolean): Promise<LogLine> {
    let found: LogLine | undefined;
    await waitFor(
      () => {
        found = a.logLinesSince(mark).find(matches);
        return found !== undefined;
      },
      5_000,
      `A to log ${what}`,
    );
    return found!;
  }

  /** A's own entry in a `mesh show`, without `receivedAt` (when A last wrote it, which the round below changes). */
  function ownRecord(view: MeshShowView): Omit<MeshShowView['nodes'][number], 'receivedAt'> | undefined {
    const self = view.nodes.find((node) => node.self);
    if (!self) return undefined;
    const {receivedAt: _receivedAt, ...record} = self;
    return record;
  }

  /** A runs, answers, shows the same view and its own record unchanged, and still syncs with B both ways. */
  async function expectUnharmed(): Promise<void> {
    expect(a.running, 'A is still running').toBe(true);
    expect((await a.call('status', {})).nodeId).toBe(aId);
    const view = await a.call('mesh.show', {meshId});
    expect(view.nodes.map((node) => node.id).sort()).toEqual([aId, bId].sort());
    expect(ownRecord(view)).toEqual(aRecord);
    const value = String(++round);
    await Promise.all([b.call('service.set', {meshId, key: 'round', value}), a.call('service.set', {meshId, key: 'round', value})]);
    const sees = async (observer: MeshNode, id: string) => (await observer.call('mesh.show', {meshId})).nodes.find((node) => node.id === id)?.services.round === value;
    await waitFor(async () => (await sees(a, bId)) && (await sees(b, aId)), 5_000, `A and B to exchange service round ${value}`);
    await a.call('service.delete', {meshId, key: 'round'});
    const shown = await a.call('mesh.show', {meshId});
    expect(ownRecord(shown)).toEqual(aRecord);
  }

  /**
   * A hand-made grpc-js client of A with the given TLS material (none: no
   * client certificate). It checks A's certificate against the dialled IP,
   * and sends a host name as SNI, as TLS forbids IP literals there.
   */
  async function rawClient<T>(make: (address: string, creds: ChannelCredentials, options: ChannelOptions) => T, tls: {key?: string; cert?: string}): Promise<T> {
    const [ca, key, cert] = await Promise.all([readFile(caPath), tls.key ? readFile(tls.key) : null, tls.cert ? readFile(tls.cert) : null]);
    const creds = credentials.createSsl(ca, key, cert, {checkServerIdentity: (_name, certificate) => checkServerIdentity('127.0.0.1', certificate)});
    return make(a.endpoint, creds, {'grpc.ssl_target_name_override': 'wgmesh.invalid'});
  }

  /** One membership message on a Messages stream over a {@link rawClient}; resolves with the stream's error, or null once answered. */
  async function rawMessage(tls: {key?: string; cert?: string}): Promise<ServiceError | null> {
    const client = await rawClient((address, creds, options) => new ControlClient(address, creds, options), tls);
    try {
      return await new Promise((resolve) => {
        const call = client.messages({deadline: Date.now() + 5_000});
        call.on('data', () => {
          call.end();
          resolve(null);
        });
        call.on('error', (error: ServiceError) => resolve(error));
        call.write({id: 1, meshId, payload: Buffer.from(push([])), errorCode: '', errorMessage: ''});
      });
    } finally {
      client.close();
    }
  }

  beforeAll(async () => {
    // CA mode: the refusals of certificates from no CA or a foreign one are tested here.
    cluster = await MeshCluster.create('wgmesh-hostile-', {ca: true});
    [a, b] = (await cluster.addNodes([
      {name: 'a', logLevel: 'debug'},
      {name: 'b'},
    ])) as [MeshNode, MeshNode];
    ({meshId} = await a.call('mesh.create', {}));
    await b.call('mesh.join', {meshId, invite: await a.invite(meshId), via: a.endpoint});
    aId = (await a.call('status', {})).nodeId;
    bId = (await b.call('status', {})).nodeId;
    await waitFor(async () => (await a.view(meshId)).length === 2 && (await b.view(meshId)).length === 2, 10_000, 'A and B to see each other');
    aRecord = ownRecord(await a.call('mesh.show', {meshId}));

    mallory = await cluster.pki!.issue('mallory', {identity});
    caPath = mallory.caCertificatePath;
    rogue = await (await makePki(cluster.sandbox, 'foreign-pki')).issue('rogue', {identity: generateIdentity()});
    tlsIdentity = await selfIssueTlsIdentity(identity);
    attacker = await grpcTransportFactory.create(backendContext(mallory));
    await becomeMember(meshId);
    await waitFor(async () => (await b.view(meshId)).includes(identity.nodeId), 10_000, 'B to see the attacker join');
    // It sends no heartbeats: its monitors find it silent and take it out of the live views, where it stays a member.
    await waitFor(async () => !(await a.view(meshId)).includes(identity.nodeId) && !(await b.view(meshId)).includes(identity.nodeId), 20_000, 'A and B to find the silent attacker dead');
  }, 60_000);

  afterAll(async () => {
    abort.abort();
    await attacker?.close();
    await cluster?.close();
    await killAllDaemons();
  });

  it('garbage bytes as a sync message', async () => {
    const mark = a.logMark();
    await expect(attacker!.sync(a.endpoint, meshId, 'twophase', scriptedSession([GARBAGE]))).rejects.toMatchObject({code: 'DECODE'});
    await expectLogged(mark, 'the refused sync', (line) => line.msg === 'sync: refused' && line.code === 'DECODE' && String(line.err).includes('not valid MessagePack'));
    await expectUnharmed();
  });

  it('a truncated sync message', async () => {
    const hello = (await localStore(meshId)).openSync('initiator').start();
    const mark = a.logMark();
    await expect(attacker!.sync(a.endpoint, meshId, 'twophase', scriptedSession([hello.subarray(0, Math.floor(hello.byteLength / 2))]))).rejects.toMatchObject({
      code: 'DECODE',
    });
    await expectLogged(mark, 'the refused sync', (line) => line.msg === 'sync: refused' && line.code === 'DECODE');
    await expectUnharmed();
  });

  it('an oversized sync message (over the transport limit)', async () => {
    // The grpc transport refuses to send one; a hand-made client sends it anyway.
    const huge = randomBytes(MAX_SYNC_MESSAGE_BYTES + 1024 * 1024);
    await expect(attacker!.sync(a.endpoint, meshId, 'twophase', scriptedSession([huge]))).rejects.toMatchObject({code: 'TRANSPORT'});
    const client = await rawClient((address, creds, options) => new ControlClient(address, creds, options), {key: mallory.privateKeyPath, cert: mallory.certificatePath});
    const mark = a.logMark();
    try {
      const error = await new Promise<ServiceError>((resolve) => {
        const call = client.sync({deadline: Date.now() + 5_000});
        call.on('data', () => undefined);
        call.on('error', resolve);
        call.write({meshId, storeKind: 'twophase', payload: huge});
      });
      expect(error.message).toContain('RESOURCE_EXHAUSTED');
    } finally {
      client.close();
    }
    await expectLogged(mark, 'the refused frame', unansweredSync);
    await expectUnharmed();
  });

  it('bytes that are not the protobuf frame of the call', async () => {
    const client = await rawClient((address, creds, options) => new Client(address, creds, options), {key: mallory.privateKeyPath, cert: mallory.certificatePath});
    const mark = a.logMark();
    try {
      const error = await new Promise<ServiceError>((resolve) => {
        const call = client.makeBidiStreamRequest(
          '/wgmesh.v1.Control/Sync',
          (bytes: Buffer) => bytes,
          (bytes: Buffer) => bytes,
          new Metadata(),
          {deadline: Date.now() + 5_000},
        );
        call.on('data', () => undefined);
        call.on('error', resolve);
        call.write(GARBAGE);
      });
      expect(error.code).not.toBe(0);
    } finally {
      client.close();
    }
    await expectLogged(mark, 'the refused frame', unansweredSync);
    await expectUnharmed();
  });

  it('a control message of garbage, a truncated one and an oversized one', async () => {
    for (const [what, payload, reason] of [
      ['garbage', GARBAGE, 'not valid MessagePack'],
      ['truncated', push([attackerNode(meshId).record()]).subarray(0, 40), 'MessagePack'],
    ] as const) {
      const mark = a.logMark();
      const reply = await sendMessage(payload);
      expect(reply, what).toMatchObject({t: 'err'});
      await expectLogged(mark, `the refused ${what} control message`, (line) => line.msg === 'refused a control request' && String(line.reason).includes(reason));
    }
    // The grpc transport refuses to send an oversized one; a hand-made client sends it anyway.
    const oversized = randomBytes(MAX_CONTROL_MESSAGE_BYTES + 1);
    await expect(sendMessage(oversized)).rejects.toMatchObject({code: 'TRANSPORT'});
    const client = await rawClient((address, creds, options) => new ControlClient(address, creds, options), {key: mallory.privateKeyPath, cert: mallory.certificatePath});
    const mark = a.logMark();
    try {
      const reply = await new Promise<{errorCode: string}>((resolve, reject) => {
        const call = client.messages({deadline: Date.now() + 5_000});
        call.on('data', (envelope: {errorCode: string}) => {
          call.end();
          resolve(envelope);
        });
        call.on('error', reject);
        call.write({id: 1, meshId, payload: oversized, errorCode: '', errorMessage: ''});
      });
      expect(reply.errorCode).toBe('DECODE');
    } finally {
      client.close();
    }
    await expectLogged(mark, 'the refused oversized control message', (line) => line.msg === 'message: refused' && String(line.err).includes('over the limit'));
    await expectUnharmed();
  });

  it('a record with a bad signature, pushed and synced', async () => {
    const forged = corruptSignature(attackerNode(meshId).record());
    let mark = a.logMark();
    expect(await sendMessage(push([forged]))).toMatchObject({t: 'ok'});
    await expectLogged(mark, 'the rejected entry', (line) => line.msg === 'rejected an entry' && String(line.reason).includes('bad signature'));

    // The same forgery inside a correct twophase session: the attacker's store holds its (valid) record, the wire carries a corrupted copy.
    const store = await localStore(meshId);
    expect(store.merge([attackerNode(meshId).record()]).rejected).toEqual([]);
    mark = a.logMark();
    await attacker!.sync(a.endpoint, meshId, 'twophase', tamperingSession(store.openSync('initiator'), corruptSignature)).catch(() => undefined);
    await expectLogged(mark, 'the rejected entry', (line) => line.msg === 'rejected an entry' && String(line.reason).includes('bad signature'));
    await expectUnharmed();
  });

  it("a record or tombstone claiming another node's id", async () => {
    // A's signing key is public: any member may fetch the snapshot.
    const snapshot = await attacker!.fetchSnapshot(a.endpoint, meshId);
    const copy = await localStore(meshId);
    copy.load(snapshot.snapshot);
    const aEntry = copy.get(aId)!.value;
    if (aEntry.kind !== 'record') throw new Error(`A's entry in its snapshot is a ${aEntry.kind}, not a record`);
    const now = Date.now();
    const overA = {version: now + 1, updatedAt: now};
    const attempts: [string, SignedEntry, string][] = [
      ["A's id with the attacker's key", forgeEntry({...attackerNode(meshId).recordBody(), id: aId, ...overA}, identity), 'belongs to another node'],
      ["A's id and key, signed by the attacker", forgeEntry({...(aEntry as object), ...overA, services: {owned: 'yes'}}, identity), 'bad signature'],
      ["A's tombstone, signed by the attacker", forgeEntry({kind: 'tombstone', meshId, id: aId, signingKey: aEntry.signingKey, credential: aEntry.credential, ...overA}, identity), 'bad signature'],
    ];
    for (const [what, entry, reason] of attempts) {
      const mark = a.logMark();
      expect(await sendMessage(push([entry])), what).toMatchObject({t: 'ok'});
      await expectLogged(mark, `the rejected entry (${what})`, (line) => line.msg === 'rejected an entry' && line.nodeId === aId && String(line.reason).includes(reason));
    }
    await expectUnharmed();
  });

  it('a forged membership claim that B is dead', async () => {
    // Claims are signed by the member that makes them: the attacker, a member, can pass on neither a non-member's nor one forged in A's name.
    const stranger = generateIdentity();
    const claim = (signer: NodeIdentity, by: string) => {
      const body = encode({k: 'dead', m: meshId, x: bId, i: Number.MAX_SAFE_INTEGER, by});
      return {b: body, s: signer.sign(body)};
    };
    for (const [what, statement, reason] of [
      ['signed by a non-member', claim(stranger, stranger.nodeId), 'which is not a member'],
      ["in A's name", claim(identity, aId), 'bad signature'],
    ] as const) {
      const mark = a.logMark();
      expect(await sendMessage(encode({t: 'push', f: identity.nodeId, u: [statement]})), what).toMatchObject({t: 'ok'});
      await expectLogged(mark, `the rejected claim (${what})`, (line) => line.msg === 'rejected a membership statement' && String(line.reason).includes(reason));
    }
    await expectUnharmed();
  });

  it('a heartbeat sent in the name of a crashed member does not keep it alive', async () => {
    // Before heartbeats were tagged (liveness-auth.ts), one spoofed `hb` every 300 ms kept a SIGKILLed member in every view.
    const [d] = (await cluster!.addNodes([{name: 'd'}])) as [MeshNode];
    await d.call('mesh.join', {meshId, invite: await a.invite(meshId), via: a.endpoint});
    const dId = (await d.call('status', {})).nodeId;
    await waitFor(async () => (await a.view(meshId)).includes(dId) && (await b.view(meshId)).includes(dId), 10_000, 'A and B to see D');
    const wgKeyOf = async (node: MeshNode, id: string): Promise<string> =>
      String(((await node.call('mesh.show', {meshId})).nodes.find((record) => record.id === id) as {wgPublicKey: string}).wgPublicKey);
    const targets = await Promise.all(
      [a, b].map(async (node) => {
        const id = node === a ? aId : bId;
        // A tag the attacker can really compute: keyed with its own pair key with the target, not D's.
        return {node, id, ownPairKey: identity.sharedKey(await wgKeyOf(a, id))};
      }),
    );
    await d.kill('SIGKILL');
    const killedAt = Date.now();
    const replies: unknown[] = [];
    let spoofing = true;
    const spoof = (async () => {
      while (spoofing) {
        for (const {node, id, ownPairKey} of targets) {
          const ts = Date.now();
          const tag = createHmac('sha256', ownPairKey).update(`wgmesh-liveness\n${meshId}\nhb\n${dId}\n${id}\n${ts}`).digest().subarray(0, 16);
          for (const request of [
            {t: 'hb', f: dId, i: 0},
            {t: 'hb', f: dId, i: 0, ts, a: randomBytes(16)},
            {t: 'hb', f: dId, i: 0, ts, a: tag},
            {t: 'relay', f: dId, to: id, i: 0, ts, a: tag},
          ]) {
            const reply = await attacker!.message(node.endpoint, meshId, encode(request)).catch((error: unknown) => error);
            replies.push(reply instanceof Uint8Array ? decode(reply, anyMessage, 'reply').t : reply);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    })();
    try {
      await waitFor(async () => !(await a.view(meshId)).includes(dId) && !(await b.view(meshId)).includes(dId), DETECTION_BOUND_MS, 'A and B to drop the SIGKILLed D despite spoofed heartbeats');
    } finally {
      spoofing = false;
      await spoof;
    }
    console.log(`spoofed heartbeats every 300 ms: SIGKILLed D left A's and B's views ${Date.now() - killedAt} ms after the kill`);
    expect(replies.length).toBeGreaterThan(0);
    expect(replies.every((t) => t === 'err')).toBe(true);
    await expectUnharmed();
  });

  it("a record claiming another node's address", async () => {
    const forged = attackerNode(meshId).record({address: (aRecord as {address: string}).address});
    const mark = a.logMark();
    expect(await sendMessage(push([forged]))).toMatchObject({t: 'ok'});
    await expectLogged(mark, 'the rejected entry', (line) => line.msg === 'rejected an entry' && String(line.reason).includes('which is not its own'));
    await expectUnharmed();
  });

  it('a peer with no certificate', async () => {
    const mark = a.logMark();
    expect((await rawMessage({}))?.code).toBe(14);
    await expectLogged(mark, 'the refused connection', (line) => line.msg === 'refused a connection: client certificate not accepted' && line.reason === 'no client certificate presented');
    await expectUnharmed();
  });

  it('a peer whose certificate comes from a foreign CA', async () => {
    const mark = a.logMark();
    expect((await rawMessage({key: rogue.privateKeyPath, cert: rogue.certificatePath}))?.code).toBe(14);
    await expectLogged(mark, 'the refused connection', (line) => line.msg === 'refused a connection: client certificate not accepted' && String(line.reason).includes('not signed by our CA'));
    await expectUnharmed();
  });

  it('garbage bytes instead of a TLS handshake', async () => {
    const mark = a.logMark();
    await new Promise<void>((resolve) => {
      const socket = connect(a.port, '127.0.0.1', () => socket.end(GARBAGE));
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
    });
    await expectLogged(mark, 'the failed handshake', (line) => line.msg === 'refused a connection: TLS handshake failed');
    await expectUnharmed();
  });

  it('the same requests, well-formed, are accepted: the attacks above did reach the merge', async () => {
    // A second mesh, so that these records of the attacker never enter the mesh under test.
    const {meshId: other} = await a.call('mesh.create', {});
    await becomeMember(other, {via: 'push'});
    await waitFor(async () => (await a.view(other)).includes(identity.nodeId), 5_000, 'the pushed record in A');

    const store = await localStore(other);
    store.merge([attackerNode(other).record({role: 'client', controlEndpoint: null, wgEndpoint: null, version: Date.now() + 1, services: {via: 'sync'}})]);
    await attacker!.sync(a.endpoint, other, 'twophase', store.openSync('initiator'));
    const shown = await a.call('mesh.show', {meshId: other});
    expect(shown.nodes.find((node) => node.id === identity.nodeId)?.services).toEqual({via: 'sync'});
    await a.call('mesh.leave', {meshId: other});
  });

  it('a well-behaved daemon joining afterwards converges with A and B', async () => {
    const [c] = (await cluster!.addNodes([{name: 'c'}])) as [MeshNode];
    await c.call('mesh.join', {meshId, invite: await a.invite(meshId), via: a.endpoint});
    const cId = (await c.call('status', {})).nodeId;
    const all = [aId, bId, cId].sort();
    await waitFor(async () => (await Promise.all([a, b, c].map((node) => node.view(meshId)))).every((view) => view.join() === all.join()), 5_000, 'A, B and C to see each other');
    expect(a.running && b.running && c.running).toBe(true);
    // Nothing the attacker sent made A log an error (a handler failure or a crash path).
    expect(parseLogLines(a.logs()).filter((line) => line.level >= LOG_LEVEL.error)).toEqual([]);
  });
});
