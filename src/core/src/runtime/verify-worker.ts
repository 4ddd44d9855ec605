/**
 * A worker thread of the verification pool (verify-pool.ts): it runs the
 * clock-independent checks of entries (`contentVerdict`) in batches and
 * answers each batch with one verdict per entry, in order. A batch arrives as
 * one transferred buffer holding every body and signature back to back, with
 * their lengths. The thread holds no state but its credential memo.
 *
 * The thread runs at a lower priority than the main thread (nice
 * {@link WORKER_NICE}, on Linux for this thread alone): on a busy host the
 * event loop, which answers heartbeats, gets the CPU first.
 */
import {setPriority} from 'node:os';
import {parentPort} from 'node:worker_threads';
import {contentVerdict} from '../model/entries.js';
import type {Verdict} from '../model/prepared-verdicts.js';
import type {VerifyBatch, VerifyBatchResult} from './verify-pool.js';

/**
 * Copy each byte array in a decoded value into a buffer of its own, in
 * place: a decoded byte field is a view of the batch's buffer, and posting a
 * view copies the whole buffer it views.
 */
function ownBytes(value: object): void {
  const fields = value as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    const field = fields[key];
    if (field instanceof Uint8Array) fields[key] = new Uint8Array(field);
    else if (field !== null && typeof field === 'object') ownBytes(field);
  }
}

function verdictOn(body: Uint8Array, signature: Uint8Array, meshId: string): Verdict {
  const verdict = contentVerdict({body, signature}, meshId);
  if (verdict.ok) ownBytes(verdict.content.value);
  return verdict;
}

/** Nice value of a verification thread: below the main thread's, not idle-only. */
const WORKER_NICE = 10;

function verifyBatch(batch: VerifyBatch): VerifyBatchResult {
  const bytes = new Uint8Array(batch.bytes);
  const verdicts: Verdict[] = [];
  let at = 0;
  for (let i = 0; i + 1 < batch.lengths.length; i += 2) {
    const bodyLength = batch.lengths[i] as number;
    const signatureLength = batch.lengths[i + 1] as number;
    const body = Buffer.from(bytes.buffer, bytes.byteOffset + at, bodyLength);
    const signature = Buffer.from(bytes.buffer, bytes.byteOffset + at + bodyLength, signatureLength);
    at += bodyLength + signatureLength;
    verdicts.push(verdictOn(body, signature, batch.meshId));
  }
  return {id: batch.id, verdicts};
}

try {
  setPriority(0, WORKER_NICE);
} catch {
  // Not allowed here (some sandboxes): the thread runs at the process's priority.
}

parentPort?.on('message', (batch: VerifyBatch) => {
  parentPort?.postMessage(verifyBatch(batch));
});
