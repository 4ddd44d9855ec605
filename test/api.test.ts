/**
 * The HTTP API against real daemons on loopback: every route, the bearer
 * token (missing, wrong, rotated), the body and rate limits, CORS, the
 * loopback-only default, and the event stream delivering a join, a leave and
 * a crash in order. The OpenAPI document is checked with a standard validator
 * (@readme/openapi-parser), and every response body the tests read is checked
 * against its schema in that document (ajv, JSON Schema draft 2020-12).
 */
import {readFile, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {validate as validateOpenApi} from '@readme/openapi-parser';
import {Ajv2020} from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type {StatusView} from '@wgmesh/core/client';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {parse, stringify} from 'yaml';
import {killAllDaemons, runCli, startDaemon, waitFor} from './helpers/cli.js';
import {MeshCluster, writeNodeFiles, freePorts, type MeshNode} from './helpers/mesh-cluster.js';

// ajv-formats is CommonJS: its default export is the plugin function.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

/** A node's API: its base URL and token. */
interface Api {
  base: string;
  origin: string;
  token: string;
}

/** One event read from a stream. */
interface StreamEvent {
  id: number;
  type: string;
  data: Record<string, unknown>;
}

/** An open event stream, read with fetch() and a parser of the text/event-stream format (as the dashboard reads it). */
interface EventStream {
  events: StreamEvent[];
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  /** The first event after index `from` matching `match`, waiting up to `timeoutMs`. */
  waitFor(match: (event: StreamEvent) => boolean, timeoutMs: number, what: string, from?: number): Promise<StreamEvent>;
  close(): void;
}

async function openStream(api: Api, query = ''): Promise<EventStream> {
  const abort = new AbortController();
  const response = await fetch(`${api.base}/events${query}`, {headers: {Authorization: `Bearer ${api.token}`}, signal: abort.signal});
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: StreamEvent[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const ended = (async () => {
    try {
      for (;;) {
        const {done, value} = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, {stream: true});
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const fields = new Map<string, string>();
          for (const line of block.split('\n')) {
            if (line.startsWith(':') || line === '') continue;
            const colon = line.indexOf(':');
            fields.set(line.slice(0, colon), line.slice(colon + 1).replace(/^ /, ''));
          }
          if (fields.has('event')) events.push({id: Number(fields.get('id')), type: fields.get('event')!, data: JSON.parse(fields.get('data') ?? 'null') as Record<string, unknown>});
        }
      }
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    }
  })();
  return {
    events,
    ended,
    async waitFor(match, timeoutMs, what, from = 0) {
      let found: StreamEvent | undefined;
      await waitFor(() => (found = events.slice(from).find(match)) !== undefined, timeoutMs, what);
      return found!;
    },
    close: () => abort.abort(),
  };
}

