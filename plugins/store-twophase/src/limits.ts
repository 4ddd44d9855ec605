/**
 * Caps on what a peer or a snapshot file may make this store process. Every
 * list length and byte count read from outside is checked against these
 * before any work proportional to it is done.
 */

/**
 * Most entries in one sync message or snapshot. A WireGuard mesh of this many
 * nodes is far beyond practical; a peer sending more is broken or hostile.
 */
export const MAX_ENTRIES = 100_000;

/** Largest sync message accepted: room for {@link MAX_ENTRIES} full records. */
export const MAX_SYNC_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Largest snapshot accepted by `load`. */
export const MAX_SNAPSHOT_BYTES = 128 * 1024 * 1024;
