/** The `automerge:` config section: how much history a document may grow before it is compacted. */
import {parseBackendSection} from '@wgmesh/core';
import {z} from 'zod';

/** Default of `automerge.historyLimit`: operations of history a document always may hold. */
export const DEFAULT_HISTORY_LIMIT = 20_000;

/**
 * A document is compacted once its history holds more than this many
 * operations per entry held (and more than `historyLimit`). Right after a
 * compaction it holds one operation per entry, so this is how many times
 * over the history may grow before it is cut back.
 */
export const HISTORY_PER_ENTRY = 4;

/** Settings of the automerge store. */
export interface AutomergeStoreSettings {
  /**
   * Compact a mesh's document when its history holds more operations than
   * `max(historyLimit, HISTORY_PER_ENTRY × entries)`.
   */
  readonly historyLimit: number;
}

/** Schema of the `automerge:` section. */
export const automergeSectionSchema = z.strictObject({
  historyLimit: z
    .number({error: 'must be an integer from 100 to 100000000'})
    .int('must be an integer from 100 to 100000000')
    .min(100, 'must be an integer from 100 to 100000000')
    .max(100_000_000, 'must be an integer from 100 to 100000000')
    .default(DEFAULT_HISTORY_LIMIT),
});

/**
 * Validate the `automerge:` section (absent means all defaults).
 * @throws ConfigError naming the key and its rule.
 */
export function resolveSettings(section: unknown): AutomergeStoreSettings {
  return parseBackendSection('automerge', automergeSectionSchema, section ?? {});
}
