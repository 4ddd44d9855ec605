/**
 * What a hostile member (a certificate of the mesh's CA) can send: scripted
 * sync sessions over the real transport, a fake twophase replica of entries
 * that are well-formed but badly signed (for the real twophase session code to
 * offer), and frames over the size limit sent with a hand-made grpc-js client
 * (the transport's own client refuses to send them). Plain JavaScript (JSDoc
 * types) over the built packages, so that a test can also run it in a child
 * process (see member-attacker-process.js).
 */
import {createPublicKey, randomBytes} from 'node:crypto';
import {credentials, status as grpcStatus} from '@grpc/grpc-js';
import {encode, nodeIdFromSigningKey} from '@wgmesh/core';
import {BucketIndex} from '../../plugins/store-twophase/dist/buckets.js';
import {ControlClient} from '../../plugins/transport-grpc/dist/generated/wgmesh/v1/control.js';

/** @typedef {import('@wgmesh/core').SyncSession} SyncSession */
/** @typedef {import('@wgmesh/core').SyncStats} SyncStats */
/** @typedef {import('@wgmesh/core').VerifiedEntry} VerifiedEntry */
/** @typedef {import('../../plugins/store-twophase/src/sync-session.js').SyncReplica} SyncReplica */

/**
 * A sync session that sends `messages` one after the other and ignores what comes back (the hostile initiator).
 * @param {readonly Uint8Array[]} messages
 * @returns {SyncSession}
 */
export function scriptedSession(messages) {
  let next = 0;
  /** @type {SyncStats} */
  const stats = {messagesSent: 0, bytesSent: 0, bytesReceived: 0, entriesMerged: 0, entriesRejected: 0};
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

/**
 * A random 32-byte string that imports as an Ed25519 public key, base64.
 * @returns {string}
 */
function randomSigningKey() {
  for (;;) {
    const raw = randomBytes(32);
    try {
      createPublicKey({key: {kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url')}, format: 'jwk'});
      return raw.toString('base64');
    } catch {
      // Not a point of the curve: draw again.
    }
  }
}

/**
 * `count` tombstones of distinct nodes of `meshId`, dated now, each with a
 * signature of random bytes: everything a receiver checks before the Ed25519
 * verification passes (shape, mesh, id derived from the signing key, time),
 * so each is the most expensive kind of entry to reject.
 * @param {string} meshId
 * @param {number} count
 * @returns {VerifiedEntry[]}
 */
export function badlySignedTombstones(meshId, count) {
  const now = Date.now();
  /** @type {VerifiedEntry[]} */
  const out = [];
  for (let i = 0; i < count; i++) {
    const signingKey = randomSigningKey();
    const value = /** @type {const} */ ({kind: 'tombstone', meshId, id: nodeIdFromSigningKey(signingKey), signingKey, version: now, updatedAt: now});
    out.push({body: encode(value), signature: randomBytes(64), value, hash: randomBytes(32)});
  }
  return out;
}

/**
 * A twophase replica that claims to hold `entries` (never verified) and takes
 * nothing in: the attacker's side of a real `TwoPhaseSyncSession`, which then
 * offers every one of them to the responder.
 * @param {string} meshId
 * @param {readonly VerifiedEntry[]} entries
 * @returns {SyncReplica}
 */
export function hostileReplica(meshId, entries) {
  const index = new BucketIndex();
  /** @type {Map<string, VerifiedEntry>} */
  const byId = new Map();
  for (const entry of entries) {
    index.put(entry);
    byId.set(entry.value.id, entry);
  }
  index.flush();
  const digest = randomBytes(40);
  return {
    meshId,
    kind: 'twophase',
    size: () => entries.length,
    digest: () => digest,
    get: (id) => byId.get(id),
    bucketDigests: (bits) => index.digests(bits),
    entriesIn: (bits, buckets) => index.entriesIn(bits, buckets),
    isExpired: () => false,
    merge: () => ({accepted: [], rejected: []}),
  };
}

/**
 * A hand-made grpc-js client of the control service at `endpoint` proving a
 * member's node key (its self-issued certificate, as a daemon without
 * certificate files has), with no limit on what it sends. It accepts the
 * server's self-issued certificate and sends a host name as SNI, as TLS
 * forbids IP literals there.
 * @param {string} endpoint
 * @param {import('@wgmesh/core').TlsIdentity} tls
 * @returns {import('../../plugins/transport-grpc/src/generated/wgmesh/v1/control.js').ControlClient}
 */
export function unlimitedClient(endpoint, tls) {
  const creds = credentials.createSsl(null, Buffer.from(tls.privateKeyPem), Buffer.from(tls.certificatePem), {rejectUnauthorized: false});
  return new ControlClient(endpoint, creds, {'grpc.ssl_target_name_override': 'wgmesh.invalid', 'grpc.max_send_message_length': -1});
}

/**
 * The name of a grpc-js call's final status.
 * @param {{code?: number} | null} error
 */
const statusName = (error) => (error === null ? 'answered' : (grpcStatus[error.code ?? -1] ?? `code ${error.code}`));

/**
 * One membership message of `payload` on its own Messages stream of `client`;
 * resolves with the name of the outcome ('answered', or the gRPC status the
 * stream ended with), within `timeoutMs`.
 * @param {import('../../plugins/transport-grpc/src/generated/wgmesh/v1/control.js').ControlClient} client
 * @param {string} meshId
 * @param {Buffer} payload
 * @param {number} timeoutMs
 * @returns {Promise<string>}
 */
export function rawMessage(client, meshId, payload, timeoutMs) {
  return new Promise((resolve) => {
    const call = client.messages({deadline: Date.now() + timeoutMs});
    call.on('data', () => {
      call.cancel();
      resolve('answered');
    });
    call.on('error', (/** @type {{code?: number}} */ error) => resolve(statusName(error)));
    call.on('end', () => resolve('ended'));
    call.write({id: 1, meshId, payload, errorCode: '', errorMessage: ''});
  });
}

/**
 * A Sync stream of `client` whose first frame carries `payload`; resolves
 * with the name of its outcome, within `timeoutMs`.
 * @param {import('../../plugins/transport-grpc/src/generated/wgmesh/v1/control.js').ControlClient} client
 * @param {string} meshId
 * @param {Buffer} payload
 * @param {number} timeoutMs
 * @returns {Promise<string>}
 */
export function rawSyncFrame(client, meshId, payload, timeoutMs) {
  return new Promise((resolve) => {
    const call = client.sync({deadline: Date.now() + timeoutMs});
    call.on('data', () => undefined);
    call.on('error', (/** @type {{code?: number}} */ error) => resolve(statusName(error)));
    call.on('end', () => resolve('ended'));
    call.write({meshId, storeKind: 'twophase', payload});
  });
}
