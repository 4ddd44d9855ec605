/**
 * The daemon's IPC surface: each method validates its parameters (they come
 * from another process) and calls the runtime.
 */
import {z} from 'zod';
import {InvalidInputError} from '../errors.js';
import {apiTokenSchema, meshAdminGrantSchema, meshAdminImportSchema, meshInviteSchema, meshRevokeSchema, meshIdParamsSchema, meshJoinSchema, meshShowParamsSchema, meshSetSchema, meshSettingsSchema, nodeRotateKeysSchema, nodeSetSchema, serviceDeleteSchema, serviceSetSchema, type AliasLostView, type IpcMethod, type IpcMethods} from '../ipc/methods.js';
import {resolveAliases} from '../model/aliases.js';
import type {Daemon} from './daemon.js';
import type {SelfPatch} from './mesh-runtime.js';

/** A handler per IPC method. */
export type IpcHandlers = {[M in IpcMethod]: (params: unknown) => Promise<IpcMethods[M]['result']>};

/**
 * `params` checked against `schema`. The error names the parameter and the
 * rule in the user's terms (`invalid description: must be at most ...`): the
 * CLI prints it as it is, and the caller knows which method it called.
 * @throws InvalidInputError for the first parameter that breaks its rule.
 */
function parse<S extends z.ZodType>(schema: S, params: unknown): z.infer<S> {
  const parsed = schema.safeParse(params ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError(`invalid ${issue?.path.join('.') || 'parameters'}: ${issue?.message ?? 'rejected'}`);
  }
  return parsed.data;
}

const noParams = z.object({}).strict();

/** The meshes among `meshIds` where `alias` resolves to another node than this one (it claimed the alias first). */
function aliasLost(daemon: Daemon, meshIds: readonly string[], alias: string): AliasLostView[] {
  const lost: AliasLostView[] = [];
  for (const meshId of meshIds) {
    const runtime = daemon.mesh(meshId);
    const records = runtime.liveRecords();
    const ownerId = resolveAliases(records, runtime.aliasClaimTime).owners.get(alias);
    const owner = records.find((record) => record.id === ownerId);
    if (owner !== undefined && owner.id !== runtime.self()?.id) lost.push({meshId, alias, owner: owner.id, ownerAddress: owner.address});
  }
  return lost;
}

/**
 * The handlers that serve the CLI from `daemon`. Each waits until the daemon
 * has restored its meshes (or says it is still starting), so that no answer
 * shows part of them.
 */
export function daemonIpcHandlers(daemon: Daemon): IpcHandlers {
  return afterStart(daemon, {
    status: async (params) => (parse(noParams, params), daemon.status()),
    'mesh.create': async (params) => daemon.createMesh(parse(meshSettingsSchema.strict(), params)),
    'mesh.join': async (params) => {
      const {invite, meshId, via, ...settings} = parse(meshJoinSchema.strict(), params);
      return daemon.joinMesh(invite, via, settings, meshId);
    },
    'mesh.invite': async (params) => {
      const {meshId, ...options} = parse(meshInviteSchema.strict(), params);
      return daemon.administer((admin) => admin.invite(meshId, options));
    },
    'mesh.invites': async (params) => {
      const {meshId} = parse(meshIdParamsSchema, params);
      return daemon.administer((admin) => admin.invites(meshId));
    },
    'mesh.revoke': async (params) => {
      const {meshId, node, invite, reason} = parse(meshRevokeSchema, params);
      if (invite !== undefined) return daemon.administer((admin) => admin.revokeInvite(meshId, invite));
      return daemon.administer((admin) => admin.revokeNode(meshId, node ?? '', reason ?? null));
    },
    'mesh.admin.export': async (params) => {
      const {meshId} = parse(meshIdParamsSchema, params);
      return daemon.administer((admin) => admin.exportAuthority(meshId));
    },
    'mesh.admin.import': async (params) => {
      const {line} = parse(meshAdminImportSchema.strict(), params);
      return daemon.administer((admin) => admin.importLine(line));
    },
    'mesh.admin.grant': async (params) => {
      const {meshId, node, validForMs} = parse(meshAdminGrantSchema.strict(), params);
      return daemon.administer((admin) => admin.grant(meshId, node, validForMs ?? null));
    },
    'mesh.list': async (params) => (parse(noParams, params), daemon.listMeshes()),
    'mesh.show': async (params) => {
      const {meshId, nodeId} = parse(meshShowParamsSchema, params);
      return daemon.showMesh(meshId, nodeId);
    },
    'mesh.leave': async (params) => daemon.leaveMesh(parse(meshIdParamsSchema, params).meshId),
    'mesh.set': async (params) => daemon.setMesh(parse(meshSetSchema, params)),
    'service.set': async (params) => {
      const {meshId, key, value} = parse(serviceSetSchema.strict(), params);
      return daemon.updateSelf(meshId, (record) => ({services: {...record.services, [key]: value}}));
    },
    'service.delete': async (params) => {
      const {meshId, key} = parse(serviceDeleteSchema.strict(), params);
      return daemon.updateSelf(meshId, (record, id) => {
        if (!(key in record.services)) throw new InvalidInputError(`service '${key}' is not set on this node in mesh ${id}`);
        const {[key]: _removed, ...services} = record.services;
        return {services};
      });
    },
    'node.set': async (params) => {
      const {meshId, ...fields} = parse(nodeSetSchema, params);
      const patch: SelfPatch = {};
      if (fields.alias !== undefined) patch.alias = fields.alias;
      if (fields.description !== undefined) patch.description = fields.description;
      const {meshIds} = await daemon.updateSelf(meshId, () => patch);
      return {meshIds, aliasLost: typeof fields.alias === 'string' ? aliasLost(daemon, meshIds, fields.alias) : []};
    },
    'node.rotateKeys': async (params) => daemon.rotateKeys(parse(nodeRotateKeysSchema, params).meshId),
    'api.token': async (params) => daemon.apiToken(parse(apiTokenSchema, params).rotate === true),
  });
}

/** `handlers`, each waiting for {@link Daemon.whenStarted} first. */
function afterStart(daemon: Daemon, handlers: IpcHandlers): IpcHandlers {
  const wrapped: Partial<Record<IpcMethod, (params: unknown) => Promise<unknown>>> = {};
  for (const method of Object.keys(handlers) as IpcMethod[]) {
    const handler = handlers[method] as (params: unknown) => Promise<unknown>;
    wrapped[method] = async (params) => {
      await daemon.whenStarted();
      return handler(params);
    };
  }
  return wrapped as IpcHandlers;
}
