/**
 * Durations in the config file: a number of seconds (fractions allowed) or a
 * string with units (`250ms`, `2s`, `1m`, `1h30m`, `7d`). Parsed values are
 * whole milliseconds, the unit every timer in wgmesh uses.
 */

/** Milliseconds per unit a duration string may use. */
const UNIT_MS: Readonly<Record<string, number>> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000};

// One or more `<number><unit>` groups and nothing else, as Go's time.ParseDuration accepts.
const DURATION_TEXT = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const PLAIN_SECONDS = /^[+-]?\d+(?:\.\d+)?$/;

/** Longest delay a Node timer can wait (2^31-1 ms); longer ones fire at once, so timer-driven keys are capped here. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Parse a duration value to milliseconds, rounded to a whole millisecond.
 * A number, or a numeric string, is seconds. Returns `undefined` when the value
 * is not a duration at all (the caller reports it with the key's rule).
 * Negative numbers parse (to a negative result) so the caller can say
 * "must be greater than 0" rather than "not a duration".
 */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? Math.round(value * 1000) : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (PLAIN_SECONDS.test(text)) return Math.round(Number(text) * 1000);
  if (!DURATION_TEXT.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) {
    total += Number(amount) * (UNIT_MS[unit ?? ''] ?? Number.NaN);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Format milliseconds the way a user would write them (`1s`, `250ms`, `24h`), for defaults and messages. */
export function formatDurationMs(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] ?? 1;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
