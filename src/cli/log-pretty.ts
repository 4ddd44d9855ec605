/**
 * Logs for people: each pino JSON line becomes one line of text, time, level,
 * message and the other fields as `key=value`, coloured by level when colour
 * is on. Control characters in any value (which may come from the network) are
 * escaped, so a log line cannot move the cursor or restyle the terminal.
 */
import type {LogLineFormat} from '@wgmesh/core';
import type {Palette, Style} from './colour.js';
import {printable} from './format.js';

/** Fields every line has, shown in their own places or not at all. */
const FIXED_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** pino's numeric levels, with their labels padded to one width. */
const LEVEL_LABELS: Readonly<Record<number, string>> = {10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL'};

/** A value that needs no quotes: visible ASCII other than `"` and `=`. */
const BARE = /^[\u0021\u0023-\u003c\u003e-\u007e]+$/;

function levelStyle(level: number, colours: Palette): Style {
  if (level >= 50) return colours.red;
  if (level >= 40) return colours.yellow;
  if (level >= 30) return colours.green;
  return colours.dim;
}

function formatValue(key: string, value: unknown): string {
  // An error keeps its message on the line; the stack is in the JSON format.
  if (key === 'err' && typeof value === 'object' && value !== null && typeof (value as {message?: unknown}).message === 'string') {
    return formatValue('', (value as {message: string}).message);
  }
  if (typeof value === 'string') return BARE.test(value) ? value : printable(JSON.stringify(value));
  return printable(JSON.stringify(value) ?? String(value));
}

function clockTime(epochMs: unknown): string {
  const date = typeof epochMs === 'number' ? new Date(epochMs) : new Date();
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** One pino JSON line as one line of text (with its newline); a line that is not a JSON object is passed through escaped. */
export function formatLogLine(line: string, colours: Palette): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    entry = undefined;
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return `${printable(line.trimEnd())}\n`;
  const fields = entry as Record<string, unknown>;
  const level = typeof fields.level === 'number' ? fields.level : 30;
  const label = LEVEL_LABELS[level] ?? String(level).padEnd(5);
  const parts = [colours.dim(clockTime(fields.time)), levelStyle(level, colours)(label), typeof fields.msg === 'string' ? colours.bold(printable(fields.msg)) : ''];
  for (const [key, value] of Object.entries(fields)) {
    if (FIXED_FIELDS.has(key) || value === undefined) continue;
    parts.push(`${colours.cyan(printable(key))}=${formatValue(key, value)}`);
  }
  return `${parts.filter((part) => part !== '').join(' ')}\n`;
}

/** The log format for people, for `createLogger`. */
export function prettyLogFormat(colours: Palette): LogLineFormat {
  return (line) => formatLogLine(line, colours);
}
