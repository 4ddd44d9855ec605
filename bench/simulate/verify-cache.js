/**
 * A process-wide cache in front of core's `verifyEntry` (see store-hooks.js for
 * why). An entry is looked up by its signature; a hit must be byte-identical
 * (body and signature) and of the same mesh, and still passes the one check
 * that depends on the caller's clock (not dated too far in the future), so a
 * store accepts exactly what it would accept without the cache. Everything
 * that is not a hit goes through the real `verifyEntry` (rejections included:
 * they are not cached).
 */
import {EntryRejectedError, verifyEntry as realVerifyEntry} from '@wgmesh/core';

/** @type {WeakMap<Uint8Array, string>} */
const keys = new WeakMap();

/**
 * The cache key of an entry: its signature in base64, computed once per
 * signature array (N stores offered the same shared entry share one string).
 * @param {import('@wgmesh/core').SignedEntry} entry
 * @returns {string}
 */
function signatureKey(entry) {
  let key = keys.get(entry.signature);
  if (key === undefined) {
    const {signature} = entry;
    key = Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('base64');
    keys.set(signature, key);
  }
  return key;
}

/** @type {Map<string, import('@wgmesh/core').VerifiedEntry>} */
const cache = new Map();

/** Counters of the cache, and a switch to measure the real cost (a joiner's snapshot load). */
export const verifyCache = {
  /** Calls answered from the cache. */
  hits: 0,
  /** Calls that ran the real verification. */
  verified: 0,
  /** When true every call runs the real verification (and is not cached). */
  bypass: false,
};

/**
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 */
function sameBytes(a, b) {
  return a === b || (a.byteLength === b.byteLength && Buffer.compare(a, b) === 0);
}

/**
 * core's `verifyEntry`, cached.
 * @param {import('@wgmesh/core').SignedEntry} entry
 * @param {import('@wgmesh/core').VerifyOptions} options
 * @returns {import('@wgmesh/core').VerifiedEntry}
 */
export function verifyEntry(entry, options) {
  if (verifyCache.bypass) {
    verifyCache.verified++;
    return realVerifyEntry(entry, options);
  }
  const key = signatureKey(entry);
  const held = cache.get(key);
  if (held !== undefined && held.value.meshId === options.meshId && sameBytes(held.body, entry.body) && sameBytes(held.signature, entry.signature)) {
    if (held.value.updatedAt > options.now + options.maxClockSkewMs) {
      throw new EntryRejectedError(`entry for node ${held.value.id} is dated ${held.value.updatedAt - options.now} ms in the future`);
    }
    verifyCache.hits++;
    return held;
  }
  const verified = realVerifyEntry(entry, options);
  verifyCache.verified++;
  cache.set(key, verified);
  return verified;
}
