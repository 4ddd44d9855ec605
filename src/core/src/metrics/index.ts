/**
 * The daemon's optional Prometheus endpoint. The HTTP server only: the
 * metrics themselves (prom-client) load only when `metricsEnabled` (see
 * runtime/local-servers.ts).
 */
export * from './server.js';
