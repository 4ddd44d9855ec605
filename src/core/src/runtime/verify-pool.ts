/**
 * A small pool of worker threads that checks many entries at once (a join
 * snapshot, or the state restored at start) while the event loop keeps
 * answering heartbeats: Ed25519 and credential checks cost about 0.3 ms an
 * entry, so 3,000 entries checked in one go would stall it for a second.
 *
 * The event loop takes its share too, a few entries a turn
 * ({@link MAIN_THREAD_SLICE_ENTRIES}, a few ms) between its other work, and
 * the pool runs one worker fewer than the machine has CPUs: the main thread
 * is otherwise idle while the workers check, and on a 2-CPU host one worker
 * and the event loop finish sooner than two workers that share both CPUs
 * with it.
 *
 * The pool only prepares verdicts (prepared-verdicts.ts); the store then
 * verifies as always and takes them instead of checking again. Whatever the
 * pool does not answer (too few entries to be worth it, a full queue, a
 * worker that failed, no worker script) is checked on the main thread, so
 * the pool changes when the work is done, never its result. Workers start
 * when a job big enough for them comes, and stop when idle, so an idle
 * daemon, or one joining a small mesh, holds none.
 */
import {existsSync} from 'node:fs';
import {availableParallelism} from 'node:os';
import {fileURLToPath} from 'node:url';
import {Worker} from 'node:worker_threads';
import type {Logger} from '../contracts/logger.js';
import {contentVerdict, MAX_ENTRY_BYTES, rememberCredentialFacts} from '../model/entries.js';
import {PreparedVerdicts, type Verdict} from '../model/prepared-verdicts.js';
import type {SignedEntry} from '../model/record.js';

/** Default of config `verifyWorkers`: the pool runs at most this many workers, and never more than the machine's CPUs less one (but at least one). */
export const DEFAULT_VERIFY_WORKERS = 4;
/** Largest `verifyWorkers` accepted. */
export const MAX_VERIFY_WORKERS = 64;
/**
 * Entries per batch: a batch's answer is taken in by the main thread in a few
 * ms, and the last batch, which one thread finishes while the other has
 * nothing left, is short.
 */
export const VERIFY_BATCH_ENTRIES = 64;
/**
 * Bytes of bodies and signatures per batch, besides its first entry. An entry
 * whose body or signature is over MAX_ENTRY_BYTES is never sent: the main
 * thread refuses such a body before decoding it, and a signature that long
 * fails at once.
 */
export const VERIFY_BATCH_BYTES = 1024 * 1024;
/** Entries queued in the pool at most, all jobs together; a job that would pass it is checked on the main thread. */
export const MAX_QUEUED_VERIFICATIONS = 200_000;
/** Fewer entries than this are checked on the main thread: a worker's start costs more than they do. */
export const MIN_POOLED_ENTRIES = 256;
/** Entries the event loop checks in one turn while a job runs: a few ms, so heartbeats wait no longer than that. */
export const MAIN_THREAD_SLICE_ENTRIES = 16;
/** Workers idle this long are stopped. */
export const VERIFY_WORKER_IDLE_MS = 10_000;
/** Worker failures (crash, script missing) after which the pool stops using workers. */
const MAX_WORKER_FAILURES = 3;

/** One batch as a worker receives it (see verify-worker.ts). */
export interface VerifyBatch {
  readonly id: number;
  readonly meshId: string;
  /** Body then signature of each entry, back to back. */
  readonly bytes: ArrayBuffer;
  /** Body length then signature length of each entry. */
  readonly lengths: Uint32Array;
}

/** A worker's answer to one batch: one verdict per entry, in order. */
export interface VerifyBatchResult {
  readonly id: number;
  readonly verdicts: readonly Verdict[];
}

/** Settings of a {@link VerifyPool}. */
export interface VerifyPoolOptions {
  /** Most worker threads (config `verifyWorkers`); see {@link verifyWorkerThreads}; 0: no workers, and no pooled checking at all. */
  maxWorkers: number;
  logger: Logger;
  /** Workers idle this long are stopped (default {@link VERIFY_WORKER_IDLE_MS}). */
  idleMs?: number;
  /** The worker script (default: the bundled worker beside this module, else verify-worker.js). */
  workerUrl?: URL;
  /** Fewest entries a job needs to go to the workers (default {@link MIN_POOLED_ENTRIES}). */
  minEntries?: number;
  /** Most entries queued, all jobs together (default {@link MAX_QUEUED_VERIFICATIONS}). */
  maxQueued?: number;
}

