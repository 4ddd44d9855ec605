/** Plain-text tables for human output (JSON output never goes through here). */
import type {Style} from './colour.js';

/** A table cell: its text, and optionally a style applied to the text only (never to the padding, so colour codes do not skew the columns). */
export type Cell = string | {readonly text: string; readonly style?: Style};

function cellText(cell: Cell | undefined): string {
  return cell === undefined ? '' : typeof cell === 'string' ? cell : cell.text;
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function renderTable(headers: readonly Cell[], rows: readonly (readonly Cell[])[]): string {
  const widths = headers.map((header, column) => Math.max(cellText(header).length, ...rows.map((row) => cellText(row[column]).length)));
  const line = (cells: readonly Cell[]): string =>
    cells
      .map((cell, column) => {
        const text = cellText(cell);
        const styled = typeof cell === 'string' || cell.style === undefined ? text : cell.style(text);
        return column === cells.length - 1 ? styled : styled + ' '.repeat(Math.max(0, (widths[column] ?? 0) - text.length));
      })
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `key  value` lines with the keys padded to one width; continuation lines of a value are indented to match. */
export function renderKeyValues(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `${key.padEnd(width)}  ${value.split('\n').join(`\n${' '.repeat(width + 2)}`)}`).join('\n');
}
