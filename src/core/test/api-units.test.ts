/**
 * The HTTP API's parts without a daemon: the token store (0600, rotation,
 * constant-time check), the rate limiter, the event hub's bounds, the
 * handshake poller, the error status table and the dashboard's static files.
 */
import {chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {TooManySubscribersError} from '../src/index.js';
import {ApiTokenStore} from '../src/api/token-store.js';
import {EventHub} from '../src/api/event-hub.js';
import {HANDSHAKE_FRESH_MS} from '../src/views/handshake.js';
import {HANDSHAKE_POLL_MS, MeshEvents} from '../src/api/mesh-events.js';
import {RateLimiter} from '../src/util/rate-limiter.js';
import {statusOf, wgmeshErrorParts} from '../src/api/http-errors.js';
import type {ApiEvent} from '../src/api/events.js';
import {InvalidInputError, UnknownMeshError} from '../src/errors.js';
import type {MeshRuntime} from '../src/runtime/mesh-runtime.js';
import type {NodeRecord} from '../src/model/record.js';
import type {WgPeerStats} from '../src/contracts/wg-driver.js';
import {SimulatedClock, silentLogger} from '@wgmesh/testkit';
import {createApiApp} from '../src/api/app.js';
import {DASHBOARD_CSP} from '../src/api/static-files.js';
import {checkApiListen, isLoopbackHost} from '../src/api/server.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wgmesh-api-'));
});
afterEach(async () => {
  await rm(dir, {recursive: true, force: true});
});

describe('API token store', () => {
  it('makes a token on first use in a 0600 file and reads the same one back', async () => {
    const store = new ApiTokenStore({dataDir: dir, logger: silentLogger()});
    const token = await store.current();
    expect(token).toMatch(/^wgmesh_[A-Za-z0-9_-]{43}$/);
    expect((await stat(join(dir, 'api-token'))).mode & 0o777).toBe(0o600);
    expect((await readFile(join(dir, 'api-token'), 'utf8')).trim()).toBe(token);
    expect(await new ApiTokenStore({dataDir: dir, logger: silentLogger()}).current()).toBe(token);
  });

  it('checks a presented token: only the exact token passes', async () => {
    const store = new ApiTokenStore({dataDir: dir, logger: silentLogger()});
    expect(store.verify('anything')).toBe(false);
    const token = await store.current();
    expect(store.verify(token)).toBe(true);
    for (const wrong of ['', token.slice(0, -1), `${token}x`, token.toUpperCase(), ` ${token}`]) expect(store.verify(wrong)).toBe(false);
  });

  it('rotates: a new token in the file, the old one refused, listeners told', async () => {
    const store = new ApiTokenStore({dataDir: dir, logger: silentLogger()});
    const old = await store.current();
    let told = 0;
    store.onRotate(() => told++);
    const fresh = await store.rotate();
    expect(fresh).not.toBe(old);
    expect(store.verify(old)).toBe(false);
    expect(store.verify(fresh)).toBe(true);
    expect(told).toBe(1);
    expect((await readFile(join(dir, 'api-token'), 'utf8')).trim()).toBe(fresh);
    expect((await stat(join(dir, 'api-token'))).mode & 0o777).toBe(0o600);
  });

  it('replaces a file that holds no token, and makes a readable one 0600', async () => {
    await writeFile(join(dir, 'api-token'), 'hunter2\n', {mode: 0o600});
    const replaced = await new ApiTokenStore({dataDir: dir, logger: silentLogger()}).current();
    expect(replaced).toMatch(/^wgmesh_/);
    await chmod(join(dir, 'api-token'), 0o644);
    expect(await new ApiTokenStore({dataDir: dir, logger: silentLogger()}).current()).toBe(replaced);
    expect((await stat(join(dir, 'api-token'))).mode & 0o777).toBe(0o600);
  });
});

describe('rate limiter', () => {
  it('lets a burst through, then one request per 1/rate seconds, with the wait in whole seconds', async () => {
    const clock = new SimulatedClock(1_000_000);
    const limiter = new RateLimiter({perSecond: 2, burst: 3, clock});
    for (let index = 0; index < 3; index++) expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a')).toEqual({allowed: false, retryAfterSeconds: 1});
    expect(limiter.take('b').allowed).toBe(true);
    await clock.advance(500);
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
    await clock.advance(10_000);
    for (let index = 0; index < 3; index++) expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
  });

  it('tracks a bounded number of clients, forgetting refilled ones first', () => {
    const clock = new SimulatedClock(0);
    const limiter = new RateLimiter({perSecond: 1, burst: 2, maxClients: 10, clock});
    limiter.take('held');
    limiter.take('held');
    for (let index = 0; index < 1000; index++) limiter.take(`flood-${index}`);
    expect(limiter.size).toBeLessThanOrEqual(10);
  });

  it('refuses settings that would never allow a request', () => {
    const clock = new SimulatedClock(0);
    expect(() => new RateLimiter({perSecond: 0, burst: 1, clock})).toThrow(RangeError);
    expect(() => new RateLimiter({perSecond: 1, burst: 0, clock})).toThrow(RangeError);
  });
});

