/** The daemon's logger: pino JSON lines on stderr, so stdout stays free for command output. */
import pino from 'pino';
import type {Logger} from '../contracts/logger.js';

/** A pino logger at `level` writing synchronously to stderr (nothing is lost when the process exits). */
export function createLogger(level: string): Logger {
  return pino({level, base: {pid: process.pid}}, pino.destination({fd: 2, sync: true}));
}
