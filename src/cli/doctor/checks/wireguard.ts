/**
 * `wireguard`: an implementation of WireGuard the kernel driver can use: the
 * kernel module (loaded, or loadable), else the userspace one (wireguard-go,
 * or what `kernel.userspaceImplementation` / `WG_USERSPACE_IMPLEMENTATION`
 * name), as the driver itself chooses.
 */
import {chooseUserspace} from '@wgmesh/wg-kernel';
import {fail, ok, type DoctorCheck} from '../check.js';
import {kernelDriverConfig, wireguardModule} from '../wireguard-host.js';

const NAME = 'wireguard';

/** The kernel module, or a userspace implementation that runs. */
export const wireguardCheck: DoctorCheck = {
  name: NAME,
  async run(context, signal) {
    const driver = await kernelDriverConfig(context, NAME);
    if ('skipped' in driver) return driver.skipped;
    const {implementation, userspaceImplementation} = driver.config;
    const module = implementation === 'userspace' ? 'absent' : await wireguardModule();
    if (module !== 'absent') return ok(NAME, module === 'loaded' ? 'the WireGuard kernel module is loaded' : 'the WireGuard kernel module is available (loaded on first use)');
    const noModule = implementation === 'userspace' ? 'kernel.implementation is userspace' : 'the kernel has no WireGuard module';
    if (implementation === 'kernel') {
      return fail(NAME, `${noModule} and kernel.implementation is 'kernel'`, "install a kernel with WireGuard (Linux 5.6 or later), or set kernel.implementation to 'auto' to use wireguard-go");
    }
    const userspace = chooseUserspace({userspaceImplementation: userspaceImplementation ?? undefined, env: context.env});
    try {
      const {stdout} = await context.runner.run(userspace.command, ['--version'], {signal});
      const version = stdout.trim().split('\n')[0]?.slice(0, 120) ?? '';
      return ok(NAME, `${noModule}; ${userspace.command} will be used${version === '' ? '' : ` (${version})`}`);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return fail(NAME, `${noModule}, and ${why}`, `install wireguard-go (apt-get install wireguard-go), or use a kernel with the WireGuard module`);
    }
  },
};
