/**
 * `ipv6`: mesh addresses are IPv6, so IPv6 must be on in this network
 * namespace, for existing interfaces (`all`) and for new ones (`default`,
 * which WireGuard interfaces inherit).
 */
import {readFile} from 'node:fs/promises';
import {IPV6_CONF_DIR} from '@wgmesh/wg-kernel';
import {fail, ok, type DoctorCheck} from '../check.js';

const NAME = 'ipv6';

/** IPv6 present in the kernel and not disabled. */
export const ipv6Check: DoctorCheck = {
  name: NAME,
  async run() {
    const disabled: string[] = [];
    for (const scope of ['all', 'default']) {
      let value: string;
      try {
        value = (await readFile(`${IPV6_CONF_DIR}/${scope}/disable_ipv6`, 'utf8')).trim();
      } catch {
        return fail(NAME, `IPv6 is not available (no ${IPV6_CONF_DIR}): the kernel was built or booted without it`, 'boot without ipv6.disable=1 on the kernel command line (or load the ipv6 module)');
      }
      if (value !== '0') disabled.push(scope);
    }
    if (disabled.length === 0) return ok(NAME, 'IPv6 is enabled');
    const keys = disabled.map((scope) => `net.ipv6.conf.${scope}.disable_ipv6`);
    return fail(
      NAME,
      `IPv6 is disabled (${keys.map((key) => `${key}=1`).join(', ')}): mesh addresses are IPv6`,
      `sysctl -w ${keys.map((key) => `${key}=0`).join(' ')} (and remove the setting from /etc/sysctl.conf or /etc/sysctl.d to keep it after a reboot)`,
    );
  },
};
