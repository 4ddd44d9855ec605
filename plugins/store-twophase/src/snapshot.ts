/**
 * Snapshots: the whole state of a store as one versioned MessagePack value,
 * for persistence and for a joining node. Entries stay signed, so a snapshot
 * is as trustworthy as the entries in it and is verified entry by entry on load.
 */
import {decode, DecodeError, encode, signedEntrySchema, type SignedEntry} from '@wgmesh/core';
import {z} from 'zod';
import {MAX_ENTRIES, MAX_SNAPSHOT_BYTES} from './limits.js';

/** Marks a twophase snapshot, so a file of another kind is refused with a clear message. */
export const SNAPSHOT_FORMAT = 'wgmesh-twophase-snapshot';
/** Version of the snapshot layout. */
export const SNAPSHOT_VERSION = 1;

const snapshotSchema = z.object({
  format: z.literal(SNAPSHOT_FORMAT),
  version: z.literal(SNAPSHOT_VERSION),
  meshId: z.string().max(64),
  entries: z.array(signedEntrySchema).max(MAX_ENTRIES),
});

/** Encode a snapshot of `entries` for mesh `meshId`. */
export function encodeSnapshot(meshId: string, entries: readonly SignedEntry[]): Uint8Array {
  return encode({
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    meshId,
    entries: entries.map((entry) => ({body: entry.body, signature: entry.signature})),
  });
}

/**
 * Decode a snapshot meant for mesh `meshId` (shape only: the caller verifies the entries).
 * @throws DecodeError when it is malformed, of another format or version, or of another mesh.
 */
export function decodeSnapshot(bytes: Uint8Array, meshId: string): SignedEntry[] {
  const snapshot = decode(bytes, snapshotSchema, 'twophase snapshot', MAX_SNAPSHOT_BYTES);
  if (snapshot.meshId !== meshId) {
    throw new DecodeError(`twophase snapshot is of mesh ${snapshot.meshId}, not of mesh ${meshId}`);
  }
  return snapshot.entries;
}
