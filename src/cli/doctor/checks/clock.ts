/**
 * `clock`: members refuse records dated more than `maxClockSkew` in their
 * future, so a clock far off breaks a node. Three signs are looked at: a
 * clock earlier than the day this copy of wgmesh was installed (certainly
 * wrong), the system's own "synchronised" flag (`timedatectl`, where systemd
 * runs), and, when the daemon answers, how far each member's clock is from
 * this node's (from the stamps of their liveness messages).
 */
import {stat} from 'node:fs/promises';
import {fileURLToPath} from 'node:url';
import type {MeshShowView} from '@wgmesh/core/client';
import {fail, ok, skip, warn, type CheckResult, type DoctorCheck} from '../check.js';
import type {DoctorContext} from '../context.js';

const NAME = 'clock';

/** How far before the install time the clock may read before it is called wrong (time zones, file copies). */
const INSTALL_SLACK_MS = 86_400_000;

const SYNC_FIX = "turn on time synchronisation: 'timedatectl set-ntp true' (systemd-timesyncd), or install chrony or ntpsec";

/** Clocks of members this far apart from this node's are worth a warning (NTP keeps hosts within milliseconds). */
export const MEMBER_CLOCK_WARN_MS = 10_000;

/** `90 s`, `12 min`, `3 h` (rounded). */
function span(ms: number): string {
  const seconds = Math.round(Math.abs(ms) / 1000);
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/**
 * How far members' clocks are from this node's, over every mesh: fail beyond
 * `maxClockSkewMs` (records and heartbeats are refused from that far), warn
 * beyond {@link MEMBER_CLOCK_WARN_MS}; undefined when no member's lag is known.
 */
export function memberClocks(meshes: readonly MeshShowView[], maxClockSkewMs: number): CheckResult | undefined {
  const lags = new Map<string, {who: string; lagMs: number}>();
  for (const mesh of meshes) {
    for (const node of mesh.nodes) {
      if (node.self || node.clockLagMs === undefined) continue;
      lags.set(node.id, {who: `${node.alias ?? node.id.slice(0, 12)} (${node.address})`, lagMs: node.clockLagMs});
    }
  }
  if (lags.size === 0) return undefined;
  const off = [...lags.values()].filter((lag) => Math.abs(lag.lagMs) > MEMBER_CLOCK_WARN_MS).sort((a, b) => Math.abs(b.lagMs) - Math.abs(a.lagMs));
  if (off.length === 0) return ok(NAME, `the clocks of ${lags.size} member${lags.size === 1 ? '' : 's'} are within ${MEMBER_CLOCK_WARN_MS / 1000} s of this node's`);
  const listed = off.map((lag) => `${lag.who} ${span(lag.lagMs)} ${lag.lagMs > 0 ? 'behind' : 'ahead'}`).join(', ');
  const detail = `${off.length} of ${lags.size} members' clocks differ from this node's: ${listed}`;
  const fix = 'synchronise the clocks of those hosts and this one (NTP); when most members differ from this node the same way, this node\'s clock is the wrong one';
  if (off.some((lag) => Math.abs(lag.lagMs) > maxClockSkewMs)) return fail(NAME, `${detail}; beyond maxClockSkew (${span(maxClockSkewMs)}) their records and heartbeats are refused`, fix);
  return warn(NAME, detail, fix);
}

/** The line about members' clocks, when the daemon answers and knows any. */
async function membersLine(context: DoctorContext): Promise<CheckResult[]> {
  const [daemon, {config}] = await Promise.all([context.daemon(), context.config()]);
  if (!daemon.reachable || !config) return [];
  const result = memberClocks(daemon.meshes, config.maxClockSkewMs);
  return result === undefined ? [] : [result];
}

/** This host's clock, against the install time and its synchronisation flag. */
async function localLine(context: DoctorContext, signal: AbortSignal): Promise<CheckResult> {
  const now = Date.now();
  const installed = (await stat(fileURLToPath(import.meta.url))).mtimeMs;
  if (now < installed - INSTALL_SLACK_MS) {
    return fail(NAME, `the clock reads ${new Date(now).toISOString()}, before this wgmesh was installed (${new Date(installed).toISOString()}): it is wrong, and members will refuse what this node signs`, SYNC_FIX);
  }
  let answer: string;
  try {
    answer = (await context.runner.run('timedatectl', ['show', '--property=NTPSynchronized', '--value'], {signal})).stdout.trim();
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return skip(NAME, `the clock reads ${new Date(now).toISOString()}; whether it is synchronised cannot be told here (${why})`);
  }
  if (answer === 'yes') return ok(NAME, `the clock is synchronised (${new Date(now).toISOString()})`);
  return warn(NAME, `the clock is not synchronised (timedatectl says NTPSynchronized=${answer.slice(0, 20)}): members refuse records dated more than maxClockSkew ahead of theirs`, SYNC_FIX);
}

/** The clock is not before the install, is synchronised where the system can tell, and agrees with the members'. */
export const clockCheck: DoctorCheck = {
  name: NAME,
  async run(context, signal) {
    return [await localLine(context, signal), ...(await membersLine(context))];
  },
};
