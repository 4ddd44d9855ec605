/**
 * The daemon's IPC surface: each method validates its parameters (they come
 * from another process) and calls the runtime.
 */
import {z} from 'zod';
import {InvalidInputError} from '../errors.js';
import {meshIdParamsSchema, meshSettingsSchema, type IpcMethod, type IpcMethods} from '../ipc/methods.js';
import type {Daemon} from './daemon.js';

/** A handler per IPC method. */
export type IpcHandlers = {[M in IpcMethod]: (params: unknown) => Promise<IpcMethods[M]['result']>};

function parse<S extends z.ZodType>(schema: S, params: unknown, method: string): z.infer<S> {
  const parsed = schema.safeParse(params ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError(`${method}: ${issue?.path.join('.') || 'params'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

const noParams = z.object({}).strict();

/** The handlers that serve the CLI from `daemon`. */
export function daemonIpcHandlers(daemon: Daemon): IpcHandlers {
  return {
    status: async (params) => (parse(noParams, params, 'status'), daemon.status()),
    'mesh.create': async (params) => daemon.createMesh(parse(meshSettingsSchema.strict(), params, 'mesh.create')),
    'mesh.list': async (params) => (parse(noParams, params, 'mesh.list'), daemon.listMeshes()),
    'mesh.show': async (params) => daemon.showMesh(parse(meshIdParamsSchema, params, 'mesh.show').meshId),
    'mesh.leave': async (params) => daemon.leaveMesh(parse(meshIdParamsSchema, params, 'mesh.leave').meshId),
  };
}
