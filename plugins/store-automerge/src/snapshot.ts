/**
 * Snapshots: a mesh's Automerge document as `save()` writes it (history
 * included, so a joining node shares it and later syncs only the difference),
 * in a small versioned envelope that names the mesh and the document's
 * compaction generation. The entries inside stay signed and are verified on
 * load like any others.
 */
import {bytesSchema, decode, DecodeError, encode} from '@wgmesh/core';
import {z} from 'zod';
import {MAX_SNAPSHOT_BYTES} from './limits.js';

/** Marks an automerge snapshot, so a file of another kind is refused with a clear message. */
export const SNAPSHOT_FORMAT = 'wgmesh-automerge-snapshot';
/** Version of the envelope layout. */
export const SNAPSHOT_VERSION = 1;

/** Highest generation a snapshot or a peer may name (a safe integer with room to count up). */
export const MAX_GENERATION = 2 ** 52;

/** A document's compaction generation as it travels. */
export const generationSchema = z.number().int().min(0).max(MAX_GENERATION);

const snapshotSchema = z.object({
  format: z.literal(SNAPSHOT_FORMAT),
  version: z.literal(SNAPSHOT_VERSION),
  meshId: z.string().max(64),
  generation: generationSchema,
  document: bytesSchema,
});

/** A decoded snapshot. */
export interface Snapshot {
  /** The compaction generation of the document. */
  readonly generation: number;
  /** The document as Automerge's `save` wrote it (not yet loaded or checked). */
  readonly document: Uint8Array;
}

/** Encode a snapshot of `document` (Automerge `save` bytes) for mesh `meshId`. */
export function encodeSnapshot(meshId: string, generation: number, document: Uint8Array): Uint8Array {
  return encode({format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, meshId, generation, document});
}

/**
 * Decode a snapshot meant for mesh `meshId` (the envelope only: the caller loads and checks the document).
 * @throws DecodeError when it is malformed, of another format or version, or of another mesh.
 */
export function decodeSnapshot(bytes: Uint8Array, meshId: string): Snapshot {
  const snapshot = decode(bytes, snapshotSchema, 'automerge snapshot', MAX_SNAPSHOT_BYTES);
  if (snapshot.meshId !== meshId) {
    throw new DecodeError(`automerge snapshot is of mesh ${snapshot.meshId}, not of mesh ${meshId}`);
  }
  return {generation: snapshot.generation, document: snapshot.document};
}
