/** Human formatting of sizes, ages and untrusted text for terminal output. */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** `1536` -> `1.5 KiB`: binary units, one decimal below 10 of a unit, none above (as `wg show` does). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  const text = value < 10 ? value.toFixed(1).replace(/\.0$/, '') : String(Math.round(value));
  return `${text} ${BYTE_UNITS[unit]}`;
}

/**
 * How long ago `thenMs` was, at `nowMs`: `12s ago`, `4m 5s ago`, `3h 2m ago`,
 * `2d 3h ago`. A time in the future (clock skew between kernel and daemon)
 * reads `just now` rather than a negative age.
 */
export function formatAge(thenMs: number, nowMs: number): string {
  const seconds = Math.floor((nowMs - thenMs) / 1000);
  if (seconds <= 0) return 'just now';
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3_600);
  const minutes = Math.floor((seconds % 3_600) / 60);
  const secs = seconds % 60;
  const units: [number, string][] = [
    [days, 'd'],
    [hours, 'h'],
    [minutes, 'm'],
    [secs, 's'],
  ];
  // The two most significant units, the second left out when zero ("5m", not "5m 0s").
  const lead = units.findIndex(([count]) => count > 0);
  const parts = units
    .slice(lead, lead + 2)
    .filter(([count], index) => index === 0 || count > 0)
    .map(([count, unit]) => `${count}${unit}`);
  return `${parts.join(' ')} ago`;
}

/**
 * Make text from a record (written by any member, so possibly hostile) safe to
 * print on a terminal: control characters, including escape sequences and
 * newlines, become visible `\xNN`/`\uNNNN` escapes instead of acting.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (char) => {
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}


/** `1 member`, `2 members`: a count and its noun, plural unless the count is one. */
export function counted(count: number, noun: string): string {
  return `${count} ${count === 1 ? noun : `${noun}s`}`;
}
