/**
 * The zod-free checks the CLI applies to what a daemon answers: the reply
 * envelope (`decodeResponse`) must accept exactly what the zod schema of the
 * protocol accepts, and `ipcResultProblem` must refuse a result of the wrong
 * shape with its path while letting a correct one (extra fields included) through.
 */
import fc from 'fast-check';
import {describe, expect, it} from 'vitest';
import {ipcResultProblem} from '../src/ipc/results.js';
import type {MeshShowView, StatusView} from '../src/ipc/methods.js';
import {IPC_ERROR_CODES, decodeResponse, ipcResponseSchema} from '../src/ipc/protocol.js';
import {array, describeProblem, either, integer, nullable, object, optional, record, string} from '../src/util/shape.js';

const bytes = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');

/** Values near the edges of the envelope's rules. */
const idLike = fc.oneof(
  fc.constant(null),
  fc.constant(''),
  fc.string({minLength: 1, maxLength: 70}),
  fc.integer({min: -2, max: 10}),
  fc.constant(Number.MAX_SAFE_INTEGER),
  fc.constant(Number.MAX_SAFE_INTEGER + 2),
  fc.double({noNaN: true, noDefaultInfinity: true}),
  fc.boolean(),
  fc.constant([1]),
);
const errorLike = fc.oneof(
  fc.record({code: fc.oneof(fc.string({maxLength: 70}), fc.integer()), message: fc.oneof(fc.string({maxLength: 20}), fc.constant('m'.repeat(4097)), fc.constant(null))}, {requiredKeys: []}),
  fc.constant(null),
  fc.constant('oops'),
);
const envelope = fc.record(
  {
    v: fc.constantFrom(1, 1, 1, 2, '1'),
    id: idLike,
    ok: fc.constantFrom(true, false, 'true', 0, null),
    result: fc.jsonValue(),
    error: errorLike,
    extra: fc.jsonValue(),
  },
  {requiredKeys: ['v']},
);

describe('decodeResponse (without zod)', () => {
  it('accepts exactly the replies the zod schema accepts', () => {
    fc.assert(
      fc.property(envelope, (raw) => {
        // JSON first: the decoder sees what went over the wire (-0 becomes 0, and so on).
        const json = JSON.parse(JSON.stringify(raw)) as Record<string, unknown>;
        const decoded = decodeResponse(bytes(json));
        expect(decoded.ok).toBe(ipcResponseSchema.safeParse(json).success);
        if (!decoded.ok) expect([IPC_ERROR_CODES.badFrame, IPC_ERROR_CODES.protocolVersion]).toContain(decoded.code);
      }),
      {numRuns: 2000},
    );
  });

  it('names the field that is wrong', () => {
    const decoded = decodeResponse(bytes({v: 1, id: 3, ok: false, error: {code: 'X', message: 7}}));
    expect(decoded).toEqual({ok: false, id: 3, code: IPC_ERROR_CODES.badFrame, message: expect.stringContaining('error.message: expected a string') as unknown});
    expect(decodeResponse(bytes({v: 1, id: 3, ok: true}))).toMatchObject({ok: false, message: expect.stringContaining('result: required') as unknown});
  });
});

const STATUS: StatusView = {
  pid: 42,
  nodeId: 'a'.repeat(32),
  wgPublicKey: 'k',
  backends: {store: 's', transport: 't', wg: 'w'},
  meshes: [{meshId: 'm', prefix: 'fd00::/64', interface: 'wg0', members: 2}],
};

/** `value` without `key` (as a JSON reply that omits it). */
function withoutKey<T extends object>(value: T, key: keyof T): Partial<T> {
  const copy = {...value};
  delete copy[key];
  return copy;
}

const SHOW: MeshShowView = {
  meshId: 'm',
  prefix: 'fd00::/64',
  inbound: {snapshots: 0, syncs: 1, messages: 2},
  aliasConflicts: [{alias: 'web', owner: 'a', others: ['b']}],
  nodes: [
    {
      id: 'a',
      wgPublicKey: 'k',
      address: 'fd00::1',
      role: 'peer',
      controlEndpoint: null,
      wgEndpoint: '1.2.3.4:51820',
      alias: 'web',
      description: null,
      services: {http: '80'},
      routes: [{destination: '0.0.0.0/0', path: ['m']}],
      self: true,
      stats: {latestHandshakeMs: null, rxBytes: 1, txBytes: 2},
      receivedAt: 1_700_000_000_000,
      aliasOwner: 'a',
      aliasConflict: true,
      homePeer: null,
    },
  ],
};

