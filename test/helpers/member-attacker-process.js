/**
 * A hostile member as a child process (started with node:child_process
 * `fork`), so that its heavy work (encoding frames of tens of MB, building
 * tens of thousands of entries) never stalls the measurements of the test
 * that runs it. It talks to the test over the IPC channel:
 *
 * 1. test -> `{type: 'prepare', options}` ({@link AttackerOptions}): the
 *    member pushes its own valid record to the target over both of its
 *    connections (so it is a member of the mesh, not only a holder of a
 *    certificate, and is connected before the attack) -> `{type: 'member', nodeId}`;
 *    then it builds its entries -> `{type: 'ready', buildMs}`.
 * 2. test -> `{type: 'attack'}`: rounds of maximal frames (control messages
 *    and sync frames of `frameBytes`, all in flight at once) and, alongside,
 *    flooding sync sessions one after another.
 * 3. test -> `{type: 'others-done'}` when the test's own part of the attack is
 *    over: no new round of frames starts after that once the sync sessions are
 *    done too. Every loop is also bounded by a count and by `deadline`.
 * 4. -> `{type: 'done', frames, syncs}`, then the process exits.
 *
 * Any failure is reported as `{type: 'failed', error}` before exiting with 1.
 */
import {randomBytes} from 'node:crypto';
import {encode, generateIdentity, systemClock, systemRandom} from '@wgmesh/core';
import {makeTestNode, silentLogger, wireEntry} from '@wgmesh/core/testkit';
import {grpcTransportFactory} from '@wgmesh/transport-grpc';
import {badSignatureRecords, floodingSync, scriptedSession} from './member-attacks.js';

/** The largest message the member itself sends or accepts, unless its frames are larger. */
const MEMBER_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/**
 * @typedef {object} AttackerOptions
 * @property {string} endpoint the target's control endpoint
 * @property {string} meshId
 * @property {{caCertificatePath: string, certificatePath: string, privateKeyPath: string}} tls the member's certificate
 * @property {string} dataDir a scratch directory
 * @property {number} frameBytes payload bytes of one maximal frame
 * @property {number} messagesPerRound control messages per round of frames
 * @property {number} syncsPerRound sync frames per round of frames
 * @property {number} maxFrameRounds
 * @property {number} badEntries entries offered by one flooding sync session
 * @property {number} badSessions flooding sync sessions, one after another
 * @property {number} windowMs no new step starts later than this after the attack began
 * @property {number} timeoutMs the member's own time limit for one request or stream step
 */

/**
 * Send a message to the test; resolves once it is handed over.
 * @param {unknown} message
 * @returns {Promise<void>}
 */
const tell = (message) => new Promise((resolve) => (process.send ? process.send(message, () => resolve()) : resolve()));
/** @param {unknown} error */
const describe = (error) => (error instanceof Error ? `${/** @type {{code?: string}} */ (error).code ?? error.name}: ${error.message}` : String(error)).slice(0, 200);

const abort = new AbortController();
/** @type {AttackerOptions | undefined} */
let options;
/**
 * The member's two connections to the target: one carries the frames, the
 * other the sync sessions, so that neither attack waits behind the other on
 * one HTTP/2 connection.
 * @type {import('@wgmesh/core').Transport[]}
 */
const transports = [];
/** @type {ReturnType<typeof floodingSync> | undefined} */
let nextBadSession;
let othersDone = false;

