/**
 * The optional Prometheus endpoint: `GET /metrics` (and `HEAD`) on a local
 * address, 404 for any other path, 405 for any other method. Request bodies
 * are ignored and slow clients are cut off, so a scraper (or anything else
 * that connects) cannot hold the daemon's resources.
 */
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http';
import {isIP, type AddressInfo} from 'node:net';
import type {Logger} from '../contracts/logger.js';
import {ListenError} from '../errors.js';
import {formatEndpoint, parseListenAddress} from '../runtime/endpoint.js';
import type {DaemonMetrics} from './daemon-metrics.js';

/** The path Prometheus scrapes. */
export const METRICS_PATH = '/metrics';

/** Time limits for one request: a scrape is one small request, answered at once. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Everything a metrics server needs. */
export interface MetricsServerOptions {
  /** `IPv4:PORT` or `[IPv6]:PORT`; port 0 binds any free port (see {@link MetricsServer.address}). */
  listen: string;
  metrics: DaemonMetrics;
  logger: Logger;
}

/** An HTTP server for one daemon's metrics. */
export class MetricsServer {
  private readonly options: MetricsServerOptions;
  private server: Server | undefined;
  private bound: string | undefined;

  constructor(options: MetricsServerOptions) {
    this.options = options;
  }

  /**
   * Bind the listen address and start serving.
   * @returns the bound address (`host:port`)
   * @throws ListenError when the address cannot be bound
   */
  async start(): Promise<string> {
    const {host, port} = parseListenAddress(this.options.listen);
    const server = createServer({requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS}, (request, response) => {
      void this.serve(request, response);
    });
    server.keepAliveTimeout = REQUEST_TIMEOUT_MS;
    server.maxHeadersCount = 50;
    await new Promise<void>((resolve, reject) => {
      const failed = (error: Error): void => reject(new ListenError('metrics', this.options.listen, 'metricsListen', error));
      server.once('error', failed);
      server.listen({host, port, exclusive: true, ipv6Only: isIP(host) === 6}, () => {
        server.off('error', failed);
        resolve();
      });
    });
    server.on('error', (error) => this.options.logger.warn({err: error}, 'metrics server error'));
    // A client that sends garbage gets a 400 from Node; it must not be logged as a daemon error.
    server.on('clientError', (_error, socket) => socket.destroy());
    this.server = server;
    this.bound = formatEndpoint(host, (server.address() as AddressInfo).port);
    this.options.logger.info({address: this.bound, path: METRICS_PATH}, 'metrics server listening');
    return this.bound;
  }

  /** The bound address (`host:port`), once started. */
  address(): string | undefined {
    return this.bound;
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // Only the path matters (a query string such as Prometheus' `?name[]=` is ignored).
    const path = (request.url ?? '').split('?')[0];
    request.resume();
    if (path !== METRICS_PATH) return this.reply(response, 404, 'not found: metrics are at /metrics\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      return this.reply(response, 405, 'method not allowed\n');
    }
    try {
      const {contentType, body} = await this.options.metrics.render();
      response.writeHead(200, {'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body)});
      response.end(request.method === 'HEAD' ? undefined : body);
    } catch (error) {
      this.options.logger.error({err: error}, 'could not render metrics');
      this.reply(response, 500, 'could not render metrics; see the daemon log\n');
    }
  }

  private reply(response: ServerResponse, status: number, text: string): void {
    response.writeHead(status, {'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text)});
    response.end(text);
  }

  /** Stop serving and close open connections. Safe to call twice or before start. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