describe('ipcResultProblem', () => {
  it('accepts results of the right shape, with optional parts and unknown extra fields', () => {
    expect(ipcResultProblem('status', STATUS)).toBeUndefined();
    expect(ipcResultProblem('status', {...STATUS, dns: {address: '[::1]:53'}, metrics: {address: ':9', url: 'http://x'}, future: 1})).toBeUndefined();
    expect(ipcResultProblem('mesh.list', STATUS.meshes)).toBeUndefined();
    expect(ipcResultProblem('mesh.list', [])).toBeUndefined();
    expect(ipcResultProblem('mesh.show', SHOW)).toBeUndefined();
    expect(ipcResultProblem('mesh.show', {...SHOW, nodes: [{...SHOW.nodes[0], clockLagMs: -120_000}]})).toBeUndefined();
    expect(ipcResultProblem('node.set', {meshIds: ['m'], aliasLost: [{meshId: 'm', alias: 'a', owner: 'o', ownerAddress: 'fd00::2'}]})).toBeUndefined();
    expect(ipcResultProblem('service.delete', {meshIds: []})).toBeUndefined();
  });

  it.each([
    ['mesh.list', {meshes: []}, 'expected an array'],
    ['mesh.list', [{meshId: 'm', prefix: 'p', interface: 'i', members: '2'}], '0.members: expected an integer'],
    ['mesh.list', [null], '0: expected an object'],
    ['status', withoutKey(STATUS, 'backends'), 'backends: required'],
    ['status', {...STATUS, dns: {address: 5}}, 'dns.address: expected a string'],
    ['status', {...STATUS, meshes: [{...STATUS.meshes[0], interface: null}]}, 'meshes.0.interface: expected a string'],
    ['mesh.show', {...SHOW, nodes: [{...SHOW.nodes[0], role: 'admin'}]}, 'nodes.0.role: expected one of peer, client'],
    ['mesh.show', {...SHOW, nodes: [{...SHOW.nodes[0], services: {http: 80}}]}, 'nodes.0.services.http: expected a string'],
    ['mesh.show', {...SHOW, nodes: [{...SHOW.nodes[0], stats: {latestHandshakeMs: 'x', rxBytes: 1, txBytes: 2}}]}, 'nodes.0.stats.latestHandshakeMs: expected a number'],
    ['mesh.show', {...SHOW, nodes: [{...SHOW.nodes[0], receivedAt: '2026-12-04'}]}, 'nodes.0.receivedAt: expected a number'],
    ['mesh.show', {...SHOW, nodes: [{...SHOW.nodes[0], clockLagMs: '2 min'}]}, 'nodes.0.clockLagMs: expected a number'],
    ['mesh.create', 'm', 'expected an object'],
    ['node.set', {meshIds: ['m']}, 'aliasLost: required'],
  ] as const)('refuses a %s result of the wrong shape (%j)', (method, result, problem) => {
    expect(ipcResultProblem(method, result)).toContain(problem);
  });

  it('refuses a method it has no shape for, and keys found only on the prototype', () => {
    expect(ipcResultProblem('nope' as 'status', {})).toMatch(/no result shape/);
    const noOwn = Object.create({meshId: 'm'}) as object;
    expect(ipcResultProblem('mesh.leave', noOwn)).toBe('meshId: required');
  });
});

describe('shape combinators', () => {
  it('report the first problem with its path', () => {
    const shape = object<{a: {b: (string | number)[]}; c?: string | null; d: Record<string, number>}>({
      a: object<{b: (string | number)[]}>({b: array(either(string(1, 2), integer(0, 9)))}),
      c: optional(nullable(string())),
      d: record(integer()),
    });
    expect(shape({a: {b: ['x', 3]}, d: {}})).toBeUndefined();
    expect(shape({a: {b: ['x', 3]}, c: null, d: {n: 1}})).toBeUndefined();
    const found = shape({a: {b: ['x', 'long']}, d: {}});
    expect(found && describeProblem(found)).toBe('a.b.1: expected at most 2 characters');
    const bad = shape({a: {b: []}, d: {n: 1.5}});
    expect(bad && describeProblem(bad)).toBe('d.n: expected an integer from -9007199254740991 to 9007199254740991');
  });
});
