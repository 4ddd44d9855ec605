/**
 * The IPC methods the daemon serves to the CLI: names, parameters and results.
 * Both ends import these types; the server validates params with the schemas.
 */
import {z} from 'zod';
import {isValidAlias} from '../model/aliases.js';
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
  /** The invite line printed by `mesh invite`. */
  invite: z.string().min(1).max(8192),
  /** When given, the mesh the invite must be for. */
  meshId: z.string().optional(),
  /** Control endpoint of a member to try first: `host:port` or `[v6]:port`. */
  via: z.string().min(1).max(300).optional(),
});
/** Parameters of `mesh.join`. */
export type MeshJoinInput = z.infer<typeof meshJoinSchema>;

/**
 * Parameters of `mesh.set`: this node's settings in one mesh, changed in
 * place. Absent fields stay as they are; the booleans can also be switched
 * off (`false`).
 */
export const meshSetSchema = meshSettingsSchema.extend({meshId: z.string()}).strict();
/** Parameters of `mesh.set`. */
export type MeshSetInput = z.infer<typeof meshSetSchema>;

/** This node's settings in one mesh, as `mesh set` reports them after the change. */
export interface MeshSettingsView {
  role: 'peer' | 'client';
  /** The host advertised to other members, or null (a client, or none known). */
  endpoint: string | null;
  /** The WireGuard port asked for (0: any; then `boundPort` is the one kept across restarts). */
  port: number;
  /** The WireGuard port bound now. */
  boundPort: number;
  keepalive: number;
  advertiseRoutes: boolean;
  advertiseDefault: boolean;
}

/** `mesh set --json`: the mesh, the settings that changed (names of {@link MeshSettingsView}) and all of them after the change. */
export interface MeshSetResult {
  meshId: string;
  changed: string[];
  settings: MeshSettingsView;
}

/** Parameters of `mesh.invite`. */
export const meshInviteSchema = z.object({
  meshId: z.string(),
  role: z.enum(ROLES).default('peer'),
  uses: z.number().int().min(1).max(10_000).default(1),
  /** How long the invite may be redeemed (ms). */
  validForMs: z.number().int().min(1000).max(366 * 24 * 3600_000),
  /** Suggested to the joined node (its own flags win). */
  advertiseRoutes: z.boolean().optional(),
  advertiseDefault: z.boolean().optional(),
});

/** Parameters of `mesh.revoke`: a node (id, alias or address) or an invite id. */
export const meshRevokeSchema = z
  .object({
    meshId: z.string(),
    node: z.string().min(1).max(64).optional(),
    invite: z.string().min(1).max(64).optional(),
    reason: z.string().max(200).optional(),
  })
  .refine((params) => (params.node === undefined) !== (params.invite === undefined), 'give either a node or --invite');

/** Parameters of `mesh.admin.grant`. */
export const meshAdminGrantSchema = z.object({
  meshId: z.string(),
  node: z.string().min(1).max(64),
  /** How long the grant lasts (ms); absent: until revoked with the authority. */
  validForMs: z.number().int().min(1000).optional(),
});

/** Parameters of `service.set`: one mesh, or every mesh of the node when `meshId` is absent. */
export const serviceSetSchema = z.object({
  meshId: z.string().optional(),
  key: z.string().min(1).max(RECORD_LIMITS.serviceKey).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  value: z.string().max(RECORD_LIMITS.serviceValue),
});

/** Parameters of `service.delete`. */
export const serviceDeleteSchema = serviceSetSchema.omit({value: true});

/**
 * Parameters of `node.set`: this node's alias and/or description, in one mesh
 * or in every mesh of the node when `meshId` is absent. `null` removes the
 * field. The alias is trimmed and lower-cased, then must be one DNS label.
 */
export const nodeSetSchema = z
  .object({
    meshId: z.string().optional(),
    alias: z
      .string()
      .trim()
      .toLowerCase()
      .refine(isValidAlias, "must be one DNS label: 1-63 letters, digits and '-', not starting or ending with '-'")
      .nullable()
      .optional(),
    description: z
      .string()
      .max(RECORD_LIMITS.description, `must be at most ${RECORD_LIMITS.description} characters`)
      // One line of printable text: it is shown in tables, graphs and DNS-facing tools.
      .regex(/^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/, 'must be one line without control characters')
      .nullable()
      .optional(),
  })
  .strict()
  .refine((input) => input.alias !== undefined || input.description !== undefined, 'give an alias or a description');
