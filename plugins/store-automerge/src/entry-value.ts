/**
 * How one signed entry is stored in the Automerge document: a single
 * immutable bytes value, the 64-byte Ed25519 signature followed by the exact
 * signed body. Bytes, not a nested map or text, so Automerge never merges
 * inside an entry: a value is replaced whole or not at all, and what a peer
 * reads back is byte for byte what the owner signed.
 */
import {MAX_ENTRY_BYTES, type SignedEntry} from '@wgmesh/core';

/** Bytes of an Ed25519 signature. */
export const SIGNATURE_BYTES = 64;

/** Largest stored value: a signature and the largest body an entry may have. */
export const MAX_VALUE_BYTES = SIGNATURE_BYTES + MAX_ENTRY_BYTES;

/** The stored value of an entry. */
export function entryToValue(entry: SignedEntry): Uint8Array {
  const value = new Uint8Array(entry.signature.byteLength + entry.body.byteLength);
  value.set(entry.signature, 0);
  value.set(entry.body, entry.signature.byteLength);
  return value;
}

/**
 * Split a stored value back into a signed entry (shape only: the caller
 * verifies it). Returns undefined for a value that cannot be an entry.
 */
export function valueToEntry(value: Uint8Array): SignedEntry | undefined {
  if (value.byteLength <= SIGNATURE_BYTES || value.byteLength > MAX_VALUE_BYTES) return undefined;
  return {signature: value.subarray(0, SIGNATURE_BYTES), body: value.subarray(SIGNATURE_BYTES)};
}

/** True when a stored value holds exactly `entry`. */
export function valueHolds(value: Uint8Array, entry: SignedEntry): boolean {
  return (
    value.byteLength === entry.signature.byteLength + entry.body.byteLength &&
    Buffer.compare(value.subarray(0, entry.signature.byteLength), entry.signature) === 0 &&
    Buffer.compare(value.subarray(entry.signature.byteLength), entry.body) === 0
  );
}
