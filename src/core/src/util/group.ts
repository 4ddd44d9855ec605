/**
 * Turning the config's `socketGroup` (a group name or a numeric gid) into a
 * gid. Names are looked up with `getent group`, so groups from NSS sources
 * (LDAP, sssd) work as they do for `ls` and `chgrp`.
 */
import {execFile} from 'node:child_process';
import {ConfigError} from '../errors.js';

/** Time limit of the `getent` lookup. */
const LOOKUP_TIMEOUT_MS = 5000;

/**
 * The gid of `group`: the number itself for a numeric gid, else the gid
 * `getent group` reports for the name.
 * @throws ConfigError when no such group exists or the lookup fails, saying how to create it.
 */
export async function resolveGroupId(group: string): Promise<number> {
  if (/^[0-9]+$/.test(group)) return Number(group);
  const line = await new Promise<string | undefined>((resolve, reject) => {
    execFile('getent', ['group', group], {timeout: LOOKUP_TIMEOUT_MS, maxBuffer: 1024 * 1024}, (error, stdout) => {
      // getent exits 2 for "no such key".
      if (error && (error as {code?: unknown}).code === 2) resolve(undefined);
      else if (error) reject(new ConfigError(`socketGroup: cannot look up group '${group}' with getent: ${error.message}`));
      else resolve(stdout.split('\n')[0]);
    });
  });
  const gid = line?.split(':')[2];
  if (line === undefined || gid === undefined || !/^[0-9]+$/.test(gid)) {
    throw new ConfigError(`socketGroup: there is no group '${group}' on this host; create it ('groupadd --system ${group}') and add the users who may run wgmesh ('usermod -aG ${group} USER'), or remove socketGroup from the config`);
  }
  return Number(gid);
}