/** @param {AttackerOptions} given */
async function prepare(given) {
  options = given;
  const identity = generateIdentity();
  // The member's own limit never stops its attack: room for its frames and for a sync message of all its entries.
  const maxMessageBytes = Math.max(given.frameBytes, MEMBER_MAX_MESSAGE_BYTES);
  // grpc-js shares one connection between channels with equal options: the second one's keepalive differs so that it gets its own.
  for (const keepaliveTimeMs of [300_000, 299_000]) {
    transports.push(
      await grpcTransportFactory.create({
        config: {listenAddress: '127.0.0.1', maxMessageBytes, keepaliveTimeMs},
        daemonConfig: {gRPCPort: 1, timeoutMs: given.timeoutMs, ...given.tls},
        logger: silentLogger(),
        dataDir: given.dataDir,
        signal: abort.signal,
        identity: {nodeId: identity.nodeId, signingKey: identity.signingKey, wgPublicKey: identity.wgPublicKey},
        clock: systemClock,
        random: systemRandom,
      }),
    );
  }
  const self = makeTestNode(given.meshId, {identity, now: Date.now()});
  const template = self.recordBody({controlEndpoint: null, wgEndpoint: null});
  // Over both connections, so that both are open before the attack starts (as a member's would be).
  const push = encode({t: 'push', f: identity.nodeId, e: [wireEntry(self.record({controlEndpoint: null, wgEndpoint: null}))]});
  await Promise.all(transports.map((transport) => transport.message(given.endpoint, given.meshId, push)));
  await tell({type: 'member', nodeId: identity.nodeId});
  const started = Date.now();
  nextBadSession = floodingSync(given.meshId, await badSignatureRecords(given.meshId, template, given.badEntries));
  await tell({type: 'ready', buildMs: Date.now() - started});
}

async function attack() {
  const given = /** @type {AttackerOptions} */ (options);
  const [framer, syncer] = /** @type {[import('@wgmesh/core').Transport, import('@wgmesh/core').Transport]} */ (transports);
  const makeBad = /** @type {ReturnType<typeof floodingSync>} */ (nextBadSession);
  const deadline = Date.now() + given.windowMs;
  /** @type {{ms: number, progress: import('./member-attacks.js').FloodingSyncProgress, error?: string}[]} */
  const syncs = [];
  let syncing = true;
  const flooding = (async () => {
    for (let i = 0; i < given.badSessions && Date.now() < deadline; i++) {
      const {session, progress} = makeBad();
      const started = Date.now();
      const error = await syncer.sync(given.endpoint, given.meshId, 'twophase', session).then(() => undefined, describe);
      syncs.push({ms: Date.now() - started, progress, ...(error === undefined ? {} : {error})});
    }
  })().finally(() => (syncing = false));
  /** @type {Record<string, number>} */
  const outcomes = {};
  const frames = {sent: 0, bytes: 0, outcomes};
  const payload = randomBytes(given.frameBytes);
  for (let round = 0; round < given.maxFrameRounds && Date.now() < deadline && (round === 0 || syncing || !othersDone); round++) {
    const sends = [
      ...Array.from({length: given.messagesPerRound}, () => framer.message(given.endpoint, given.meshId, payload)),
      ...Array.from({length: given.syncsPerRound}, () => framer.sync(given.endpoint, given.meshId, 'twophase', scriptedSession([payload]))),
    ];
    frames.sent += sends.length;
    frames.bytes += sends.length * payload.byteLength;
    for (const result of await Promise.allSettled(sends)) {
      const outcome = result.status === 'fulfilled' ? 'answered' : describe(result.reason);
      frames.outcomes[outcome] = (frames.outcomes[outcome] ?? 0) + 1;
    }
  }
  await flooding;
  await tell({type: 'done', frames, syncs});
}

process.on('message', (/** @type {{type: string, options?: AttackerOptions}} */ message) => {
  if (message.type === 'others-done') {
    othersDone = true;
    return;
  }
  const step = message.type === 'prepare' ? prepare(/** @type {AttackerOptions} */ (message.options)) : message.type === 'attack' ? attack().then(finish) : undefined;
  step?.catch(async (error) => {
    await tell({type: 'failed', error: describe(error)});
    process.exitCode = 1;
    finish();
  });
});
// The test going away ends the attack.
process.on('disconnect', () => finish());

/** Stop every request of the member and exit. */
function finish() {
  abort.abort();
  void Promise.allSettled(transports.map((transport) => transport.close())).finally(() => process.exit());
}