/** Parameters of `node.set`. */
export type NodeSetInput = z.input<typeof nodeSetSchema>;

/** A mesh in which this node's alias resolves to another node (which claimed it first). */
export interface AliasLostView {
  meshId: string;
  alias: string;
  /** Id of the node the alias resolves to. */
  owner: string;
  /** Mesh address of that node. */
  ownerAddress: string;
}

/** Result of `node.set`. */
export interface NodeSetResult {
  /** The meshes whose record was changed. */
  meshIds: string[];
  /** Meshes where the alias just set belongs to another node (empty when it is this node's everywhere). */
  aliasLost: AliasLostView[];
}

/** Parameters of methods that name one mesh. */
export const meshIdParamsSchema = z.object({meshId: z.string()});

/**
 * `mesh.show` params: `nodeId` limits `nodes` to that member (none when it is
 * not a live member), so a watcher polling one record does not make the
 * daemon serialise the whole mesh on every call.
 */
export const meshShowParamsSchema = meshIdParamsSchema.extend({nodeId: z.string().regex(/^[0-9a-f]{32}$/, 'must be a node id (32 lower-case hex digits)').optional()});

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

/** One node's record and WireGuard statistics, as the mesh runtime reports it ({@link MeshShowNode} adds what needs the whole mesh). */
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
  /**
   * When the answering daemon took the version of this record it holds now
   * (ms since the Unix epoch, its own clock): how a change spread, and how
   * stale a record is here. After a restart, records not changed since are
   * dated when the saved state was loaded; null if unknown.
   */
  receivedAt: number | null;
  /**
   * True when the answering node cannot reach this node from where it stands:
   * it reaches no member at all (the mesh is `isolated` there), or this
   * node's control endpoint did not answer its last request. A local view,
   * not a verdict of the mesh (the node stays a member). Absent from daemons
   * that predate it.
   */
  unreachable?: boolean;
  /**
   * How far this node's clock reads behind the answering node's (ms;
   * negative: ahead), from the stamps of its liveness messages (over-stated
   * by the fastest delivery, a few ms). Absent until one arrived, for the
   * answering node itself, and from daemons that predate it.
   */
  clockLagMs?: number;
  /**
   * The node's NAT as its record publishes it (NAT traversal on there): its
   * reflexive WireGuard endpoint as members see it, and the mapping
   * behaviour (`none`: not behind NAT; `endpoint-independent`: one public
   * ip:port for every member; `varies`: a new one per member; `unknown`: too
   * few reports yet). Absent when the record has none.
   */
  nat?: {endpoint: string | null; mapping: 'unknown' | 'none' | 'endpoint-independent' | 'varies'};
  /**
   * From the answering node (a client) to this node (another client): `direct`
   * over a punched path, `trying` while a hole is punched, `relayed` through
   * the home peers. Absent where punching does not apply.
   */
  path?: 'direct' | 'trying' | 'relayed';
}

/** What a node's record means in the context of its whole mesh, as the answering daemon resolves it. */
export interface NodeRelationsView {
  /**
   * Id of the node this node's alias resolves to: its own id, or the id of the
   * node that claimed the same alias first (see `resolveAliases`); null when it
   * has no valid alias.
   */
  aliasOwner: string | null;
  /** True when another live node claims the same alias (on the owner and on every loser). */
  aliasConflict: boolean;
  /** For a client, the id of its home peer (the one peer it attaches to); null for a peer, or when no peer is alive. */
  homePeer: string | null;
}

/** One node as `mesh show --json` prints it. */
export type MeshShowNode = NodeView & NodeRelationsView;

/** An alias that several live nodes claim, and who gets it. */
export interface AliasConflictView {
  alias: string;
  /** Id of the node it resolves to. */
  owner: string;
  /** Ids of the other claimants, in rule order. */
  others: string[];
}

/** `mesh show --json`, also the document `mesh query` evaluates. */
export interface MeshShowView extends Omit<MeshView, 'nodes'> {
  nodes: MeshShowNode[];
  /** Present when this node is an admin of the mesh: it holds the authority key, or an admin grant. */
  admin?: 'authority' | 'grant';
  /** Every alias claimed by more than one node, sorted by alias. */
  aliasConflicts: AliasConflictView[];
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
  /** True when the answering node reaches no other member of the mesh (see {@link MeshSummary.isolated}). */
  isolated?: boolean;
  /** Present only when something is wrong with this mesh on the answering node (see {@link MeshSummary.problem}). */
  problem?: string;
}

