/** The mesh trust model: authority, credentials, invites, admission and revocation (DESIGN.md section 7). */
export * from './documents.js';
export * from './credential.js';
export * from './admin.js';
export * from './admission.js';
export * from './invite-token.js';
export * from './lines.js';
