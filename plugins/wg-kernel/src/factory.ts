/**
 * The `wg:kernel` backend factory. Kept apart from the driver so the plugin's
 * hook loads only this small module; the driver is imported when a daemon
 * actually creates the backend.
 */
import {defineBackend} from '@wgmesh/core/backends';
import {z} from 'zod';
import {DEFAULT_EXIT_RULE_PRIORITY, DEFAULT_EXIT_TABLE, DEFAULT_FWMARK, MIN_EXIT_RULE_PRIORITY} from './exit-defaults.js';

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
    /** Metric of a default route (::/0) through an exit, in its routing table (ranks wgmesh's default routes among themselves). */
    defaultRouteMetric: z.number().int().min(0).max(0xffffffff).default(100_000),
    /** Firewall mark of WireGuard's own packets, which never use a default route through an exit. */
    fwmark: z.number().int().min(1).max(0xffffffff).default(DEFAULT_FWMARK),
    /** Routing table of default routes through an exit (not 253-255, the kernel's own). */
    defaultRouteTable: z
      .number()
      .int()
      .min(1)
      .max(0xffffffff)
      .refine((table) => table < 253 || table > 255, 'tables 253 (default), 254 (main) and 255 (local) are the kernel\'s own: choose another')
      .default(DEFAULT_EXIT_TABLE),
    /** Priority of the rule 'not fwmark FWMARK lookup TABLE': after main and default (32766, 32767), so a host's own default route wins. */
    defaultRouteRulePriority: z.number().int().min(MIN_EXIT_RULE_PRIORITY).max(0xffffffff).default(DEFAULT_EXIT_RULE_PRIORITY),
    /** Turn IPv6 forwarding on when this node relays for others (else only say it must be on). */
    manageForwarding: z.boolean().default(true),
  })
  .default({
    implementation: 'auto',
    userspaceImplementation: null,
    routeProtocol: 119,
    routeMetric: 1024,
    defaultRouteMetric: 100_000,
    fwmark: DEFAULT_FWMARK,
    defaultRouteTable: DEFAULT_EXIT_TABLE,
    defaultRouteRulePriority: DEFAULT_EXIT_RULE_PRIORITY,
    manageForwarding: true,
  });

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
  configSchema: kernelConfigSchema,
  async create(context, config) {
    const {KernelWgDriver} = await import('./driver.js');
    const driver = new KernelWgDriver({
      logger: context.logger,
      clock: context.clock,
      implementation: config.implementation,
      userspaceImplementation: config.userspaceImplementation ?? undefined,
      routeProtocol: config.routeProtocol,
      routeMetric: config.routeMetric,
      defaultRouteMetric: config.defaultRouteMetric,
      fwmark: config.fwmark,
      defaultRouteTable: config.defaultRouteTable,
      defaultRouteRulePriority: config.defaultRouteRulePriority,
      manageForwarding: config.manageForwarding,
      timeoutMs: daemonTimeoutMs(context.daemonConfig),
    });
    // A missing tool or capability stops the daemon at start, with one clear line.
    await driver.preflight(context.signal);
    return driver;
  },
});
