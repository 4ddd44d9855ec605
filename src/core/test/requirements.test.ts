/** The shared rule for tests that need a tool or privilege: skip with a reason, or fail in CI. */
import {describe, expect, it} from 'vitest';
import {commandAvailable, MissingRequirementError, skippingForbidden, skipWithout} from '@wgmesh/testkit';

const MISSING = {ok: false, reason: 'dig is not installed (apt-get install dnsutils)'} as const;

describe('skippingForbidden', () => {
  it('is on for CI=true and WGMESH_REQUIRE_ALL=1, in either spelling, and off otherwise', () => {
    expect(skippingForbidden({CI: 'true'})).toBe(true);
    expect(skippingForbidden({CI: '1'})).toBe(true);
    expect(skippingForbidden({WGMESH_REQUIRE_ALL: '1'})).toBe(true);
    expect(skippingForbidden({WGMESH_REQUIRE_ALL: 'TRUE'})).toBe(true);
    expect(skippingForbidden({})).toBe(false);
    expect(skippingForbidden({CI: 'false', WGMESH_REQUIRE_ALL: '0'})).toBe(false);
    expect(skippingForbidden({CI: ''})).toBe(false);
  });
});

describe('skipWithout', () => {
  it('does not skip what is available, and prints nothing', () => {
    const lines: string[] = [];
    expect(skipWithout('the dig checks', {ok: true}, {env: {CI: 'true'}, log: (line) => lines.push(line)})).toBe(false);
    expect(skipWithout('the dig checks', {ok: true}, {env: {}, log: (line) => lines.push(line)})).toBe(false);
    expect(lines).toEqual([]);
  });

  it('skips what is missing on a developer machine and says why', () => {
    const lines: string[] = [];
    expect(skipWithout('the dig checks', MISSING, {env: {}, log: (line) => lines.push(line)})).toBe(true);
    expect(lines).toEqual([
      'skipping the dig checks: dig is not installed (apt-get install dnsutils) (CI=true or WGMESH_REQUIRE_ALL=1 make this a failure)',
    ]);
  });

  it('fails instead of skipping under CI=true or WGMESH_REQUIRE_ALL=1, naming what is missing', () => {
    const lines: string[] = [];
    const log = (line: string): void => void lines.push(line);
    expect(() => skipWithout('the dig checks', MISSING, {env: {CI: 'true'}, log})).toThrow(MissingRequirementError);
    expect(() => skipWithout('the dig checks', MISSING, {env: {CI: 'true'}, log})).toThrow(
      'cannot run the dig checks: dig is not installed (apt-get install dnsutils). CI=true forbids skipping them: install what is missing (.ci/run does) or run as root',
    );
    expect(() => skipWithout('the dig checks', MISSING, {env: {WGMESH_REQUIRE_ALL: '1'}, log})).toThrow(/^cannot run the dig checks: .*\. WGMESH_REQUIRE_ALL=1 forbids skipping them/);
    expect(lines).toEqual([]);
  });
});

describe('commandAvailable', () => {
  it('finds a command that runs', () => {
    expect(commandAvailable(process.execPath, ['--version'], 'nodejs')).toEqual({ok: true});
  });

  it('names the package to install for a command that is not there', () => {
    expect(commandAvailable('wgmesh-no-such-tool-7f3a', ['--version'], 'wgmesh-tools')).toEqual({
      ok: false,
      reason: 'wgmesh-no-such-tool-7f3a is not installed (apt-get install wgmesh-tools)',
    });
  });

  it('says which command fails when one is there but exits non-zero', () => {
    expect(commandAvailable(process.execPath, ['-e', 'process.exit(3)'], 'nodejs')).toEqual({
      ok: false,
      reason: `'${process.execPath} -e process.exit(3)' fails (apt-get install nodejs)`,
    });
  });
});
