/**
 * Caps on what a peer or a snapshot file may make this store process. Every
 * byte count read from outside is checked against these before Automerge (or
 * anything else) looks at the bytes.
 */

import {MAX_SYNC_MESSAGE_BYTES} from '@wgmesh/core';

/** Largest session message sent or accepted: a larger one travels in parts (see protocol.ts). */
export {MAX_SYNC_MESSAGE_BYTES};

/**
 * Largest message reassembled from parts (envelope and Automerge sync message
 * together). Automerge parses a message whole, in one turn of the event loop,
 * before any value in it can be checked (about 50-150 ns a byte), and a
 * session holds the parts until the message is whole: this bounds both the
 * stall and the memory one session can cause. A fresh replica's first sync of
 * a 10,000-node mesh at the history bound takes 4.3 MB.
 */
export const MAX_ASSEMBLED_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Bytes of a message one part carries: room for the part's own envelope under {@link MAX_SYNC_MESSAGE_BYTES}. */
export const PART_BYTES = MAX_SYNC_MESSAGE_BYTES - 1024;

/** Largest snapshot accepted by `load`. */
export const MAX_SNAPSHOT_BYTES = 128 * 1024 * 1024;

/**
 * Most messages one sync session may exchange (a message sent in parts counts once). Automerge's protocol converges
 * in a handful of round trips; a peer that keeps a session going past this is
 * broken or hostile, and the session fails instead of running forever.
 */
export const MAX_SESSION_MESSAGES = 64;

/** Most node ids a document may hold; a mesh this large is far beyond practical. */
export const MAX_DOCUMENT_KEYS = 100_000;
