/**
 * Verdicts on entries reached ahead of time, off the main thread: worker
 * threads run `checkEntryContent` on a join snapshot's entries while the
 * event loop keeps serving, then the store's synchronous `load` runs inside
 * {@link withPreparedVerdicts}, where `verifyEntry` takes the verdict of an
 * entry it is given byte for byte instead of checking it again. Only the
 * clock-dependent check is left to `verifyEntry`, and it is the last check,
 * so every result (entry or rejection reason) is the one checking on the
 * main thread gives. An entry without a verdict is checked as usual.
 */
import type {CredentialFacts} from '../trust/credential.js';
import type {EntryContent} from './entries.js';
import type {SignedEntry} from './record.js';

/** What the content check found for one entry. */
export type Verdict =
  /** It passed: what `checkEntryContent` returned, and the facts of its credential (none for a revocation). */
  | {readonly ok: true; readonly content: EntryContent; readonly facts?: CredentialFacts | undefined}
  /** It failed, with the reason `checkEntryContent` threw. */
  | {readonly ok: false; readonly reason: string};

interface Held {
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
  readonly verdict: Verdict;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/** Verdicts on the entries of one mesh, looked up by the exact bytes of an entry. */
export class PreparedVerdicts {
  private readonly bySignature = new Map<string, Held>();

  /** @param meshId the mesh the verdicts were reached for: they answer for no other. */
  constructor(readonly meshId: string) {}

  /** Number of verdicts held. */
  get size(): number {
    return this.bySignature.size;
  }

  /** Keep the verdict on `entry`; a second entry with the same signature keeps none (it is checked as usual). */
  add(entry: SignedEntry, verdict: Verdict): void {
    const key = signatureKey(entry.signature);
    if (this.bySignature.has(key)) return;
    this.bySignature.set(key, {body: entry.body, signature: entry.signature, verdict});
  }

  /** The verdict on exactly these bytes in mesh `meshId`, if one was reached. */
  get(entry: SignedEntry, meshId: string): Verdict | undefined {
    if (meshId !== this.meshId) return undefined;
    const held = this.bySignature.get(signatureKey(entry.signature));
    if (held === undefined || !sameBytes(held.body, entry.body) || !sameBytes(held.signature, entry.signature)) return undefined;
    return held.verdict;
  }
}

function signatureKey(signature: Uint8Array): string {
  return Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('base64');
}

/** The verdicts `verifyEntry` consults during {@link withPreparedVerdicts}; none outside it. */
let active: PreparedVerdicts | undefined;

/**
 * Run `work` (synchronous: a store's `load` or `merge`) with `verdicts`
 * available to `verifyEntry`; they are consulted by nothing else, before or after.
 */
export function withPreparedVerdicts<T>(verdicts: PreparedVerdicts, work: () => T): T {
  const outer = active;
  active = verdicts;
  try {
    return work();
  } finally {
    active = outer;
  }
}

/** The verdict prepared for `entry` in mesh `meshId`, when `verifyEntry` runs inside {@link withPreparedVerdicts}. */
export function preparedVerdict(entry: SignedEntry, meshId: string): Verdict | undefined {
  return active?.get(entry, meshId);
}
