/**
 * `data-dir`: the data directory holds the node's private keys
 * (identity.json) and mesh authority keys (admin/*.json). It must not be
 * writable by everyone, and those files must be readable by their owner alone
 * (mode 0600), as the daemon writes them. Its format must be one this wgmesh
 * reads (an older one is migrated at start; a newer one stops the daemon).
 */
import {constants} from 'node:fs';
import {access, readdir, stat} from 'node:fs/promises';
import {join} from 'node:path';
import {DATA_DIR_FORMAT, dataDirFormat, identityFile} from '@wgmesh/core';
import {fail, ok, skip, type CheckResult, type DoctorCheck} from '../check.js';

const NAME = 'data-dir';

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

/** The files with secrets under `dataDir` that exist. */
async function secretFiles(dataDir: string): Promise<string[]> {
  const admin = join(dataDir, 'admin');
  const adminFiles = await readdir(admin).catch(() => [] as string[]);
  return [identityFile(dataDir), ...adminFiles.filter((name) => name.endsWith('.json')).map((name) => join(admin, name))];
}

/** Data dir not world-writable; key files 0600. */
export const dataDirCheck: DoctorCheck = {
  name: NAME,
  async run(context) {
    const {config, error} = await context.config();
    if (!config) return skip(NAME, `the config cannot be read: ${error}`);
    const {dataDir} = config;
    let mode: number;
    try {
      mode = (await stat(dataDir)).mode;
    } catch (statError) {
      const code = (statError as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return ok(NAME, `${dataDir} does not exist yet; the daemon creates it (mode 0700)`);
      return fail(NAME, `${dataDir} cannot be read (${code}) by this user`, 'run doctor as the user the daemon runs as (root for a system daemon)');
    }
    try {
      await access(dataDir, constants.R_OK | constants.X_OK);
    } catch {
      return skip(NAME, `this user cannot look inside ${dataDir}: run doctor as root, or as the user the daemon runs as`);
    }
    const problems: CheckResult[] = [];
    if ((mode & 0o002) !== 0) problems.push(fail(NAME, `${dataDir} is writable by everyone (mode ${octal(mode)}): anyone could replace the node's keys`, `chmod 700 ${dataDir}`));
    for (const file of await secretFiles(dataDir)) {
      let fileMode: number;
      try {
        fileMode = (await stat(file)).mode;
      } catch {
        continue;
      }
      if ((fileMode & 0o077) !== 0) problems.push(fail(NAME, `${file} holds private keys and is readable or writable by others (mode ${octal(fileMode)})`, `chmod 600 ${file}`));
    }
    const format = await dataDirFormat(dataDir).catch((formatError: unknown) => (formatError as Error).message);
    if (typeof format === 'string') problems.push(fail(NAME, format, `move ${join(dataDir, 'format.json')} away if the data dir is of this wgmesh's format (${DATA_DIR_FORMAT})`));
    else if (format !== undefined && format > DATA_DIR_FORMAT) {
      problems.push(fail(NAME, `${dataDir} has format ${format}, written by a newer wgmesh; this one reads format ${DATA_DIR_FORMAT} at most`, `run the newer wgmesh, or restore the copy in ${join(dataDir, 'backups')}`));
    }
    return problems.length > 0 ? problems : ok(NAME, `${dataDir} (mode ${octal(mode)}) and its key files are private`);
  },
};
