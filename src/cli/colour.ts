/**
 * Terminal colour for human output. Colour is used only when stdout is a
 * terminal, never when it is piped or redirected, and never when `NO_COLOR` is
 * set (https://no-color.org) or `TERM=dumb`; `FORCE_COLOR` (other than `0`)
 * turns it on without a terminal. JSON output never goes through here.
 */

/** A function that wraps text in one style (or returns it unchanged when colour is off). */
export type Style = (text: string) => string;

/** The styles human output uses. */
export interface Palette {
  readonly enabled: boolean;
  readonly bold: Style;
  readonly dim: Style;
  readonly red: Style;
  readonly green: Style;
  readonly yellow: Style;
  readonly cyan: Style;
}

/** Whether output to `stream` should be coloured, given the environment. */
export function colourEnabled(stream: {isTTY?: boolean}, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '' && force !== '0' && force !== 'false') return true;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

function sgr(open: number, close: number): Style {
  return (text) => (text === '' ? text : `\u001b[${open}m${text}\u001b[${close}m`);
}

const plain: Style = (text) => text;

/** The palette for `enabled` (all styles are the identity when colour is off). */
export function palette(enabled: boolean): Palette {
  if (!enabled) return {enabled, bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain};
  return {enabled, bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39)};
}
