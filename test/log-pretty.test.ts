/** The log format for people: one line per pino entry, fields as key=value, nothing that can drive the terminal. */
import {describe, expect, it} from 'vitest';
import {palette} from '../src/cli/colour.js';
import {formatLogLine} from '../src/cli/log-pretty.js';

const plain = palette(false);
const time = new Date(2026, 11, 6, 9, 5, 7, 42).getTime();

describe('formatLogLine', () => {
  it('writes time, level, message and the other fields; pid and hostname are left out', () => {
    const line = JSON.stringify({level: 40, time, pid: 7, hostname: 'h', meshId: 'abc', members: 3, msg: 'hello there'});
    expect(formatLogLine(`${line}\n`, plain)).toBe('09:05:07.042 WARN  hello there meshId=abc members=3\n');
  });

  it('quotes values with spaces, shows objects as JSON and errors by their message', () => {
    const line = JSON.stringify({level: 50, time, msg: 'failed', reason: 'no route', backends: {wg: 'stub'}, err: {type: 'Error', message: 'boom', stack: 'Error: boom\n    at x'}});
    expect(formatLogLine(line, plain)).toBe('09:05:07.042 ERROR failed reason="no route" backends={"wg":"stub"} err=boom\n');
  });

  it('escapes control characters from any field, the message and the keys included', () => {
    const line = JSON.stringify({level: 30, time, msg: 'a\u001b[2Jb', peer: 'x\u009b31m', 'k\ry': 1});
    const out = formatLogLine(line, plain);
    expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(out).toBe('09:05:07.042 INFO  a\\x1b[2Jb peer="x\\x9b31m" k\\x0dy=1\n');
  });

  it('colours the level when colour is on, and passes a line that is not JSON through, escaped', () => {
    const coloured = formatLogLine(JSON.stringify({level: 50, time, msg: 'm'}), palette(true));
    expect(coloured).toContain('\u001b[31mERROR\u001b[39m');
    expect(formatLogLine('not json\u001b\n', plain)).toBe('not json\\x1b\n');
  });
});
