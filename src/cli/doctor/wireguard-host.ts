/**
 * Facts about the host's WireGuard that several checks need: whether the
 * config uses the `kernel` driver (the host checks apply only to it), its
 * `kernel` section, and whether the kernel has the WireGuard module.
 */
import {access} from 'node:fs/promises';
import {kernelConfigSchema, type KernelConfig} from '@wgmesh/wg-kernel';
import {skip, type CheckResult} from './check.js';
import type {DoctorContext} from './context.js';

/** Where a loaded WireGuard module shows. */
export const WIREGUARD_MODULE_DIR = '/sys/module/wireguard';

/**
 * The `kernel` section when the daemon would use the kernel driver (an
 * unreadable config counts as the default driver, whose needs are the
 * strictest); otherwise a `skip` line for `name` saying which driver it uses.
 */
export async function kernelDriverConfig(context: DoctorContext, name: string): Promise<{config: KernelConfig} | {skipped: CheckResult}> {
  const {config} = await context.config();
  if (config && config.wgDriver !== 'kernel') return {skipped: skip(name, `the config uses the '${config.wgDriver}' WireGuard driver, not 'kernel'`)};
  const parsed = kernelConfigSchema.safeParse(config?.sections.kernel);
  return {config: parsed.success ? parsed.data : kernelConfigSchema.parse(undefined)};
}

/** How the kernel stands on WireGuard: module loaded, loadable on demand, or absent. */
export type WireguardModule = 'loaded' | 'available' | 'absent';

/** Whether the kernel has the WireGuard module (`modinfo` decides "available"; a missing `modinfo` counts as absent). */
export async function wireguardModule(context: DoctorContext, signal: AbortSignal): Promise<WireguardModule> {
  try {
    await access(WIREGUARD_MODULE_DIR);
    return 'loaded';
  } catch {
    // not loaded: perhaps loadable
  }
  try {
    await context.runner.run('modinfo', ['-n', 'wireguard'], {signal});
    return 'available';
  } catch {
    return 'absent';
  }
}
