/**
 * Checks on the fields of decoded protobuf messages. Protobuf only proves the
 * bytes had the right shape; these say whether the values may be used.
 */
import {DecodeError, isMeshId} from '@wgmesh/core';

/** A store backend name: the rule core's config applies to backend names. */
const STORE_KIND = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Quote untrusted text for a message: printable and short. */
export function quote(text: string): string {
  // eslint-disable-next-line no-control-regex
  const printable = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return `'${printable.length > 64 ? `${printable.slice(0, 64)}...` : printable}'`;
}

/**
 * A mesh id from the wire.
 * @throws DecodeError when it is not a mesh id.
 */
export function checkMeshId(meshId: string, what: string): string {
  if (!isMeshId(meshId)) throw new DecodeError(`${what}: ${quote(meshId)} is not a mesh id`);
  return meshId;
}

/**
 * A store kind from the wire.
 * @throws DecodeError when it is not a backend name.
 */
export function checkStoreKind(storeKind: string, what: string): string {
  if (!STORE_KIND.test(storeKind)) throw new DecodeError(`${what}: ${quote(storeKind)} is not a store kind`);
  return storeKind;
}
