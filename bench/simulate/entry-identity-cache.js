/**
 * The twophase store's entry-identity module inside the simulation: the same
 * functions, but an entry's signature key (a base64 string the store keeps per
 * held entry) is computed once per signature object, so N stores holding the
 * same shared VerifiedEntry share one string instead of N copies (see
 * store-hooks.js).
 */
import {sameEntry, signatureKey as computeKey} from '../../plugins/store-twophase/dist/entry-identity.js';

export {sameEntry};

/** @type {WeakMap<Uint8Array, string>} */
const keys = new WeakMap();

/**
 * The store's index key of an entry: its signature in base64, cached per signature array.
 * @param {import('@wgmesh/core').SignedEntry} entry
 * @returns {string}
 */
export function signatureKey(entry) {
  let key = keys.get(entry.signature);
  if (key === undefined) {
    key = computeKey(entry);
    keys.set(entry.signature, key);
  }
  return key;
}
