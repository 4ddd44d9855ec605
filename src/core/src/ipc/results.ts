/**
 * The shape of every IPC method's result, checked without zod. The CLI prints
 * and dereferences what the daemon answers, and the answer is untrusted input
 * (whatever listens on `--socket` wrote it): a result of the wrong shape must
 * be one clear error line, not a `TypeError` deep in a table renderer. Each
 * shape is typed with the result type of `methods.ts`, so the two cannot drift
 * apart without a compile error.
 */
import {array, boolean, describeProblem, integer, nullable, number, object, oneOf, optional, record, string, type Shape} from '../util/shape.js';
import type {
  AliasConflictView,
  ApiTokenResult,
  AliasLostView,
  InboundCounters,
  IpcMethod,
  IpcMethods,
  MeshShowNode,
  MeshShowView,
  MeshSetResult,
  MeshSettingsView,
  MeshSummary,
  InviteListItem,
  NodeRotateKeysResult,
  NodeSetResult,
  PeerStatsView,
  RouteView,
  StatusView,
} from './methods.js';

const text = string();
const count = integer(0);

const meshSummary = object<MeshSummary>({
  meshId: text,
  prefix: text,
  interface: text,
  members: count,
  admin: optional(oneOf(['authority', 'grant'])),
  problem: optional(text),
  isolated: optional(boolean),
});
const role = oneOf(['peer', 'client']);

const status = object<StatusView>({
  pid: integer(0),
  nodeId: text,
  wgPublicKey: text,
  backends: object<StatusView['backends']>({store: text, transport: text, wg: text}),
  meshes: array(meshSummary),
  dns: optional(object<NonNullable<StatusView['dns']>>({address: text})),
  metrics: optional(object<NonNullable<StatusView['metrics']>>({address: text, url: text})),
  api: optional(object<NonNullable<StatusView['api']>>({address: text, url: text})),
});

const route = object<RouteView>({destination: text, path: array(text)});
const stats = object<PeerStatsView>({latestHandshakeMs: nullable(number), rxBytes: number, txBytes: number, endpoint: optional(nullable(text))});

const meshShowNode = object<MeshShowNode>({
  id: text,
  wgPublicKey: text,
  address: text,
  role: oneOf(['peer', 'client']),
  controlEndpoint: nullable(text),
  wgEndpoint: nullable(text),
  alias: nullable(text),
  description: nullable(text),
  services: record(text),
  routes: array(route),
  self: boolean,
  stats: nullable(stats),
  receivedAt: nullable(number),
  unreachable: optional(boolean),
  clockLagMs: optional(number),
  nat: optional(object<NonNullable<MeshShowNode['nat']>>({endpoint: nullable(text), mapping: oneOf(['unknown', 'none', 'endpoint-independent', 'varies']), direct: optional(array(text))})),
  path: optional(oneOf(['direct', 'trying', 'relayed'])),
  aliasOwner: nullable(text),
  aliasConflict: boolean,
  homePeer: nullable(text),
});

const meshShow = object<MeshShowView>({
  meshId: text,
  prefix: text,
  nodes: array(meshShowNode),
  inbound: object<InboundCounters>({snapshots: count, syncs: count, messages: count}),
  aliasConflicts: array(object<AliasConflictView>({alias: text, owner: text, others: array(text)})),
  admin: optional(oneOf(['authority', 'grant'])),
  isolated: optional(boolean),
  problem: optional(text),
});

const meshIds = object<{meshIds: string[]}>({meshIds: array(text)});

/** The result shape of each method: a missing or mistyped method is a compile error. */
const RESULT_SHAPES: {[M in IpcMethod]: Shape<IpcMethods[M]['result']>} = {
  status,
  'mesh.create': object<{meshId: string}>({meshId: text}),
  'mesh.join': object<{meshId: string; members: number}>({meshId: text, members: count}),
  'mesh.list': array(meshSummary),
  'mesh.show': meshShow,
  'mesh.leave': object<{meshId: string}>({meshId: text}),
  'mesh.set': object<MeshSetResult>({
    meshId: text,
    changed: array(text),
    settings: object<MeshSettingsView>({
      role,
      endpoint: nullable(text),
      port: count,
      boundPort: count,
      keepalive: count,
      advertiseRoutes: boolean,
      advertiseDefault: boolean,
    }),
  }),
  'service.set': meshIds,
  'service.delete': meshIds,
  'node.set': object<NodeSetResult>({
    meshIds: array(text),
    aliasLost: array(object<AliasLostView>({meshId: text, alias: text, owner: text, ownerAddress: text})),
  }),
  'mesh.invite': object<IpcMethods['mesh.invite']['result']>({meshId: text, inviteId: text, token: text, role, uses: count, expiresAt: number, endpoints: array(text)}),
  'mesh.invites': array(
    object<InviteListItem>({id: text, role, uses: count, used: count, issuedAt: number, expiresAt: number, state: oneOf(['open', 'used up', 'revoked'])}),
  ),
  'mesh.revoke': object<IpcMethods['mesh.revoke']['result']>({meshId: text, nodeId: optional(text), inviteId: optional(text)}),
  'mesh.admin.export': object<{meshId: string; line: string}>({meshId: text, line: text}),
  'mesh.admin.import': object<{meshId: string; kind: 'authority' | 'grant'}>({meshId: text, kind: oneOf(['authority', 'grant'])}),
  'mesh.admin.grant': object<{meshId: string; nodeId: string; line: string}>({meshId: text, nodeId: text, line: text}),
  'node.rotateKeys': object<NodeRotateKeysResult>({oldPublicKey: text, newPublicKey: text, meshIds: array(text)}),
  'api.token': object<ApiTokenResult>({token: text, path: text, rotated: boolean}),
};

/**
 * Why `result` is not a valid result of `method` (`path: problem`, one line),
 * or undefined when it is. Fields a result does not declare are allowed (a
 * newer daemon may add some); only the declared ones are checked.
 */
export function ipcResultProblem<M extends IpcMethod>(method: M, result: unknown): string | undefined {
  // Typed callers only pass known methods; a string from elsewhere has no shape to trust.
  if (!Object.hasOwn(RESULT_SHAPES, method)) return `no result shape is known for the method ${JSON.stringify(method)}`;
  const found = (RESULT_SHAPES[method] as Shape<unknown>)(result);
  return found === undefined ? undefined : describeProblem(found);
}