interface Job {
  readonly entries: readonly SignedEntry[];
  readonly verdicts: PreparedVerdicts;
  pending: number;
  finished: boolean;
  readonly done: () => void;
}

interface Batch {
  readonly id: number;
  readonly job: Job;
  readonly start: number;
  readonly end: number;
}

interface Slot {
  readonly worker: Worker;
  batch: Batch | undefined;
}

/** The batch the event loop is checking, slice by slice, and the verdicts so far. */
interface MainThreadBatch {
  readonly batch: Batch;
  readonly verdicts: Verdict[];
}

/**
 * The worker threads a pool allowed `maxWorkers` runs: one fewer than the
 * machine's CPUs (the event loop checks too), at least one, at most `maxWorkers`.
 */
export function verifyWorkerThreads(maxWorkers: number): number {
  return Math.max(0, Math.min(Math.floor(maxWorkers), Math.max(1, availableParallelism() - 1)));
}

/**
 * Make each byte array in a value just received from a worker a Buffer, in
 * place, as decoding on the main thread gives (posting a Buffer gives a
 * plain Uint8Array).
 */
function asDecoded(value: object): void {
  const fields = value as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    const field = fields[key];
    if (field instanceof Uint8Array) fields[key] = Buffer.from(field.buffer, field.byteOffset, field.byteLength);
    else if (field !== null && typeof field === 'object') asDecoded(field);
  }
}

/** A verdict as the main thread uses it: byte fields as Buffers, and the credential memo told what the worker learnt. */
function revive(verdict: Verdict): Verdict {
  if (!verdict.ok) return verdict;
  asDecoded(verdict.content.value);
  if (verdict.facts !== undefined) rememberCredentialFacts(verdict.content.value, verdict.facts);
  return verdict;
}

/**
 * The worker script: verify-worker.bundle.js (the worker and every module it
 * uses in one file, made by `npm run build`; it starts in about half the CPU
 * time), or verify-worker.js where no bundle was made.
 */
function defaultWorkerUrl(): URL {
  const bundle = new URL('./verify-worker.bundle.js', import.meta.url);
  return existsSync(fileURLToPath(bundle)) ? bundle : new URL('./verify-worker.js', import.meta.url);
}

/** Worker threads that check entries ahead of a store's `load`; see the file comment. */
export class VerifyPool {
  private readonly size: number;
  private readonly idleMs: number;
  private readonly workerUrl: URL;
  private readonly minEntries: number;
  private readonly maxQueued: number;
  private readonly logger: Logger;
  private readonly slots: Slot[] = [];
  private readonly queue: Batch[] = [];
  private queuedEntries = 0;
  private nextBatchId = 0;
  private failures = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private onMainThread: MainThreadBatch | undefined;
  private mainThreadTurn: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(options: VerifyPoolOptions) {
    this.size = verifyWorkerThreads(options.maxWorkers);
    this.idleMs = options.idleMs ?? VERIFY_WORKER_IDLE_MS;
    this.workerUrl = options.workerUrl ?? defaultWorkerUrl();
    this.logger = options.logger;
    this.minEntries = options.minEntries ?? MIN_POOLED_ENTRIES;
    this.maxQueued = options.maxQueued ?? MAX_QUEUED_VERIFICATIONS;
  }

  /** True when the pool may use workers (some allowed, the script present, not failed too often, not closed). */
  get enabled(): boolean {
    return this.size > 0 && this.failures < MAX_WORKER_FAILURES && !this.closed;
  }

  /** Worker threads running now. */
  get workers(): number {
    return this.slots.length;
  }

  /**
   * Start the workers now for a job of about `entries` entries that is on
   * its way (a join snapshot still downloading), so that their start-up
   * overlaps the transfer. Starts none when such a job would be left to the
   * main thread; the workers stop again when idle, whatever comes.
   */
  warm(entries: number): void {
    if (entries >= this.minEntries) this.startWorkers();
  }

