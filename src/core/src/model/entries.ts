/**
 * Signing and verifying entries. A receiver trusts nothing in an entry until
 * {@link verifyEntry} has checked its encoding, schema, mesh, owner id,
 * signature, address and timestamp.
 */
import {createHash} from 'node:crypto';
import {z} from 'zod';
import {isNodeAddress} from '../addressing/address.js';
import {nodeIdFromSigningKey, verifySignature, type NodeIdentity} from '../identity/identity.js';
import {DecodeError, EntryRejectedError} from '../errors.js';
import {decode, encode} from '../util/codec.js';
import {CredentialMemo, issuedAfterGrant, openAdminChain, type CredentialFacts} from '../trust/credential.js';
import {entryBodySchema, type EntryBody, type Revocation, type SignedEntry, type VerifiedEntry} from './record.js';
import {preparedVerdict, type Verdict} from './prepared-verdicts.js';

/** Largest encoded entry body accepted (a full record is well under 16 KiB). */
export const MAX_ENTRY_BYTES = 64 * 1024;

/** Bytes as decoded from MessagePack (Buffer is a Uint8Array). */
export const bytesSchema = z.instanceof(Uint8Array);

/** Wire shape of a signed entry. */
export const signedEntrySchema = z.object({body: bytesSchema, signature: bytesSchema});

/** What a receiver expects of an entry before it will merge it. */
export interface VerifyOptions {
  /** The mesh the entry must belong to. */
  readonly meshId: string;
  /** Current time (ms) of the verifying node. */
  readonly now: number;
  /** How far in the future an entry's `updatedAt` may be (clock skew allowance). */
  readonly maxClockSkewMs: number;
}

function contentHash(body: Uint8Array, signature: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(signature).update(body).digest());
}

/** Credentials checked so far: a node's credential is the same in every version of its entry. */
const credentials = new CredentialMemo();

/**
 * The credential facts of each body this thread verified or took a worker's
 * verdict on, by the body object itself: the runtime asks for the facts of
 * every entry it holds on each plan, and this finds them without hashing the
 * credential again. Bodies are never changed after decoding; a body dropped
 * by its holder drops its facts.
 */
const factsByBody = new WeakMap<EntryBody, CredentialFacts>();

/**
 * The facts of the credential an entry carries (undefined for a revocation,
 * or a credential that does not check out, which no verified entry has).
 */
export function credentialFactsOf(value: EntryBody): CredentialFacts | undefined {
  if (value.kind === 'revocation') return undefined;
  const known = factsByBody.get(value);
  if (known !== undefined) return known;
  const facts = credentials.open(value.credential, value.meshId, value.signingKey);
  return typeof facts === 'string' ? undefined : facts;
}

/** Encode and sign an entry body with the node's identity. */
export function signEntry(identity: NodeIdentity, body: EntryBody): VerifiedEntry {
  if (body.kind === 'revocation' || body.signingKey !== identity.signingKey || body.id !== identity.nodeId) {
    throw new EntryRejectedError('an entry can only be signed by the node it describes');
  }
  const bytes = encode(body);
  const signature = identity.sign(bytes);
  return {body: bytes, signature, value: body, hash: contentHash(bytes, signature)};
}

/** Encode and sign a revocation with the key of the admin named in it. */
export function signRevocation(admin: {publicKey: string; sign(data: Uint8Array): Uint8Array}, body: Revocation): VerifiedEntry {
  if (body.signingKey !== admin.publicKey) throw new EntryRejectedError('a revocation must be signed by the admin it names');
  const bytes = encode(body);
  const signature = admin.sign(bytes);
  return {body: bytes, signature, value: body, hash: contentHash(bytes, signature)};
}

/**
 * Why `value` is not an entry its signer may write, or undefined when it is:
 * a record or tombstone must be signed by its own node and carry a credential
 * that admits that node (with a role at least the record's); a revocation
 * must be signed by an admin of the mesh. Also returns the facts of a
 * record's or tombstone's credential (when it ends, its role, its invite).
 */
