/**
 * The one module that touches the @automerge/automerge package, loaded only
 * when the automerge store is created (so `wgmesh --help`, `wgmesh backends`
 * and daemons on other stores never load its WebAssembly).
 *
 * The store drives Automerge's document handle (the WebAssembly `Automerge`
 * class that the package's functional API wraps) directly: the functional API
 * keeps a materialised JavaScript copy of the whole document and refreshes it
 * after every change, which costs O(document) per change (about 7 ms at 10,000
 * nodes) and doubles the memory, for a copy this store never reads. The
 * handle's sync methods need the package's own `SyncState` objects, which only
 * its low-level module hands out; the package does not export that module, so
 * it is imported by file from the installed package and checked for shape
 * first: another layout fails with one clear error, never a crash later.
 * The package is pinned to one exact version for this reason
 * (test/pinned-dependencies.test.ts says what to check before moving it).
 */
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import {pathToFileURL} from 'node:url';
import {BackendError} from '@wgmesh/core';

/** A per-peer Automerge sync state (opaque to this store). */
export interface SyncStateHandle {
  /** Release its WebAssembly memory now instead of at garbage collection. */
  free(): void;
}

/** One value held under a map key: `[datatype, value, opId]` (several when concurrent writes conflict). */
export type FullValue = readonly [string, unknown, string];

/** The subset of Automerge's document handle this store uses. */
export interface DocHandle {
  /** Set `prop` of map `obj` (this store: `_root`) to a bytes value. */
  put(obj: string, prop: string, value: Uint8Array): void;
  /** Delete `prop` of map `obj`. */
  delete(obj: string, prop: string): void;
  /** Seal pending operations into one change; `time` 0 makes the change reproducible. */
  commit(message?: string | null, time?: number | null): string | null;
  /** Every value under `prop`, conflicts included. */
  getAll(obj: string, prop: string): FullValue[];
  /** The keys of map `obj`. */
  keys(obj: string): string[];
  /** Hashes of the latest changes. */
  getHeads(): string[];
  /** Metadata of the changes that are not ancestors of `heads` (no operations: cheap). */
  getChangesMeta(heads: string[]): {startOp: number; maxOp: number}[];
  /** The encoded changes that are not ancestors of `heads`. */
  getChanges(heads: string[]): Uint8Array[];
  /** The next sync message for the peer whose state is `state`, or null when it has everything. */
  generateSyncMessage(state: SyncStateHandle): Uint8Array | null;
  /** Apply a sync message from the peer whose state is `state`. */
  receiveSyncMessage(state: SyncStateHandle, message: Uint8Array): void;
  /** Apply encoded changes. */
  applyChanges(changes: Uint8Array[]): void;
  /** The last change made on this handle, encoded. */
  getLastLocalChange(): Uint8Array | null;
  /** Merge in every change of `other`. */
  merge(other: DocHandle): string[];
  /** A copy of the whole document, history included, written by the same actor (so only one of the two may go on writing). */
  clone(): DocHandle;
  /** The whole document, compressed, history included. */
  save(): Uint8Array;
  /** History counters. */
  stats(): {numChanges: number; numOps: number};
  /** Release its WebAssembly memory now instead of at garbage collection. */
  free(): void;
}

/** What the store needs of Automerge: documents and sync states. */
export interface AutomergeApi {
  /** An empty document written by `actor` (hex). */
  create(actor: string): DocHandle;
  /**
   * A document from bytes made by `save`, continued by `actor`.
   * @throws whatever Automerge throws on bytes that are not a document (the caller turns it into a DecodeError).
   */
  load(bytes: Uint8Array, actor: string): DocHandle;
  /** A fresh per-peer sync state. */
  initSyncState(): SyncStateHandle;
  /**
   * The map keys that a change writes or deletes in the root map.
   * @throws on bytes that are not a change.
   */
  rootKeysOf(change: Uint8Array): string[];
  /**
   * Parse a sync message without applying it; returns how many changes (or documents) it carries.
   * @throws on bytes that are not an Automerge sync message.
   */
  changesInSyncMessage(bytes: Uint8Array): number;
}

/** The functions of the package's low-level API this module relies on. */
const REQUIRED = ['create', 'load', 'initSyncState', 'decodeSyncMessage', 'decodeChange'] as const;

/** The package's low-level API, as far as this module uses it (checked for shape at load). */
interface LowLevel {
  create(options: {actor: string}): DocHandle;
  load(bytes: Uint8Array, options: {actor: string}): DocHandle;
  initSyncState(): SyncStateHandle;
  decodeSyncMessage(bytes: Uint8Array): {changes?: unknown};
  decodeChange(bytes: Uint8Array): {ops?: unknown};
}

function unsupported(detail: string): BackendError {
  return new BackendError(`store automerge: the installed @automerge/automerge is not a supported version (${detail}); reinstall wgmesh's dependencies (npm ci)`);
}

/** Import @automerge/automerge and its low-level API. Call once per process; the result is reusable. */
export async function loadAutomerge(): Promise<AutomergeApi> {
  let dist: string;
  try {
    // The package's CommonJS entry is dist/cjs/<entry>.cjs: its dist directory is two levels up.
    dist = dirname(dirname(createRequire(import.meta.url).resolve('@automerge/automerge')));
  } catch (error) {
    throw new BackendError(`store automerge: @automerge/automerge is not installed (${(error as Error).message}); reinstall wgmesh's dependencies (npm ci)`);
  }
  let lowLevel: unknown;
  try {
    // The entry point loads the WebAssembly and installs it into the low-level API.
    await import(pathToFileURL(join(dist, 'mjs', 'entrypoints', 'fullfat_node.js')).href);
    lowLevel = ((await import(pathToFileURL(join(dist, 'mjs', 'low_level.js')).href)) as {ApiHandler?: unknown}).ApiHandler;
  } catch (error) {
    throw unsupported((error as Error).message);
  }
  if (typeof lowLevel !== 'object' || lowLevel === null) throw unsupported('no low-level API');
  for (const name of REQUIRED) {
    if (typeof (lowLevel as Record<string, unknown>)[name] !== 'function') throw unsupported(`no ${name}()`);
  }
  const api = lowLevel as LowLevel;
  return {
    create: (actor) => api.create({actor}),
    load: (bytes, actor) => api.load(bytes, {actor}),
    initSyncState: () => api.initSyncState(),
    changesInSyncMessage: (bytes) => {
      const changes = api.decodeSyncMessage(bytes).changes;
      if (!Array.isArray(changes)) throw unsupported('a decoded sync message without a list of changes');
      return changes.length;
    },
    rootKeysOf: (change) => {
      const ops = api.decodeChange(change).ops;
      const keys: string[] = [];
      if (!Array.isArray(ops)) return keys;
      for (const op of ops as {obj?: unknown; key?: unknown}[]) {
        if (op.obj === '_root' && typeof op.key === 'string') keys.push(op.key);
      }
      return keys;
    },
  };
}
