/** The daemon's DNS server for mesh aliases: `ALIAS.MESH_ID.wgmesh.` and `ALIAS.wgmesh.`. */
export * from './names.js';
export * from './lookup.js';
export * from './responder.js';
export * from './server.js';
