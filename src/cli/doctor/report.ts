/**
 * The doctor's report: one line per result for people, and the JSON
 * document for `--json`.
 */
import type {Palette} from '../colour.js';
import type {CheckResult, CheckStatus} from './check.js';

/** `wgmesh doctor --json`. */
export interface DoctorReport {
  /** The worst status of any check (`skip` counts as `ok`). */
  status: 'ok' | 'warn' | 'fail';
  checks: CheckResult[];
}

/** The report of `results`. */
export function doctorReport(results: CheckResult[]): DoctorReport {
  const status = results.some((result) => result.status === 'fail') ? 'fail' : results.some((result) => result.status === 'warn') ? 'warn' : 'ok';
  return {status, checks: results};
}

const TAGS: Record<CheckStatus, string> = {ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: 'skip'};

/** One line per check (`STATUS  name  detail; fix: ...`), then an empty line and a summary line. */
export function renderReport(report: DoctorReport, colour: Palette): string {
  const width = Math.max(...report.checks.map((result) => result.name.length), 4);
  const paint: Record<CheckStatus, (text: string) => string> = {ok: colour.green, warn: colour.yellow, fail: colour.red, skip: colour.dim};
  const lines = report.checks.map((result) => {
    const fix = result.fix === null ? '' : `; ${colour.bold('fix:')} ${result.fix}`;
    return `${paint[result.status](TAGS[result.status].padEnd(4))}  ${result.name.padEnd(width)}  ${result.detail}${fix}`;
  });
  const count = (status: CheckStatus) => report.checks.filter((result) => result.status === status).length;
  const failed = count('fail');
  const warned = count('warn');
  const summary = failed + warned === 0 ? 'no problems found' : [failed > 0 ? `${failed} failed` : '', warned > 0 ? `${warned} warning${warned === 1 ? '' : 's'}` : ''].filter(Boolean).join(', ');
  return [...lines, '', summary].join('\n');
}
