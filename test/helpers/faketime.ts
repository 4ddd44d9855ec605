/**
 * Run child processes with their wall clock shifted, through libfaketime
 * (Debian package `faketime`) preloaded into them. Only the wall clock moves:
 * the monotonic clock Node's timers run on stays real, so intervals and
 * timeouts behave as usual.
 */
import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import type {Availability} from '@wgmesh/testkit';

/** Where Debian and a source build put the thread-safe library (Node is multi-threaded). */
const LIBRARY_CANDIDATES = [
  `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/faketime/libfaketimeMT.so.1`,
  '/usr/lib/faketime/libfaketimeMT.so.1',
  '/usr/local/lib/faketime/libfaketimeMT.so.1',
];

/** The preloaded library, if installed. */
function library(): string | undefined {
  return LIBRARY_CANDIDATES.find((path) => existsSync(path));
}

/**
 * Environment variables that run a process `offset` away from the real wall
 * clock, in libfaketime's relative syntax: `+1h`, `-30m`, `+90s`.
 * @throws when libfaketime is not installed (check {@link faketimeAvailable} first).
 */
export function faketimeEnv(offset: string): NodeJS.ProcessEnv {
  const preload = library();
  if (preload === undefined) throw new Error('libfaketime is not installed (apt-get install faketime)');
  return {LD_PRELOAD: preload, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1'};
}

/**
 * Whether libfaketime is installed and really shifts `Date.now()` in a Node
 * child process (probed with a one-hour offset).
 */
export function faketimeAvailable(): Availability {
  if (library() === undefined) return {ok: false, reason: 'libfaketime is not installed (apt-get install faketime)'};
  const before = Date.now();
  const probe = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(Date.now()))'], {
    env: {...process.env, ...faketimeEnv('+1h')},
    encoding: 'utf8',
    timeout: 10_000,
  });
  const shift = Number(probe.stdout) - before;
  if (probe.status !== 0 || !(shift > 3_590_000 && shift < 3_630_000)) {
    return {ok: false, reason: `libfaketime does not shift Date.now() in node here (shift ${shift} ms, exit ${probe.status}: ${probe.stderr})`};
  }
  return {ok: true};
}