describe('event hub', () => {
  const clock = new SimulatedClock(5_000);

  it('numbers and stamps events, filters by mesh and delivers in order', async () => {
    const hub = new EventHub({clock, maxQueue: 10});
    const all = hub.subscribe(undefined, 4);
    const one = hub.subscribe('m1', 4);
    hub.publish('mesh.added', {meshId: 'm1'});
    hub.publish('mesh.added', {meshId: 'm2'});
    hub.publish('member.died', {meshId: 'm1', nodeId: 'n'});
    const first = (await all.next())!;
    expect(first).toEqual({id: 1, type: 'mesh.added', data: {meshId: 'm1', at: 5_000}, json: '{"meshId":"m1","at":5000}'});
    expect((await all.next())!.id).toBe(2);
    expect([(await one.next())!.id, (await one.next())!.id]).toEqual([1, 3]);
  });

  it('drops a subscriber that falls maxQueue events behind, and no other', async () => {
    const hub = new EventHub({clock, maxQueue: 3});
    const slow = hub.subscribe(undefined, 4);
    const fast = hub.subscribe(undefined, 4);
    const received: ApiEvent[] = [];
    const reading = (async () => {
      for (let event = await fast.next(); event; event = await fast.next()) received.push(event);
    })();
    for (let index = 0; index < 10; index++) {
      hub.publish('mesh.added', {meshId: `m${index}`});
      await Promise.resolve();
    }
    expect(slow.ended).toBe('slow');
    expect(await slow.next()).toBeUndefined();
    expect(hub.size).toBe(1);
    hub.endAll('shutdown');
    await reading;
    expect(received).toHaveLength(10);
    expect(fast.ended).toBe('shutdown');
  });

  it('caps the subscribers at the cap each subscription names, and counts them for the handshake poller', () => {
    const hub = new EventHub({clock, maxQueue: 3});
    const counts: number[] = [];
    hub.onSubscriberCount((count) => counts.push(count));
    const first = hub.subscribe(undefined, 2);
    hub.subscribe(undefined, 2);
    expect(() => hub.subscribe(undefined, 2)).toThrow(TooManySubscribersError);
    first.close();
    hub.subscribe(undefined, 2);
    expect(() => hub.subscribe(undefined, 2)).toThrow(TooManySubscribersError);
    // A reload that raises the cap lets more in.
    hub.subscribe(undefined, 3);
    expect(counts).toEqual([1, 2, 1, 2, 3]);
  });
});

describe('handshake events', () => {
  const record = (id: string, key: string): NodeRecord => ({id, wgPublicKey: key}) as NodeRecord;

  it('polls only while a stream is open, and reports each change of a peer between none, fresh and stale', async () => {
    const clock = new SimulatedClock(10_000_000);
    let stats: WgPeerStats[] = [];
    let polls = 0;
    const runtime = {
      meshId: 'm1',
      self: () => record('self', 'K0'),
      liveRecords: () => [record('self', 'K0'), record('peer', 'K1')],
      peerStats: async () => (polls++, stats),
    } as unknown as MeshRuntime;
    const events = new MeshEvents({clock, logger: silentLogger(), meshes: () => [runtime], maxQueue: 100});
    await clock.advance(HANDSHAKE_POLL_MS * 3);
    expect(polls).toBe(0);
    const stream = events.hub.subscribe(undefined, 4);
    await clock.advance(HANDSHAKE_POLL_MS);
    expect(polls).toBe(1);
    const peer = (latestHandshakeMs: number | null): WgPeerStats[] => [{publicKey: 'K1', endpoint: null, latestHandshakeMs, rxBytes: 0, txBytes: 0}];
    stats = peer(clock.now());
    await clock.advance(HANDSHAKE_POLL_MS);
    const fresh = (await stream.next())!;
    expect(fresh).toMatchObject({type: 'handshake.changed', data: {meshId: 'm1', nodeId: 'peer', state: 'fresh'}});
    const handshakeAt = clock.now() - HANDSHAKE_POLL_MS;
    expect((fresh.data as {latestHandshakeAt: number}).latestHandshakeAt).toBe(handshakeAt);
    await clock.advance(HANDSHAKE_FRESH_MS);
    expect(await stream.next()).toMatchObject({type: 'handshake.changed', data: {nodeId: 'peer', state: 'stale', latestHandshakeAt: handshakeAt}});
    stream.close();
    const before = polls;
    await clock.advance(HANDSHAKE_POLL_MS * 5);
    expect(polls).toBe(before);
    events.close();
  });
});