function authorityReason(value: EntryBody): {reason?: string; facts?: CredentialFacts} {
  if (value.kind === 'revocation') {
    const admin = openAdminChain({authorityKey: value.authority, grant: value.grant}, value.meshId, 0);
    if (typeof admin === 'string') return {reason: `revocation of ${value.id} is not from an admin: ${admin}`};
    if (admin.adminKey !== value.signingKey) return {reason: `revocation of ${value.id} is signed by a key its grant does not name`};
    const late = issuedAfterGrant(admin.validUntil, value.updatedAt);
    return late === undefined ? {} : {reason: `revocation of ${value.id} was ${late}`};
  }
  if (nodeIdFromSigningKey(value.signingKey) !== value.id) return {reason: `entry claims node id ${value.id} but its signing key belongs to another node`};
  const facts = credentials.open(value.credential, value.meshId, value.signingKey);
  if (typeof facts === 'string') return {reason: `entry for node ${value.id} has no valid membership: ${facts}`};
  if (value.kind === 'record' && value.role === 'peer' && facts.role === 'client') {
    return {reason: `record for node ${value.id} claims role peer but its membership is for a client`};
  }
  return {facts};
}

/** What an entry is, whatever the clock says: found by {@link checkEntryContent}. */
export interface EntryContent {
  /** The decoded, validated body. */
  readonly value: EntryBody;
  /** When its owner's credential stops being valid (ms), if it ever does. */
  readonly validUntil?: number;
  /** SHA-256 of signature then body: the entry's identity in a store. */
  readonly hash: Uint8Array;
}

/**
 * Every check of {@link verifyEntry} that does not depend on the clock:
 * size, encoding, schema, mesh, signature, credential, address, endpoints.
 * A pure function of the entry's bytes and `meshId`, so it may run anywhere
 * (worker threads verify join snapshots with it, see verify-pool.ts).
 * @throws EntryRejectedError saying exactly which check failed.
 */
export function checkEntryContent(entry: SignedEntry, meshId: string): EntryContent {
  if (entry.body.byteLength > MAX_ENTRY_BYTES) {
    throw new EntryRejectedError(`entry of ${entry.body.byteLength} bytes is over the ${MAX_ENTRY_BYTES}-byte limit`);
  }
  let value: EntryBody;
  try {
    value = decode(entry.body, entryBodySchema, 'entry', MAX_ENTRY_BYTES);
  } catch (error) {
    throw new EntryRejectedError(error instanceof DecodeError ? error.message : 'entry does not decode');
  }
  if (value.meshId !== meshId) {
    throw new EntryRejectedError(`entry for node ${value.id} belongs to mesh ${value.meshId}, not ${meshId}`);
  }
  if (!verifySignature(value.signingKey, entry.body, entry.signature)) {
    throw new EntryRejectedError(`entry for node ${value.id} has a bad signature`);
  }
  const authority = authorityReason(value);
  if (authority.reason !== undefined) throw new EntryRejectedError(authority.reason);
  if (value.kind === 'record' && !isNodeAddress(value.meshId, value.id, value.addressCounter, value.address)) {
    throw new EntryRejectedError(`record for node ${value.id} claims address ${value.address}, which is not its own`);
  }
  if (value.kind === 'record' && value.role === 'client' && (value.controlEndpoint !== null || value.wgEndpoint !== null)) {
    throw new EntryRejectedError(`client record for node ${value.id} must not advertise endpoints`);
  }
  const hash = contentHash(entry.body, entry.signature);
  const validUntil = authority.facts?.validUntil ?? null;
  if (authority.facts !== undefined) factsByBody.set(value, authority.facts);
  return validUntil === null ? {value, hash} : {value, validUntil, hash};
}

/**
 * The verdict of {@link checkEntryContent} on `entry`, for checking ahead of
 * time (see prepared-verdicts.ts): its content and its credential's facts,
 * or the reason it was refused.
 * @throws whatever is not an EntryRejectedError (a defect, not a bad entry)
 */
export function contentVerdict(entry: SignedEntry, meshId: string): Verdict {
  try {
    const content = checkEntryContent(entry, meshId);
    return {ok: true, content, facts: credentialFactsOf(content.value)};
  } catch (error) {
    if (error instanceof EntryRejectedError) return {ok: false, reason: error.message};
    throw error;
  }
}

/**
 * The content of an entry checked ahead of time (see prepared-verdicts.ts),
 * or the content checked now: a verdict found ahead gives exactly what
 * {@link checkEntryContent} gives.
 */
function contentOf(entry: SignedEntry, meshId: string): EntryContent {
  const verdict = preparedVerdict(entry, meshId);
  if (verdict === undefined) return checkEntryContent(entry, meshId);
  if (!verdict.ok) throw new EntryRejectedError(verdict.reason);
  return verdict.content;
}

