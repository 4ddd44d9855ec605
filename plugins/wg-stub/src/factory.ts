/**
 * The `wg:stub` backend factory. Kept apart from the driver so the plugin's
 * hook loads only this small module; the driver is imported when a daemon
 * actually creates the backend.
 */
import {defineBackend} from '@wgmesh/core/backends';
import {z} from 'zod';

/** The `stub` section of the daemon config. */
export const stubConfigSchema = z
  .strictObject({
    /** Mirror the driver's state to `<dataDir>/wg-stub/state.json` after every change (default true). */
    mirrorState: z.boolean().default(true),
  })
  .default({mirrorState: true});

/** The in-memory WireGuard driver, for tests and CI. */
export const wgStubBackend = defineBackend({
  kind: 'wg',
  name: 'stub',
  description: 'In-memory WireGuard driver for tests and CI: configures nothing, records everything',
  configSchema: stubConfigSchema,
  async create(context, config) {
    const [{StubWgDriver}, {stubStateFile}] = await Promise.all([import('./driver.js'), import('./state.js')]);
    return new StubWgDriver({
      stateFile: config.mirrorState ? stubStateFile(context.dataDir) : undefined,
      logger: context.logger,
    });
  },
});
