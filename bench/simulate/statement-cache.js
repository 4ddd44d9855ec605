/**
 * core's control/statements.js as the membership view sees it inside the
 * simulation: every export unchanged except `verifyStatement`, which is
 * cached per process (see store-hooks.js). A hit must be byte-identical and
 * still pass every check that depends on the caller's view: the mesh, that
 * the subject is a member, and that the signer is a member whose current
 * signing key is the one the signature was verified with. Misses and
 * rejections go through the real function.
 */
import {verifyStatement as realVerifyStatement} from '../../src/core/dist/control/statements.js';
import {EntryRejectedError} from '@wgmesh/core';

export * from '../../src/core/dist/control/statements.js';

/** @type {Map<string, {statement: object, key: string}>} */
const cache = new Map();

/** Counters: calls answered from the cache, and real verifications. */
export const statementCache = {hits: 0, verified: 0};

/**
 * @param {{b: Uint8Array, s: Uint8Array}} wire
 * @param {{meshId: string, signingKeyOf(id: string): string | undefined}} context
 */
export function verifyStatement(wire, context) {
  const id = Buffer.from(wire.s.buffer, wire.s.byteOffset, wire.s.byteLength).toString('base64');
  const held = cache.get(id);
  if (held !== undefined && Buffer.compare(held.statement.body, wire.b) === 0) {
    const value = held.statement.value;
    const signer = value.k === 'alive' ? value.x : value.by;
    if (value.m === context.meshId && context.signingKeyOf(value.x) !== undefined && context.signingKeyOf(signer) === held.key) {
      statementCache.hits++;
      return held.statement;
    }
  }
  const statement = realVerifyStatement(wire, context);
  statementCache.verified++;
  const value = statement.value;
  const key = context.signingKeyOf(value.k === 'alive' ? value.x : value.by);
  if (key === undefined) throw new EntryRejectedError('statement signer vanished during verification');
  cache.set(id, {statement, key});
  return statement;
}
