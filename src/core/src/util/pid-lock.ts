/**
 * A pid file that keeps two daemons off one data dir (two daemons writing the
 * same state files would corrupt each other). A lock left by a dead process is
 * taken over.
 */
import {open, readFile, rm} from 'node:fs/promises';
import {DataDirLockedError} from '../errors.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Create `file` holding this process's pid, or fail when a live process holds it.
 * @returns a function that releases the lock
 */
export async function acquirePidLock(file: string, dataDir: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return async () => rm(file, {force: true});
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number.parseInt((await readFile(file, 'utf8').catch(() => '')).trim(), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw new DataDirLockedError(dataDir, pid);
      await rm(file, {force: true});
    }
  }
  throw new DataDirLockedError(dataDir);
}
