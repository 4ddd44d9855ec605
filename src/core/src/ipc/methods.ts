/**
 * The IPC methods the daemon serves to the CLI: names, parameters and results.
 * Both ends import these types; the server validates params with the schemas.
 */
import {z} from 'zod';
import {isValidAlias} from '../model/aliases.js';
import {NAT_MAPPINGS, RECORD_LIMITS, ROLES} from '../model/record.js';

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

const port = z.number().int().min(0).max(65535);
const count = z.number().int().min(0);
const adminKind = z.enum(['authority', 'grant']);

/** This node's settings in one mesh, as `mesh set` reports them after the change. */
export const meshSettingsViewSchema = z.object({
  role: z.enum(ROLES),
  /** The host advertised to other members, or null (a client, or none known). */
  endpoint: z.string().nullable(),
  /** The WireGuard port asked for (0: any; then `boundPort` is the one kept across restarts). */
  port,
  /** The WireGuard port bound now. */
  boundPort: port,
  keepalive: count,
  advertiseRoutes: z.boolean(),
  advertiseDefault: z.boolean(),
});
/** This node's settings in one mesh, as `mesh set` reports them after the change. */
export type MeshSettingsView = z.infer<typeof meshSettingsViewSchema>;

/** `mesh set --json`: the mesh, the settings that changed (names of {@link MeshSettingsView}) and all of them after the change. */
export const meshSetResultSchema = z.object({meshId: z.string(), changed: z.array(z.string()), settings: meshSettingsViewSchema});
/** `mesh set --json`. */
export type MeshSetResult = z.infer<typeof meshSetResultSchema>;

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

/** What to revoke in a mesh: a node (id, alias or address) or an invite id (the HTTP API's body of a revocation). */
export const meshRevokeBodySchema = z.object({
  node: z.string().min(1).max(64).optional(),
  invite: z.string().min(1).max(64).optional(),
  reason: z.string().max(200).optional(),
});

/** Parameters of `mesh.revoke`: a node (id, alias or address) or an invite id. */
export const meshRevokeSchema = meshRevokeBodySchema
  .extend({meshId: z.string()})
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
export const aliasLostViewSchema = z.object({
  meshId: z.string(),
  alias: z.string(),
  /** Id of the node the alias resolves to. */
  owner: z.string(),
  /** Mesh address of that node. */
  ownerAddress: z.string(),
});
/** A mesh in which this node's alias resolves to another node. */
export type AliasLostView = z.infer<typeof aliasLostViewSchema>;

/** The meshes a change of this node's own record was made in. */
export const meshIdsResultSchema = z.object({meshIds: z.array(z.string())});

/** Result of `node.set`. */
export const nodeSetResultSchema = meshIdsResultSchema.extend({
  /** Meshes where the alias just set belongs to another node (empty when it is this node's everywhere). */
  aliasLost: z.array(aliasLostViewSchema),
});
/** Result of `node.set`. */
export type NodeSetResult = z.infer<typeof nodeSetResultSchema>;

/** Parameters of methods that name one mesh. */
export const meshIdParamsSchema = z.object({meshId: z.string()});

/**
 * `mesh.show` params: `nodeId` limits `nodes` to that member (none when it is
 * not a live member), so a watcher polling one record does not make the
 * daemon serialise the whole mesh on every call.
 */
export const meshShowParamsSchema = meshIdParamsSchema.extend({nodeId: z.string().regex(/^[0-9a-f]{32}$/, 'must be a node id (32 lower-case hex digits)').optional()});

/** One route as shown to users. */
export const routeViewSchema = z.object({destination: z.string(), path: z.array(z.string())});
/** One route as shown to users. */
export type RouteView = z.infer<typeof routeViewSchema>;

/** WireGuard statistics of one peer as shown to users. */
export const peerStatsViewSchema = z.object({
  /** Latest handshake (ms since the Unix epoch), or null when there was none. */
  latestHandshakeMs: z.number().nullable(),
  rxBytes: count,
  txBytes: count,
  /** The endpoint WireGuard uses for the peer now (it may have roamed); null when unknown. Absent from daemons that predate it. */
  endpoint: z.string().nullable().optional(),
});
/** WireGuard statistics of one peer as shown to users. */
export type PeerStatsView = z.infer<typeof peerStatsViewSchema>;

