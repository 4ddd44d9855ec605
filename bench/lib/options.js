/**
 * Checks of a bench's command-line options, with the same one-line usage
 * error (exit code 2) in every bench.
 */

/**
 * Print `text` to stderr and exit with code 2 (a usage error).
 * @param {string} text
 * @returns {never}
 */
export function failUsage(text) {
  process.stderr.write(`${text}\n`);
  process.exit(2);
}

/**
 * Option `--name` as an integer from `min` to `max`, or a usage error.
 * @param {string} name
 * @param {string} value as given
 * @param {number} min
 * @param {number} max
 */
export function integerOption(name, value, min, max) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) failUsage(`--${name} must be an integer from ${min} to ${max} (got "${value}")`);
  return n;
}

/**
 * Option `--name` as comma-separated integers, each from `min` to `max`, or a usage error.
 * @param {string} name
 * @param {string} value as given
 * @param {number} min
 * @param {number} max
 */
export function integerListOption(name, value, min, max) {
  const list = value.split(',').map(Number);
  if (!list.every((n) => Number.isInteger(n) && n >= min && n <= max)) failUsage(`--${name} must be integers from ${min} to ${max}, comma-separated (got "${value}")`);
  return list;
}
