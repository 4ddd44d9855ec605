/** NAT traversal: observed endpoints, direct paths, hole punching. */
export * from './agent.js';
export * from './ip-endpoint.js';
export * from './observations.js';
export * from './punch.js';
