/**
 * The one place where a test decides to skip because the machine lacks a tool
 * or a privilege. On a developer's machine such tests skip and say why; in CI
 * (`CI=true`) or with `WGMESH_REQUIRE_ALL=1` they fail instead, naming what is
 * missing and how to install it, so a run can never pass by skipping.
 */
import {spawnSync} from 'node:child_process';

/** Whether a machine has what some tests need, and if not, why. */
export type Availability = {ok: true} | {ok: false; reason: string};

/** A test needs a tool or privilege the machine lacks, and skipping is forbidden. */
export class MissingRequirementError extends Error {
  override name = 'MissingRequirementError';
}

/** Where {@link skipWithout} reads the rule and prints why it skips. */
export interface SkipOptions {
  /** The environment that may forbid skipping (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Where the reason for a skip is printed (default `console.warn`). */
  log?: (line: string) => void;
}

/** True for the values a shell user means as "on": `1` and `true`. */
function isOn(value: string | undefined): boolean {
  return value === '1' || value?.toLowerCase() === 'true';
}

/** Whether tests must fail rather than skip: `CI=true` or `WGMESH_REQUIRE_ALL=1` (`1` and `true` both count). */
export function skippingForbidden(env: NodeJS.ProcessEnv = process.env): boolean {
  return isOn(env.CI) || isOn(env.WGMESH_REQUIRE_ALL);
}

/**
 * Decide whether the tests described by `what` skip: false when `availability`
 * is ok; true, after printing the reason, when it is not and skipping is
 * allowed; throws {@link MissingRequirementError} when skipping is forbidden.
 * Called while a file is collected (for `it.skipIf`/`describe.skipIf`) a throw
 * fails the file; called inside a test it fails that test.
 */
export function skipWithout(what: string, availability: Availability, options: SkipOptions = {}): boolean {
  if (availability.ok) return false;
  const env = options.env ?? process.env;
  if (skippingForbidden(env)) {
    const rule = isOn(env.CI) ? 'CI=true' : 'WGMESH_REQUIRE_ALL=1';
    throw new MissingRequirementError(`cannot run ${what}: ${availability.reason}. ${rule} forbids skipping them: install what is missing (.ci/run does) or run as root`);
  }
  (options.log ?? console.warn)(`skipping ${what}: ${availability.reason} (CI=true or WGMESH_REQUIRE_ALL=1 make this a failure)`);
  return true;
}

/**
 * Whether `command ...args` runs and exits 0 within 10 s; when not, the reason
 * says to install the Debian package `debianPackage`.
 */
export function commandAvailable(command: string, args: readonly string[], debianPackage: string): Availability {
  const result = spawnSync(command, args, {stdio: 'ignore', timeout: 10_000});
  if (result.status === 0) return {ok: true};
  const problem = result.error !== undefined ? `${command} is not installed` : `'${[command, ...args].join(' ')}' fails`;
  return {ok: false, reason: `${problem} (apt-get install ${debianPackage})`};
}