/** One node's record and WireGuard statistics, as the mesh runtime reports it ({@link MeshShowNode} adds what needs the whole mesh). */
export const nodeViewSchema = z.object({
  id: z.string(),
  wgPublicKey: z.string(),
  address: z.string(),
  role: z.enum(ROLES),
  controlEndpoint: z.string().nullable(),
  wgEndpoint: z.string().nullable(),
  alias: z.string().nullable(),
  description: z.string().nullable(),
  services: z.record(z.string(), z.string()),
  routes: z.array(routeViewSchema),
  /** True for the node answering. */
  self: z.boolean(),
  /** WireGuard statistics for this node as seen from the answering node, when the driver has them. */
  stats: peerStatsViewSchema.nullable(),
  /**
   * When the answering daemon took the version of this record it holds now
   * (ms since the Unix epoch, its own clock): how a change spread, and how
   * stale a record is here. After a restart, records not changed since are
   * dated when the saved state was loaded; null if unknown.
   */
  receivedAt: z.number().nullable(),
  /**
   * True when the answering node cannot reach this node from where it stands:
   * it reaches no member at all (the mesh is `isolated` there), or this
   * node's control endpoint did not answer its last request. A local view,
   * not a verdict of the mesh (the node stays a member). Absent from daemons
   * that predate it.
   */
  unreachable: z.boolean().optional(),
  /**
   * How far this node's clock reads behind the answering node's (ms;
   * negative: ahead), from the stamps of its liveness messages (over-stated
   * by the fastest delivery, a few ms). Absent until one arrived, for the
   * answering node itself, and from daemons that predate it.
   */
  clockLagMs: z.number().optional(),
  /**
   * The node's NAT as its record publishes it (NAT traversal on there): its
   * reflexive WireGuard endpoint as members see it, and the mapping
   * behaviour (`none`: not behind NAT; `endpoint-independent`: one public
   * ip:port for every member; `varies`: a new one per member; `unknown`: too
   * few reports yet), and on a client `direct`: the public peers (other than
   * its home) its WireGuard handshook with directly, the only ones that carry
   * its traffic directly. Absent when the record has none.
   */
  nat: z.object({endpoint: z.string().nullable(), mapping: z.enum(NAT_MAPPINGS), direct: z.array(z.string()).optional()}).optional(),
  /**
   * From the answering node (a client) to this node (another client): `direct`
   * over a punched path, `trying` while a hole is punched, `relayed` through
   * the home peers. Absent where punching does not apply.
   */
  path: z.enum(['direct', 'trying', 'relayed']).optional(),
});
/** One node's record and WireGuard statistics, as the mesh runtime reports it. */
export type NodeView = z.infer<typeof nodeViewSchema>;

/** What a node's record means in the context of its whole mesh, as the answering daemon resolves it. */
export const nodeRelationsViewSchema = z.object({
  /**
   * Id of the node this node's alias resolves to: its own id, or the id of the
   * node that claimed the same alias first (see `resolveAliases`); null when it
   * has no valid alias.
   */
  aliasOwner: z.string().nullable(),
  /** True when another live node claims the same alias (on the owner and on every loser). */
  aliasConflict: z.boolean(),
  /** For a client, the id of its home peer (the one peer it attaches to); null for a peer, or when no peer is alive. */
  homePeer: z.string().nullable(),
});
/** What a node's record means in the context of its whole mesh. */
export type NodeRelationsView = z.infer<typeof nodeRelationsViewSchema>;

/** One node as `mesh show --json` prints it. */
export const meshShowNodeSchema = nodeViewSchema.extend(nodeRelationsViewSchema.shape);
/** One node as `mesh show --json` prints it. */
export type MeshShowNode = z.infer<typeof meshShowNodeSchema>;

/** An alias that several live nodes claim, and who gets it. */
export const aliasConflictViewSchema = z.object({
  alias: z.string(),
  /** Id of the node it resolves to. */
  owner: z.string(),
  /** Ids of the other claimants, in rule order. */
  others: z.array(z.string()),
});
/** An alias that several live nodes claim, and who gets it. */
export type AliasConflictView = z.infer<typeof aliasConflictViewSchema>;

