/**
 * The replicated data model: node records and tombstones, as their owners sign
 * them. Every entry that arrives from elsewhere is decoded and validated with
 * these schemas before anything else looks at it.
 */
import {z} from 'zod';
import {isIpEndpoint} from '../nat/ip-endpoint.js';
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
/** A membership credential (trust/credential.ts), checked by verifyEntry. */
const credentialBytes = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'must be bytes').refine((bytes) => bytes.byteLength <= 4096, 'credential over 4096 bytes');

/**
 * How a node's WireGuard packets look from outside, as the members that see
 * them report it (nat/observations.ts): `none` when they come from the
 * node's own address and port (not behind NAT), `endpoint-independent` when
 * several members see the same public ip:port, `varies` when members see
 * different ones (a symmetric NAT: no hole can be punched), `unknown` while
 * too few members have reported.
 */
export const NAT_MAPPINGS = ['unknown', 'none', 'endpoint-independent', 'varies'] as const;
/** A node's observed NAT mapping behaviour. */
export type NatMapping = (typeof NAT_MAPPINGS)[number];

/** Most public peers a client lists in `nat.direct`. */
export const MAX_NAT_DIRECT_PEERS = 256;

/**
 * What a node publishes about its NAT: its reflexive WireGuard endpoint (IP
 * literal and port), the mapping behaviour observed, and on a client `direct`:
 * the public peers (other than its home) its WireGuard completed a handshake
 * with on a direct entry lately. Only those carry its traffic directly (see
 * runtime/wg-plan.ts); absent means none.
 */
export const natInfoSchema = z.object({
  endpoint: z.string().refine(isIpEndpoint, 'must be IP:PORT or [IPv6]:PORT').nullable(),
  mapping: z.enum(NAT_MAPPINGS),
  direct: z.array(nodeId).max(MAX_NAT_DIRECT_PEERS).optional(),
});
/** What a node publishes about its NAT. */
export type NatInfo = z.infer<typeof natInfoSchema>;

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
  /**
   * The node's NAT as observed by members; absent in records of nodes that do
   * not observe it. Optional and ignored by daemons that predate it (zod
   * drops unknown keys while the signature covers the encoded bytes), so a
   * client may carry its reflexive endpoint here, where `wgEndpoint` must
   * stay null.
   */
  nat: natInfoSchema.optional(),
  version: timestamp,
  createdAt: timestamp,
  updatedAt: timestamp,
  /** The owner's membership credential: the chain from the mesh authority to `signingKey`. */
  credential: credentialBytes,
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
  /** The owner's membership credential, as in its records. */
  credential: credentialBytes,
});
/** A signed removal written by the owner when it leaves a mesh. */
export type Tombstone = z.infer<typeof tombstoneSchema>;

/** Longest reason an admin may give for a revocation. */
export const MAX_REVOCATION_REASON = 200;

/**
 * An admin's signed removal of a node (or cancellation of an invite) for good.
 * Filed under the node's id (or the invite's, which has the same form), it
 * outranks every record and tombstone of that id, so the node can never write
 * itself back in; `signingKey` is the admin's key, proven by `authority` and `grant`.
 */
export const revocationSchema = z.object({
  kind: z.literal('revocation'),
  meshId: meshIdText,
  id: nodeId,
  target: z.enum(['node', 'invite']),
  signingKey: base64Key,
  authority: base64Key,
  grant: z.object({b: z.custom<Uint8Array>((value) => value instanceof Uint8Array), s: z.custom<Uint8Array>((value) => value instanceof Uint8Array)}).nullable(),
  reason: z.string().max(MAX_REVOCATION_REASON).nullable(),
  /** The invite the revoked node came in with, if any: its use stays spent. */
  invite: nodeId.nullable(),
  version: timestamp,
  updatedAt: timestamp,
});
/** An admin's revocation of a node or an invite. */
export type Revocation = z.infer<typeof revocationSchema>;

/** What an entry says: a live record, a tombstone or a revocation. */
export const entryBodySchema = z.discriminatedUnion('kind', [nodeRecordSchema, tombstoneSchema, revocationSchema]);
/** What an entry says: a live record, a tombstone or a revocation. */
export type EntryBody = NodeRecord | Tombstone | Revocation;

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
  /** When the owner's credential stops being valid (ms); absent when it does not end. */
  readonly validUntil?: number;
}

/**
 * Which of two entries for the same node wins a merge. A revocation wins over
 * any record or tombstone. Otherwise the higher version wins; on
 * equal versions the larger content hash wins, so every replica decides the
 * same way whatever order it sees them in. A tombstone is just another version,
 * so a removal wins only over older versions and a later re-add wins over it.
 * @returns a positive number when `a` wins, negative when `b` wins, 0 when identical.
 */
export function compareEntries(a: VerifiedEntry, b: VerifiedEntry): number {
  const revoked = Number(a.value.kind === 'revocation') - Number(b.value.kind === 'revocation');
  if (revoked !== 0) return revoked;
  if (a.value.version !== b.value.version) return a.value.version - b.value.version;
  return Buffer.compare(Buffer.from(a.hash), Buffer.from(b.hash));
}

/** True when `entry` is a live node record (not a tombstone). */
export function isRecord(entry: VerifiedEntry): entry is VerifiedEntry & {value: NodeRecord} {
  return entry.value.kind === 'record';
}
