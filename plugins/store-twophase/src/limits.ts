/**
 * Caps on what a peer or a snapshot file may make this store process. Every
 * list length and byte count read from outside is checked against these
 * before any work proportional to it is done.
 */
import {MAX_SYNC_MESSAGE_BYTES} from '@wgmesh/core';

export {MAX_SYNC_MESSAGE_BYTES};

/**
 * Most entries in one snapshot, and most one sync session receives in all. A
 * WireGuard mesh of this many nodes is far beyond practical; a peer sending
 * more is broken or hostile.
 */
export const MAX_ENTRIES = 100_000;

/**
 * Most entries in one sync message. Verifying an entry costs 50-250 µs
 * (Ed25519 plus decoding, on one core of a loaded machine), so one message
 * costs at most a few ms to take in, and the daemon answers heartbeats and
 * IPC between two messages. It is also what one gossip push carries.
 */
export const MAX_ENTRIES_PER_MESSAGE = 64;

/**
 * Most bytes of entries in one sync message: with the ids a message may ask
 * for (below) and the envelope, a message stays under
 * {@link MAX_SYNC_MESSAGE_BYTES}. One entry (at most 64 KiB) always fits.
 */
export const MAX_ENTRY_BYTES_PER_MESSAGE = 512 * 1024;

/**
 * Most entry summaries (40 bytes each) in one message, and so most ids one
 * message may ask for (16 bytes each): 160 KiB of summaries, 64 KiB of ids.
 * Taking in a message of summaries costs ~2-10 µs a summary (unpacking and
 * comparing, no cryptography), so this many cost a few to tens of ms.
 */
export const MAX_SUMMARIES_PER_MESSAGE = 4_096;

/** Largest snapshot accepted by `load`. */
export const MAX_SNAPSHOT_BYTES = 128 * 1024 * 1024;