/** Requests other members made to this node for one mesh since the daemon started. */
export const inboundCountersSchema = z.object({snapshots: count, syncs: count, messages: count});
/** Requests other members made to this node for one mesh since the daemon started. */
export type InboundCounters = z.infer<typeof inboundCountersSchema>;

/** One mesh with its live nodes, as the mesh runtime reports it. */
export const meshViewSchema = z.object({
  meshId: z.string(),
  prefix: z.string(),
  nodes: z.array(nodeViewSchema),
  /** What other members asked of this node in this mesh (a client must see none: it is never dialled). */
  inbound: inboundCountersSchema,
  /** True when the answering node reaches no other member of the mesh (see {@link MeshSummary.isolated}). */
  isolated: z.boolean().optional(),
  /** Present only when something is wrong with this mesh on the answering node (see {@link MeshSummary.problem}). */
  problem: z.string().optional(),
});
/** One mesh with its live nodes. */
export type MeshView = z.infer<typeof meshViewSchema>;

/** `mesh show --json`, also the document `mesh query` evaluates. */
export const meshShowViewSchema = meshViewSchema.extend({
  nodes: z.array(meshShowNodeSchema),
  /** Present when this node is an admin of the mesh: it holds the authority key, or an admin grant. */
  admin: adminKind.optional(),
  /** Every alias claimed by more than one node, sorted by alias. */
  aliasConflicts: z.array(aliasConflictViewSchema),
});
/** `mesh show --json`, also the document `mesh query` evaluates. */
export type MeshShowView = z.infer<typeof meshShowViewSchema>;

/** One line of `mesh list --json`. */
export const meshSummarySchema = z.object({
  meshId: z.string(),
  prefix: z.string(),
  /** The WireGuard interface; '-' for a mesh that is not running. */
  interface: z.string(),
  members: count,
  /** Present when this node is an admin of the mesh: it holds the authority key, or an admin grant. */
  admin: adminKind.optional(),
  /**
   * Present only when something is wrong with this mesh on this node: a
   * damaged file found at start (and what was done about it), its WireGuard
   * interface lost and not rebuilt, or why the mesh is not running; each
   * with what to do.
   */
  problem: z.string().optional(),
  /**
   * True when this node reaches no other member of the mesh: for three
   * heartbeat intervals it got no answer from any and no heartbeat of any.
   * Its own network is the likely cause (from one node that cannot be told
   * apart from every other member being down). Absent for a mesh that is not
   * running, and from daemons that predate it.
   */
  isolated: z.boolean().optional(),
});
/** One line of `mesh list --json`. */
export type MeshSummary = z.infer<typeof meshSummarySchema>;

/** Where one of the daemon's local HTTP servers listens. */
const httpServerAddressSchema = z.object({address: z.string(), url: z.string()});

/** `status --json`. */
export const statusViewSchema = z.object({
  pid: count,
  nodeId: z.string(),
  wgPublicKey: z.string(),
  backends: z.object({store: z.string(), transport: z.string(), wg: z.string()}),
  meshes: z.array(meshSummarySchema),
  /** The DNS server's bound UDP address (`host:port`), when `dnsEnabled`. */
  dns: z.object({address: z.string()}).optional(),
  /** The metrics endpoint's bound address and URL, when `metricsEnabled`. */
  metrics: httpServerAddressSchema.optional(),
  /** The HTTP API's bound address and base URL, when `apiEnabled`. */
  api: httpServerAddressSchema.optional(),
});
/** `status --json`. */
export type StatusView = z.infer<typeof statusViewSchema>;

/** Parameters of `node.rotateKeys`: `meshId`, when given, must be the node's only mesh (the key is per node). */
export const nodeRotateKeysSchema = z.object({meshId: z.string().optional()}).strict();
/** Parameters of `node.rotateKeys`. */
export type NodeRotateKeysInput = z.infer<typeof nodeRotateKeysSchema>;

/** `node rotate-keys --json`: the WireGuard public key before and after, and the meshes that now carry the new one. */
export const nodeRotateKeysResultSchema = z.object({oldPublicKey: z.string(), newPublicKey: z.string(), meshIds: z.array(z.string())});
/** `node rotate-keys --json`. */
export type NodeRotateKeysResult = z.infer<typeof nodeRotateKeysResultSchema>;