/**
 * Teach the credential memo the facts a checker elsewhere (a worker thread)
 * found for the credential of `value`, so {@link credentialFactsOf} and
 * {@link verifyEntry} verify no signature of it again.
 */
export function rememberCredentialFacts(value: EntryBody, facts: CredentialFacts): void {
  if (value.kind === 'revocation') return;
  credentials.remember(value.credential, value.meshId, value.signingKey, facts);
  factsByBody.set(value, facts);
}

/**
 * Verify an entry received from anywhere.
 * @throws EntryRejectedError saying exactly which check failed.
 */
export function verifyEntry(entry: SignedEntry, options: VerifyOptions): VerifiedEntry {
  const {value, validUntil, hash} = contentOf(entry, options.meshId);
  const future = futureTimestampReason(value, options.now, options.maxClockSkewMs);
  if (future !== undefined) throw new EntryRejectedError(future);
  return {
    body: new Uint8Array(entry.body),
    signature: new Uint8Array(entry.signature),
    value,
    hash,
    ...(validUntil === undefined ? {} : {validUntil}),
  };
}

/**
 * Why an entry's numbers are out of bounds for a receiver whose clock reads
 * `now`, or undefined when they are in bounds. Versions, `createdAt` and
 * `updatedAt` are all milliseconds on the owner's clock, and none may be more
 * than `maxClockSkewMs` ahead of the receiver's: an owner writes
 * `max(previous version + 1, now)`, so whatever version of its record was
 * accepted, the next one it writes is accepted too (at most 1 ms later), and
 * no value anybody sends can leave an owner unable to update, leave or
 * outrank an old copy of its record.
 */
export function futureTimestampReason(value: EntryBody, now: number, maxClockSkewMs: number): string | undefined {
  const limit = now + maxClockSkewMs;
  const fields: [string, number][] = [['version', value.version], ['updatedAt', value.updatedAt]];
  if (value.kind === 'record') fields.push(['createdAt', value.createdAt]);
  for (const [name, at] of fields) {
    if (at > limit) return `entry for node ${value.id} is dated ${at - now} ms in the future (${name}; more than maxClockSkew ${maxClockSkewMs} ms: is its clock or this node's wrong?)`;
  }
  return undefined;
}

/**
 * True when an entry is older than the garbage-collection horizon, or its
 * owner's credential has ended. Live owners re-sign their record well within
 * the horizon, so only tombstones and records of nodes gone for good expire;
 * and since a removed node's old record is older than its tombstone, it is
 * expired by the time the tombstone is collected and can never resurrect the
 * node. A revocation never expires: credentials admitted by invites do not
 * end, so the revocation must outlive any copy of the record it cancels.
 */
export function isExpired(entry: VerifiedEntry, now: number, horizonMs: number): boolean {
  if (entry.value.kind === 'revocation') return false;
  if (entry.validUntil !== undefined && now > entry.validUntil) return true;
  return now - entry.value.updatedAt > horizonMs;
}

/**
 * Why {@link isExpired} holds for an entry (its owner's credential ended, or
 * it is older than the horizon), or undefined when the entry has not expired.
 */
export function expiryReason(entry: VerifiedEntry, now: number, horizonMs: number): string | undefined {
  if (!isExpired(entry, now, horizonMs)) return undefined;
  const {id, updatedAt} = entry.value;
  if (entry.validUntil !== undefined && now > entry.validUntil) {
    return `entry for node ${id} expired: its credential ended at ${new Date(entry.validUntil).toISOString()}, ${now - entry.validUntil} ms ago`;
  }
  return `entry for node ${id} expired: updated ${now - updatedAt} ms ago, over the ${horizonMs} ms horizon`;
}

const claimedIdSchema = z.object({id: z.string().regex(/^[0-9a-f]{32}$/)});

/**
 * The node id an entry's body claims, unverified (to report a rejection, or
 * to pick which entry to verify); undefined when the body does not even say.
 */
export function claimedEntryId(entry: SignedEntry): string | undefined {
  try {
    return decode(entry.body, claimedIdSchema, 'entry', MAX_ENTRY_BYTES).id;
  } catch {
    return undefined;
  }
}

/** Decode a list of signed entries from untrusted bytes (shape only; verify each after). */
export function decodeSignedEntries(bytes: Uint8Array, what: string, maxBytes?: number): SignedEntry[] {
  return decode(bytes, z.array(signedEntrySchema), what, maxBytes);
}
