/**
 * The parts of the HTTP API that load no HTTP code: settings, token, events,
 * rate limits and error statuses. The server itself (hono) loads only when
 * `apiEnabled` (see runtime/local-servers.ts).
 */
export * from './settings.js';
export * from './token-store.js';
export * from './events.js';
export * from './event-hub.js';
export * from './mesh-events.js';
export * from './http-errors.js';
