/**
 * Facts about the host's WireGuard that several checks need: whether the
 * config uses the `kernel` driver (the host checks apply only to it), its
 * `kernel` section, and whether the kernel has the WireGuard module.
 */
import {access, readFile} from 'node:fs/promises';
import {release} from 'node:os';
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

/** Where the running kernel lists its loadable modules. */
export function modulesDepFile(kernelRelease = release()): string {
  return `/lib/modules/${kernelRelease}/modules.dep`;
}

/** Whether the kernel has the WireGuard module: loaded (or built in), loadable (listed in modules.dep), or absent. */
export async function wireguardModule(): Promise<WireguardModule> {
  try {
    await access(WIREGUARD_MODULE_DIR);
    return 'loaded';
  } catch {
    // not loaded: perhaps loadable
  }
  return listsWireguard(await readFile(modulesDepFile(), 'utf8').catch(() => '')) ? 'available' : 'absent';
}

/** Whether a modules.dep text lists the WireGuard module (`.../wireguard.ko`, compressed or not). */
export function listsWireguard(modulesDep: string): boolean {
  return /(^|\/)wireguard\.ko(\.[a-z]+)?:/m.test(modulesDep);
}
