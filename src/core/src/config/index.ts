/** The daemon's configuration: schema, defaults, documentation and loading. */
export * from './duration.js';
export * from './paths.js';
export * from './schema.js';
export * from './docs.js';
export * from './load.js';
