/** A BackendContext for tests that create a backend through its factory, as the daemon does. */
import type {BackendContext} from '@wgmesh/core';
import {recordingLogger} from './signed-fixtures.js';
import {SimulatedClock} from './simulated-clock.js';

/**
 * A context with an empty config section, a recording logger, a data dir that
 * does not exist, a placeholder identity, a simulated clock and fixed
 * randomness; `overrides` replace any of them.
 */
export function testBackendContext(overrides: Partial<BackendContext> = {}): BackendContext {
  return {
    config: {},
    daemonConfig: {},
    logger: recordingLogger(),
    dataDir: '/nonexistent',
    signal: new AbortController().signal,
    identity: {nodeId: '0'.repeat(32), signingKey: 'A'.repeat(43) + '=', wgPublicKey: 'A'.repeat(43) + '='},
    clock: new SimulatedClock(),
    random: {float: () => 0.5, bytes: (n) => new Uint8Array(n)},
    ...overrides,
  };
}