  /** Start the workers a job uses; they stop again when idle. */
  private startWorkers(): void {
    if (!this.enabled) return;
    while (this.slots.length < this.size && this.spawn()) {
      // Started one more.
    }
    this.scheduleIdle();
  }

  /**
   * Check `entries` of mesh `meshId` in the workers. Resolves once every
   * batch is answered (or given up: its entries get no verdict).
   * @throws the signal's reason when `signal` aborts first
   */
  async prepare(meshId: string, entries: readonly SignedEntry[], signal?: AbortSignal): Promise<PreparedVerdicts> {
    signal?.throwIfAborted();
    const verdicts = new PreparedVerdicts(meshId);
    if (!this.enabled || entries.length < this.minEntries) return verdicts;
    entries = entries.filter((entry) => entry.body.byteLength <= MAX_ENTRY_BYTES && entry.signature.byteLength <= MAX_ENTRY_BYTES);
    // A job of nothing but oversized entries has no batch whose answer would finish it.
    if (entries.length === 0) return verdicts;
    if (this.queuedEntries + entries.length > this.maxQueued) {
      this.logger.warn({meshId, entries: entries.length, queued: this.queuedEntries}, 'the verification queue is full: these entries are checked on the main thread');
      return verdicts;
    }
    await new Promise<void>((resolve, reject) => {
      const job: Job = {entries, verdicts, pending: 0, finished: false, done: () => finish()};
      const onAbort = (): void => {
        this.drop(job);
        reject(signal?.reason);
      };
      const finish = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, {once: true});
      this.enqueue(job);
      this.startWorkers();
      this.dispatch();
    });
    return verdicts;
  }

  /** Stop every worker; jobs still running resolve with the verdicts they have. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.mainThreadTurn) clearImmediate(this.mainThreadTurn);
    if (this.onMainThread) this.settle(this.onMainThread.batch, undefined);
    this.onMainThread = undefined;
    for (const batch of this.queue.splice(0)) this.settle(batch, undefined);
    const slots = this.slots.splice(0);
    for (const slot of slots) if (slot.batch) this.settle(slot.batch, undefined);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  /** Split a job into batches bounded in entries and bytes. */
  private enqueue(job: Job): void {
    let start = 0;
    while (start < job.entries.length) {
      let end = start;
      let bytes = 0;
      while (end < job.entries.length && end - start < VERIFY_BATCH_ENTRIES) {
        const entry = job.entries[end] as SignedEntry;
        const size = entry.body.byteLength + entry.signature.byteLength;
        if (end > start && bytes + size > VERIFY_BATCH_BYTES) break;
        bytes += size;
        end++;
      }
      this.queue.push({id: this.nextBatchId++, job, start, end});
      job.pending++;
      this.queuedEntries += end - start;
      start = end;
    }
  }

  /** Forget the batches of an aborted job. */
  private drop(job: Job): void {
    job.finished = true;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const batch = this.queue[i] as Batch;
      if (batch.job !== job) continue;
      this.queue.splice(i, 1);
      this.queuedEntries -= batch.end - batch.start;
    }
  }

  /** Give each idle worker the next batch, and the event loop its share. */
  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.batch !== undefined) continue;
      const batch = this.queue.shift();
      if (batch === undefined) break;
      slot.batch = batch;
      const message = this.pack(batch);
      slot.worker.postMessage(message, [message.bytes, message.lengths.buffer as ArrayBuffer]);
    }
    this.helpOnMainThread();
    this.scheduleIdle();
  }

  /** Check the next slice on the event loop's next turn, while there is work and none is planned. */
  private helpOnMainThread(): void {
    if (this.closed || this.mainThreadTurn !== undefined) return;
    if (this.onMainThread === undefined && this.queue.length === 0) return;
    this.mainThreadTurn = setImmediate(() => {
      this.mainThreadTurn = undefined;
      this.checkSliceOnMainThread();
      this.helpOnMainThread();
    });
  }

  /** Check the next {@link MAIN_THREAD_SLICE_ENTRIES} entries of the event loop's batch (taking a batch from the queue first when it has none). */
  private checkSliceOnMainThread(): void {
    const current = this.onMainThread ?? this.takeForMainThread();
    if (current === undefined) return;
    const {batch, verdicts} = current;
    const {job} = batch;
    try {
      const end = Math.min(batch.end, batch.start + verdicts.length + MAIN_THREAD_SLICE_ENTRIES);
      for (let i = batch.start + verdicts.length; i < end && !job.finished; i++) verdicts.push(contentVerdict(job.entries[i] as SignedEntry, job.verdicts.meshId));
    } catch (error) {
      // A defect, not a bad entry: the store's own check meets it again where it can be reported.
      this.logger.warn({err: error}, 'checking entries ahead failed: the store checks them itself');
      this.onMainThread = undefined;
      this.settle(batch, undefined);
      return;
    }
    if (job.finished || batch.start + verdicts.length === batch.end) {
      this.onMainThread = undefined;
      this.settle(batch, verdicts, {fromWorker: false});
    }
  }

  private takeForMainThread(): MainThreadBatch | undefined {
    const batch = this.queue.shift();
    if (batch === undefined) return undefined;
    this.onMainThread = {batch, verdicts: []};
    return this.onMainThread;
  }

  /** The batch's bodies and signatures in one buffer that is transferred, not copied. */
  private pack(batch: Batch): VerifyBatch {
    const entries = batch.job.entries.slice(batch.start, batch.end);
    const lengths = new Uint32Array(entries.length * 2);
    let total = 0;
    entries.forEach((entry, i) => {
      lengths[2 * i] = entry.body.byteLength;
      lengths[2 * i + 1] = entry.signature.byteLength;
      total += entry.body.byteLength + entry.signature.byteLength;
    });
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const entry of entries) {
      bytes.set(entry.body, at);
      bytes.set(entry.signature, at + entry.body.byteLength);
      at += entry.body.byteLength + entry.signature.byteLength;
    }
    return {id: batch.id, meshId: batch.job.verdicts.meshId, bytes: bytes.buffer, lengths};
  }

  /**
   * Record a batch's verdicts (none when it was given up) and finish its job
   * after its last batch. A worker's verdicts are revived first.
   */
  private settle(batch: Batch, verdicts: readonly Verdict[] | undefined, {fromWorker} = {fromWorker: true}): void {
    const {job} = batch;
    this.queuedEntries -= batch.end - batch.start;
    if (job.finished) return;
    if (verdicts !== undefined && verdicts.length === batch.end - batch.start) {
      verdicts.forEach((verdict, i) => job.verdicts.add(job.entries[batch.start + i] as SignedEntry, fromWorker ? revive(verdict) : verdict));
    }
    job.pending--;
    if (job.pending === 0) {
      job.finished = true;
      job.done();
    }
  }

  /** Start one worker; false when the pool may not (disabled, or no worker script). */
  private spawn(): boolean {
    if (!this.enabled) return false;
    if (this.workerUrl.protocol === 'file:' && !existsSync(fileURLToPath(this.workerUrl))) {
      this.failures = MAX_WORKER_FAILURES;
      this.logger.debug({script: this.workerUrl.href}, 'no verification worker script: entries are checked on the main thread');
      return false;
    }
    const worker = new Worker(this.workerUrl, {name: 'wgmesh-verify'});
    const slot: Slot = {worker, batch: undefined};
    worker.on('message', (result: VerifyBatchResult) => {
      const batch = slot.batch;
      if (batch === undefined || result.id !== batch.id) return;
      slot.batch = undefined;
      this.settle(batch, result.verdicts);
      this.dispatch();
    });
    const fail = (error: unknown): void => {
      const index = this.slots.indexOf(slot);
      if (index < 0) return;
      this.slots.splice(index, 1);
      this.failures++;
      this.logger.warn({err: error, failures: this.failures}, 'a verification worker failed: its entries are checked on the main thread');
      if (slot.batch) this.settle(slot.batch, undefined);
      slot.batch = undefined;
      void worker.terminate();
      if (this.queue.length > 0) this.spawn();
      this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the verification worker exited with code ${code}`)));
    this.slots.push(slot);
    return true;
  }

  /** Stop the workers after {@link idleMs} without work. */
  private scheduleIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.slots.length === 0 || this.queue.length > 0 || this.slots.some((slot) => slot.batch !== undefined)) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      const slots = this.slots.splice(0);
      for (const slot of slots) void slot.worker.terminate();
    }, this.idleMs);
    this.idleTimer.unref();
  }
}
