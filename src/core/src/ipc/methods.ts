/**
 * The IPC methods the daemon serves to the CLI: names, parameters and results.
 * Both ends import these types; the server validates params with the schemas.
 */
import {z} from 'zod';
import {RECORD_LIMITS, ROLES} from '../model/record.js';

/** Options shared by `mesh create` and `mesh join`. */
export const meshSettingsSchema = z.object({
  /** WireGuard listen port; 0 lets the driver pick. */
  port: z.number().int().min(0).max(65535).optional(),
  /** Public endpoint host (name, IPv4 or IPv6) other peers use to reach this node. */
  endpoint: z.string().min(1).max(253).optional(),
  role: z.enum(ROLES).optional(),
  /** WireGuard persistent keepalive in seconds. */
  keepalive: z.number().int().min(0).max(65535).optional(),
  advertiseRoutes: z.boolean().optional(),
  advertiseDefault: z.boolean().optional(),
});
/** Options shared by `mesh create` and `mesh join`. */
export type MeshSettingsInput = z.infer<typeof meshSettingsSchema>;

/** Parameters of `mesh.join`. */
export const meshJoinSchema = meshSettingsSchema.extend({
  meshId: z.string(),
  /** Control endpoint of any member: `host:port` or `[v6]:port`. */
  via: z.string().min(1).max(300),
});
/** Parameters of `mesh.join`. */
export type MeshJoinInput = z.infer<typeof meshJoinSchema>;

/** Parameters of `service.set`: one mesh, or every mesh of the node when `meshId` is absent. */
export const serviceSetSchema = z.object({
  meshId: z.string().optional(),
  key: z.string().min(1).max(RECORD_LIMITS.serviceKey).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  value: z.string().max(RECORD_LIMITS.serviceValue),
});

/** Parameters of `service.delete`. */
export const serviceDeleteSchema = serviceSetSchema.omit({value: true});

/** Parameters of methods that name one mesh. */
export const meshIdParamsSchema = z.object({meshId: z.string()});

/** One route as shown to users. */
export interface RouteView {
  destination: string;
  path: string[];
}

/** WireGuard statistics of one peer as shown to users. */
export interface PeerStatsView {
  latestHandshakeMs: number | null;
  rxBytes: number;
  txBytes: number;
}

/** One node as `mesh show --json` prints it. */
export interface NodeView {
  id: string;
  wgPublicKey: string;
  address: string;
  role: 'peer' | 'client';
  controlEndpoint: string | null;
  wgEndpoint: string | null;
  alias: string | null;
  description: string | null;
  services: Record<string, string>;
  routes: RouteView[];
  /** True for the node answering. */
  self: boolean;
  /** WireGuard statistics for this node as seen from the answering node, when the driver has them. */
  stats: PeerStatsView | null;
}

/** Requests other members made to this node for one mesh since the daemon started. */
export interface InboundCounters {
  snapshots: number;
  syncs: number;
  messages: number;
}

/** `mesh show --json`. */
export interface MeshView {
  meshId: string;
  prefix: string;
  nodes: NodeView[];
  /** What other members asked of this node in this mesh (a client must see none: it is never dialled). */
  inbound: InboundCounters;
}

/** One line of `mesh list --json`. */
export interface MeshSummary {
  meshId: string;
  prefix: string;
  interface: string;
  members: number;
}

/** `status --json`. */
export interface StatusView {
  pid: number;
  nodeId: string;
  wgPublicKey: string;
  backends: {store: string; transport: string; wg: string};
  meshes: MeshSummary[];
}

/** Every IPC method: its params and result types. */
export interface IpcMethods {
  status: {params: Record<string, never>; result: StatusView};
  'mesh.create': {params: MeshSettingsInput; result: {meshId: string}};
  'mesh.join': {params: MeshJoinInput; result: {meshId: string; members: number}};
  'mesh.list': {params: Record<string, never>; result: MeshSummary[]};
  'mesh.show': {params: {meshId: string}; result: MeshView};
  'mesh.leave': {params: {meshId: string}; result: {meshId: string}};
  'service.set': {params: {meshId?: string; key: string; value: string}; result: {meshIds: string[]}};
  'service.delete': {params: {meshId?: string; key: string}; result: {meshIds: string[]}};
}

/** A method name. */
export type IpcMethod = keyof IpcMethods;
