/**
 * `tun`: /dev/net/tun, which wireguard-go needs (the kernel module does not).
 * It must be a character device this process can open for reading and writing.
 */
import {open, stat} from 'node:fs/promises';
import {fail, ok, warn, type DoctorCheck} from '../check.js';
import {kernelDriverConfig, wireguardModule} from '../wireguard-host.js';

const NAME = 'tun';

/** The TUN device's path. */
export const TUN_DEVICE = '/dev/net/tun';

const FIX = `create it: mkdir -p /dev/net && mknod ${TUN_DEVICE} c 10 200 && chmod 0666 ${TUN_DEVICE} (in a container: --device ${TUN_DEVICE}, and --cap-add NET_ADMIN)`;

/** Why the device is unusable, or undefined when it opens. */
async function problem(): Promise<string | undefined> {
  try {
    if (!(await stat(TUN_DEVICE)).isCharacterDevice()) return `${TUN_DEVICE} is not a character device`;
    await (await open(TUN_DEVICE, 'r+')).close();
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${TUN_DEVICE} does not exist`;
    if (code === 'EACCES' || code === 'EPERM') return `${TUN_DEVICE} cannot be opened by this user (${code})`;
    return `${TUN_DEVICE} cannot be opened: ${(error as Error).message}`;
  }
}

/** /dev/net/tun usable; needed only where WireGuard runs in userspace. */
export const tunCheck: DoctorCheck = {
  name: NAME,
  async run(context) {
    const driver = await kernelDriverConfig(context, NAME);
    if ('skipped' in driver) return driver.skipped;
    const why = await problem();
    if (why === undefined) return ok(NAME, `${TUN_DEVICE} opens`);
    const module = driver.config.implementation === 'userspace' ? 'absent' : await wireguardModule();
    if (module !== 'absent') return warn(NAME, `${why} (not needed while the WireGuard kernel module is used)`, FIX);
    if (/cannot be opened by this user/.test(why)) return warn(NAME, `${why}; the daemon runs wireguard-go, which needs it, as root`, 'run the daemon as root, or check as root: sudo wgmesh doctor');
    return fail(NAME, `${why}; wireguard-go needs it`, FIX);
  },
};
