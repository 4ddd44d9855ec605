/**
 * Prints one plain closing line, `Tests: N passed, N failed, N skipped`, after
 * vitest's own report, so CI systems that read a plain summary line can count
 * the run without parsing vitest's coloured output.
 *
 * The line never reads `0 failed` for a run vitest fails. `failed` counts:
 * - every failed test;
 * - every test that never ran because a hook around it (`beforeAll`, a file's
 *   set-up) failed: vitest reports those as skipped, but nothing skipped them on
 *   purpose;
 * - one for each file or suite whose own error is not already counted through
 *   its tests: a file that failed to import, an `afterAll` that threw;
 * - one for each unhandled error (a rejection nobody awaited, an error thrown
 *   after a test ended);
 * - tests that never finished, and one for the run itself when vitest still
 *   ends it as failed or interrupted with nothing else counted.
 * `skipped` counts only tests skipped on purpose (`it.skip`, `skipIf`,
 * `ctx.skip()`, `todo`).
 */
import type {Reporter, SerializedError, TestCase, TestModule, TestRunEndReason, TestSuite} from 'vitest/node';

/** The three numbers of the summary line. */
interface SummaryCounts {
  passed: number;
  failed: number;
  skipped: number;
}

/** Whether a suite or file ended with an error of its own (a failed hook or import). */
function hasErrors(entity: TestSuite | TestModule): boolean {
  return entity.errors().length > 0;
}

/** The suite or file with its own error closest around `test`, if any. */
function failedAncestor(test: TestCase): TestSuite | TestModule | undefined {
  let entity: TestSuite | TestModule = test.parent;
  for (;;) {
    if (hasErrors(entity)) return entity;
    if (entity.type === 'module') return undefined;
    entity = entity.parent;
  }
}

/** Count a finished run the way the summary line reports it. */
function countRun(
  testModules: ReadonlyArray<TestModule>,
  unhandledErrors: ReadonlyArray<SerializedError>,
  reason: TestRunEndReason,
): SummaryCounts {
  const counts: SummaryCounts = {passed: 0, failed: 0, skipped: 0};
  // Suites and files whose error is already counted through the tests it stopped.
  const counted = new Set<TestSuite | TestModule>();
  for (const module of testModules) {
    for (const test of module.children.allTests()) {
      const state = test.result().state;
      if (state === 'passed') counts.passed++;
      else if (state === 'failed' || state === 'pending') counts.failed++;
      else {
        const deliberate = test.options.mode === 'skip' || test.options.mode === 'todo';
        const blocker = deliberate ? undefined : failedAncestor(test);
        if (blocker === undefined) counts.skipped++;
        else {
          counts.failed++;
          counted.add(blocker);
        }
      }
    }
    for (const entity of [module, ...module.children.allSuites()]) {
      if (hasErrors(entity) && !counted.has(entity)) counts.failed++;
    }
  }
  counts.failed += unhandledErrors.length;
  if (reason !== 'passed' && counts.failed === 0) counts.failed = 1;
  return counts;
}

/** Format the counts as the one plain line CI reads. */
function summaryLine(counts: SummaryCounts): string {
  return `Tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`;
}

/** The vitest reporter that prints the summary line at the end of a run. */
export default class SummaryLineReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    reason: TestRunEndReason,
  ): void {
    process.stdout.write(`\n${summaryLine(countRun(testModules, unhandledErrors, reason))}\n`);
  }
}
