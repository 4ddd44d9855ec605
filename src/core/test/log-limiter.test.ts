/** The log limiter: a share of lines per (cause, remote) and per cause, the rest counted and summarised once per window. */
import {describe, expect, it} from 'vitest';
import {DaemonMetrics} from '../src/metrics/daemon-metrics.js';
import {SimulatedClock, recordingLogger, silentLogger} from '@wgmesh/testkit';
import {LogLimiter} from '../src/util/log-limiter.js';
import {samplesOf} from './metrics-text.js';

function setup(options: {perRemote?: number; perCause?: number; maxRemotes?: number} = {}) {
  const clock = new SimulatedClock();
  const logger = recordingLogger();
  const limiter = new LogLimiter({clock, windowMs: 10_000, ...options});
  return {clock, logger, limiter};
}

describe('LogLimiter', () => {
  it('logs the first lines of a (cause, remote), counts the rest, and summarises them once at the end of the window', async () => {
    const {clock, logger, limiter} = setup({perRemote: 3});
    const logged = Array.from({length: 100}, () => limiter.log(logger, 'warn', 'tls-refused', '10.0.0.1', {reason: 'x'}, 'refused a connection'));
    expect(logged.filter(Boolean)).toHaveLength(3);
    expect(logger.lines).toHaveLength(3);
    expect(logger.lines[0]).toMatchObject({level: 'warn', msg: 'refused a connection', obj: {reason: 'x', cause: 'tls-refused', remote: '10.0.0.1'}});
    expect(limiter.suppressed().get('tls-refused')).toBe(97);

    await clock.advance(10_000);
    expect(logger.lines).toHaveLength(4);
    expect(logger.lines[3]).toMatchObject({level: 'warn', obj: {cause: 'tls-refused', suppressed: 97}});
    expect(logger.lines[3]?.msg).toMatch(/^97 more like this suppressed in the last 10 s/);

    // A new window: the remote gets its share again, and the total keeps counting.
    expect(limiter.log(logger, 'warn', 'tls-refused', '10.0.0.1', {}, 'refused a connection')).toBe(true);
    for (let i = 0; i < 5; i++) limiter.log(logger, 'warn', 'tls-refused', '10.0.0.1', {}, 'refused a connection');
    expect(limiter.suppressed().get('tls-refused')).toBe(100);
  });

  it('writes no summary for a window that suppressed nothing', async () => {
    const {clock, logger, limiter} = setup({perRemote: 3});
    limiter.log(logger, 'info', 'c', 'r', {}, 'one');
    await clock.advance(30_000);
    expect(logger.lines.map((line) => line.msg)).toEqual(['one']);
    expect(limiter.suppressed().size).toBe(0);
  });

  it('keeps causes and remotes apart, and caps a cause across remotes', () => {
    const {logger, limiter} = setup({perRemote: 2, perCause: 5});
    for (let i = 0; i < 4; i++) limiter.log(logger, 'warn', 'a', 'r1', {}, 'a');
    for (let i = 0; i < 4; i++) limiter.log(logger, 'warn', 'b', 'r1', {}, 'b');
    expect(logger.lines.map((line) => line.msg)).toEqual(['a', 'a', 'b', 'b']);
    // Many remotes: each may log, but the cause stops at perCause lines per window.
    for (let i = 0; i < 100; i++) limiter.log(logger, 'warn', 'c', `r${i}`, {}, 'c');
    expect(logger.lines.filter((line) => line.msg === 'c')).toHaveLength(5);
    expect(Object.fromEntries(limiter.suppressed())).toEqual({a: 2, b: 2, c: 95});
  });

  it('tracks at most maxRemotes remotes per window; lines from others are suppressed', () => {
    const {logger, limiter} = setup({perRemote: 1, perCause: 1_000, maxRemotes: 10});
    for (let i = 0; i < 50; i++) limiter.log(logger, 'warn', 'c', `r${i}`, {}, 'c');
    expect(logger.lines).toHaveLength(10);
    expect(limiter.suppressed().get('c')).toBe(40);
  });

  it('close() writes the pending summaries and stops its timer', () => {
    const {clock, logger, limiter} = setup({perRemote: 1});
    limiter.log(logger, 'warn', 'c', 'r', {}, 'c');
    limiter.log(logger, 'warn', 'c', 'r', {}, 'c');
    limiter.close();
    expect(logger.lines.map((line) => line.obj)).toEqual([expect.objectContaining({cause: 'c'}), {cause: 'c', suppressed: 1}]);
    expect(clock.pending).toBe(1); // cancelled, not yet due
  });

  it('is exported as wgmesh_log_lines_suppressed_total per cause', async () => {
    const {logger, limiter} = setup({perRemote: 1});
    for (let i = 0; i < 7; i++) limiter.log(logger, 'warn', 'tls-refused', 'r', {}, 'x');
    const metrics = new DaemonMetrics({
      source: {meshes: () => [], dns: () => undefined, suppressedLogLines: () => limiter.suppressed()},
      nodeId: '0'.repeat(32),
      backends: {store: 's', transport: 't', wg: 'w'},
      clock: new SimulatedClock(),
      logger: silentLogger(),
      processMetrics: false,
    });
    const samples = samplesOf((await metrics.render()).body, 'wgmesh_log_lines_suppressed_total', {cause: 'tls-refused'});
    expect(samples.map((sample) => sample.value)).toEqual([6]);
  });
});
