/** Small file helpers: atomic writes (nothing half-written on a crash) and validated reads. */
import {randomBytes} from 'node:crypto';
import {mkdir, open, readFile, rename, rm} from 'node:fs/promises';
import {dirname} from 'node:path';
import type {z} from 'zod';
import {DecodeError} from '../errors.js';

/**
 * Write `data` to `file` atomically: write a temporary file beside it with
 * `mode`, fsync it, then rename it over the target. The directory is created
 * (0700) only when it is missing: the daemon saves mesh state often (every own
 * change, and news every few seconds), and a recursive mkdir on each save was a
 * noticeable share of its CPU.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  let handle;
  try {
    handle = await open(temp, 'w', mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await mkdir(dirname(file), {recursive: true, mode: 0o700});
    handle = await open(temp, 'w', mode);
  }
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (error) {
    await rm(temp, {force: true});
    throw error;
  }
}

/** Read a file, or `undefined` when it does not exist. */
export async function readOptionalFile(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Read and validate a JSON file; `undefined` when it does not exist.
 * @throws DecodeError naming the file when it is not valid JSON or not of the schema.
 */
export async function readJsonFile<S extends z.ZodType>(file: string, schema: S, what: string): Promise<z.infer<S> | undefined> {
  const bytes = await readOptionalFile(file);
  if (bytes === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new DecodeError(`${what} ${file} is not valid JSON; restore it from a backup or move it away`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new DecodeError(`${what} ${file} is not in the expected format (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  }
  return parsed.data;
}
