/**
 * The HTTP API server: binds `apiListen` (a loopback address unless
 * `apiAllowRemote`), serves the routes of app.ts through @hono/node-server,
 * and bounds what a client can hold: header and request time limits, a cap
 * on connections. Loaded only when `apiEnabled` (see local-servers.ts).
 */
import {getRequestListener} from '@hono/node-server';
import {createServer, type Server} from 'node:http';
import {isIP, type AddressInfo} from 'node:net';
import ipaddr from 'ipaddr.js';
import type {Clock} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import {ConfigError, ListenError} from '../errors.js';
import type {IpcHandlers} from '../runtime/ipc-handlers.js';
import {formatEndpoint, parseListenAddress} from '../runtime/endpoint.js';
import {createApiApp} from './app.js';
import {API_BASE} from './settings.js';
import type {EventHub} from './event-hub.js';
import type {ApiSettings} from './settings.js';
import {buildOpenApiDocument} from './openapi.js';
import {RateLimiter} from '../util/rate-limiter.js';
import type {ApiTokenStore} from './token-store.js';

/** Time limits of one request's headers and body (not of a response: event streams last). */
const REQUEST_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 10_000;
/** Connections beyond the open event streams. */
const SPARE_CONNECTIONS = 64;

/** Everything the API server needs besides its settings. */
export interface ApiServerDeps {
  handlers: IpcHandlers;
  tokens: ApiTokenStore;
  hub: EventHub;
  dashboardDir: string | undefined;
  backends: () => unknown[];
  logger: Logger;
  clock: Clock;
}

/** True for an address of the loopback range (127.0.0.0/8, ::1, and IPv4-mapped loopback). */
export function isLoopbackHost(host: string): boolean {
  if (!ipaddr.isValid(host)) return false;
  const address = ipaddr.process(host);
  return address.range() === 'loopback';
}

/**
 * Refuse a non-loopback `listen` unless `allowRemote`.
 * @throws ConfigError
 */
export function checkApiListen(listen: string, allowRemote: boolean): {host: string; port: number} {
  const parsed = parseListenAddress(listen);
  if (!allowRemote && !isLoopbackHost(parsed.host)) {
    throw new ConfigError(
      `apiListen ${listen} is not a loopback address: the HTTP API controls this node, so it listens on 127.0.0.1 or [::1] unless apiAllowRemote is true (then put it behind a TLS proxy and keep the token secret)`,
    );
  }
  return parsed;
}

/** One daemon's HTTP API server. */
export class ApiServer {
  private readonly settings: ApiSettings;
  private readonly deps: ApiServerDeps;
  private server: Server | undefined;
  private bound: string | undefined;
  private unsubscribeRotate: (() => void) | undefined;

  constructor(settings: ApiSettings, deps: ApiServerDeps) {
    this.settings = settings;
    this.deps = deps;
  }

  /**
   * Load the token (made on first use), bind and serve.
   * @throws ConfigError for a non-loopback address without apiAllowRemote
   * @throws ListenError when the address cannot be bound
   */
  async start(): Promise<string> {
    const {settings, deps} = this;
    const {host, port} = checkApiListen(settings.listen, settings.allowRemote);
    await deps.tokens.current();
    let openapi: unknown;
    const app = createApiApp({
      handlers: deps.handlers,
      tokens: deps.tokens,
      hub: deps.hub,
      limiter: new RateLimiter({perSecond: settings.rateLimit, burst: settings.rateBurst, clock: deps.clock}),
      maxBodyBytes: settings.maxBodyBytes,
      maxStreams: settings.maxStreams,
      corsOrigins: settings.corsOrigins,
      dashboardDir: deps.dashboardDir,
      openapi: () => (openapi ??= buildOpenApiDocument()),
      backends: deps.backends,
      logger: deps.logger,
    });
    const listener = getRequestListener(app.fetch);
    const server = createServer({requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS}, (request, response) => void listener(request, response));
    server.maxHeadersCount = 50;
    server.maxConnections = settings.maxStreams + SPARE_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      const failed = (error: Error): void => reject(new ListenError('HTTP API', settings.listen, 'apiListen', error));
      server.once('error', failed);
      server.listen({host, port, exclusive: true, ipv6Only: isIP(host) === 6}, () => {
        server.off('error', failed);
        resolve();
      });
    });
    server.on('error', (error) => deps.logger.warn({err: error}, 'HTTP API server error'));
    server.on('clientError', (_error, socket) => socket.destroy());
    // A rotated token ends the streams opened with the old one.
    this.unsubscribeRotate = deps.tokens.onRotate(() => deps.hub.endAll('rotated'));
    this.server = server;
    this.bound = formatEndpoint(host, (server.address() as AddressInfo).port);
    deps.logger.info({address: this.bound, url: this.url()}, 'HTTP API listening');
    return this.bound;
  }

  /** The bound address (`host:port`), once started. */
  address(): string | undefined {
    return this.bound;
  }

  /** The API's base URL, once started. */
  url(): string | undefined {
    return this.bound === undefined ? undefined : `http://${this.bound}${API_BASE}`;
  }

  /** Stop serving: end the event streams, close every connection. Safe to call twice or before start. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.unsubscribeRotate?.();
    if (!server) return;
    this.deps.hub.endAll('shutdown');
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
