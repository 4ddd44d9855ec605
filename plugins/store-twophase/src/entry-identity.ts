/** Recognising an entry a store already holds, without hashing or verifying it. */
import type {SignedEntry} from '@wgmesh/core';

/**
 * The key under which a store indexes a held entry: its signature. Ed25519
 * signatures are deterministic and bind key and message, so two different
 * valid entries never share one; the store still compares the bodies on a
 * hit, so only a byte-identical entry counts as held.
 */
export function signatureKey(entry: SignedEntry): string {
  return Buffer.from(entry.signature.buffer, entry.signature.byteOffset, entry.signature.byteLength).toString('base64');
}

/** True when two entries are byte for byte the same. */
export function sameEntry(a: SignedEntry, b: SignedEntry): boolean {
  return Buffer.compare(a.signature, b.signature) === 0 && Buffer.compare(a.body, b.body) === 0;
}
