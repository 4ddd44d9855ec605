/** The daemon's optional Prometheus endpoint. */
export * from './daemon-metrics.js';
export * from './server.js';
