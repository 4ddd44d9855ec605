/**
 * `clock`: members refuse records dated more than `maxClockSkew` in their
 * future, so a clock far off breaks a node. Two signs are looked at: a clock
 * earlier than the day this copy of wgmesh was installed (certainly wrong),
 * and the system's own "synchronised" flag (`timedatectl`, where systemd runs).
 */
import {stat} from 'node:fs/promises';
import {fileURLToPath} from 'node:url';
import {fail, ok, skip, warn, type DoctorCheck} from '../check.js';

const NAME = 'clock';

/** How far before the install time the clock may read before it is called wrong (time zones, file copies). */
const INSTALL_SLACK_MS = 86_400_000;

const SYNC_FIX = "turn on time synchronisation: 'timedatectl set-ntp true' (systemd-timesyncd), or install chrony or ntpsec";

/** The clock is not before the install, and is synchronised where the system can tell. */
export const clockCheck: DoctorCheck = {
  name: NAME,
  async run(context, signal) {
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
  },
};