/** Result of `mesh.create`. */
export const meshCreateResultSchema = z.object({meshId: z.string()});
/** Result of `mesh.join`: the mesh and how many members its state held. */
export const meshJoinResultSchema = z.object({meshId: z.string(), members: count});
/** Result of `mesh.leave`. */
export const meshLeaveResultSchema = meshCreateResultSchema;

/** Result of `mesh.invite`: the invite line (`token`) to hand to the joiner, and what it allows. */
export const meshInviteResultSchema = z.object({
  meshId: z.string(),
  inviteId: z.string(),
  token: z.string(),
  role: z.enum(ROLES),
  uses: count,
  expiresAt: z.number(),
  /** Control endpoints of members the joiner may go through. */
  endpoints: z.array(z.string()),
});

/** One invite of `mesh invites`. */
export const inviteListItemSchema = z.object({
  id: z.string(),
  role: z.enum(ROLES),
  uses: count,
  used: count,
  issuedAt: z.number(),
  expiresAt: z.number(),
  state: z.enum(['open', 'used up', 'revoked']),
});
/** One invite of `mesh invites`. */
export type InviteListItem = z.infer<typeof inviteListItemSchema>;

/** Result of `mesh.revoke`: the node or invite revoked. */
export const meshRevokeResultSchema = z.object({meshId: z.string(), nodeId: z.string().optional(), inviteId: z.string().optional()});
/** Result of `mesh.admin.import`. */
export const meshAdminImportResultSchema = z.object({meshId: z.string(), kind: adminKind});
/** Result of `mesh.admin.grant`: the grant line the admin-to-be imports. */
export const meshAdminGrantResultSchema = z.object({meshId: z.string(), nodeId: z.string(), line: z.string()});

/** Parameters of `mesh.admin.import`. */
export const meshAdminImportSchema = z.object({line: z.string().min(1).max(16_384)});

/** Parameters of `api.token`: print the HTTP API's bearer token, or replace it first. */
export const apiTokenSchema = z.object({rotate: z.boolean().optional()}).strict();
/** Result of `api.token`. */
export interface ApiTokenResult {
  token: string;
  /** The file that holds it (mode 0600). */
  path: string;
  /** True when this call replaced the token (the old one is refused from now on). */
  rotated: boolean;
}

/** Every IPC method: its params and result types. */
export interface IpcMethods {
  status: {params: Record<string, never>; result: StatusView};
  'mesh.create': {params: MeshSettingsInput; result: z.infer<typeof meshCreateResultSchema>};
  'mesh.join': {params: MeshJoinInput; result: z.infer<typeof meshJoinResultSchema>};
  'mesh.list': {params: Record<string, never>; result: MeshSummary[]};
  'mesh.show': {params: z.infer<typeof meshShowParamsSchema>; result: MeshShowView};
  'mesh.leave': {params: {meshId: string}; result: {meshId: string}};
  'mesh.set': {params: MeshSetInput; result: MeshSetResult};
  'service.set': {params: {meshId?: string; key: string; value: string}; result: {meshIds: string[]}};
  'service.delete': {params: {meshId?: string; key: string}; result: {meshIds: string[]}};
  'node.set': {params: NodeSetInput; result: NodeSetResult};
  'mesh.invite': {params: z.input<typeof meshInviteSchema>; result: z.infer<typeof meshInviteResultSchema>};
  'mesh.invites': {params: {meshId: string}; result: InviteListItem[]};
  'mesh.revoke': {params: z.input<typeof meshRevokeSchema>; result: z.infer<typeof meshRevokeResultSchema>};
  'mesh.admin.export': {params: {meshId: string}; result: {meshId: string; line: string}};
  'mesh.admin.import': {params: {line: string}; result: z.infer<typeof meshAdminImportResultSchema>};
  'mesh.admin.grant': {params: z.input<typeof meshAdminGrantSchema>; result: z.infer<typeof meshAdminGrantResultSchema>};
  'node.rotateKeys': {params: NodeRotateKeysInput; result: NodeRotateKeysResult};
  'api.token': {params: z.infer<typeof apiTokenSchema>; result: ApiTokenResult};
}


/** A method name. */
export type IpcMethod = keyof IpcMethods;
