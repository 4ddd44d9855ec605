/**
 * `privileges`: the daemon needs root or CAP_NET_ADMIN to configure WireGuard
 * interfaces and routes. When a daemon answers, its own process is looked at
 * (a CLI user need not be root); otherwise this process, as it would be if it
 * started the daemon.
 */
import {readFile} from 'node:fs/promises';
import {hasNetAdmin, permissionMessage} from '@wgmesh/wg-kernel';
import {fail, ok, type DoctorCheck} from '../check.js';
import {kernelDriverConfig} from '../wireguard-host.js';

const NAME = 'privileges';

/** The effective uid in a /proc/PID/status text, when shown. */
function effectiveUid(status: string): number | undefined {
  const match = /^Uid:\s*\d+\s+(\d+)/m.exec(status);
  return match ? Number(match[1]) : undefined;
}

/** Root or CAP_NET_ADMIN, of the running daemon or of this process. */
export const privilegesCheck: DoctorCheck = {
  name: NAME,
  async run(context) {
    const driver = await kernelDriverConfig(context, NAME);
    if ('skipped' in driver) return driver.skipped;
    const pid = await context.daemonPid();
    const daemonStatus = pid === undefined ? undefined : await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
    const [who, status] = daemonStatus !== undefined ? [`the daemon (pid ${pid})`, daemonStatus] : ['this user', await readFile('/proc/self/status', 'utf8')];
    const uid = effectiveUid(status);
    if (hasNetAdmin(status)) return ok(NAME, uid === 0 ? `${who} runs as root` : `${who} runs as uid ${uid ?? '?'} with CAP_NET_ADMIN`);
    return fail(
      NAME,
      permissionMessage(`${who} runs as uid ${uid ?? '?'} without CAP_NET_ADMIN`),
      "run the daemon as root (sudo wgmesh daemon), or give it CAP_NET_ADMIN (systemd: AmbientCapabilities=CAP_NET_ADMIN; or setcap cap_net_admin+ep on node)",
    );
  },
};
