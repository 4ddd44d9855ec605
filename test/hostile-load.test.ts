/**
 * A daemon under hostile load keeps serving its mesh and gives its memory
 * back. Four daemons on loopback (stub WireGuard, default settings): A is
 * attacked, B and C are honest members, D joins through A while the attack
 * runs. The attack, all at once:
 *
 * - 2,000 TCP connections to A's control port that never start TLS (held
 *   open until the end of the attack, or until A closes them: at once past
 *   `grpc.maxHandshakesPerAddress` of them, the rest after `timeout`);
 * - 2,000 TLS handshakes without a client certificate, 20 at a time;
 * - a member (its own node key, admitted with an invite, and a valid record in the mesh)
 *   sending, 8 control messages and 4 sync frames at a time, round after
 *   round, frames of exactly the largest size A accepts (1 MiB, sent with the
 *   wgmesh transport) and, alongside, once, 8 control messages and 4 sync
 *   frames of 60 MiB (sent with a hand-made grpc-js client, as the transport
 *   refuses to send them), which A must refuse from their length prefix;
 * - the same member running real twophase sync sessions, one after another,
 *   each offering 50,000 entries with bad signatures, which A must refuse
 *   after the first few (INVALID_ENTRIES).
 *
 * The connections and handshakes come from this test process; the member is
 * a child process (test/helpers/member-attacker-process.js), so that its
 * frames and entries never stall the measurements made here (the event-loop
 * delay of this process is printed with them).
 *
 * The unauthenticated clients connect from 127.0.0.2 (idle) and 127.0.0.3
 * (handshakes), the members (and the member attacker) from 127.0.0.1: on a
 * real network the attacker's addresses differ from the members', and a
 * per-address limit must not hit members merely because all of loopback is
 * one host.
 *
 * While it runs, honest changes (`service set` on B or C) must reach every
 * member within 2 s, one after another for the whole attack, and D's join
 * through A must succeed. A's RSS (VmRSS, sampled every 200 ms) must stay
 * under 300 MB during the attack. (How fast the RSS falls back afterwards is a
 * performance figure, printed with WGMESH_MEASURE_RECOVERY=1, not held by this test.) Every measurement is printed; each condition is
 * a soft assertion, so a failure names every condition that failed with its
 * numbers.
 */
import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {randomBytes} from 'node:crypto';
import {join} from 'node:path';
import {monitorEventLoopDelay} from 'node:perf_hooks';
import {MAX_CONTROL_MESSAGE_BYTES, MAX_SYNC_MESSAGE_BYTES} from '@wgmesh/core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {MemberAttacker, openIdleConnections, runBareTlsHandshakes, type FrameReport, type HandshakeFlood, type IdleFlood, type MemberAttackReport, type SocketTarget} from './helpers/attacks.js';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {MeshCluster, type MeshNode} from './helpers/mesh-cluster.js';
import {mb, readRss, RssSampler} from './helpers/rss.js';

