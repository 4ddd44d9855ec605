import fc from 'fast-check';
import {describe, expect, it} from 'vitest';
import {z} from 'zod';
import {BACKEND_API_VERSION, defineBackend, type BackendContext, type BackendFactory, type BackendKind} from '../src/contracts/backend.js';
import type {WgDriver} from '../src/contracts/wg-driver.js';
import {BackendError, ConfigError} from '../src/errors.js';
import {BackendRegistry, readBackendDeclarations} from '../src/registry/index.js';

/** A factory made with this copy of core. */
function factory(kind: BackendKind, name: string, description?: string): BackendFactory {
  return defineBackend({
    kind,
    name,
    ...(description === undefined ? {} : {description}),
    create: async () => {
      throw new Error('not used in these tests');
    },
  });
}

/** A factory made the way a plugin with its own copy of core (or none) makes it: plain object, global brand. */
function foreignFactory(kind: string, name: string, apiVersion: number = BACKEND_API_VERSION): Record<string | symbol, unknown> {
  return {[Symbol.for('@wgmesh/backend-factory')]: true, kind, name, apiVersion, description: 'foreign', create: async () => ({})};
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('BackendRegistry', () => {
  it('resolves a declared and registered backend and lists it with its plugin', () => {
    const registry = new BackendRegistry();
    registry.declare('@wgmesh/wg-stub', {kind: 'wg', name: 'stub', description: 'declared text'});
    const stub = factory('wg', 'stub', 'factory text');
    registry.register('@wgmesh/wg-stub', stub);
    expect(registry.resolve('wg', 'stub')).toBe(stub);
    expect(registry.list()).toEqual([{kind: 'wg', name: 'stub', plugin: '@wgmesh/wg-stub', description: 'factory text', loaded: true}]);
    expect(registry.warnings).toEqual([]);
  });

  it('lists by kind order then name, and filters by kind', () => {
    const registry = new BackendRegistry();
    registry.register('p1', factory('wg', 'zeta'));
    registry.register('p1', factory('store', 'beta'));
    registry.register('p2', factory('transport', 'grpc'));
    registry.register('p2', factory('store', 'alpha'));
    expect(registry.list().map((entry) => `${entry.kind}:${entry.name}`)).toEqual(['store:alpha', 'store:beta', 'transport:grpc', 'wg:zeta']);
    expect(registry.names('store')).toEqual(['alpha', 'beta']);
    expect(registry.list('wg').map((entry) => entry.plugin)).toEqual(['p1']);
  });

  it('accepts a structurally valid factory from another copy of core (brand via Symbol.for, no instanceof)', () => {
    const registry = new BackendRegistry();
    registry.declarePlugin('wgmesh-plugin-recorder', {backends: [{kind: 'wg', name: 'recorder'}]});
    registry.addHookResult('wgmesh-plugin-recorder', [foreignFactory('wg', 'recorder')]);
    expect(registry.resolve('wg', 'recorder').name).toBe('recorder');
    expect(registry.list()[0]).toMatchObject({plugin: 'wgmesh-plugin-recorder', loaded: true, description: 'foreign'});
    expect(registry.warnings).toEqual([]);
  });

  it('names the installed backends of the kind when a name is unknown', () => {
    const registry = new BackendRegistry();
    registry.register('a', factory('wg', 'stub'));
    registry.register('b', factory('wg', 'kernel'));
    registry.register('c', factory('store', 'twophase'));
    const error = thrown(() => registry.resolve('wg', 'nope'));
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toBe(
      "no wg backend named 'nope' is installed; installed: kernel, stub (install more with 'wgmesh plugins install <package>')",
    );
    expect(thrown(() => registry.resolve('transport', 'grpc')).message).toContain('installed: none');
  });

  it('fails on two plugins declaring one kind:name, naming both', () => {
    const registry = new BackendRegistry();
    registry.declarePlugin('@wgmesh/store-twophase', {backends: [{kind: 'store', name: 'twophase'}]});
    const error = thrown(() => registry.declarePlugin('wgmesh-plugin-duplicate', {backends: [{kind: 'store', name: 'twophase'}]}));
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toContain("store backend 'twophase'");
    expect(error.message).toContain("'@wgmesh/store-twophase' and 'wgmesh-plugin-duplicate'");
  });

  it('fails on a duplicate that only shows up in hook results, naming both plugins', () => {
    const registry = new BackendRegistry();
    registry.addHookResult('first', [factory('transport', 'grpc')]);
    const error = thrown(() => registry.addHookResult('second', [foreignFactory('transport', 'grpc')]));
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toContain("'first' and 'second'");
  });

  it('fails when one plugin returns two factories with one kind:name', () => {
    const registry = new BackendRegistry();
    const error = thrown(() => registry.addHookResult('twice', [factory('wg', 'x'), factory('wg', 'x')]));
    expect(error.message).toContain("plugin 'twice' provides the wg backend 'x' twice");
  });

  it('allows a plugin to declare a backend and then provide it (same plugin is no duplicate)', () => {
    const registry = new BackendRegistry();
    registry.declare('p', {kind: 'wg', name: 'x'});
    registry.declare('p', {kind: 'wg', name: 'x'});
    registry.register('p', factory('wg', 'x'));
    expect(registry.has('wg', 'x')).toBe(true);
  });

  it('refuses another apiVersion: strictly in register, as a warning in hook results', () => {
    const registry = new BackendRegistry();
    const error = thrown(() => registry.register('future-plugin', foreignFactory('store', 'next', BACKEND_API_VERSION + 1)));
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toContain("plugin 'future-plugin'");
    expect(error.message).toContain(`API version ${BACKEND_API_VERSION + 1}`);
    expect(error.message).toContain('upgrade wgmesh');

    registry.declarePlugin('old-plugin', {backends: [{kind: 'store', name: 'old'}]});
    registry.addHookResult('old-plugin', [foreignFactory('store', 'old', 0), foreignFactory('store', 'fine')]);
    expect(registry.warnings.map((warning) => warning.plugin)).toEqual(['old-plugin', 'old-plugin']);
    expect(registry.warnings[0]?.message).toContain('upgrade the plugin');
    expect(registry.warnings[1]?.message).toContain("provides the store backend 'fine' without declaring it");
    expect(thrown(() => registry.resolve('store', 'old')).message).toContain("from plugin 'old-plugin' is not available");
    expect(registry.has('store', 'fine')).toBe(true);
  });

  it('refuses unbranded look-alikes and says how to fix them', () => {
    const registry = new BackendRegistry();
    const lookAlike = {kind: 'wg', name: 'fake', apiVersion: BACKEND_API_VERSION, create: async () => ({})};
    expect(thrown(() => registry.register('fake-plugin', lookAlike)).message).toContain('defineBackend()');
  });

  it('turns a failing hook into a warning naming the plugin and its lost backends; others keep working', () => {
    const registry = new BackendRegistry();
    registry.declarePlugin('wgmesh-plugin-throws', {backends: [{kind: 'store', name: 'broken', description: 'never loads'}]});
    registry.declarePlugin('@wgmesh/wg-stub', {backends: [{kind: 'wg', name: 'stub'}]});
    registry.addHookResult('@wgmesh/wg-stub', [factory('wg', 'stub')]);
    registry.addHookFailure('wgmesh-plugin-throws', new Error('database unreachable'));
    expect(registry.warnings).toEqual([
      {
        plugin: 'wgmesh-plugin-throws',
        message: "plugin 'wgmesh-plugin-throws' failed to load its backends: database unreachable; its backends (store:broken) are unavailable",
      },
    ]);
    expect(registry.list()).toEqual([
      {kind: 'store', name: 'broken', plugin: 'wgmesh-plugin-throws', description: 'never loads', loaded: false},
      {kind: 'wg', name: 'stub', plugin: '@wgmesh/wg-stub', description: '', loaded: true},
    ]);
    expect(thrown(() => registry.resolve('store', 'broken')).message).toBe(
      "the store backend 'broken' from plugin 'wgmesh-plugin-throws' is not available: the plugin failed to load (database unreachable)",
    );
    expect(registry.resolve('wg', 'stub').name).toBe('stub');
  });

  it('warns about backends declared but not provided', () => {
    const registry = new BackendRegistry();
    registry.declarePlugin('lazy', {backends: [{kind: 'transport', name: 'carrier-pigeon'}]});
    registry.addHookResult('lazy', []);
    expect(registry.warnings).toEqual([
      {plugin: 'lazy', message: "plugin 'lazy' declares the transport backend 'carrier-pigeon' in its package.json, but its 'wgmesh:backends' hook does not provide it"},
    ]);
    expect(thrown(() => registry.resolve('transport', 'carrier-pigeon')).message).toContain('does not provide it');
  });

  it('warns about an invalid wgmesh field and a hook result that is not an array', () => {
    const registry = new BackendRegistry();
    registry.declarePlugin('no-field', undefined);
    registry.declarePlugin('bad-field', {backends: [{kind: 'database', name: 'x'}]});
    registry.addHookResult('weird', {not: 'an array'});
    expect(registry.list()).toEqual([]);
    expect(registry.warnings.map((warning) => warning.plugin)).toEqual(['bad-field', 'weird']);
    expect(registry.warnings[0]?.message).toContain('wgmesh.backends.0.kind');
    expect(registry.warnings[1]?.message).toContain('returned object, not an array');
  });

  it('never throws on arbitrary hook results, and warns once per value that is not a factory', () => {
    fc.assert(
      fc.property(fc.array(fc.anything(), {maxLength: 8}), (values) => {
        const registry = new BackendRegistry();
        registry.addHookResult('fuzz', values);
        expect(registry.warnings).toHaveLength(values.length);
        expect(registry.list().every((entry) => !entry.loaded)).toBe(true);
      }),
    );
  });
});

describe('defineBackend', () => {
  /** A wg backend `name` that hands back the config its `create` got, as the driver. */
  const echo = (schema?: z.ZodType<{port: number}>) =>
    defineBackend({kind: 'wg', name: 'echo', ...(schema === undefined ? {} : {configSchema: schema}), create: async (_context, config) => config as unknown as WgDriver});
  const context = (config: unknown) => ({config}) as BackendContext;
  const schema = z.strictObject({port: z.number().int().default(7)}).default({port: 7});

  it('gives create the section parsed with the declared schema, defaults applied (also for a missing or null section)', async () => {
    expect(await echo(schema).create(context({port: 9}))).toEqual({port: 9});
    expect(await echo(schema).create(context(undefined))).toEqual({port: 7});
    expect(await echo(schema).create(context(null))).toEqual({port: 7});
  });

  it('refuses a wrong section with a ConfigError naming the key under the backend’s name, as a rejection', async () => {
    const created = echo(schema).create(context({port: 'x'}));
    await expect(created).rejects.toBeInstanceOf(ConfigError);
    await expect(created).rejects.toThrow(/^config key echo\.port: /);
  });

  it('gives create the raw section without a schema', async () => {
    expect(await echo().create(context({anything: true}))).toEqual({anything: true});
  });
});

describe('readBackendDeclarations', () => {
  it('reads a valid field and refuses names users could not type', () => {
    expect(readBackendDeclarations({backends: [{kind: 'wg', name: 'stub', description: 'in memory'}], future: 1})).toEqual({
      ok: true,
      declarations: [{kind: 'wg', name: 'stub', description: 'in memory'}],
    });
    expect(readBackendDeclarations({backends: [{kind: 'wg', name: 'Stub Driver'}]})).toMatchObject({ok: false});
    expect(readBackendDeclarations({backends: [{kind: 'wg', name: 'x', description: 'bell\u0007'}]})).toMatchObject({ok: false});
    expect(readBackendDeclarations('backends')).toMatchObject({ok: false});
  });
});
