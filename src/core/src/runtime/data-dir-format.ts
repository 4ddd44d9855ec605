/**
 * The data dir's format version: `<dataDir>/format.json` says which layout the
 * files in it follow. A daemon refuses a data dir newer than it understands
 * and brings an older one up to date, step by step, after copying it to
 * `<dataDir>/backups/format-<old version>-<time>/`. A data dir from before
 * versioning (no format.json, but files in it) is format 0.
 *
 * To change the layout: raise {@link DATA_DIR_FORMAT} and append one step to
 * {@link DATA_DIR_MIGRATIONS} that turns the previous format into the new one.
 */
import {cp, lstat, mkdir, readdir} from 'node:fs/promises';
import {join} from 'node:path';
import {z} from 'zod';
import type {Logger} from '../contracts/logger.js';
import {DataDirFormatError} from '../errors.js';
import {readJsonFile, writeFileAtomic} from '../util/files.js';

/** The data dir format this version of wgmesh reads and writes. */
export const DATA_DIR_FORMAT = 1;

/** The file that records the format, in the data dir. */
export const FORMAT_FILE_NAME = 'format.json';

/** The directory under the data dir that holds the copies made before migrations. */
export const BACKUPS_DIR_NAME = 'backups';

/** One migration step: turns a data dir of format `from` into format `from + 1`. */
export interface DataDirMigration {
  /** The format this step reads. */
  from: number;
  /** What the step changes, for the log. */
  describe: string;
  /** Rewrite the files of `dataDir`; runs under the data dir's pid lock, after the backup. */
  run(dataDir: string, logger: Logger): Promise<void>;
}

/** Every migration step, oldest first; step `i` migrates format `i` to `i + 1`. */
export const DATA_DIR_MIGRATIONS: readonly DataDirMigration[] = [
  {from: 0, describe: 'record the format version (the files of an unversioned data dir already have the format 1 layout)', run: async () => {}},
];

/** Entries of a data dir that are not its data: not copied to a backup, and not a reason to call an unversioned dir old. */
const NOT_DATA = new Set([BACKUPS_DIR_NAME, 'daemon.pid', 'wgmesh.sock']);

const formatFileSchema = z.object({format: z.number().int().min(1).max(1_000_000)});

/** What {@link openDataDirFormat} found and did. */
export interface DataDirFormatResult {
  /** The format found (0: an unversioned dir with data; `undefined`: a new, empty dir). */
  found: number | undefined;
  /** The copy made before migrating, when the dir was migrated. */
  backup?: string;
}

/** Options of {@link openDataDirFormat}; the defaults are this wgmesh's format and steps (tests pass others). */
export interface DataDirFormatOptions {
  current?: number;
  migrations?: readonly DataDirMigration[];
  /** The time in the backup's name. */
  now?: Date;
}

/**
 * Check the data dir's format and migrate an older one. Call with the pid lock held.
 * @throws DataDirFormatError when the data dir is newer than this wgmesh reads, or its format file is unreadable.
 */
export async function openDataDirFormat(dataDir: string, logger: Logger, options: DataDirFormatOptions = {}): Promise<DataDirFormatResult> {
  const current = options.current ?? DATA_DIR_FORMAT;
  const migrations = options.migrations ?? DATA_DIR_MIGRATIONS;
  const file = join(dataDir, FORMAT_FILE_NAME);
  const found = await dataDirFormat(dataDir);
  if (found === current) return {found};
  if (found === undefined) {
    await writeFormat(file, current);
    return {found};
  }
  if (found > current) {
    throw new DataDirFormatError(
      `the data dir ${dataDir} has format ${found}, but this wgmesh reads format ${current} at most: it was written by a newer wgmesh. ` +
        `Run that newer wgmesh (or later), or restore the copy made before the upgrade from ${join(dataDir, BACKUPS_DIR_NAME)} (move its contents back into ${dataDir})`,
    );
  }
  const stamp = (options.now ?? new Date()).toISOString().replace(/[:.]/g, '-');
  const backup = join(dataDir, BACKUPS_DIR_NAME, `format-${found}-${stamp}`);
  await copyData(dataDir, backup);
  logger.info({dataDir, from: found, to: current, backup}, 'data dir is of an older format: backed it up, migrating');
  for (let version = found; version < current; version++) {
    const step = migrations.find((migration) => migration.from === version);
    if (step === undefined) throw new DataDirFormatError(`no migration of the data dir ${dataDir} from format ${version} to ${version + 1}; this is a bug in wgmesh (the copy made before is ${backup})`);
    await step.run(dataDir, logger);
    await writeFormat(file, version + 1);
    logger.info({dataDir, format: version + 1}, `data dir migrated: ${step.describe}`);
  }
  return {found, backup};
}

/**
 * The format of `dataDir` as recorded; 0 for an unversioned dir with data in
 * it; `undefined` for a new, empty (or missing) one.
 * @throws DataDirFormatError when the format file is unreadable.
 */
export async function dataDirFormat(dataDir: string): Promise<number | undefined> {
  let recorded: z.infer<typeof formatFileSchema> | undefined;
  try {
    recorded = await readJsonFile(join(dataDir, FORMAT_FILE_NAME), formatFileSchema, 'the data dir format file');
  } catch (error) {
    throw new DataDirFormatError((error as Error).message, {cause: error});
  }
  if (recorded !== undefined) return recorded.format;
  const entries = await readdir(dataDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return entries.some((name) => !NOT_DATA.has(name) && !name.endsWith('.tmp')) ? 0 : undefined;
}

async function writeFormat(file: string, format: number): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify({format})}\n`, 0o644);
}

/** Copy the data of `dataDir` (modes kept; no sockets, no lock, no earlier backups) to `target`, entry by entry (a dir cannot be copied into itself). */
async function copyData(dataDir: string, target: string): Promise<void> {
  await mkdir(join(dataDir, BACKUPS_DIR_NAME), {recursive: true, mode: 0o700});
  await mkdir(target, {mode: 0o700});
  const keep = async (source: string): Promise<boolean> => {
    const info = await lstat(source);
    return (info.isFile() || info.isDirectory()) && !source.endsWith('.tmp');
  };
  for (const name of await readdir(dataDir)) {
    if (NOT_DATA.has(name)) continue;
    await cp(join(dataDir, name), join(target, name), {recursive: true, errorOnExist: true, force: false, preserveTimestamps: true, filter: keep});
  }
}
