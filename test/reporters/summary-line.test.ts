/**
 * Runs vitest in a child process on the fixture files in
 * test/fixtures/summary-line (a failing beforeAll, a failing afterAll, an
 * unhandled rejection, a failing import and a passing file) and checks the
 * summary line the project's reporter prints, and vitest's exit code.
 */
import {execFile} from 'node:child_process';
import {join, resolve} from 'node:path';
import {describe, expect, it} from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const CONFIG = join(ROOT, 'test', 'fixtures', 'summary-line', 'vitest.config.ts');

/** Run the fixture files whose names contain one of `filters` (all when empty). */
function runFixtures(filters: readonly string[]): Promise<{code: number; stdout: string; stderr: string}> {
  // The child is a fresh vitest: none of this worker's VITEST_* variables.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST')));
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [VITEST, 'run', '--config', CONFIG, ...filters],
      {cwd: ROOT, env: {...env, NO_COLOR: '1'}, timeout: 60_000, maxBuffer: 8 * 1024 * 1024},
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolvePromise({code, stdout, stderr});
      },
    );
  });
}

/** The summary lines in a run's output. */
function summaryLines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => line.startsWith('Tests: '));
}

describe('the summary-line reporter', {timeout: 90_000}, () => {
  it('counts failed hooks, an unhandled rejection and a failed import as failures', async () => {
    const run = await runFixtures([]);
    // before-all: 2 tests that never ran; after-all: 1 passed + its hook;
    // unhandled: 1 passed + the rejection; import: the file; passing: 2 passed, 1 skipped.
    expect(summaryLines(run.stdout), run.stdout + run.stderr).toEqual(['Tests: 4 passed, 5 failed, 1 skipped']);
    expect(run.code).toBe(1);
  });

  it('counts each kind of failure on its own', async () => {
    const cases: ReadonlyArray<[string, string]> = [
      ['before-all', 'Tests: 0 passed, 2 failed, 0 skipped'],
      ['after-all', 'Tests: 1 passed, 1 failed, 0 skipped'],
      ['unhandled', 'Tests: 1 passed, 1 failed, 0 skipped'],
      ['import', 'Tests: 0 passed, 1 failed, 0 skipped'],
    ];
    for (const [fixture, line] of cases) {
      const run = await runFixtures([`${fixture}.fixture`]);
      expect(summaryLines(run.stdout), `${fixture}: ${run.stdout}${run.stderr}`).toEqual([line]);
      expect(run.code, fixture).toBe(1);
    }
  });

  it('reports a passing run as passing, with its deliberate skip', async () => {
    const run = await runFixtures(['passing.fixture']);
    expect(summaryLines(run.stdout), run.stdout + run.stderr).toEqual(['Tests: 2 passed, 0 failed, 1 skipped']);
    expect(run.code).toBe(0);
  });
});
