/**
 * Attacks on a daemon's control port, for the hostile tests. Each is bounded
 * in count and time and can be torn down at any point: idle TCP connections
 * that never start TLS, TLS handshakes without a client certificate, scripted
 * sync sessions, and a twophase sync session that makes the responder ask for,
 * and then check, many entries whose signatures do not verify.
 */
import {generateKeyPairSync, randomBytes} from 'node:crypto';
import {connect, type Socket} from 'node:net';
import {connect as tlsConnect} from 'node:tls';
import {bytesSchema, decode, encode, nodeAddress, nodeIdFromSigningKey, type NodeRecord, type SignedEntry, type SyncSession, type SyncStats} from '@wgmesh/core';
import {TWOPHASE_KIND, TWOPHASE_SYNC_PROTOCOL_VERSION} from '@wgmesh/store-twophase';
import {z} from 'zod';

/** A sync session that sends `messages` one after the other and ignores what comes back (the hostile initiator). */
export function scriptedSession(messages: readonly Uint8Array[]): SyncSession {
  let next = 0;
  const stats: SyncStats = {messagesSent: 0, bytesSent: 0, bytesReceived: 0, entriesMerged: 0, entriesRejected: 0};
  const send = (): Uint8Array | null => {
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

/** Where the attacker's sockets come from and where they go. */
export interface SocketTarget {
  host: string;
  port: number;
  /** Local address to bind (a loopback alias such as 127.0.0.2 keeps the attacker apart from the members on 127.0.0.1). */
  localAddress: string;
}

/** Connections that were opened and then left silent. */
export interface IdleFlood {
  /** Connections whose TCP handshake completed. */
  readonly connected: number;
  /** Attempts that failed or did not connect in time. */
  readonly failed: number;
  /** Connected sockets the daemon has closed since. */
  closedByPeer(): number;
  /** Connected sockets still open. */
  open(): number;
  /** Close every socket (safe to call again). */
  close(): void;
}

/**
 * Open `count` TCP connections to `target`, `batch` at a time, and send
 * nothing on them (no TLS ClientHello). Each attempt gives up after
 * `connectTimeoutMs`. The sockets stay open until {@link IdleFlood.close}
 * or until the daemon closes them.
 */
export async function openIdleConnections(target: SocketTarget, count: number, batch = 100, connectTimeoutMs = 5_000): Promise<IdleFlood> {
  const sockets = new Set<Socket>();
  let connected = 0;
  let failed = 0;
  let closedByPeer = 0;
  let closing = false;
  const close = (): void => {
    closing = true;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  const attempt = () =>
    new Promise<void>((resolve) => {
      const socket = connect({host: target.host, port: target.port, localAddress: target.localAddress});
      let isConnected = false;
      const timer = setTimeout(() => socket.destroy(), connectTimeoutMs);
      socket.on('error', () => undefined);
      socket.once('connect', () => {
        clearTimeout(timer);
        isConnected = true;
        connected++;
        sockets.add(socket);
        resolve();
      });
      socket.once('close', () => {
        clearTimeout(timer);
        if (isConnected) {
          sockets.delete(socket);
          if (!closing) closedByPeer++;
        } else {
          failed++;
          resolve();
        }
      });
    });
  try {
    for (let started = 0; started < count; started += batch) {
      await Promise.all(Array.from({length: Math.min(batch, count - started)}, attempt));
    }
  } catch (error) {
    close();
    throw error;
  }
  return {connected, failed, closedByPeer: () => closedByPeer, open: () => sockets.size, close};
}

/** What became of a run of TLS handshakes without a client certificate. */
export interface HandshakeFlood {
  /** Handshakes started. */
  attempted: number;
  /** Handshakes the client saw complete (TLS 1.3 completes before the server checks the client's certificate). */
  completed: number;
  /** Of those, connections the daemon closed within the attempt's time limit (refused after checking). */
  closedAfterHandshake: number;
  /** Attempts cut by the attempt's time limit. */
  timedOut: number;
  /** Failures before the handshake completed, by error code. */
  errors: Record<string, number>;
}

/**
 * Run `count` TLS handshakes against `target` without a client certificate,
 * `concurrency` at a time, each waiting up to `attemptTimeoutMs` for the
 * daemon to close the connection. No new attempt starts after `deadline`
 * (ms since the epoch) or once `signal` is aborted; every socket is closed
 * when this resolves.
 */
export async function runBareTlsHandshakes(
  target: SocketTarget,
  options: {count: number; concurrency: number; attemptTimeoutMs: number; deadline: number; signal: AbortSignal},
): Promise<HandshakeFlood> {
  const result: HandshakeFlood = {attempted: 0, completed: 0, closedAfterHandshake: 0, timedOut: 0, errors: {}};
  const attempt = () =>
    new Promise<void>((resolve) => {
      let handshook = false;
      let failure: string | undefined;
      let settled = false;
      const socket = tlsConnect({
        host: target.host,
        port: target.port,
        localAddress: target.localAddress,
        servername: 'wgmesh.invalid',
        ALPNProtocols: ['h2'],
        rejectUnauthorized: false,
      });
      const finish = (outcome: 'closed' | 'timeout' | 'aborted') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal.removeEventListener('abort', onAbort);
        if (outcome === 'timeout') result.timedOut++;
        else if (outcome === 'closed' && handshook) result.closedAfterHandshake++;
        else if (outcome === 'closed') {
          const code = failure ?? 'closed before the handshake';
          result.errors[code] = (result.errors[code] ?? 0) + 1;
        }
        socket.destroy();
        resolve();
      };
      const onAbort = () => finish('aborted');
      const timer = setTimeout(() => finish('timeout'), options.attemptTimeoutMs);
      options.signal.addEventListener('abort', onAbort, {once: true});
      socket.once('secureConnect', () => {
        handshook = true;
        result.completed++;
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (!handshook) failure ??= error.code ?? error.message;
      });
      socket.once('close', () => finish('closed'));
    });
  const worker = async () => {
    while (result.attempted < options.count && Date.now() < options.deadline && !options.signal.aborted) {
      result.attempted++;
      await attempt();
    }
  };
  await Promise.all(Array.from({length: options.concurrency}, worker));
  return result;
}

/**
 * `count` records of `meshId` that pass every cheap check a receiver makes
 * (shape, mesh, id derived from the signing key, dated now) and fail only the
 * signature: each costs the receiver a full Ed25519 verification. Every entry
 * is a different node with a real key pair, so no receiver can tell them apart
 * by id. `template` gives the other fields (its id, keys and address are replaced).
 */
export function badSignatureRecords(meshId: string, template: NodeRecord, count: number): SignedEntry[] {
  const signatures = randomBytes(64 * count);
  return Array.from({length: count}, (_, index) => {
    const x = generateKeyPairSync('ed25519').publicKey.export({format: 'jwk'}).x!;
    const signingKey = Buffer.from(x, 'base64url').toString('base64');
    const id = nodeIdFromSigningKey(signingKey);
    const body: NodeRecord = {...template, meshId, id, signingKey, address: nodeAddress(meshId, id, 0), addressCounter: 0};
    return {body: encode(body), signature: signatures.subarray(index * 64, (index + 1) * 64)};
  });
}

/** How far one flooding sync session got. */
export interface FloodingSyncProgress {
  /** The responder's reply to the hello (`buckets` lets the session go on). */
  helloReply?: string;
  /** Ids the responder asked for after the summaries (the session sends that many entries at most). */
  wanted?: number;
  /** Entries sent in the final message. */
  entriesSent: number;
}

const replySchema = z.object({t: z.string(), bits: z.number().int().min(0).max(12).optional(), want: bytesSchema.optional()});
/** Bytes of one twophase summary: node id, version (uint64), hash prefix. */
const SUMMARY_BYTES = 16 + 8 + 16;
/** Bytes of a node id in a `want` list. */
const WANTED_ID_BYTES = 16;

/** A source of {@link floodingSyncSession}s sharing the encoded messages (they are large). */
export interface FloodingSync {
  /** A new session as initiator, and what it achieved so far. */
  session(): {session: SyncSession; progress: FloodingSyncProgress};
}

/**
 * Twophase sync sessions (initiator) that offer `entries` to the responder:
 * hello with a digest that matches nothing, summaries of every entry in every
 * bucket the responder chose (so it lacks and asks for all of them), then the
 * final message carrying the entries, as many as were asked for. With
 * {@link badSignatureRecords} this is one member making another check tens
 * of thousands of signatures in one session.
 */
export function floodingSync(meshId: string, entries: readonly SignedEntry[]): FloodingSync {
  const now = Date.now();
  const items = Buffer.alloc(entries.length * SUMMARY_BYTES);
  entries.forEach((entry, index) => {
    const id = decode(entry.body, z.object({id: z.string()}), 'own entry').id;
    const offset = index * SUMMARY_BYTES;
    items.write(id, offset, 16, 'hex');
    items.writeUInt32BE(Math.floor(now / 2 ** 32), offset + 16);
    items.writeUInt32BE(now >>> 0, offset + 20);
    randomBytes(16).copy(items, offset + 24);
  });
  const wire = entries.map((entry) => ({body: entry.body, signature: entry.signature}));
  const full = encode({t: 'final', entries: wire});
  return {
    session() {
      const progress: FloodingSyncProgress = {entriesSent: 0};
      const stats: SyncStats = {messagesSent: 0, bytesSent: 0, bytesReceived: 0, entriesMerged: 0, entriesRejected: 0};
      let done = false;
      const send = (message: Uint8Array): Uint8Array => {
        stats.messagesSent++;
        stats.bytesSent += message.byteLength;
        return message;
      };
      const session: SyncSession = {
        start: () =>
          send(encode({t: 'hello', v: TWOPHASE_SYNC_PROTOCOL_VERSION, mesh: meshId, kind: TWOPHASE_KIND, digest: randomBytes(40), count: entries.length})),
        receive(message) {
          stats.bytesReceived += message.byteLength;
          const reply = decode(message, replySchema, 'responder reply', 128 * 1024 * 1024);
          if (progress.helloReply === undefined) {
            progress.helloReply = reply.t;
            if (reply.t !== 'buckets' || reply.bits === undefined) return finish();
            const buckets = Array.from({length: 2 ** reply.bits}, (_, bucket) => bucket);
            return send(encode({t: 'summaries', buckets, items}));
          }
          if (reply.t !== 'entries' || reply.want === undefined) return finish();
          progress.wanted = reply.want.byteLength / WANTED_ID_BYTES;
          progress.entriesSent = Math.min(progress.wanted, wire.length);
          done = true;
          if (progress.wanted === 0) return null;
          return send(progress.entriesSent === wire.length ? full : encode({t: 'final', entries: wire.slice(0, progress.entriesSent)}));
        },
        get done() {
          return done;
        },
        stats: () => ({...stats}),
      };
      function finish(): null {
        done = true;
        return null;
      }
      return {session, progress};
    },
  };
}
