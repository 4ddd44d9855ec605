/**
 * The shape of one `wgmesh doctor` check and how the checks are run: each in
 * parallel with the others and each within a time limit, so one stuck probe
 * (a daemon that accepts and never answers, a hung tool) costs its own line,
 * never the whole report.
 */
import type {DoctorContext} from './context.js';

/** How a check came out: `fail` makes `doctor` exit non-zero; `skip` means it does not apply here. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

/** One line of the report. */
export interface CheckResult {
  /** Short stable name of the check (`tools`, `ports`, ...); a check may report several lines under one name. */
  name: string;
  status: CheckStatus;
  /** What was found. */
  detail: string;
  /** What to do about it; null when there is nothing to do. */
  fix: string | null;
}

/** A check: one small module with one job, see checks/. */
export interface DoctorCheck {
  /** The name its results carry. */
  readonly name: string;
  /** Look at the host (and the daemon, through the context) and report one or more lines. */
  run(context: DoctorContext, signal: AbortSignal): Promise<CheckResult | CheckResult[]>;
}

/** Default time one check may take: room for two probes in a row (a status call then mesh show; ip then wg). */
export const CHECK_TIMEOUT_MS = 10_000;

/** A result without a fix. */
export function ok(name: string, detail: string): CheckResult {
  return {name, status: 'ok', detail, fix: null};
}

/** A result that does not apply to this host. */
export function skip(name: string, detail: string): CheckResult {
  return {name, status: 'skip', detail, fix: null};
}

/** A problem that may matter, with what to do. */
export function warn(name: string, detail: string, fix: string): CheckResult {
  return {name, status: 'warn', detail, fix};
}

/** A problem that stops wgmesh from working, with what to do. */
export function fail(name: string, detail: string, fix: string): CheckResult {
  return {name, status: 'fail', detail, fix};
}

/** Run one check within `timeoutMs`; a check that throws or runs out of time reports a `fail` line of its own. */
export async function runCheck(check: DoctorCheck, context: DoctorContext, timeoutMs = CHECK_TIMEOUT_MS): Promise<CheckResult[]> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<CheckResult[]>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve([fail(check.name, `the check did not finish within ${timeoutMs} ms`, 'run it again; if it keeps timing out, look for a hung process (a stuck daemon or tool)')]);
    }, timeoutMs);
  });
  const work = check.run(context, controller.signal).then(
    (result) => (Array.isArray(result) ? result : [result]),
    (error: unknown) => [fail(check.name, `the check itself failed: ${error instanceof Error ? error.message : String(error)}`, 'report this as a wgmesh bug, with the message')],
  );
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Run every check at once; results in the order of `checks`. */
export async function runChecks(checks: readonly DoctorCheck[], context: DoctorContext, timeoutMs = CHECK_TIMEOUT_MS): Promise<CheckResult[]> {
  return (await Promise.all(checks.map((check) => runCheck(check, context, timeoutMs)))).flat();
}
