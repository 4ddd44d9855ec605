/**
 * The rule every store's sync session applies to what its peer sends: a few
 * invalid entries are rejected one by one, more end the session.
 */
import {MAX_INVALID_SYNC_ENTRIES, type MergeResult} from '../contracts/store.js';
import {InvalidEntriesError} from '../errors.js';

/** Counts the invalid entries one sync session received, and gives up on the session past {@link MAX_INVALID_SYNC_ENTRIES}. */
export class InvalidEntryCount {
  private count = 0;

  /** @param meshId the mesh of the session (for the error message) */
  constructor(private readonly meshId: string) {}

  /**
   * Take the rejections of one merge into account.
   * @throws InvalidEntriesError once more than {@link MAX_INVALID_SYNC_ENTRIES} entries were invalid, naming the first reason of this merge
   */
  add(result: MergeResult): void {
    let first: string | undefined;
    for (const rejection of result.rejected) {
      if (rejection.invalid !== true) continue;
      this.count++;
      first ??= rejection.reason;
    }
    if (this.count > MAX_INVALID_SYNC_ENTRIES) {
      throw new InvalidEntriesError(
        `sync of mesh ${this.meshId} refused: the peer sent ${this.count} entries that do not verify (more than ${MAX_INVALID_SYNC_ENTRIES}; ${first}); its replica is corrupt or it is hostile`,
      );
    }
  }
}
