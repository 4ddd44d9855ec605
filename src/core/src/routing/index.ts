/** Routing between meshes and exit nodes: advertisement, selection, and the per-node manager that applies both. */
export * from './adverts.js';
export * from './advertise.js';
export * from './manager.js';
export * from './rendezvous.js';
export * from './select.js';
