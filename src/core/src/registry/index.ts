/** The backend registry: which plugin provides which store, transport and WireGuard driver. */
export * from './declarations.js';
export * from './factory-check.js';
export * from './registry.js';
