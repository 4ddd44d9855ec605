/**
 * The HTTP API's routes (hono): `/api/v1/...`, each calling the same IPC
 * handler the CLI uses (so validation and behaviour are the same), the event
 * stream, and the dashboard's static files. Every `/api/*` request needs the
 * bearer token; every request counts against its client's rate limit; bodies
 * are bounded; errors have one shape (http-errors.ts).
 */
import type {HttpBindings} from '@hono/node-server';
import {Hono, type Context} from 'hono';
import {bodyLimit} from 'hono/body-limit';
import {cors} from 'hono/cors';
import {streamSSE} from 'hono/streaming';
import type {Logger} from '../contracts/logger.js';
import {isMeshId} from '../addressing/mesh-id.js';
import {InternalError, InvalidInputError, PayloadTooLargeError, RateLimitedError, RouteNotFoundError, UnauthorizedError} from '../errors.js';
import type {IpcHandlers} from '../runtime/ipc-handlers.js';
import type {IpcMethod, IpcMethods} from '../ipc/methods.js';
import type {EventHub} from './event-hub.js';
import {statusOf, wgmeshErrorParts, type ApiErrorBody} from './http-errors.js';
import type {RateLimiter} from '../util/rate-limiter.js';
import {serveDashboard} from './static-files.js';
import {API_BASE} from './settings.js';
import type {ApiTokenStore} from './token-store.js';
import {meshGraph} from './graph.js';

/** A comment line sent on an idle event stream, so proxies and clients see it alive. */
const KEEPALIVE_MS = 15_000;

/** Everything the routes need. */
export interface ApiAppDeps {
  handlers: IpcHandlers;
  tokens: ApiTokenStore;
  hub: EventHub;
  limiter: RateLimiter;
  maxBodyBytes: number;
  /** Most event streams open at once. */
  maxStreams: number;
  /** Origins allowed cross-origin requests; empty: no CORS headers at all. */
  corsOrigins: readonly string[];
  /** The built dashboard (index.html, assets/); absent or missing: `/` says it was not built. */
  dashboardDir: string | undefined;
  /** The OpenAPI document (built on first use). */
  openapi: () => unknown;
  /** The installed backends (for `GET /backends`), when the daemon knows them. */
  backends: () => unknown[];
  logger: Logger;
}

type Env = {Bindings: HttpBindings};

/** An error answer. */
function fail(c: Context<Env>, {code, message}: {code: string; message: string}, headers: Record<string, string> = {}): Response {
  const body: ApiErrorBody = {error: {code, message}};
  return c.json(body, statusOf(code) as 400, headers);
}

/** The JSON body of a request as an object; an empty body is `{}`. @throws InvalidInputError */
async function jsonBody(c: Context<Env>): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidInputError('the request body is not JSON: send a JSON object (Content-Type: application/json)');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidInputError('the request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** A mesh id from the path, checked before any work. @throws InvalidInputError */
function meshIdParam(c: Context<Env>): string {
  const meshId = c.req.param('meshId') ?? '';
  if (!isMeshId(meshId)) throw new InvalidInputError(`'${meshId.slice(0, 80)}' is not a mesh id (see GET ${API_BASE}/meshes)`);
  return meshId;
}

/** The one value of query parameter `name`, or undefined. @throws InvalidInputError when it is given twice */
function queryParam(c: Context<Env>, name: string): string | undefined {
  const values = c.req.queries(name);
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1) throw new InvalidInputError(`query parameter '${name}' given more than once`);
  return values[0];
}

/** The bearer token of a request's Authorization header, or undefined. */
function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? '');
  return match?.[1];
}

