/**
 * The WgDriver compliance suite: every {@link WgDriver} (bundled or
 * third-party) calls {@link describeWgDriverCompliance} from its own vitest
 * file, and the suite checks the driver-agnostic rules of the contract, one
 * file a concern: the input every driver refuses (input.ts) and the state a
 * driver keeps for an interface (interfaces.ts).
 */
import {describe} from 'vitest';
import {describeWgDriverInput} from './input.js';
import {describeWgDriverInterfaces} from './interfaces.js';
import {WgDriverBench, type WgDriverHarness} from './bench.js';

export {wgKeyPair, type WgDriverHarness, type WgKeyPair} from './bench.js';

/** How a driver's test file runs the suite. */
export interface WgDriverComplianceOptions {
  /** Skip the suite (say why first, e.g. with `skipWithout`): for a driver the machine cannot run. */
  skip?: boolean;
}

/**
 * Define the suite for one driver implementation.
 * @param name shown in the test report.
 * @param harness makes a fresh driver for every test and names its interfaces.
 */
export function describeWgDriverCompliance(name: string, harness: WgDriverHarness, options: WgDriverComplianceOptions = {}): void {
  describe.skipIf(options.skip === true)(`WgDriver compliance: ${name}`, () => {
    const bench = new WgDriverBench(harness);
    describeWgDriverInput(bench);
    describeWgDriverInterfaces(bench);
  });
}