/** Idle TCP connections held open during the attack. */
const IDLE_CONNECTIONS = 2_000;
/** TLS handshakes without a client certificate. */
const BARE_HANDSHAKES = 2_000;
/** Handshakes in flight at once. */
const HANDSHAKE_CONCURRENCY = 20;
/** Set by hand to print how A's RSS comes back during the minute after the attack. */
const MEASURE_RECOVERY = process.env.WGMESH_MEASURE_RECOVERY === '1';
/** Entries with bad signatures offered by one sync session. */
const BAD_SYNC_ENTRIES = 50_000;
/** Bad sync sessions at most, one after another until the attack window closes. */
const BAD_SYNC_SESSIONS = 100;
/** Bytes a bad session may send before A gives up on it: its hello and first summaries and entries, far from its 50,000 entries. */
const BAD_SYNC_MAX_BYTES_SENT = 1024 * 1024;
/** Per round: control messages and sync frames of the largest accepted size in flight at once; as many oversized ones are sent once. */
const FRAME_MESSAGES_PER_ROUND = 8;
const FRAME_SYNCS_PER_ROUND = 4;
/** Rounds of frames at most (they stop earlier when the attack window closes). */
const MAX_FRAME_ROUNDS = 100;
/** Payload of an oversized frame: 8 messages and 4 sync frames of this size took a daemon to 1.3 GB when it buffered them. */
const OVERSIZED_BYTES = 60 * 1024 * 1024;
/** Honest changes made during the attack at most, one after another with {@link CHANGE_PAUSE_MS} between them. */
const MAX_CHANGES = 150;
const CHANGE_PAUSE_MS = 400;
/** No attack step starts later than this after the attack began. */
const ATTACK_WINDOW_MS = 30_000;
/** A's `timeout` (the daemon default): a connection that has not finished TLS by then is closed. */
const A_TIMEOUT_MS = 5_000;
/** Where the idle connections come from. */
const IDLE_ADDRESS = '127.0.0.2';
/**
 * Where the handshakes without a certificate come from: another address, so
 * that they reach the handshake instead of being refused at once because the
 * idle connections hold that address's handshake slots (`grpc.maxHandshakesPerAddress`).
 */
const HANDSHAKE_ADDRESS = '127.0.0.3';

/** The conditions of the issue. */
const CHANGE_BOUND_MS = 2_000;
const RSS_LIMIT_BYTES = 300e6;
/** How long a change is followed before it counts as lost (longer than the bound, so the real time is measured). */
const CHANGE_FOLLOW_MS = 10_000;
/** File descriptors this process needs: the idle connections, the handshakes in flight, daemons' pipes and IPC. */
const FD_NEEDED = 8_192;

/**
 * Make sure this process may open {@link FD_NEEDED} files. Node raises its soft
 * limit to the hard one at start, so only a lower hard limit needs raising,
 * which takes CAP_SYS_RESOURCE (the daemons, started later, inherit it).
 */
