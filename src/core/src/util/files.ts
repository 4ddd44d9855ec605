/** Small file helpers: atomic writes (nothing half-written on a crash) and validated reads. */
import {randomBytes} from 'node:crypto';
import {mkdir, open, readdir, readFile, rename, rm} from 'node:fs/promises';
import {basename, dirname, join} from 'node:path';
import type {z} from 'zod';
import {DecodeError, DiskFullError} from '../errors.js';
import {mountOf} from './mounts.js';

/** Names of the temporary files {@link writeFileAtomic} writes beside its target. */
const TEMP_FILE = /\.[0-9a-f]{12}\.tmp$/;

/**
 * Write `data` to `file` atomically: write a temporary file beside it with
 * `mode`, fsync it, then rename it over the target. The directory is created
 * (0700) only when it is missing: the daemon saves mesh state often (every own
 * change, and news every few seconds), and a recursive mkdir on each save was a
 * noticeable share of its CPU. On any failure the temporary file is removed and
 * the old file is left as it was.
 * @throws DiskFullError when the file system is full (or over quota), naming the device and the file.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
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
    await rename(temp, file);
  } catch (error) {
    await rm(temp, {force: true}).catch(() => undefined);
    throw await writeError(file, error);
  }
}

/** The error to report for a failed write of `file`: a {@link DiskFullError} for a full disk, else `error` itself. */
async function writeError(file: string, error: unknown): Promise<unknown> {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return error;
  const mount = await mountOf(file);
  const device = mount ? `${mount.source} (${mount.fsType} mounted at ${mount.mountPoint})` : `holding ${dirname(file)}`;
  const what = code === 'ENOSPC' ? 'no space left on device' : 'disk quota exceeded on device';
  return new DiskFullError(`${what} ${device} while writing ${file}: free some space there and retry (the previous ${basename(file)} is unchanged)`, {cause: error});
}

/**
 * Remove the temporary files {@link writeFileAtomic} left under `dir` (at any
 * depth) when its process was killed mid-write. Only for a directory no other
 * process writes to (the daemon's data dir, under its pid lock).
 * @returns the removed files, relative to `dir`.
 */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir, {recursive: true});
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const stale = names.filter((name) => TEMP_FILE.test(name));
  for (const name of stale) await rm(join(dir, name), {force: true});
  return stale;
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
  const parsed = parseJson(bytes, schema);
  if (parsed.ok) return parsed.value;
  throw new DecodeError(`${what} ${file} is ${parsed.problem}; restore it from a backup or move it away`);
}

/** Decode JSON bytes and validate them with `schema`; what is wrong (to follow "is") when they do not fit. */
export function parseJson<S extends z.ZodType>(bytes: Uint8Array, schema: S): {ok: true; value: z.infer<S>} | {ok: false; problem: string} {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return {ok: false, problem: 'not valid JSON'};
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return {ok: false, problem: `not in the expected format (${parsed.error.issues[0]?.message ?? 'invalid'})`};
  return {ok: true, value: parsed.data};
}
