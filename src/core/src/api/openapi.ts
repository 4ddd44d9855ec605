/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the zod schemas the
 * IPC validates requests with and the result schemas of methods.ts (zod 4's
 * `z.toJSONSchema`), so the document cannot drift from what the daemon
 * checks and answers. Built once, on the first request for it.
 */
import {z} from 'zod';
import {MESH_ID_PATTERN} from '../addressing/mesh-id.js';
import {
  aliasConflictViewSchema,
  aliasLostViewSchema,
  inboundCountersSchema,
  inviteListItemSchema,
  meshAdminGrantResultSchema,
  meshAdminGrantSchema,
  meshAdminImportResultSchema,
  meshAdminImportSchema,
  meshCreateResultSchema,
  meshIdsResultSchema,
  meshInviteResultSchema,
  meshInviteSchema,
  meshJoinResultSchema,
  meshJoinSchema,
  meshRevokeBodySchema,
  meshRevokeResultSchema,
  meshSetResultSchema,
  meshSetSchema,
  meshSettingsSchema,
  meshSettingsViewSchema,
  meshShowNodeSchema,
  meshShowViewSchema,
  meshSummarySchema,
  nodeRotateKeysResultSchema,
  nodeRotateKeysSchema,
  nodeSetResultSchema,
  nodeSetSchema,
  nodeViewSchema,
  peerStatsViewSchema,
  routeViewSchema,
  serviceSetSchema,
  statusViewSchema,
} from '../ipc/methods.js';
import {API_BASE} from './settings.js';
import {API_EVENT_TYPES, apiEventDataSchemas} from './events.js';
import {apiErrorSchema} from './http-errors.js';

/** `GET /backends`: the backends in use and every installed one. */
export const backendsViewSchema = z.object({
  inUse: z.object({store: z.string(), transport: z.string(), wg: z.string()}),
  installed: z.array(
    z.object({
      kind: z.enum(['store', 'transport', 'wg']),
      name: z.string(),
      plugin: z.string().describe('The npm name of the plugin providing it.'),
      description: z.string(),
      loaded: z.boolean().describe('True when the plugin loaded and the backend can be used.'),
    }),
  ),
});

/** Every schema the document names, by component name. Shared sub-schemas become `$ref`s. */
const COMPONENTS = {
  Error: apiErrorSchema,
  RouteView: routeViewSchema,
  PeerStatsView: peerStatsViewSchema,
  NodeView: nodeViewSchema,
  MeshShowNode: meshShowNodeSchema,
  AliasConflictView: aliasConflictViewSchema,
  InboundCounters: inboundCountersSchema,
  MeshShowView: meshShowViewSchema,
  MeshSummary: meshSummarySchema,
  MeshSummaryList: z.array(meshSummarySchema),
  StatusView: statusViewSchema,
  BackendsView: backendsViewSchema,
  MeshCreateRequest: meshSettingsSchema.strict(),
  MeshCreateResult: meshCreateResultSchema,
  MeshJoinRequest: meshJoinSchema.strict(),
  MeshJoinResult: meshJoinResultSchema,
  MeshSetRequest: meshSetSchema.omit({meshId: true}),
  MeshSettingsView: meshSettingsViewSchema,
  MeshSetResult: meshSetResultSchema,
  MeshLeaveResult: meshCreateResultSchema.describe('The mesh left.'),
  InviteRequest: meshInviteSchema.omit({meshId: true}).strict(),
  InviteResult: meshInviteResultSchema,
  InviteList: z.array(inviteListItemSchema),
  RevocationRequest: meshRevokeBodySchema.strict().describe('Give either `node` (id, alias or address) or `invite` (an invite id).'),
  RevocationResult: meshRevokeResultSchema,
  AdminGrantRequest: meshAdminGrantSchema.omit({meshId: true}).strict(),
  AdminGrantResult: meshAdminGrantResultSchema,
  AdminImportRequest: meshAdminImportSchema.strict(),
  AdminImportResult: meshAdminImportResultSchema,
  NodeSetRequest: nodeSetSchema,
  AliasLostView: aliasLostViewSchema,
  NodeSetResult: nodeSetResultSchema,
  ServiceSetRequest: serviceSetSchema.omit({key: true}).strict(),
  MeshIdsResult: meshIdsResultSchema,
  RotateKeysRequest: nodeRotateKeysSchema,
  RotateKeysResult: nodeRotateKeysResultSchema,
  ...Object.fromEntries(API_EVENT_TYPES.map((type) => [eventComponent(type), apiEventDataSchemas[type]])),
} as const satisfies Record<string, z.ZodType>;

type ComponentName = keyof typeof COMPONENTS;

/** The component name of the data of event `type` (`member.joined` -> `MemberJoinedEvent`). */
function eventComponent(type: string): string {
  return `${type.replace(/(^|\.)([a-z])/g, (_match, _dot: string, letter: string) => letter.toUpperCase())}Event`;
}