function ensureFdLimit(): string {
  const line = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const soft = line?.[1] === 'unlimited' ? Infinity : Number(line?.[1] ?? 0);
  const hard = line?.[2] === 'unlimited' ? Infinity : Number(line?.[2] ?? 0);
  if (soft >= FD_NEEDED) return `open files: ${soft}`;
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${FD_NEEDED}:${hard >= FD_NEEDED ? line?.[2] : FD_NEEDED}`]);
  } catch (error) {
    throw new Error(`this test needs ${FD_NEEDED} open files and has ${soft}; raise it (ulimit -n ${FD_NEEDED}) or run as root: ${(error as Error).message}`);
  }
  return `open files: raised from ${soft} to ${FD_NEEDED}`;
}

/** One honest change and how long it took to reach every member. */
interface ChangeOutcome {
  origin: string;
  /** From the `service set` call to the last member showing it (or to giving up). */
  ms: number;
  /** Members that had not shown it when it was given up. */
  missing: string[];
  /** Did it start while the attack was at full strength (idle connections open, handshakes or frames or bad syncs in flight)? */
  duringAttack: boolean;
}

describe('a daemon under hostile load', () => {
  let cluster: MeshCluster | undefined;
  let a: MeshNode, b: MeshNode, c: MeshNode, d: MeshNode;
  let meshId = '';
  const ids = new Map<MeshNode, string>();
  let member: MemberAttacker | undefined;
  let idle: IdleFlood | undefined;
  const abort = new AbortController();
  let fdNote = '';

  beforeAll(async () => {
    fdNote = ensureFdLimit();
    cluster = await MeshCluster.create('wgmesh-load-');
    [a, b, c, d] = (await cluster.addNodes([{name: 'a'}, {name: 'b'}, {name: 'c'}, {name: 'd'}])) as [MeshNode, MeshNode, MeshNode, MeshNode];
    ({meshId} = await a.call('mesh.create', {}));
    await b.call('mesh.join', {meshId, invite: await a.invite(meshId), via: a.endpoint});
    await c.call('mesh.join', {meshId, invite: await a.invite(meshId), via: a.endpoint});
    for (const node of [a, b, c, d]) ids.set(node, (await node.call('status', {})).nodeId);
    const first = [a, b, c].map((node) => ids.get(node)!);
    await waitFor(async () => (await Promise.all([a, b, c].map((node) => node.view(meshId)))).every((view) => first.every((id) => view.includes(id))), 15_000, 'A, B and C to see each other');

    // The attacking member: its own node key and its own valid record in the mesh.
    const started = await MemberAttacker.start(
      {
        endpoint: a.endpoint,
        meshId,
        invite: await a.invite(meshId),
        dataDir: join(cluster.sandbox.dir, 'mallory'),
        messagesPerRound: FRAME_MESSAGES_PER_ROUND,
        syncsPerRound: FRAME_SYNCS_PER_ROUND,
        maxFrameRounds: MAX_FRAME_ROUNDS,
        oversizedBytes: OVERSIZED_BYTES,
        badEntries: BAD_SYNC_ENTRIES,
        badSessions: BAD_SYNC_SESSIONS,
        windowMs: ATTACK_WINDOW_MS,
        timeoutMs: 30_000,
      },
      30_000,
    );
    member = started.attacker;
    // Accepted by A (it may later leave the live view: it answers no probes, which changes nothing for this test).
    await waitFor(async () => (await a.view(meshId)).includes(started.nodeId), 10_000, "the attacking member's record in A");
    const buildMs = await member.ready(150_000);
    console.log(`set-up: ${fdNote}; the member built ${BAD_SYNC_ENTRIES} bad entries in ${buildMs} ms`);
  }, 240_000);

  afterAll(async () => {
    idle?.close();
    member?.kill();
    await cluster?.close();
    await killAllDaemons();
  });

  it('keeps serving members and lets a node join, within its memory bound', async () => {
    const pid = a.daemon.child.pid!;
    const members = [a, b, c];
    const note = (line: string) => console.log(line);

    /** Make a change on `origin` and follow it to every member; never throws. */
    let changeCount = 0;
    const change = async (origin: MeshNode, duringAttack: () => boolean): Promise<ChangeOutcome> => {
      const value = `${++changeCount}-${randomBytes(4).toString('hex')}`;
      const originId = ids.get(origin)!;
      const targets = [...members];
      const pending = new Set(targets);
      const attackNow = duringAttack();
      const started = Date.now();
      try {
        await origin.call('service.set', {meshId, key: 'load', value}, CHANGE_FOLLOW_MS);
        await waitFor(
          async () => {
            await Promise.all(
              [...pending].map(async (node) => {
                const shown = await node.call('mesh.show', {meshId}, CHANGE_FOLLOW_MS).catch(() => undefined);
                if (shown?.nodes.find((record) => record.id === originId)?.services.load === value) pending.delete(node);
              }),
            );
            return pending.size === 0;
          },
          CHANGE_FOLLOW_MS,
          'the change on every member',
        );
      } catch {
        // Measured below: the members still missing it say what went wrong.
      }
      return {origin: origin.name, ms: Date.now() - started, missing: [...pending].map((node) => node.name), duringAttack: attackNow};
    };

    // Before the attack: the cluster is quiet, a change travels well within the bound, and A's memory is at rest.
    const quiet = await change(b, () => false);
    note(`before: change from B reached ${members.length} members in ${quiet.ms} ms${quiet.missing.length > 0 ? ` (missing: ${quiet.missing.join(', ')})` : ''}`);
    expect(quiet.missing, 'a change reaches every member before the attack (the cluster works)').toEqual([]);
    const atRest: number[] = [];
    for (let i = 0; i < 5; i++) {
      atRest.push(await readRss(pid));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const baseline = atRest.sort((x, y) => x - y)[2]!;
    note(`before: A's RSS ${mb(baseline)} (median of ${atRest.map(mb).join(', ')})`);

    const sampler = new RssSampler(pid, 200);
    const loopDelay = monitorEventLoopDelay({resolution: 20});
    sampler.start();
    loopDelay.enable();
    const logMark = a.logMark();
    const attackStart = Date.now();
    const deadline = attackStart + ATTACK_WINDOW_MS;
    const idleTarget: SocketTarget = {host: '127.0.0.1', port: a.port, localAddress: IDLE_ADDRESS};
    const handshakeTarget: SocketTarget = {...idleTarget, localAddress: HANDSHAKE_ADDRESS};
    let attackEnd = attackStart;
    let handshakes: HandshakeFlood | undefined;
    let report: MemberAttackReport | undefined;
    let memberError: string | undefined;
    const changes: ChangeOutcome[] = [];
    const join: {ok: boolean; ms: number; error?: string; convergedMs?: number; convergeError?: string} = {ok: false, ms: 0};
    let idleStats = {connected: 0, failed: 0, closedByA: 0, closedAtOnce: 0, closedAfterTimeout: 0, openAtEnd: 0};
    try {
      // 1. Idle connections first: they hold A's connection slots for the rest of the attack.
      idle = await openIdleConnections(idleTarget, IDLE_CONNECTIONS);
      note(`attack +${Date.now() - attackStart} ms: ${idle.connected} idle connections open (${idle.failed} failed to connect, ${idle.closedByPeer()} already closed by A)`);

      // 2. Everything else at once; the attack is at full strength until the handshakes and the member are done.
      let busy = 2;
      const atFullStrength = () => busy > 0;
      const attacking = member!
        .attack(ATTACK_WINDOW_MS + 45_000)
        .then(
          (result) => (report = result),
          (error: unknown) => (memberError = (error as Error).message.slice(0, 1_000)),
        )
        .finally(() => busy--);
      const handshaking = runBareTlsHandshakes(handshakeTarget, {count: BARE_HANDSHAKES, concurrency: HANDSHAKE_CONCURRENCY, attemptTimeoutMs: 10_000, deadline, signal: abort.signal})
        .then((result) => (handshakes = result))
        .finally(() => busy--);
      const joining = (async () => {
        const started = Date.now();
        try {
          await d.call('mesh.join', {meshId, invite: await a.invite(meshId), via: a.endpoint}, 30_000);
          join.ok = true;
          join.ms = Date.now() - started;
          members.push(d);
        } catch (error) {
          join.ms = Date.now() - started;
          join.error = (error as Error).message.slice(0, 300);
          return;
        }
        const all = [a, b, c, d].map((node) => ids.get(node)!);
        try {
          await waitFor(async () => (await Promise.all([a, b, c, d].map((node) => node.view(meshId)))).every((view) => all.every((id) => view.includes(id))), 15_000, 'A, B, C and D to see each other');
          join.convergedMs = Date.now() - started;
        } catch (error) {
          join.convergeError = (error as Error).message;
        }
      })();
      const changing = (async () => {
        for (let i = 0; i < MAX_CHANGES && (atFullStrength() || i < 3); i++) {
          changes.push(await change(i % 2 === 0 ? b : c, atFullStrength));
          await new Promise((resolve) => setTimeout(resolve, CHANGE_PAUSE_MS));
        }
      })();
      await Promise.all([attacking, handshaking, joining, changing]);
      // Every idle connection was opened at the start: A has had `timeout` to close them all.
      await waitFor(async () => idle!.open() === 0, A_TIMEOUT_MS + 3_000, 'A to close every idle connection').catch(() => undefined);
    } finally {
      const after = idle?.closedByPeerAfterMs() ?? [];
      idleStats = {
        connected: idle?.connected ?? 0,
        failed: idle?.failed ?? 0,
        closedByA: after.length,
        closedAtOnce: after.filter((ms) => ms < 1_000).length,
        closedAfterTimeout: after.filter((ms) => ms >= A_TIMEOUT_MS - 500).length,
        openAtEnd: idle?.open() ?? 0,
      };
      idle?.close();
      abort.abort();
      member?.kill();
      attackEnd = Date.now();
      loopDelay.disable();
    }
    const peak = sampler.maxBetween(attackStart, attackEnd);
    const loggedBytes = a.logs().length - logMark;
    note(`attack: ${((attackEnd - attackStart) / 1000).toFixed(1)} s; this process's event-loop delay p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms`);
    note(
      `attack: idle connections ${idleStats.connected} connected, ${idleStats.failed} failed to connect; ${idleStats.closedByA} closed by A (${idleStats.closedAtOnce} within 1 s, ${idleStats.closedAfterTimeout} after ~timeout), ${idleStats.openAtEnd} still open at the end`,
    );
    note(`attack: TLS handshakes without a certificate ${JSON.stringify(handshakes)}`);
    if (memberError !== undefined) note(`attack: the member attacker FAILED: ${memberError}`);
    const none = {sent: 0, bytes: 0, outcomes: {}};
    const frames = report?.frames ?? {maximalMessages: none, maximalSyncs: none, oversizedMessages: none, oversizedSyncs: none, rounds: 0};
    const syncs = report?.syncs ?? [];
    const describeFrames = (what: string, one: FrameReport) => `${what}: ${one.sent} sent (${mb(one.bytes)}), outcomes ${JSON.stringify(one.outcomes)}`;
    note(`attack: member frames in ${frames.rounds} rounds; ${describeFrames(`control messages of ${MAX_CONTROL_MESSAGE_BYTES} bytes`, frames.maximalMessages)}; ${describeFrames(`sync frames of ${MAX_SYNC_MESSAGE_BYTES} bytes`, frames.maximalSyncs)}`);
    note(`attack: member frames of ${mb(OVERSIZED_BYTES)}; ${describeFrames('control messages', frames.oversizedMessages)}; ${describeFrames('sync frames', frames.oversizedSyncs)}`);
    const syncCodes: Record<string, number> = {};
    for (const one of syncs) syncCodes[one.code] = (syncCodes[one.code] ?? 0) + 1;
    const refusedInLog = a.logLinesSince(logMark).filter((line) => line.msg === 'sync: refused' && line.code === 'INVALID_ENTRIES').length;
    note(
      `attack: ${syncs.length} sync sessions offering ${BAD_SYNC_ENTRIES} bad entries, ended with ${JSON.stringify(syncCodes)}; ` +
        `the member sent at most ${Math.max(0, ...syncs.map((one) => one.bytesSent))} bytes in ${Math.max(0, ...syncs.map((one) => one.messagesSent))} messages in one, and received at most ${Math.max(0, ...syncs.map((one) => one.bytesReceived))}; ` +
        `slowest ${Math.max(0, ...syncs.map((one) => one.ms))} ms; A logged ${refusedInLog} INVALID_ENTRIES refusals (the rest counted as suppressed)`,
    );
    for (const one of syncs.filter((session) => session.code !== 'INVALID_ENTRIES')) note(`attack: a bad sync session ended otherwise after ${one.ms} ms: ${one.error}`);
    note(`attack: join of D through A ${join.ok ? `succeeded in ${join.ms} ms` : `FAILED after ${join.ms} ms: ${join.error}`}${join.convergedMs !== undefined ? `, all four converged after ${join.convergedMs} ms` : join.convergeError ? `, ${join.convergeError}` : ''}`);
    note(`attack: changes (origin ms [missing] *=during full attack): ${changes.map((one) => `${one.origin} ${one.ms}${one.missing.length > 0 ? ` [${one.missing.join(',')}]` : ''}${one.duringAttack ? '*' : ''}`).join(', ')}`);
    note(`attack: A's RSS peak ${peak ? mb(peak.bytes) : 'not sampled'} at +${peak ? peak.at - attackStart : 0} ms (baseline ${mb(baseline)}, limit ${mb(RSS_LIMIT_BYTES)}); A ${a.running ? 'still runs' : 'EXITED'}, logged ${mb(loggedBytes)}`);

    // By hand only (WGMESH_MEASURE_RECOVERY=1): A's RSS every 10 s for a minute after the attack, against its
    // baseline. A performance figure (BENCHMARKS.md, issue 14's 1.2x), printed, not asserted: it varies by run.
    if (MEASURE_RECOVERY) {
      for (let after = 10; after <= 60; after += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10_000));
        const rss = await readRss(pid);
        note(`recovery: A's RSS ${after} s after the attack ${mb(rss)}, ${(rss / baseline).toFixed(2)}x its baseline ${mb(baseline)}`);
      }
    }
    await sampler.stop();

    // The attack was delivered in full.
    expect.soft(idleStats.connected + idleStats.failed, 'idle TCP connections attempted').toBe(IDLE_CONNECTIONS);
    expect.soft(idleStats.openAtEnd, `idle connections A had not closed ${A_TIMEOUT_MS} ms after the attack (it closes them after timeout)`).toBe(0);
    expect.soft(handshakes?.attempted, 'TLS handshakes without a certificate attempted').toBe(BARE_HANDSHAKES);
    expect.soft(frames.maximalMessages.sent + frames.maximalSyncs.sent, 'frames of the largest accepted size sent by the member').toBeGreaterThanOrEqual(FRAME_MESSAGES_PER_ROUND + FRAME_SYNCS_PER_ROUND);
    expect.soft(frames.oversizedMessages.sent + frames.oversizedSyncs.sent, 'oversized frames sent by the member').toBe(FRAME_MESSAGES_PER_ROUND + FRAME_SYNCS_PER_ROUND);
    // Refused from their length prefix: grpc-js ends the call with RESOURCE_EXHAUSTED before buffering the frame.
    expect.soft({...frames.oversizedMessages.outcomes, ...frames.oversizedSyncs.outcomes}, 'how A ended the calls carrying oversized frames').toEqual({RESOURCE_EXHAUSTED: expect.any(Number)});
    // The bad sessions reached A (which answered their hello and summaries and asked for entries) and were refused after their
    // first entries; none was taken to its end. (One the member's own load delays past A's `timeout` is cut by A instead.)
    const refused = syncs.filter((one) => one.code === 'INVALID_ENTRIES');
    expect.soft(refused.length, 'sync sessions offering 50,000 bad entries that A refused with INVALID_ENTRIES').toBeGreaterThanOrEqual(1);
    expect.soft(syncCodes.completed ?? 0, 'bad sync sessions A took to their end').toBe(0);
    expect.soft(Math.min(...refused.map((one) => one.messagesSent)), 'messages of the shortest refused bad session (its hello, summaries and first entries: A answered each)').toBeGreaterThanOrEqual(3);
    expect.soft(Math.max(...syncs.map((one) => one.bytesSent)), 'bytes the member sent in one bad session before A gave up').toBeLessThan(BAD_SYNC_MAX_BYTES_SENT);
    // What the issue asks of A under that attack.
    expect.soft(a.running, 'A survived the attack').toBe(true);
    expect.soft(peak?.bytes ?? Infinity, `A's RSS during the attack (MB): peak ${peak ? mb(peak.bytes) : '?'}, limit ${mb(RSS_LIMIT_BYTES)}`).toBeLessThan(RSS_LIMIT_BYTES);
    expect.soft(join.error ?? join.convergeError, 'the join of D through A during the attack').toBeUndefined();
    const whileAttacked = changes.filter((one) => one.duringAttack);
    expect.soft(whileAttacked.length, 'honest changes made while the attack was at full strength').toBeGreaterThanOrEqual(3);
    const slow = changes.filter((one) => one.ms > CHANGE_BOUND_MS || one.missing.length > 0).map((one) => `${one.origin}: ${one.ms} ms${one.missing.length > 0 ? `, never reached ${one.missing.join(', ')}` : ''}`);
    expect.soft(slow, `honest changes that took more than ${CHANGE_BOUND_MS} ms to reach every member (of ${changes.length})`).toEqual([]);
  }, MEASURE_RECOVERY ? 270_000 : 200_000);
});
