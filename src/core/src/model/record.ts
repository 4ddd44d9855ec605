/**
 * The replicated data model: node records and tombstones, as their owners sign
 * them. Every entry that arrives from elsewhere is decoded and validated with
 * these schemas before anything else looks at it.
 */
import {z} from 'zod';
import {RECORD_LIMITS} from './limits.js';

/** Roles a node can have in a mesh (DESIGN.md section 4). */
export const ROLES = ['peer', 'client'] as const;
/** A node's role in one mesh. */
export type Role = (typeof ROLES)[number];

// Defined apart (zod-free) so that the CLI's client entry can use them cheaply.
export {RECORD_LIMITS} from './limits.js';

const base64Key = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be a 32-byte key in base64');
const nodeId = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lower-case hex digits');
const meshIdText = z.string().min(1).max(64);
const timestamp = z.number().int().nonnegative();

/** A route a node advertises: a destination prefix and the mesh ids it crossed, origin first. */
export const routeAdvertSchema = z.object({
  destination: z.string().min(2).max(64),
  path: z.array(meshIdText).max(RECORD_LIMITS.routePath),
});
/** A route a node advertises. */
export type RouteAdvert = z.infer<typeof routeAdvertSchema>;

/** A node's signed description of itself in one mesh. Written only by its owner. */
export const nodeRecordSchema = z.object({
  kind: z.literal('record'),
  meshId: meshIdText,
  id: nodeId,
  signingKey: base64Key,
  wgPublicKey: base64Key,
  address: z.string().min(2).max(45),
  addressCounter: z.number().int().min(0).max(255),
  role: z.enum(ROLES),
  controlEndpoint: z.string().max(RECORD_LIMITS.endpoint).nullable(),
  wgEndpoint: z.string().max(RECORD_LIMITS.endpoint).nullable(),
  alias: z.string().max(RECORD_LIMITS.alias).nullable(),
  description: z.string().max(RECORD_LIMITS.description).nullable(),
  services: z
    .record(z.string().min(1).max(RECORD_LIMITS.serviceKey), z.string().max(RECORD_LIMITS.serviceValue))
    .refine((s) => Object.keys(s).length <= RECORD_LIMITS.services, `at most ${RECORD_LIMITS.services} services`),
  routes: z.array(routeAdvertSchema).max(RECORD_LIMITS.routes),
  version: timestamp,
  createdAt: timestamp,
  updatedAt: timestamp,
});
/** A node's signed description of itself in one mesh. */
export type NodeRecord = z.infer<typeof nodeRecordSchema>;

/** A signed removal written by the owner when it leaves a mesh. */
export const tombstoneSchema = z.object({
  kind: z.literal('tombstone'),
  meshId: meshIdText,
  id: nodeId,
  signingKey: base64Key,
  version: timestamp,
  updatedAt: timestamp,
});
/** A signed removal written by the owner when it leaves a mesh. */
export type Tombstone = z.infer<typeof tombstoneSchema>;

/** What an entry says: a live record or a tombstone. */
export const entryBodySchema = z.discriminatedUnion('kind', [nodeRecordSchema, tombstoneSchema]);
/** What an entry says: a live record or a tombstone. */
export type EntryBody = NodeRecord | Tombstone;

/** An entry as it travels and is stored: the owner's encoded body and its Ed25519 signature. */
export interface SignedEntry {
  /** The encoded body (see codec), exactly the bytes that were signed. */
  readonly body: Uint8Array;
  /** Ed25519 signature of `body` by the key in the body's `signingKey`. */
  readonly signature: Uint8Array;
}

/** A signed entry that passed verification, with its decoded body and content hash. */
export interface VerifiedEntry extends SignedEntry {
  /** The decoded, validated body. */
  readonly value: EntryBody;
  /** SHA-256 of signature || body: identifies this exact version of the entry. */
  readonly hash: Uint8Array;
}

/**
 * Which of two entries for the same node wins a merge. Higher version wins; on
 * equal versions the larger content hash wins, so every replica decides the
 * same way whatever order it sees them in. A tombstone is just another version,
 * so a removal wins only over older versions and a later re-add wins over it.
 * @returns a positive number when `a` wins, negative when `b` wins, 0 when identical.
 */
export function compareEntries(a: VerifiedEntry, b: VerifiedEntry): number {
  if (a.value.version !== b.value.version) return a.value.version - b.value.version;
  return Buffer.compare(Buffer.from(a.hash), Buffer.from(b.hash));
}

/** True when `entry` is a live node record (not a tombstone). */
export function isRecord(entry: VerifiedEntry): entry is VerifiedEntry & {value: NodeRecord} {
  return entry.value.kind === 'record';
}