/** The routes. */
export function createApiApp(deps: ApiAppDeps): Hono<Env> {
  const {handlers, logger} = deps;
  const call = <M extends IpcMethod>(method: M, params: unknown): Promise<IpcMethods[M]['result']> => handlers[method](params) as Promise<IpcMethods[M]['result']>;
  const app = new Hono<Env>();

  app.use('*', async (c, next) => {
    const client = c.env.incoming.socket.remoteAddress ?? 'unknown';
    const decision = deps.limiter.take(client);
    // Before the handler: headers added to a response already made would make hono copy it into a stream (a 1,000-member mesh then costs several times the CPU to send).
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    if (!decision.allowed) return fail(c, new RateLimitedError(client, decision.retryAfterSeconds), {'Retry-After': String(decision.retryAfterSeconds)});
    await next();
  });

  if (deps.corsOrigins.length > 0) {
    app.use(
      '/api/*',
      cors({origin: [...deps.corsOrigins], allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], allowHeaders: ['Authorization', 'Content-Type'], maxAge: 600}),
    );
  }

  app.use('/api/*', async (c, next) => {
    const token = bearerToken(c.req.header('Authorization'));
    if (token === undefined || !deps.tokens.verify(token)) {
      return fail(c, new UnauthorizedError(), {'WWW-Authenticate': 'Bearer realm="wgmesh"'});
    }
    await next();
  });

  app.use(
    '/api/*',
    bodyLimit({maxSize: deps.maxBodyBytes, onError: (c) => fail(c as Context<Env>, new PayloadTooLargeError(deps.maxBodyBytes))}),
  );

  const api = new Hono<Env>();
  api.get('/status', async (c) => c.json(await call('status', {})));
  api.get('/backends', async (c) => {
    const status = await call('status', {});
    return c.json({inUse: status.backends, installed: deps.backends()});
  });
  api.get('/meshes', async (c) => c.json(await call('mesh.list', {})));
  api.post('/meshes', async (c) => c.json(await call('mesh.create', await jsonBody(c)), 201));
  api.post('/meshes/join', async (c) => c.json(await call('mesh.join', await jsonBody(c)), 201));
  api.get('/meshes/:meshId', async (c) => {
    const nodeId = queryParam(c, 'nodeId');
    return c.json(await call('mesh.show', {meshId: meshIdParam(c), ...(nodeId === undefined ? {} : {nodeId})}));
  });
  api.patch('/meshes/:meshId', async (c) => c.json(await call('mesh.set', {...(await jsonBody(c)), meshId: meshIdParam(c)})));
  api.delete('/meshes/:meshId', async (c) => c.json(await call('mesh.leave', {meshId: meshIdParam(c)})));
  api.get('/meshes/:meshId/graph', async (c) => {
    const meshId = meshIdParam(c);
    const format = queryParam(c, 'format') ?? 'dot';
    if (format !== 'dot' && format !== 'svg') throw new InvalidInputError(`format must be dot or svg, not '${format.slice(0, 20)}'`);
    const view = await call('mesh.show', {meshId});
    const graph = await meshGraph(view, format);
    return c.body(graph, 200, {'Content-Type': format === 'svg' ? 'image/svg+xml' : 'text/vnd.graphviz; charset=utf-8'});
  });
  api.get('/meshes/:meshId/invites', async (c) => c.json(await call('mesh.invites', {meshId: meshIdParam(c)})));
  api.post('/meshes/:meshId/invites', async (c) => c.json(await call('mesh.invite', {...(await jsonBody(c)), meshId: meshIdParam(c)}), 201));
  api.post('/meshes/:meshId/revocations', async (c) => c.json(await call('mesh.revoke', {...(await jsonBody(c)), meshId: meshIdParam(c)}), 201));
  api.post('/meshes/:meshId/admin/grants', async (c) => c.json(await call('mesh.admin.grant', {...(await jsonBody(c)), meshId: meshIdParam(c)}), 201));
  api.post('/admin/import', async (c) => c.json(await call('mesh.admin.import', await jsonBody(c))));
  api.patch('/node', async (c) => c.json(await call('node.set', await jsonBody(c))));
  api.put('/node/services/:key', async (c) => c.json(await call('service.set', {...(await jsonBody(c)), key: c.req.param('key')})));
  api.delete('/node/services/:key', async (c) => {
    const meshId = queryParam(c, 'meshId');
    return c.json(await call('service.delete', {key: c.req.param('key'), ...(meshId === undefined ? {} : {meshId})}));
  });
  api.post('/node/rotate-keys', async (c) => c.json(await call('node.rotateKeys', await jsonBody(c))));
  api.get('/openapi.json', (c) => c.json(deps.openapi() as object));
  api.get('/events', (c) => {
    const meshId = queryParam(c, 'meshId');
    if (meshId !== undefined && !isMeshId(meshId)) throw new InvalidInputError(`'${meshId.slice(0, 80)}' is not a mesh id`);
    const subscription = deps.hub.subscribe(meshId, deps.maxStreams);
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => subscription.close());
      const keepalive = setInterval(() => void stream.write(': keepalive\n\n').catch(() => subscription.close()), KEEPALIVE_MS);
      try {
        // Headers and a first line at once: the client knows the stream is open before the first event.
        await stream.write(': connected\n\n');
        for (;;) {
          const event = await subscription.next();
          if (event === undefined) break;
          await stream.writeSSE({id: String(event.id), event: event.type, data: event.json});
        }
      } finally {
        clearInterval(keepalive);
        subscription.close();
      }
    });
  });
  app.route(API_BASE, api);

  app.all('/api/*', (c) => fail(c, new RouteNotFoundError(`no such API route: ${c.req.method} ${new URL(c.req.url).pathname.slice(0, 200)} (see ${API_BASE}/openapi.json)`)));
  app.get('/', (c) => serveDashboard(c, deps.dashboardDir, 'index.html'));
  app.get('/assets/:name', (c) => serveDashboard(c, deps.dashboardDir, `assets/${c.req.param('name')}`));
  app.notFound((c) => fail(c, new RouteNotFoundError('not found')));

  app.onError((error, c) => {
    const known = wgmeshErrorParts(error);
    if (known !== undefined) return fail(c, known);
    logger.error({err: error, method: c.req.method, path: new URL(c.req.url).pathname}, 'HTTP API request failed');
    return fail(c, new InternalError('internal error; see the daemon log'));
  });
  return app;
}

