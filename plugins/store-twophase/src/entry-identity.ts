/** Recognising an entry a store already holds, without decoding, hashing or verifying it. */
import type {SignedEntry} from '@wgmesh/core';

/**
 * The bytes MessagePack encodes a key `id` with a 32-character string value
 * as: fixstr `"id"`, then the str8 header of 32 bytes. Every entry body
 * carries its node id (32 hex digits) this way.
 */
const ID_FIELD = Buffer.from([0xa2, 0x69, 0x64, 0xd9, 0x20]);
const ID_LENGTH = 32;

/**
 * The node id an entry body most likely claims, read straight from its bytes:
 * the 32 characters after the first `id` field, found with one byte search
 * (a fraction of a microsecond, where decoding costs microseconds and an
 * Ed25519 verification ~200 µs). Only a hint for finding the held entry to
 * compare with: a body crafted to mislead it merely misses that entry and is
 * verified in full, so a wrong hint costs time, never correctness. Undefined
 * when the body holds no such field.
 */
export function idHint(body: Uint8Array): string | undefined {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const at = bytes.indexOf(ID_FIELD);
  if (at < 0 || at + ID_FIELD.length + ID_LENGTH > bytes.length) return undefined;
  return bytes.toString('latin1', at + ID_FIELD.length, at + ID_FIELD.length + ID_LENGTH);
}

/** True when two entries are byte for byte the same. */
export function sameEntry(a: SignedEntry, b: SignedEntry): boolean {
  return Buffer.compare(a.signature, b.signature) === 0 && Buffer.compare(a.body, b.body) === 0;
}