const ref = (name: ComponentName | string): {$ref: string} => ({$ref: `#/components/schemas/${name}`});
const json = (name: ComponentName | string) => ({'application/json': {schema: ref(name)}});

/** The standard error answers, by status. */
const ERRORS: Record<string, string> = {
  '400': 'INVALID_INPUT: a parameter or the body broke its rule (the message names it).',
  '401': 'UNAUTHORIZED: missing or wrong bearer token.',
  '404': 'NOT_FOUND or UNKNOWN_MESH.',
  '413': 'PAYLOAD_TOO_LARGE: the body is over apiMaxBodyBytes.',
  '429': 'RATE_LIMITED: over the per-client rate (see Retry-After).',
  '503': 'STARTING: the daemon is still restoring its meshes.',
  '500': 'INTERNAL: see the daemon log.',
};

function errorResponses(extra: Record<string, string> = {}): Record<string, unknown> {
  return Object.fromEntries(Object.entries({...ERRORS, ...extra}).map(([status, description]) => [status, {description, content: json('Error')}]));
}

const meshIdParameter = {name: 'meshId', in: 'path', required: true, description: 'A mesh id (see GET /meshes).', schema: {type: 'string', pattern: MESH_ID_PATTERN.source}};

/** One operation of the document. */
interface Operation {
  summary: string;
  operationId: string;
  parameters?: unknown[];
  request?: ComponentName;
  status?: string;
  response?: ComponentName;
  /** A response that is not JSON: content type -> schema. */
  content?: Record<string, unknown>;
  errors?: Record<string, string>;
  description?: string;
}

function operation(op: Operation): Record<string, unknown> {
  return {
    summary: op.summary,
    operationId: op.operationId,
    ...(op.description === undefined ? {} : {description: op.description}),
    ...(op.parameters === undefined ? {} : {parameters: op.parameters}),
    ...(op.request === undefined ? {} : {requestBody: {required: false, content: json(op.request)}}),
    responses: {
      [op.status ?? '200']: {description: op.summary, content: op.content ?? json(op.response ?? 'Error')},
      ...errorResponses(op.errors),
    },
  };
}