describe('error statuses', () => {
  it('maps codes to statuses, and hides what is not a wgmesh error', () => {
    expect([statusOf('INVALID_INPUT'), statusOf('UNAUTHORIZED'), statusOf('UNKNOWN_MESH'), statusOf('PAYLOAD_TOO_LARGE'), statusOf('RATE_LIMITED'), statusOf('STARTING'), statusOf('DOT_MISSING')]).toEqual([
      400, 401, 404, 413, 429, 503, 501,
    ]);
    expect(statusOf('SOMETHING_NEW')).toBe(500);
    expect(statusOf('toString')).toBe(500);
    expect(wgmeshErrorParts(new UnknownMeshError('m'))?.code).toBe('UNKNOWN_MESH');
    expect(wgmeshErrorParts(new InvalidInputError('bad'))).toEqual({code: 'INVALID_INPUT', message: 'bad'});
    expect(wgmeshErrorParts(Object.assign(new Error('open /secret/path'), {code: 'ENOENT', errno: -2}))).toBeUndefined();
    expect(wgmeshErrorParts(Object.assign(new TypeError('x'), {code: 'ERR_INVALID_ARG_TYPE'}))).toBeUndefined();
    expect(wgmeshErrorParts('text')).toBeUndefined();
  });
});

describe('listen address', () => {
  it('is loopback unless remote access is allowed', () => {
    expect(['127.0.0.1', '127.8.0.1', '::1', '::ffff:127.0.0.1'].map(isLoopbackHost)).toEqual([true, true, true, true]);
    expect(['0.0.0.0', '::', '10.0.0.1', 'fd00::1', 'localhost'].map(isLoopbackHost)).toEqual([false, false, false, false, false]);
    expect(checkApiListen('[::1]:9475', false)).toEqual({host: '::1', port: 9475});
    expect(() => checkApiListen('0.0.0.0:9475', false)).toThrow(/apiAllowRemote/);
    expect(checkApiListen('0.0.0.0:9475', true)).toEqual({host: '0.0.0.0', port: 9475});
  });
});

describe('dashboard files', () => {
  const app = (dashboardDir: string | undefined) => {
    const tokens = new ApiTokenStore({dataDir: dir, logger: silentLogger()});
    const clock = new SimulatedClock(0);
    return createApiApp({
      handlers: {} as never,
      tokens,
      hub: new EventHub({clock, maxQueue: 1}),
      limiter: new RateLimiter({perSecond: 100, burst: 100, clock}),
      maxBodyBytes: 1024,
      maxStreams: 1,
      corsOrigins: [],
      dashboardDir,
      openapi: () => ({}),
      backends: () => [],
      logger: silentLogger(),
    });
  };
  const env = {incoming: {socket: {remoteAddress: '127.0.0.1'}}, outgoing: {}};
  const get = (served: ReturnType<typeof app>, path: string) => served.request(path, {}, env as never);

  it('serves index.html and assets without a token under the CSP, and nothing outside them', async () => {
    const dist = join(dir, 'dashboard');
    await mkdir(join(dist, 'assets'), {recursive: true});
    await writeFile(join(dist, 'index.html'), '<!doctype html><title>wgmesh</title>');
    await writeFile(join(dist, 'assets', 'app.js'), 'console.log(1)');
    await writeFile(join(dir, 'secret.js'), 'secret');
    const served = app(dist);
    const index = await get(served, '/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await index.text()).toContain('<title>wgmesh</title>');
    const script = await get(served, '/assets/app.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    // Revalidated like the page, so an upgrade never pairs a new page with an old script.
    expect(script.headers.get('cache-control')).toBe('no-cache');
    for (const path of ['/assets/..%2f..%2fsecret.js', '/assets/.hidden.js', '/assets/app.exe', '/secret.js']) expect((await get(served, path)).status, path).toBe(404);
  });

  it('says the dashboard was not built when its directory is missing', async () => {
    const index = await get(app(join(dir, 'nothing')), '/');
    expect(index.status).toBe(404);
    expect(await index.text()).toContain('the dashboard was not built');
    expect(index.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
  });
});
