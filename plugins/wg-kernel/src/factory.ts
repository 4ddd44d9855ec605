/**
 * The `wg:kernel` backend factory. Kept apart from the driver so the plugin's
 * hook loads only this small module; the driver is imported when a daemon
 * actually creates the backend.
 */
import {ConfigError, defineBackend} from '@wgmesh/core/backends';
import {z} from 'zod';

/** The `kernel` section of the daemon config. */
export const kernelConfigSchema = z
  .strictObject({
    /** `auto`: the kernel module, else a userspace implementation; `kernel` or `userspace` to force one. */
    implementation: z.enum(['auto', 'kernel', 'userspace']).default('auto'),
    /** Userspace implementation to run (default: WG_USERSPACE_IMPLEMENTATION, then wireguard-go). */
    userspaceImplementation: z.string().min(1).nullable().default(null),
    /** Routing protocol number that marks wgmesh's routes (5-255). */
    routeProtocol: z.number().int().min(5).max(255).default(119),
    /** Metric of wgmesh's routes. */
    routeMetric: z.number().int().min(0).max(0xffffffff).default(1024),
    /** Metric of a default route (::/0) through an exit: above the host's own default route. */
    defaultRouteMetric: z.number().int().min(0).max(0xffffffff).default(100_000),
    /** Turn IPv6 forwarding on when this node relays for others (else only say it must be on). */
    manageForwarding: z.boolean().default(true),
  })
  .default({implementation: 'auto', userspaceImplementation: null, routeProtocol: 119, routeMetric: 1024, defaultRouteMetric: 100_000, manageForwarding: true});

/** The parsed `kernel` config section. */
export type KernelConfig = z.infer<typeof kernelConfigSchema>;

/** The daemon-wide command time limit, when the daemon config has a valid one. */
function daemonTimeoutMs(daemonConfig: Readonly<Record<string, unknown>>): number | undefined {
  const value = daemonConfig.timeoutMs;
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** Real WireGuard through `ip` and `wg` (the default driver). */
export const wgKernelBackend = defineBackend({
  kind: 'wg',
  name: 'kernel',
  description: 'Real WireGuard through ip and wg (kernel module, or wireguard-go where there is none)',
  async create(context) {
    const parsed = kernelConfigSchema.safeParse(context.config ?? undefined);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ConfigError(`config key kernel${issue && issue.path.length > 0 ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}`);
    }
    const {KernelWgDriver} = await import('./driver.js');
    const config = parsed.data;
    const driver = new KernelWgDriver({
      logger: context.logger,
      clock: context.clock,
      implementation: config.implementation,
      userspaceImplementation: config.userspaceImplementation ?? undefined,
      routeProtocol: config.routeProtocol,
      routeMetric: config.routeMetric,
      defaultRouteMetric: config.defaultRouteMetric,
      manageForwarding: config.manageForwarding,
      timeoutMs: daemonTimeoutMs(context.daemonConfig),
    });
    // A missing tool or capability stops the daemon at start, with one clear line.
    await driver.preflight(context.signal);
    return driver;
  },
});