/** The paths, relative to the API base. */
function paths(): Record<string, Record<string, unknown>> {
  const mesh = [meshIdParameter];
  return {
    '/status': {get: operation({summary: "This node's status: identity, backends, meshes, local servers", operationId: 'getStatus', response: 'StatusView'})},
    '/backends': {get: operation({summary: 'The backends in use and every installed one', operationId: 'getBackends', response: 'BackendsView'})},
    '/meshes': {
      get: operation({summary: 'Every mesh of this node', operationId: 'listMeshes', response: 'MeshSummaryList'}),
      post: operation({summary: 'Create a mesh with this node as its first member and admin', operationId: 'createMesh', request: 'MeshCreateRequest', status: '201', response: 'MeshCreateResult'}),
    },
    '/meshes/join': {
      post: operation({summary: 'Join a mesh with an invite', operationId: 'joinMesh', request: 'MeshJoinRequest', status: '201', response: 'MeshJoinResult', errors: {'403': 'JOIN_REFUSED', '404': 'UNKNOWN_MESH_AT_MEMBER: the member joined through does not know the mesh.', '502': 'PEER_UNREACHABLE or JOIN_FAILED'}}),
    },
    '/meshes/{meshId}': {
      get: operation({
        summary: 'One mesh with every live node and its WireGuard statistics (the `mesh show --json` document)',
        operationId: 'showMesh',
        parameters: [...mesh, {name: 'nodeId', in: 'query', required: false, description: 'Only this member.', schema: {type: 'string', pattern: '^[0-9a-f]{32}$'}}],
        response: 'MeshShowView',
      }),
      patch: operation({summary: "Change this node's settings in the mesh (`mesh set`)", operationId: 'setMesh', parameters: mesh, request: 'MeshSetRequest', response: 'MeshSetResult'}),
      delete: operation({summary: 'Leave the mesh', operationId: 'leaveMesh', parameters: mesh, response: 'MeshLeaveResult'}),
    },
    '/meshes/{meshId}/graph': {
      get: operation({
        summary: 'The Graphviz graph of the mesh, as DOT or SVG',
        operationId: 'meshGraph',
        parameters: [...mesh, {name: 'format', in: 'query', required: false, schema: {type: 'string', enum: ['dot', 'svg'], default: 'dot'}}],
        content: {'text/vnd.graphviz': {schema: {type: 'string'}}, 'image/svg+xml': {schema: {type: 'string'}}},
        errors: {'501': "DOT_MISSING: SVG needs Graphviz's `dot` on the daemon's PATH."},
      }),
    },
    '/meshes/{meshId}/invites': {
      get: operation({summary: 'The invites this node issued for the mesh (admins only)', operationId: 'listInvites', parameters: mesh, response: 'InviteList', errors: {'403': 'NOT_ADMIN'}}),
      post: operation({summary: 'Issue an invite (admins only); `token` is the line to give the joiner', operationId: 'createInvite', parameters: mesh, request: 'InviteRequest', status: '201', response: 'InviteResult', errors: {'403': 'NOT_ADMIN'}}),
    },
    '/meshes/{meshId}/revocations': {
      post: operation({summary: 'Revoke a node or an invite (admins only)', operationId: 'revoke', parameters: mesh, request: 'RevocationRequest', status: '201', response: 'RevocationResult', errors: {'403': 'NOT_ADMIN'}}),
    },
    '/meshes/{meshId}/admin/grants': {
      post: operation({summary: 'Grant a member admin rights (authority only); `line` is for `admin import` there', operationId: 'grantAdmin', parameters: mesh, request: 'AdminGrantRequest', status: '201', response: 'AdminGrantResult', errors: {'403': 'NOT_ADMIN'}}),
    },
    '/admin/import': {post: operation({summary: 'Import an admin grant (or authority) line', operationId: 'importAdmin', request: 'AdminImportRequest', response: 'AdminImportResult'})},
    '/node': {patch: operation({summary: "Set or clear this node's alias and description, in one mesh or every mesh", operationId: 'setNode', request: 'NodeSetRequest', response: 'NodeSetResult'})},
    '/node/services/{key}': {
      put: operation({
        summary: 'Set a service on this node, in one mesh or every mesh',
        operationId: 'setService',
        parameters: [{name: 'key', in: 'path', required: true, schema: {type: 'string', pattern: '^[\\x21-\\x7e]+$', maxLength: 64}}],
        request: 'ServiceSetRequest',
        response: 'MeshIdsResult',
      }),
      delete: operation({
        summary: 'Remove a service from this node',
        operationId: 'deleteService',
        parameters: [
          {name: 'key', in: 'path', required: true, schema: {type: 'string'}},
          {name: 'meshId', in: 'query', required: false, description: 'One mesh; absent: every mesh.', schema: {type: 'string'}},
        ],
        response: 'MeshIdsResult',
      }),
    },
    '/node/rotate-keys': {post: operation({summary: "Replace this node's WireGuard key pair", operationId: 'rotateKeys', request: 'RotateKeysRequest', response: 'RotateKeysResult'})},
    '/openapi.json': {get: operation({summary: 'This document', operationId: 'openapi', content: {'application/json': {schema: {type: 'object'}}}})},
    '/events': {
      get: operation({
        summary: 'Server-Sent Events: membership, record, handshake and mesh changes',
        operationId: 'events',
        description: [
          'A `text/event-stream`. Each event has `id:` (increasing per daemon), `event:` (its type) and `data:` (one JSON line, with `at`, ms since the epoch).',
          `Types: ${API_EVENT_TYPES.map((type) => `\`${type}\` (${eventComponent(type)})`).join(', ')}.`,
          'A comment line `: keepalive` comes every 15 s. A client that falls behind is disconnected; reconnect and fetch the state again. A token rotation ends the stream.',
        ].join('\n\n'),
        parameters: [{name: 'meshId', in: 'query', required: false, description: 'Only the events of this mesh.', schema: {type: 'string'}}],
        content: {'text/event-stream': {schema: {type: 'string'}}},
        errors: {'429': 'RATE_LIMITED, or TOO_MANY_STREAMS (apiMaxStreams).'},
      }),
    },
  };
}

/** JSON Schemas of every component, `$ref`s between them, without the per-schema `$schema`/`$id`. */
function componentSchemas(): Record<string, unknown> {
  const registry = z.registry<{id: string}>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, {id});
  const {schemas} = z.toJSONSchema(registry, {uri: (id) => `#/components/schemas/${id}`, io: 'input', unrepresentable: 'any'});
  for (const schema of Object.values(schemas)) {
    delete (schema as Record<string, unknown>).$schema;
    delete (schema as Record<string, unknown>).$id;
  }
  return schemas;
}

/** The OpenAPI 3.1 document. */
export function buildOpenApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'wgmesh daemon HTTP API',
      version: '1',
      description: "The HTTP API of one wgmesh daemon: the same operations as its CLI. Every request needs the bearer token that `wgmesh api token` prints. Errors are always `{error: {code, message}}`.",
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{url: API_BASE}],
    security: [{bearer: []}],
    paths: paths(),
    components: {
      schemas: componentSchemas(),
      securitySchemes: {bearer: {type: 'http', scheme: 'bearer', description: "The token `wgmesh api token` prints (kept in <dataDir>/api-token, mode 0600)."}},
    },
  };
}
