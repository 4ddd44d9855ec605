/** Shared set-up for the twophase-specific tests. */
import type {Clock, MeshStore} from '@wgmesh/core';
import {FIXTURE_NOW, recordingLogger, SimulatedClock, type RecordingLogger} from '@wgmesh/testkit';
import {TwoPhaseStore} from '@wgmesh/store-twophase';

/** Horizon and skew the twophase tests open stores with. */
export const GC_HORIZON_MS = 3_600_000;
export const CLOCK_SKEW_MS = 60_000;

/** Open a twophase store on a simulated clock a little after the fixtures' time. */
export function openStore(meshId: string, logger: RecordingLogger = recordingLogger(), clock: Clock = new SimulatedClock(FIXTURE_NOW + 10_000)): MeshStore {
  return new TwoPhaseStore({meshId, clock, logger, gcHorizonMs: GC_HORIZON_MS, maxClockSkewMs: CLOCK_SKEW_MS});
}

/** Hex of bytes, for readable comparisons. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
