/**
 * The events of the HTTP API's stream (`GET /api/v1/events`): their types and
 * data, as zod schemas (the OpenAPI document is generated from them).
 */
import {z} from 'zod';
import {nodeViewSchema} from '../ipc/methods.js';
import {HANDSHAKE_FRESH_MS} from '../views/handshake.js';

const at = z.number().describe('When the daemon saw the change (ms since the Unix epoch).');
const member = {meshId: z.string(), nodeId: z.string(), at};

/** The data of each event type. */
export const apiEventDataSchemas = {
  'member.joined': z.object({...member, node: nodeViewSchema}).describe('A node record appeared in the mesh (a new member, or one that left and came back).'),
  'member.left': z.object(member).describe('A member left the mesh (its tombstone) or was revoked.'),
  'member.died': z.object(member).describe('This node declared a member dead (failure detection); it stays a member.'),
  'member.revived': z.object(member).describe('A member this node considered dead is alive again.'),
  'record.changed': z.object({...member, node: nodeViewSchema}).describe("A member published a newer version of its record (alias, services, endpoints, key...)."),
  'handshake.changed': z
    .object({
      ...member,
      state: z.enum(['fresh', 'stale', 'none']).describe(`fresh: a WireGuard handshake within the last ${HANDSHAKE_FRESH_MS / 1000} s; stale: an older one; none: never.`),
      latestHandshakeAt: z.number().nullable(),
    })
    .describe('The WireGuard handshake state of a peer changed (polled every 2 s while a stream is open).'),
  'mesh.added': z.object({meshId: z.string(), at}).describe('This node created, joined or restored a mesh.'),
  'mesh.removed': z.object({meshId: z.string(), at}).describe('This node left a mesh, or was removed from it.'),
} as const;

/** An event type. */
export type ApiEventType = keyof typeof apiEventDataSchemas;
/** Every event type, in documentation order. */
export const API_EVENT_TYPES = Object.keys(apiEventDataSchemas) as ApiEventType[];

/** The data of an event of type `T`. */
export type ApiEventData<T extends ApiEventType> = z.infer<(typeof apiEventDataSchemas)[T]>;

/** One event as the hub delivers it. */
export interface ApiEvent<T extends ApiEventType = ApiEventType> {
  /** Increasing per daemon. */
  id: number;
  type: T;
  data: ApiEventData<T>;
  /** `data` as one JSON line, made once for every subscriber. */
  json: string;
}

/** The data of an event without the `at` the hub stamps. */
export type ApiEventInput<T extends ApiEventType> = Omit<ApiEventData<T>, 'at'>;
