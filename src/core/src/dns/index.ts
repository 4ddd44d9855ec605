/**
 * The daemon's DNS server for mesh aliases: `ALIAS.MESH_ID.wgmesh.` and
 * `ALIAS.wgmesh.`. The names and the lookup only: the responder and the
 * server (dns-packet) load only when `dnsEnabled` (see runtime/local-servers.ts).
 */
export * from './names.js';
export * from './lookup.js';