/** One line of `mesh list --json`. */
export interface MeshSummary {
  meshId: string;
  prefix: string;
  /** The WireGuard interface; '-' for a mesh that is not running. */
  interface: string;
  members: number;
  /** Present when this node is an admin of the mesh: it holds the authority key, or an admin grant. */
  admin?: 'authority' | 'grant';
  /**
   * Present only when something is wrong with this mesh on this node: a
   * damaged file found at start (and what was done about it), its WireGuard
   * interface lost and not rebuilt, or why the mesh is not running; each
   * with what to do.
   */
  problem?: string;
  /**
   * True when this node reaches no other member of the mesh: for three
   * heartbeat intervals it got no answer from any and no heartbeat of any.
   * Its own network is the likely cause (from one node that cannot be told
   * apart from every other member being down). Absent for a mesh that is not
   * running, and from daemons that predate it.
   */
  isolated?: boolean;
}

/** `status --json`. */
export interface StatusView {
  pid: number;
  nodeId: string;
  wgPublicKey: string;
  backends: {store: string; transport: string; wg: string};
  meshes: MeshSummary[];
  /** The DNS server's bound UDP address (`host:port`), when `dnsEnabled`. */
  dns?: {address: string};
  /** The metrics endpoint's bound address and URL, when `metricsEnabled`. */
  metrics?: {address: string; url: string};
}

/** Parameters of `node.rotateKeys`: `meshId`, when given, must be the node's only mesh (the key is per node). */
export const nodeRotateKeysSchema = z.object({meshId: z.string().optional()}).strict();
/** Parameters of `node.rotateKeys`. */
export type NodeRotateKeysInput = z.infer<typeof nodeRotateKeysSchema>;

/** `node rotate-keys --json`: the WireGuard public key before and after, and the meshes that now carry the new one. */
export interface NodeRotateKeysResult {
  oldPublicKey: string;
  newPublicKey: string;
  meshIds: string[];
}

/** Every IPC method: its params and result types. */
export interface IpcMethods {
  status: {params: Record<string, never>; result: StatusView};
  'mesh.create': {params: MeshSettingsInput; result: {meshId: string}};
  'mesh.join': {params: MeshJoinInput; result: {meshId: string; members: number}};
  'mesh.list': {params: Record<string, never>; result: MeshSummary[]};
  'mesh.show': {params: z.infer<typeof meshShowParamsSchema>; result: MeshShowView};
  'mesh.leave': {params: {meshId: string}; result: {meshId: string}};
  'mesh.set': {params: MeshSetInput; result: MeshSetResult};
  'service.set': {params: {meshId?: string; key: string; value: string}; result: {meshIds: string[]}};
  'service.delete': {params: {meshId?: string; key: string}; result: {meshIds: string[]}};
  'node.set': {params: NodeSetInput; result: NodeSetResult};
  'mesh.invite': {params: z.input<typeof meshInviteSchema>; result: {meshId: string; inviteId: string; token: string; role: 'peer' | 'client'; uses: number; expiresAt: number; endpoints: string[]}};
  'mesh.invites': {params: {meshId: string}; result: InviteListItem[]};
  'mesh.revoke': {params: z.input<typeof meshRevokeSchema>; result: {meshId: string; nodeId?: string; inviteId?: string}};
  'mesh.admin.export': {params: {meshId: string}; result: {meshId: string; line: string}};
  'mesh.admin.import': {params: {line: string}; result: {meshId: string; kind: 'authority' | 'grant'}};
  'mesh.admin.grant': {params: z.input<typeof meshAdminGrantSchema>; result: {meshId: string; nodeId: string; line: string}};
  'node.rotateKeys': {params: NodeRotateKeysInput; result: NodeRotateKeysResult};
}

/** One invite of `mesh invites`. */
export interface InviteListItem {
  id: string;
  role: 'peer' | 'client';
  uses: number;
  used: number;
  issuedAt: number;
  expiresAt: number;
  state: 'open' | 'used up' | 'revoked';
}

/** A method name. */
export type IpcMethod = keyof IpcMethods;
