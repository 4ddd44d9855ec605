/**
 * What a hostile member (a certificate of the mesh's CA) can send through the
 * real transport: scripted sync sessions, and a twophase sync session that
 * makes the responder ask for, and then check, many entries whose signatures
 * do not verify. Plain JavaScript (JSDoc types) so that a test can also run it
 * in a child process (see member-attacker-process.js) over the built packages.
 */
import {generateKeyPair, randomBytes} from 'node:crypto';
import {bytesSchema, decode, encode, nodeAddress, nodeIdFromSigningKey} from '@wgmesh/core';
import {TWOPHASE_KIND, TWOPHASE_SYNC_PROTOCOL_VERSION} from '@wgmesh/store-twophase';
import {z} from 'zod';

/** @typedef {import('@wgmesh/core').SyncSession} SyncSession */
/** @typedef {import('@wgmesh/core').SyncStats} SyncStats */
/** @typedef {import('@wgmesh/core').SignedEntry} SignedEntry */
/** @typedef {import('@wgmesh/core').NodeRecord} NodeRecord */

/** @returns {SyncStats} */
const noStats = () => ({messagesSent: 0, bytesSent: 0, bytesReceived: 0, entriesMerged: 0, entriesRejected: 0});

/**
 * A sync session that sends `messages` one after the other and ignores what comes back (the hostile initiator).
 * @param {readonly Uint8Array[]} messages
 * @returns {SyncSession}
 */
export function scriptedSession(messages) {
  let next = 0;
  const stats = noStats();
  const send = () => {
    const message = messages[next++];
    if (message === undefined) return null;
    stats.messagesSent++;
    stats.bytesSent += message.byteLength;
    return message;
  };
  return {
    start: () => send() ?? new Uint8Array(),
    receive(message) {
      stats.bytesReceived += message.byteLength;
      return send();
    },
    get done() {
      return next > messages.length;
    },
    stats: () => ({...stats}),
  };
}

/** Key pairs generated at once (they are made on libuv's thread pool). */
const KEYGEN_BATCH = 256;

/**
 * `count` records of `meshId` that pass every cheap check a receiver makes
 * (shape, mesh, id derived from the signing key, address, dated now) and fail
 * only the signature: each costs the receiver a full Ed25519 verification.
 * Every entry is a different node with a real key pair, so no receiver can
 * tell them apart by id. `template` gives the other fields. Takes seconds of
 * CPU for tens of thousands, in batches that leave the event loop free.
 * @param {string} meshId
 * @param {NodeRecord} template
 * @param {number} count
 * @returns {Promise<{id: string, entry: SignedEntry}[]>}
 */
export async function badSignatureRecords(meshId, template, count) {
  const signatures = randomBytes(64 * count);
  /** @type {{id: string, entry: SignedEntry}[]} */
  const out = [];
  while (out.length < count) {
    const keys = await Promise.all(
      Array.from(
        {length: Math.min(KEYGEN_BATCH, count - out.length)},
        () =>
          /** @type {Promise<string>} */ (
            new Promise((resolve, reject) =>
              generateKeyPair('ed25519', {}, (error, publicKey) =>
                error ? reject(error) : resolve(Buffer.from(/** @type {string} */ (publicKey.export({format: 'jwk'}).x), 'base64url').toString('base64')),
              ),
            )
          ),
      ),
    );
    for (const signingKey of keys) {
      const id = nodeIdFromSigningKey(signingKey);
      /** @type {NodeRecord} */
      const body = {...template, meshId, id, signingKey, address: nodeAddress(meshId, id, 0), addressCounter: 0};
      out.push({id, entry: {body: encode(body), signature: signatures.subarray(out.length * 64, (out.length + 1) * 64)}});
    }
  }
  return out;
}

const replySchema = z.object({t: z.string(), bits: z.number().int().min(0).max(12).optional(), want: bytesSchema.optional()});
/** Bytes of one twophase summary: node id, version (uint64), hash prefix. */
const SUMMARY_BYTES = 16 + 8 + 16;
/** Bytes of a node id in a `want` list. */
const WANTED_ID_BYTES = 16;

/**
 * @typedef {object} FloodingSyncProgress How far one flooding session got.
 * @property {string} [helloReply] the responder's reply to the hello (`buckets` lets the session go on)
 * @property {number} [wanted] ids the responder asked for after the summaries
 * @property {number} entriesSent entries sent in the final message
 */

/**
 * Twophase sync sessions (initiator) offering `entries`: a hello whose digest
 * matches nothing, summaries of every entry in every bucket the responder
 * chose (so it lacks and asks for all of them), then the final message with as
 * many entries as were asked for. The large messages are encoded once and
 * shared by every session made.
 * @param {string} meshId
 * @param {readonly {id: string, entry: SignedEntry}[]} entries
 * @returns {() => {session: SyncSession, progress: FloodingSyncProgress}}
 */
export function floodingSync(meshId, entries) {
  const now = Date.now();
  const items = Buffer.alloc(entries.length * SUMMARY_BYTES);
  const hashPrefixes = randomBytes(entries.length * 16);
  entries.forEach(({id}, index) => {
    const offset = index * SUMMARY_BYTES;
    items.write(id, offset, 16, 'hex');
    items.writeUInt32BE(Math.floor(now / 2 ** 32), offset + 16);
    items.writeUInt32BE(now >>> 0, offset + 20);
    hashPrefixes.copy(items, offset + 24, index * 16, (index + 1) * 16);
  });
  const wire = entries.map(({entry}) => ({body: entry.body, signature: entry.signature}));
  const full = encode({t: 'final', entries: wire});
  return () => {
    /** @type {FloodingSyncProgress} */
    const progress = {entriesSent: 0};
    const stats = noStats();
    let done = false;
    /** @param {Uint8Array | null} message */
    const send = (message) => {
      if (message === null) {
        done = true;
        return null;
      }
      stats.messagesSent++;
      stats.bytesSent += message.byteLength;
      return message;
    };
    /** @type {SyncSession} */
    const session = {
      start: () =>
        /** @type {Uint8Array} */ (send(encode({t: 'hello', v: TWOPHASE_SYNC_PROTOCOL_VERSION, mesh: meshId, kind: TWOPHASE_KIND, digest: randomBytes(40), count: entries.length}))),
      receive(message) {
        stats.bytesReceived += message.byteLength;
        const reply = decode(message, replySchema, 'responder reply', 128 * 1024 * 1024);
        if (progress.helloReply === undefined) {
          progress.helloReply = reply.t;
          if (reply.t !== 'buckets' || reply.bits === undefined) return send(null);
          const buckets = Array.from({length: 2 ** reply.bits}, (_, bucket) => bucket);
          return send(encode({t: 'summaries', buckets, items}));
        }
        if (reply.t !== 'entries' || reply.want === undefined) return send(null);
        progress.wanted = reply.want.byteLength / WANTED_ID_BYTES;
        progress.entriesSent = Math.min(progress.wanted, wire.length);
        const final = progress.entriesSent === 0 ? null : progress.entriesSent === wire.length ? full : encode({t: 'final', entries: wire.slice(0, progress.entriesSent)});
        const out = send(final);
        done = true;
        return out;
      },
      get done() {
        return done;
      },
      stats: () => ({...stats}),
    };
    return {session, progress};
  };
}
