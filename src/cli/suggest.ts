/**
 * "Did you mean" for a mistyped command: the words the user typed, in the
 * form they typed them (`wgmesh mesh crate`, not oclif's `mesh:crate`), and
 * the known command closest to them.
 */

/** How many single-character edits (insert, delete, substitute, swap of neighbours) turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  // Optimal string alignment distance, rows of the table kept as arrays.
  const rows: number[][] = [Array.from({length: b.length + 1}, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/** What {@link commandNotFound} tells the user. */
export interface NotFound {
  /** The command as typed, words separated by spaces (topics and the unknown word, no arguments). */
  typed: string;
  /** The closest known command, words separated by spaces, if one is close enough to be a typo. */
  suggestion?: string;
}

/**
 * The unknown command in `words` (what the user typed, arguments included)
 * and the known command it is most likely a typo of.
 * @param commandIds known command ids in oclif's form (`mesh:create`), hidden ones left out.
 * @param topics known topic ids in oclif's form (`mesh`, `mesh:admin`).
 */
export function commandNotFound(words: readonly string[], commandIds: readonly string[], topics: readonly string[]): NotFound {
  const topicSet = new Set(topics);
  // The typed command is the longest run of leading words that names a topic, plus the next word.
  let depth = 0;
  while (depth < words.length - 1 && topicSet.has(words.slice(0, depth + 1).join(':'))) depth++;
  const typedWords = words.slice(0, depth + 1);
  const typed = typedWords.join(' ');
  let best: {id: string; distance: number} | undefined;
  for (const id of commandIds) {
    const idWords = id.split(':');
    if (idWords.length !== typedWords.length) continue;
    const distance = editDistance(typed, idWords.join(' '));
    if (best === undefined || distance < best.distance) best = {id, distance};
  }
  // A typo is a few edits, and fewer than half the word: `mesh lst` is `mesh list`, `mesh foo` is nothing.
  const limit = Math.min(3, Math.ceil((typedWords.at(-1)?.length ?? 0) / 2));
  return best !== undefined && best.distance <= limit ? {typed, suggestion: best.id.split(':').join(' ')} : {typed};
}
