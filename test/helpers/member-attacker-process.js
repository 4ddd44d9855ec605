/**
 * A hostile member as a child process (started with node:child_process
 * `fork`), so that its heavy work (encoding frames, building tens of
 * thousands of entries) never stalls the measurements of the test that runs
 * it. It talks to the test over the IPC channel:
 *
 * 1. test -> `{type: 'prepare', options}` ({@link AttackerOptions}): the
 *    member joins through the target with its invite and pushes its own valid
 *    record to it over both of its transport connections (so it is a member
 *    of the mesh, and is connected before the attack) -> `{type: 'member', nodeId}`;
 *    then it builds its bad entries -> `{type: 'ready', buildMs}`.
 * 2. test -> `{type: 'attack'}`, three attacks at once:
 *    - rounds of frames, all of a round in flight at once: control messages
 *      and sync frames of exactly the largest size the target accepts, sent
 *      with the wgmesh transport;
 *    - once, as many control messages and sync frames of `oversizedBytes`,
 *      sent with a hand-made grpc-js client (the transport refuses to send
 *      them) on a connection of their own;
 *    - one after another, real twophase sync sessions offering `badEntries`
 *      badly signed entries.
 *    Each loop is bounded by its count and starts nothing after `windowMs`.
 * 3. -> `{type: 'done', frames, syncs}`, then the process exits.
 *
 * Any failure is reported as `{type: 'failed', error}` before exiting with 1.
 */
import {encode, generateIdentity, MAX_CONTROL_MESSAGE_BYTES, MAX_SYNC_MESSAGE_BYTES, selfIssueTlsIdentity, systemClock, systemRandom} from '@wgmesh/core';
import {makeTestNode, silentLogger, wireEntry} from '@wgmesh/testkit';
import {TwoPhaseSyncSession} from '@wgmesh/store-twophase';
import {grpcTransportFactory} from '@wgmesh/transport-grpc';
import {randomBytes} from 'node:crypto';
import {badlySignedTombstones, hostileReplica, rawMessage, rawSyncFrame, redeemAndJoin, scriptedSession, unlimitedClient} from './member-attacks.js';

/**
 * @typedef {object} AttackerOptions
 * @property {string} endpoint the target's control endpoint
 * @property {string} meshId
 * @property {string} invite an invite to the mesh (the line `wgmesh mesh invite` prints)
 * @property {string} dataDir a scratch directory
 * @property {number} messagesPerRound control messages of the largest accepted size per round
 * @property {number} syncsPerRound sync frames of the largest accepted size per round
 * @property {number} maxFrameRounds rounds of frames at most
 * @property {number} oversizedBytes payload bytes of one oversized frame
 * @property {number} badEntries entries offered by one bad sync session
 * @property {number} badSessions bad sync sessions at most, one after another
 * @property {number} windowMs no new round or session starts later than this after the attack began
 * @property {number} timeoutMs the member's own time limit for one request or stream step
 */

/**
 * @typedef {object} FrameReport Frames of one kind sent, and what became of them.
 * @property {number} sent
 * @property {number} bytes payload bytes sent
 * @property {Record<string, number>} outcomes 'answered', or the error code or gRPC status each ended with
 */

/**
 * Send a message to the test; resolves once it is handed over.
 * @param {unknown} message
 * @returns {Promise<void>}
 */
const tell = (message) => new Promise((resolve) => (process.send ? process.send(message, () => resolve()) : resolve()));
/** @param {unknown} error */
const describe = (error) => (error instanceof Error ? `${/** @type {{code?: string}} */ (error).code ?? error.name}: ${error.message}` : String(error)).slice(0, 200);
/** @param {unknown} error */
const codeOf = (error) => /** @type {{code?: string}} */ (error)?.code ?? 'no code';

const abort = new AbortController();
/** @type {AttackerOptions | undefined} */
let options;
/**
 * The member's two transport connections to the target: one carries the
 * frames, the other the bad sync sessions, so that neither attack waits
 * behind the other on one HTTP/2 connection.
 * @type {import('@wgmesh/core').Transport[]}
 */
const transports = [];
/** @type {import('../../plugins/transport-grpc/src/generated/wgmesh/v1/control.js').ControlClient | undefined} */
let unlimited;
/** @type {import('../../plugins/store-twophase/src/sync-session.js').SyncReplica | undefined} */
let replica;

