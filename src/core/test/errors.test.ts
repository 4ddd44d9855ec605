import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import * as core from '../src/index.js';
import {
  DaemonStartingError,
  errorFromWire,
  InvalidInputError,
  PortInUseError,
  RemoteError,
  UnknownMeshError,
  WgmeshError,
  WIRE_ERRORS,
  wireErrorTable,
  type WgmeshErrorClass,
} from '../src/errors.js';
import {IpcClient} from '../src/ipc/client.js';
import {IpcServer} from '../src/ipc/server.js';
import {silentLogger} from '@wgmesh/testkit';

/** Every class exported by @wgmesh/core that extends WgmeshError (RemoteError carries the other side's code, so has none of its own). */
function exportedErrorClasses(): WgmeshErrorClass[] {
  return (Object.values(core) as unknown[]).filter(
    (value): value is WgmeshErrorClass =>
      typeof value === 'function' && value !== RemoteError && Function.prototype[Symbol.hasInstance].call(WgmeshError, (value as {prototype?: unknown}).prototype),
  );
}

describe('error classes', () => {
  it('give every exported class a code of its own, unique, and list each in the wire table', () => {
    const classes = exportedErrorClasses();
    expect(classes.length).toBeGreaterThan(40);
    const owners = new Map<string, string[]>();
    for (const type of classes) {
      expect(Object.hasOwn(type, 'code'), `${type.name} has no code of its own`).toBe(true);
      expect(type.code).toMatch(/^[A-Z][A-Z0-9_]{1,63}$/);
      owners.set(type.code, [...(owners.get(type.code) ?? []), type.name]);
    }
    expect([...owners].filter(([, names]) => names.length > 1)).toEqual([]);
    for (const type of classes) expect(WIRE_ERRORS.get(type.code), type.name).toBe(type);
    expect(WIRE_ERRORS.size).toBe(classes.length);
  });

  it('derives each error code from its class', () => {
    const error = new PortInUseError(51820);
    expect(error.code).toBe(PortInUseError.code);
    expect(error.name).toBe('PortInUseError');
    expect(new InvalidInputError('x').code).toBe('INVALID_INPUT');
  });

  it('refuses a table in which two classes share a code', () => {
    class Twin extends WgmeshError {
      static override readonly code = InvalidInputError.code;
    }
    expect(() => wireErrorTable([InvalidInputError, Twin])).toThrow(/INVALID_INPUT belongs to both InvalidInputError and Twin/);
  });

  it('rebuilds every code into its class with the message that came', () => {
    for (const [code, type] of WIRE_ERRORS) {
      const error = errorFromWire(code, `message of ${code}`);
      expect(error, code).toBeInstanceOf(type);
      expect(error).toBeInstanceOf(WgmeshError);
      expect(error).toBeInstanceOf(Error);
      expect({code: error.code, message: error.message, name: error.name}).toEqual({code, message: `message of ${code}`, name: type.name});
    }
  });

  it('rebuilds a code it does not know as a RemoteError that keeps the code', () => {
    const error = errorFromWire('SOME_PLUGIN_BUSY', 'busy');
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).not.toBeInstanceOf(UnknownMeshError);
    expect({code: error.code, message: error.message}).toEqual({code: 'SOME_PLUGIN_BUSY', message: 'busy'});
  });

  it("matches an error of another copy of core by its brand and code, and nothing else that has a code", () => {
    // What a plugin's own copy of @wgmesh/core makes: other classes, the same brand and codes.
    class OtherCopyError extends Error {
      readonly code: string;
      constructor(code: string, message: string) {
        super(message);
        this.code = code;
      }
    }
    Object.defineProperty(OtherCopyError.prototype, Symbol.for('@wgmesh/error'), {value: true});
    const foreign = new OtherCopyError(UnknownMeshError.code, 'not a member');
    expect(foreign).toBeInstanceOf(UnknownMeshError);
    expect(foreign).toBeInstanceOf(WgmeshError);
    expect(foreign).not.toBeInstanceOf(InvalidInputError);
    const unbranded = Object.assign(new Error('no'), {code: UnknownMeshError.code});
    expect(unbranded).not.toBeInstanceOf(UnknownMeshError);
    expect(unbranded).not.toBeInstanceOf(WgmeshError);
    expect({code: 'UNKNOWN_MESH'}).not.toBeInstanceOf(UnknownMeshError);
  });
});

describe('errors over IPC', () => {
  let dir: string;
  let server: IpcServer | undefined;
  let client: IpcClient | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgmesh-errors-'));
  });

  afterEach(async () => {
    client?.close();
    await server?.close();
    await rm(dir, {recursive: true, force: true});
  });

  it('arrive at the client as the class the daemon threw, for every code of the table', async () => {
    // The handler throws the error the code names: the mesh id carries the code.
    server = new IpcServer({
      socketPath: join(dir, 'wgmesh.sock'),
      logger: silentLogger(),
      handlers: {'mesh.show': async (params) => Promise.reject(errorFromWire((params as {meshId: string}).meshId, 'the daemon says no'))},
    });
    await server.start();
    client = new IpcClient(server.socketPath);
    for (const [code, type] of WIRE_ERRORS) {
      const error = await client.call('mesh.show', {meshId: code}).catch((e: unknown) => e);
      expect(error, code).toBeInstanceOf(type);
      expect(error).toMatchObject({code, message: 'the daemon says no', name: type.name});
    }
    const unknown = await client.call('mesh.show', {meshId: 'A_NEWER_CODE'}).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(RemoteError);
    expect(unknown).toMatchObject({code: 'A_NEWER_CODE', message: 'the daemon says no'});
  });

  it('keep the message a constructor wrote', async () => {
    server = new IpcServer({socketPath: join(dir, 'wgmesh.sock'), logger: silentLogger(), handlers: {status: async () => Promise.reject(new DaemonStartingError('still restoring 3 meshes; retry in a moment'))}});
    await server.start();
    client = new IpcClient(server.socketPath);
    const error = await client.call('status', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DaemonStartingError);
    expect((error as Error).message).toBe('still restoring 3 meshes; retry in a moment');
  });
});
