/** File-system checks shared by the tests of the daemon's data dir. */
import {readdir} from 'node:fs/promises';

/** Every file under `dir` whose name ends in `.tmp` (paths relative to `dir`). */
export async function tempFilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {recursive: true});
  return entries.filter((name) => name.endsWith('.tmp'));
}