/** @param {AttackerOptions} given */
async function prepare(given) {
  options = given;
  const identity = generateIdentity();
  // The member proves its node key (no certificate files), as a daemon does by default.
  const tls = await selfIssueTlsIdentity(identity);
  // grpc-js shares one connection between channels with equal options: the second one's keepalive differs so that it gets its own.
  for (const keepaliveTimeMs of [300_000, 299_000]) {
    transports.push(
      await grpcTransportFactory.create({
        config: {listenAddress: '127.0.0.1', keepaliveTimeMs},
        daemonConfig: {gRPCPort: 1, timeoutMs: given.timeoutMs},
        logger: silentLogger(),
        dataDir: given.dataDir,
        signal: abort.signal,
        identity: {nodeId: identity.nodeId, signingKey: identity.signingKey, wgPublicKey: identity.wgPublicKey},
        tls,
        clock: systemClock,
        random: systemRandom,
      }),
    );
  }
  unlimited = unlimitedClient(given.endpoint, tls);
  const credential = await redeemAndJoin(/** @type {import('@wgmesh/core').Transport} */ (transports[0]), identity, given.endpoint, given.meshId, given.invite);
  const self = makeTestNode(given.meshId, {identity, now: Date.now(), credential});
  // Over both connections, so that both are open before the attack starts (as a member's would be).
  const push = encode({t: 'push', f: identity.nodeId, e: [wireEntry(self.record({controlEndpoint: null, wgEndpoint: null}))]});
  await Promise.all(transports.map((transport) => transport.message(given.endpoint, given.meshId, push)));
  await tell({type: 'member', nodeId: identity.nodeId});
  const started = Date.now();
  replica = hostileReplica(given.meshId, badlySignedTombstones(given.meshId, given.badEntries, credential));
  await tell({type: 'ready', buildMs: Date.now() - started});
}

/**
 * @param {FrameReport} report
 * @param {number} bytes
 * @param {Promise<string>[]} outcomes
 */
function count(report, bytes, outcomes) {
  report.sent += outcomes.length;
  report.bytes += outcomes.length * bytes;
  return outcomes.map((outcome) => outcome.then((name) => (report.outcomes[name] = (report.outcomes[name] ?? 0) + 1)));
}

async function attack() {
  const given = /** @type {AttackerOptions} */ (options);
  const [framer, syncer] = /** @type {[import('@wgmesh/core').Transport, import('@wgmesh/core').Transport]} */ (transports);
  const client = /** @type {import('../../plugins/transport-grpc/src/generated/wgmesh/v1/control.js').ControlClient} */ (unlimited);
  const deadline = Date.now() + given.windowMs;
  /** @type {import('./attacks.js').BadSyncReport[]} */
  const syncs = [];
  const flooding = (async () => {
    for (let i = 0; i < given.badSessions && Date.now() < deadline; i++) {
      const session = new TwoPhaseSyncSession('initiator', /** @type {NonNullable<typeof replica>} */ (replica), silentLogger());
      const started = Date.now();
      const error = await syncer.sync(given.endpoint, given.meshId, 'twophase', session).then(() => undefined, (/** @type {unknown} */ failure) => failure);
      const {messagesSent, bytesSent, bytesReceived} = session.stats();
      const code = error === undefined ? 'completed' : codeOf(error);
      syncs.push({ms: Date.now() - started, code, messagesSent, bytesSent, bytesReceived, ...(error === undefined ? {} : {error: describe(error)})});
    }
  })();
  /** @type {{maximalMessages: FrameReport, maximalSyncs: FrameReport, oversizedMessages: FrameReport, oversizedSyncs: FrameReport, rounds: number}} */
  const frames = {
    maximalMessages: {sent: 0, bytes: 0, outcomes: {}},
    maximalSyncs: {sent: 0, bytes: 0, outcomes: {}},
    oversizedMessages: {sent: 0, bytes: 0, outcomes: {}},
    oversizedSyncs: {sent: 0, bytes: 0, outcomes: {}},
    rounds: 0,
  };
  const control = randomBytes(MAX_CONTROL_MESSAGE_BYTES);
  const sync = randomBytes(MAX_SYNC_MESSAGE_BYTES);
  const oversized = randomBytes(given.oversizedBytes);
  /** @param {Promise<unknown>} sent */
  const outcome = (sent) => sent.then(() => 'answered', codeOf);
  const times = (/** @type {number} */ n, /** @type {() => Promise<string>} */ make) => Array.from({length: n}, make);
  const oversizing = Promise.all([
    ...count(frames.oversizedMessages, oversized.byteLength, times(given.messagesPerRound, () => rawMessage(client, given.meshId, oversized, given.timeoutMs))),
    ...count(frames.oversizedSyncs, oversized.byteLength, times(given.syncsPerRound, () => rawSyncFrame(client, given.meshId, oversized, given.timeoutMs))),
  ]);
  for (let round = 0; round < given.maxFrameRounds && Date.now() < deadline; round++) {
    await Promise.all([
      ...count(frames.maximalMessages, control.byteLength, times(given.messagesPerRound, () => outcome(framer.message(given.endpoint, given.meshId, control)))),
      ...count(frames.maximalSyncs, sync.byteLength, times(given.syncsPerRound, () => outcome(framer.sync(given.endpoint, given.meshId, 'twophase', scriptedSession([sync]))))),
    ]);
    frames.rounds++;
  }
  await Promise.all([flooding, oversizing]);
  await tell({type: 'done', frames, syncs});
}

process.on('message', (/** @type {{type: string, options?: AttackerOptions}} */ message) => {
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
  unlimited?.close();
  void Promise.allSettled(transports.map((transport) => transport.close())).finally(() => process.exit());
}