describe('HTTP API', () => {
  let cluster: MeshCluster;
  let a: MeshNode;
  let b: MeshNode;
  let c: MeshNode;
  let d: MeshNode;
  let apiA: Api;
  let apiB: Api;
  let meshId: string;
  const ajv = new Ajv2020({strict: false, allErrors: true});
  addFormats(ajv);
  let documentLoaded = false;
  /** Node ids by node name. */
  const ids: Record<string, string> = {};

  /** Check `body` against component `name` of the served OpenAPI document. */
  const expectSchema = (name: string, body: unknown): void => {
    expect(documentLoaded, 'the OpenAPI document was loaded first').toBe(true);
    const check = ajv.getSchema(`wgmesh-openapi#/components/schemas/${name}`);
    expect(check, `schema ${name} in the document`).toBeDefined();
    const ok = check!(body);
    expect(ok, `${name}: ${JSON.stringify(check!.errors)}`).toBe(true);
  };

  /** A request to `api` with its token (or `token`), JSON body when given. */
  const request = (api: Api, method: string, path: string, body?: unknown, token: string | null = api.token, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${api.base}${path}`, {
      method,
      headers: {...(token === null ? {} : {Authorization: `Bearer ${token}`}), ...(body === undefined ? {} : {'Content-Type': 'application/json'}), ...headers},
      ...(body === undefined ? {} : {body: typeof body === 'string' ? body : JSON.stringify(body)}),
    });

  /** A request that must answer `status` with a body matching component `schema`; returns the body. */
  const json = async <T = Record<string, unknown>>(api: Api, method: string, path: string, body: unknown, status: number, schema: string): Promise<T> => {
    const response = await request(api, method, path, body);
    const parsed = (await response.json()) as T;
    expect(response.status, `${method} ${path}: ${JSON.stringify(parsed)}`).toBe(status);
    expectSchema(schema, parsed);
    return parsed;
  };

  /** A request that must fail with `status` and `code`, in the one error shape; returns the message. */
  const failure = async (response: Response, status: number, code: string): Promise<string> => {
    const body = (await response.json()) as {error: {code: string; message: string}};
    expect(response.status, JSON.stringify(body)).toBe(status);
    expectSchema('Error', body);
    expect(body.error.code).toBe(code);
    return body.error.message;
  };

  const apiOf = async (node: MeshNode): Promise<Api> => {
    const status = await node.call('status', {});
    const token = (await node.call('api.token', {})).token;
    return {base: status.api!.url, origin: `http://${status.api!.address}`, token};
  };

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-api-');
    const fast = {heartbeatInterval: '500ms', syncInterval: '500ms'};
    [a, b, c, d] = (await cluster.addNodes([
      {name: 'a', config: {...fast, apiEnabled: true, apiListen: '127.0.0.1:0'}},
      {name: 'b', config: {...fast, apiEnabled: true, apiListen: '127.0.0.1:0', apiRateLimit: 1, apiRateBurst: 40, apiMaxStreams: 2, apiCorsOrigins: ['https://admin.example.com']}},
      {name: 'c', config: fast},
      {name: 'd', config: fast},
    ])) as [MeshNode, MeshNode, MeshNode, MeshNode];
    [apiA, apiB] = await Promise.all([apiOf(a), apiOf(b)]);
    for (const node of cluster.nodes) ids[node.name] = (await node.call('status', {})).nodeId;
  });

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
  });

  it('serves an OpenAPI 3.1 document that a standard validator accepts, with the bearer scheme, the error shape and the event stream', async () => {
    const response = await request(apiA, 'GET', '/openapi.json');
    expect(response.status).toBe(200);
    const document = (await response.json()) as Record<string, any>;
    const result = await validateOpenApi(structuredClone(document) as Parameters<typeof validateOpenApi>[0]);
    expect(result.valid, JSON.stringify(result)).toBe(true);
    expect(document.openapi).toBe('3.1.0');
    expect(document.components.securitySchemes.bearer).toMatchObject({type: 'http', scheme: 'bearer'});
    expect(document.paths['/events'].get.responses['200'].content).toHaveProperty('text/event-stream');
    expect(Object.keys(document.components.schemas)).toEqual(expect.arrayContaining(['Error', 'MeshShowView', 'MemberJoinedEvent', 'HandshakeChangedEvent']));
    // Every route the tests below call is documented.
    for (const path of ['/status', '/backends', '/meshes', '/meshes/join', '/meshes/{meshId}', '/meshes/{meshId}/graph', '/meshes/{meshId}/invites', '/meshes/{meshId}/revocations', '/meshes/{meshId}/admin/grants', '/admin/import', '/node', '/node/services/{key}', '/node/rotate-keys', '/events']) {
      expect(document.paths, path).toHaveProperty([path]);
    }
    ajv.addSchema({...document, $id: 'wgmesh-openapi'});
    documentLoaded = true;
  });

  it('refuses a request without the token, with a wrong one, and one in the query string', async () => {
    const missing = await request(apiA, 'GET', '/status', undefined, null);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await failure(missing, 401, 'UNAUTHORIZED');
    await failure(await request(apiA, 'GET', '/status', undefined, `${apiA.token.slice(0, -1)}x`), 401, 'UNAUTHORIZED');
    await failure(await request(apiA, 'GET', '/status', undefined, apiB.token), 401, 'UNAUTHORIZED');
    await failure(await fetch(`${apiA.base}/status?token=${apiA.token}&access_token=${apiA.token}`), 401, 'UNAUTHORIZED');
    await failure(await request(apiA, 'GET', '/meshes', undefined, null, {Authorization: `Basic ${Buffer.from(`x:${apiA.token}`).toString('base64')}`}), 401, 'UNAUTHORIZED');
  });

  it('keeps the token in a 0600 file in the data dir', async () => {
    const file = join(a.dataDir, 'api-token');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, 'utf8')).trim()).toBe(apiA.token);
    expect(apiA.token).toMatch(/^wgmesh_[A-Za-z0-9_-]{43}$/);
  });

  it('creates a mesh and reads status, backends, meshes and one mesh', async () => {
    ({meshId} = await json<{meshId: string}>(apiA, 'POST', '/meshes', {}, 201, 'MeshCreateResult'));
    const status = await json<{api: {url: string}; meshes: {meshId: string}[]}>(apiA, 'GET', '/status', undefined, 200, 'StatusView');
    expect(status.api.url).toBe(apiA.base);
    expect(status.meshes.map((mesh) => mesh.meshId)).toEqual([meshId]);
    const backends = await json<{inUse: {wg: string}; installed: {name: string}[]}>(apiA, 'GET', '/backends', undefined, 200, 'BackendsView');
    expect(backends.inUse.wg).toBe('stub');
    expect(backends.installed.map((backend) => backend.name)).toContain('stub');
    const meshes = await json<{meshId: string; admin: string}[]>(apiA, 'GET', '/meshes', undefined, 200, 'MeshSummaryList');
    expect(meshes).toMatchObject([{meshId, admin: 'authority', members: 1}]);
    const shown = await json<{nodes: {id: string; self: boolean}[]}>(apiA, 'GET', `/meshes/${meshId}`, undefined, 200, 'MeshShowView');
    expect(shown.nodes).toMatchObject([{self: true}]);
    const one = await json<{nodes: unknown[]}>(apiA, 'GET', `/meshes/${meshId}?nodeId=${shown.nodes[0]!.id}`, undefined, 200, 'MeshShowView');
    expect(one.nodes).toHaveLength(1);
    // The IPC answers the same document.
    expect(shown).toEqual(await a.call('mesh.show', {meshId}));
  });

  it('validates every parameter as the IPC does, and names what was wrong', async () => {
    expect(await failure(await request(apiA, 'GET', '/meshes/not-a-mesh'), 400, 'INVALID_INPUT')).toContain('not a mesh id');
    await failure(await request(apiA, 'GET', `/meshes/${'a'.repeat(26)}`), 404, 'UNKNOWN_MESH');
    await failure(await request(apiA, 'GET', `/meshes/${meshId}?nodeId=zz`), 400, 'INVALID_INPUT');
    await failure(await request(apiA, 'GET', `/meshes/${meshId}/graph?format=png`), 400, 'INVALID_INPUT');
    expect(await failure(await request(apiA, 'PATCH', '/node', {alias: 'not an alias!'}), 400, 'INVALID_INPUT')).toContain('invalid alias');
    await failure(await request(apiA, 'PATCH', '/node', {alias: 'x', extra: 1}), 400, 'INVALID_INPUT');
    await failure(await request(apiA, 'PATCH', '/node', '{"alias": '), 400, 'INVALID_INPUT');
    await failure(await request(apiA, 'PATCH', '/node', '[1]'), 400, 'INVALID_INPUT');
    await failure(await request(apiA, 'POST', `/meshes/${meshId}/invites`, {validForMs: 1}), 400, 'INVALID_INPUT');
    await failure(await request(apiA, 'POST', `/meshes/${meshId}/revocations`, {}), 400, 'INVALID_INPUT');
    await failure(await request(apiA, 'GET', '/nothing-here'), 404, 'NOT_FOUND');
    await failure(await request(apiA, 'POST', '/meshes/join', {invite: 'garbage'}), 400, 'INVALID_INPUT');
  });

  it('bounds the request body (413)', async () => {
    const big = JSON.stringify({description: 'x'.repeat(70 * 1024)});
    await failure(await request(apiA, 'PATCH', '/node', big), 413, 'PAYLOAD_TOO_LARGE');
    // Without a Content-Length (chunked), the limit holds as the body streams in.
    const chunked = new ReadableStream({
      start(controller) {
        for (let index = 0; index < 80; index++) controller.enqueue(new TextEncoder().encode('x'.repeat(1024)));
        controller.close();
      },
    });
    const response = await fetch(`${apiA.base}/node`, {method: 'PATCH', headers: {Authorization: `Bearer ${apiA.token}`}, body: chunked, duplex: 'half'} as RequestInit);
    await failure(response, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('streams a join, a leave and a crash in order, and record changes', async () => {
    const stream = await openStream(apiA, `?meshId=${meshId}`);
    try {
      const [cId, dId, aId] = [ids.c!, ids.d!, ids.a!];
      await c.join(meshId, a, a);
      await d.join(meshId, a, a);
      await stream.waitFor((event) => event.type === 'member.joined' && event.data.nodeId === dId, 10_000, 'd joined');
      await c.cliJson(['mesh', 'leave', meshId]);
      await stream.waitFor((event) => event.type === 'member.left' && event.data.nodeId === cId, 10_000, 'c left');
      await d.kill('SIGKILL');
      await stream.waitFor((event) => event.type === 'member.died' && event.data.nodeId === dId, 20_000, 'd died');
      await json(apiA, 'PATCH', '/node', {alias: 'alpha', meshId}, 200, 'NodeSetResult');
      const changed = await stream.waitFor((event) => event.type === 'record.changed' && event.data.nodeId === aId, 10_000, "a's alias");
      expect((changed.data.node as {alias: string}).alias).toBe('alpha');

      const position = (type: string, nodeId: string): number => stream.events.findIndex((event) => event.type === type && event.data.nodeId === nodeId);
      const order = [position('member.joined', cId), position('member.joined', dId), position('member.left', cId), position('member.died', dId)];
      expect(order.every((index) => index >= 0)).toBe(true);
      expect([...order].sort((x, y) => x - y)).toEqual(order);
      const eventIds = stream.events.map((event) => event.id);
      expect([...eventIds].sort((x, y) => x - y)).toEqual(eventIds);
      expect(new Set(eventIds).size).toBe(eventIds.length);
      for (const event of stream.events) {
        expect(event.data.meshId).toBe(meshId);
        expect(typeof event.data.at).toBe('number');
        const component = `${event.type.replace(/(^|\.)([a-z])/g, (_m, _dot: string, letter: string) => letter.toUpperCase())}Event`;
        expectSchema(component, event.data);
      }
    } finally {
      stream.close();
    }
  });

  it('joins through the API with an invite, grants admin, imports the grant and lists and revokes invites', async () => {
    const invite = await json<{token: string; inviteId: string}>(apiA, 'POST', `/meshes/${meshId}/invites`, {validForMs: 600_000, uses: 1}, 201, 'InviteResult');
    const joined = await json<{meshId: string; members: number}>(apiB, 'POST', '/meshes/join', {invite: invite.token, via: a.endpoint}, 201, 'MeshJoinResult');
    expect(joined.meshId).toBe(meshId);
    const bId = (await b.call('status', {})).nodeId;
    const grant = await json<{line: string}>(apiA, 'POST', `/meshes/${meshId}/admin/grants`, {node: bId}, 201, 'AdminGrantResult');
    expect(await json(apiB, 'POST', '/admin/import', {line: grant.line}, 200, 'AdminImportResult')).toMatchObject({meshId, kind: 'grant'});
    const spare = await json<{inviteId: string}>(apiA, 'POST', `/meshes/${meshId}/invites`, {validForMs: 600_000, role: 'client'}, 201, 'InviteResult');
    const invites = await json<{id: string; state: string}[]>(apiA, 'GET', `/meshes/${meshId}/invites`, undefined, 200, 'InviteList');
    expect(invites.find((item) => item.id === spare.inviteId)?.state).toBe('open');
    expect(await json(apiA, 'POST', `/meshes/${meshId}/revocations`, {invite: spare.inviteId, reason: 'not needed'}, 201, 'RevocationResult')).toMatchObject({inviteId: spare.inviteId});
    const after = await json<{id: string; state: string}[]>(apiA, 'GET', `/meshes/${meshId}/invites`, undefined, 200, 'InviteList');
    expect(after.find((item) => item.id === spare.inviteId)?.state).toBe('revoked');
    // d crashed for good: an admin revokes it.
    expect(await json(apiA, 'POST', `/meshes/${meshId}/revocations`, {node: ids.d, reason: 'crashed for good'}, 201, 'RevocationResult')).toMatchObject({meshId, nodeId: ids.d});
  });

  it("changes this node's settings, description and services, rotates its key and draws the graph", async () => {
    expect(await json(apiA, 'PATCH', `/meshes/${meshId}`, {keepalive: 25}, 200, 'MeshSetResult')).toMatchObject({changed: ['keepalive'], settings: {keepalive: 25}});
    expect(await json(apiA, 'PATCH', '/node', {description: 'the first node'}, 200, 'NodeSetResult')).toMatchObject({meshIds: [meshId]});
    expect(await json(apiA, 'PUT', '/node/services/web', {value: 'http://[::1]:8080', meshId}, 200, 'MeshIdsResult')).toEqual({meshIds: [meshId]});
    const self = (await json<{nodes: {self: boolean; services: Record<string, string>; description: string}[]}>(apiA, 'GET', `/meshes/${meshId}`, undefined, 200, 'MeshShowView')).nodes.find((node) => node.self)!;
    expect(self).toMatchObject({services: {web: 'http://[::1]:8080'}, description: 'the first node'});
    expect(await json(apiA, 'DELETE', `/node/services/web?meshId=${meshId}`, undefined, 200, 'MeshIdsResult')).toEqual({meshIds: [meshId]});
    expect(await failure(await request(apiA, 'DELETE', '/node/services/web'), 400, 'INVALID_INPUT')).toContain("service 'web' is not set");
    const before = (await a.call('status', {})).wgPublicKey;
    const rotated = await json<{oldPublicKey: string; newPublicKey: string}>(apiA, 'POST', '/node/rotate-keys', undefined, 200, 'RotateKeysResult');
    expect(rotated.oldPublicKey).toBe(before);
    expect(rotated.newPublicKey).not.toBe(before);

    const dot = await request(apiA, 'GET', `/meshes/${meshId}/graph`);
    expect(dot.status).toBe(200);
    expect(dot.headers.get('content-type')).toMatch(/^text\/vnd\.graphviz/);
    expect(await dot.text()).toMatch(/^digraph "wgmesh" \{/);
    const svg = await request(apiA, 'GET', `/meshes/${meshId}/graph?format=svg`);
    if (svg.status === 501) await failure(svg, 501, 'DOT_MISSING');
    else {
      expect(svg.status).toBe(200);
      expect(svg.headers.get('content-type')).toBe('image/svg+xml');
      expect(await svg.text()).toContain('<svg');
    }
  });

  it('never exposes the authority key: there is no export route', async () => {
    for (const path of [`/meshes/${meshId}/admin/export`, `/meshes/${meshId}/admin`, '/admin/export']) {
      await failure(await request(apiA, 'GET', path), 404, 'NOT_FOUND');
      await failure(await request(apiA, 'POST', path, {}), 404, 'NOT_FOUND');
    }
    // Every private key this node holds: its identity's and the mesh authority's.
    const secrets = [JSON.parse(await readFile(join(a.dataDir, 'identity.json'), 'utf8')), JSON.parse(await readFile(join(a.dataDir, 'admin', `${meshId}.json`), 'utf8'))].flatMap((file: Record<string, unknown>) =>
      Object.entries(file).flatMap(([key, value]) => (/private|secret/i.test(key) && typeof value === 'string' ? [value] : [])),
    );
    expect(secrets.length).toBeGreaterThanOrEqual(3);
    const stream = await openStream(apiA);
    await json(apiA, 'PATCH', '/node', {description: 'secrets check'}, 200, 'NodeSetResult');
    await stream.waitFor((event) => event.type === 'record.changed', 10_000, 'a record change');
    stream.close();
    const answers = JSON.stringify([
      await json(apiA, 'GET', '/status', undefined, 200, 'StatusView'),
      await json(apiA, 'GET', '/meshes', undefined, 200, 'MeshSummaryList'),
      await json(apiA, 'GET', `/meshes/${meshId}`, undefined, 200, 'MeshShowView'),
      await json(apiA, 'GET', `/meshes/${meshId}/invites`, undefined, 200, 'InviteList'),
      await (await request(apiA, 'GET', '/openapi.json')).json(),
      await (await request(apiA, 'GET', `/meshes/${meshId}/graph`)).text(),
      stream.events,
    ]);
    for (const secret of secrets) expect(answers).not.toContain(secret);
  });

  it('sends no CORS headers unless configured, and answers a preflight from an allowed origin only', async () => {
    const plain = await request(apiA, 'GET', '/status', undefined, apiA.token, {Origin: 'https://admin.example.com'});
    expect(plain.status).toBe(200);
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${apiB.base}/status`, {method: 'OPTIONS', headers: {Origin: 'https://admin.example.com', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization'}});
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://admin.example.com');
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const other = await fetch(`${apiB.base}/status`, {method: 'OPTIONS', headers: {Origin: 'https://evil.example.net', 'Access-Control-Request-Method': 'GET'}});
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('serves the dashboard without a token under a strict Content-Security-Policy', async () => {
    const page = await fetch(`${apiA.origin}/`);
    expect(page.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    if (page.status === 200) expect(page.headers.get('cache-control')).toBe('no-cache');
    else expect(await page.text()).toContain('the dashboard was not built');
    expect((await fetch(`${apiA.origin}/assets/..%2f..%2fidentity.json`)).status).toBe(404);
  });

  it('rotates the token: the old one is refused at once, the new one works, open streams end', async () => {
    const stream = await openStream(apiA);
    const rotated = await a.cliJson<{token: string; rotated: boolean; path: string}>(['api', 'token', '--rotate']);
    expect(rotated).toMatchObject({rotated: true, path: join(a.dataDir, 'api-token')});
    expect(rotated.token).not.toBe(apiA.token);
    await expect(Promise.race([stream.ended.then(() => 'ended'), new Promise((resolve) => setTimeout(() => resolve('still open'), 5_000))])).resolves.toBe('ended');
    await failure(await request(apiA, 'GET', '/status'), 401, 'UNAUTHORIZED');
    apiA = {...apiA, token: rotated.token};
    // The token alone on stdout, for $(wgmesh api token).
    const printed = await a.cli(['api', 'token']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe(`${rotated.token}\n`);
    await json(apiA, 'GET', '/status', undefined, 200, 'StatusView');
    expect((await readFile(join(a.dataDir, 'api-token'), 'utf8')).trim()).toBe(rotated.token);
  });

  it('caps the open streams, and a stream its client closes frees its place', async () => {
    const first = await openStream(apiB);
    const second = await openStream(apiB);
    try {
      await failure(await request(apiB, 'GET', '/events'), 429, 'TOO_MANY_STREAMS');
      first.close();
      let third: Response | undefined;
      await waitFor(async () => {
        third = await request(apiB, 'GET', '/events');
        if (third.status === 200) return true;
        await third.arrayBuffer();
        return false;
      }, 5_000, 'a place for a new stream');
      await third!.body?.cancel();
    } finally {
      first.close();
      second.close();
    }
  });

  it('leaves a mesh through the API', async () => {
    expect(await json(apiB, 'DELETE', `/meshes/${meshId}`, undefined, 200, 'MeshLeaveResult')).toEqual({meshId});
    expect(await json(apiB, 'GET', '/meshes', undefined, 200, 'MeshSummaryList')).toEqual([]);
  });

  it('limits the request rate per client (429 with Retry-After)', async () => {
    let limited: Response | undefined;
    for (let index = 0; index < 100 && limited === undefined; index++) {
      const response = await request(apiB, 'GET', '/status');
      if (response.status === 429) limited = response;
      else await response.arrayBuffer();
    }
    expect(limited, 'a 429 within 100 requests (burst 40, 1/s)').toBeDefined();
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await failure(limited!, 429, 'RATE_LIMITED');
    // Without a token too: a guesser is limited like everyone else.
    await failure(await request(apiB, 'GET', '/status', undefined, null), 429, 'RATE_LIMITED');
  });

  it('SIGHUP starts, changes and stops the API; a new address that cannot be bound keeps the running server', async () => {
    const config = parse(await readFile(c.configFile, 'utf8')) as Record<string, unknown>;
    const reload = async (api: Record<string, unknown>, until: (status: StatusView) => boolean, what: string): Promise<StatusView> => {
      await writeFile(c.configFile, stringify({...config, ...api}));
      c.daemon.child.kill('SIGHUP');
      let status: StatusView | undefined;
      await waitFor(async () => until((status = await c.call('status', {}))), 10_000, what);
      return status!;
    };
    const on = await reload({apiEnabled: true, apiListen: '127.0.0.1:0'}, (status) => status.api !== undefined, 'the API to start');
    const apiC: Api = {base: on.api!.url, origin: `http://${on.api!.address}`, token: (await c.call('api.token', {})).token};
    await json(apiC, 'GET', '/status', undefined, 200, 'StatusView');
    const origin = 'https://ops.example.org';
    const preflight = (): Promise<Response> => fetch(`${apiC.base}/status`, {method: 'OPTIONS', headers: {Origin: origin, 'Access-Control-Request-Method': 'GET'}});
    expect((await preflight()).headers.get('access-control-allow-origin')).toBeNull();
    const mark = c.logMark();
    await reload({apiEnabled: true, apiListen: '127.0.0.1:0', apiCorsOrigins: [origin]}, () => c.logLinesSince(mark).some((line) => String(line.msg).startsWith('SIGHUP: reloaded HTTP API')), 'the CORS reload');
    const moved = await c.call('status', {});
    expect((await fetch(`${moved.api!.url}/status`, {method: 'OPTIONS', headers: {Origin: origin, 'Access-Control-Request-Method': 'GET'}})).headers.get('access-control-allow-origin')).toBe(origin);
    // Taken by another API: the reload fails and the server stays where it was.
    const taken = (await a.call('status', {})).api!.address;
    const failedMark = c.logMark();
    await writeFile(c.configFile, stringify({...config, apiEnabled: true, apiListen: taken, apiCorsOrigins: [origin]}));
    c.daemon.child.kill('SIGHUP');
    await waitFor(() => c.logLinesSince(failedMark).some((line) => line.msg === 'SIGHUP: the HTTP API server stays as it was'), 10_000, 'the failed move');
    const kept = await c.call('status', {});
    expect(kept.api?.address).toBeDefined();
    expect(kept.api?.address).not.toBe(taken);
    expect((await fetch(`${kept.api!.url}/status`, {headers: {Authorization: `Bearer ${apiC.token}`}})).status).toBe(200);
    await reload({apiEnabled: false}, (status) => status.api === undefined, 'the API to stop');
    await expect(fetch(`${kept.api!.url}/status`)).rejects.toThrow();
  });

  it('wgmesh doctor checks that the API port is free', async () => {
    const taken = (await a.call('status', {})).api!.address;
    const [port] = await freePorts(1);
    const files = await writeNodeFiles(cluster.sandbox, null, {name: 'doctor', config: {apiEnabled: true, apiListen: taken}}, {port: port!});
    const result = await runCli(['doctor', '--json', '--config', files.configFile], cluster.sandbox.env);
    const report = JSON.parse(result.stdout) as {checks: {name: string; status: string; detail: string; fix?: string}[]};
    expect(report.checks.filter((check) => check.name === 'ports' && check.detail.includes('apiListen'))).toEqual([
      {name: 'ports', status: 'fail', detail: `TCP ${taken} (apiListen) is in use by another program`, fix: `find it with 'ss -ltnp sport = :${taken.split(':')[1]}' and stop it, or set apiListen in ${files.configFile}`},
    ]);
  });

  it('refuses a non-loopback apiListen unless apiAllowRemote', async () => {
    const [port] = await freePorts(1);
    const files = await writeNodeFiles(cluster.sandbox, null, {name: 'remote', config: {apiEnabled: true, apiListen: '0.0.0.0:0'}}, {port: port!});
    const daemon = await startDaemon({sandbox: cluster.sandbox, name: 'remote', config: files.configFile, waitReady: false, logLevel: 'info'});
    expect(await daemon.exited).not.toBe(0);
    expect(daemon.logs()).toContain('apiListen 0.0.0.0:0 is not a loopback address');
    expect(daemon.logs()).toContain('apiAllowRemote');
  });
});
