/** The daemon's logger: pino JSON lines on stderr, so stdout stays free for command output. */
import pino from 'pino';
import type {Logger} from '../contracts/logger.js';
import type {LogLevel} from '../config/schema.js';

/** Turns one pino JSON line (with its newline) into the text written instead. */
export type LogLineFormat = (line: string) => string;

/** Log text waiting for stderr beyond this is dropped: a terminal that went away must not grow the daemon's memory. */
const MAX_PENDING_LOG_BYTES = 1024 * 1024;

/** A logger whose level, and the level of every child made from it, can change while it runs. */
export interface DaemonLogger extends Logger {
  /** The level in force. */
  readonly level: LogLevel;
  /** Change the level of this logger and of all its children, made before or after. */
  setLevel(level: LogLevel): void;
}

type Method = 'debug' | 'info' | 'warn' | 'error';

/** One shared level for a tree of loggers; pino's own level is fixed at `trace` and never filters. */
class LevelGate {
  level: LogLevel = 'info';
  value = 0;
  constructor(level: LogLevel) {
    this.set(level);
  }
  set(level: LogLevel): void {
    this.level = level;
    this.value = level === 'silent' ? Infinity : (pino.levels.values[level] ?? Infinity);
  }
}

class GatedLogger implements Logger {
  constructor(
    private readonly pinoLogger: pino.Logger,
    protected readonly gate: LevelGate,
  ) {}
  private emit(method: Method, obj: object | string, msg?: string): void {
    if (pino.levels.values[method]! < this.gate.value) return;
    if (typeof obj === 'string') this.pinoLogger[method](obj);
    else this.pinoLogger[method](obj, msg);
  }
  debug(obj: object | string, msg?: string): void {
    this.emit('debug', obj, msg);
  }
  info(obj: object | string, msg?: string): void {
    this.emit('info', obj, msg);
  }
  warn(obj: object | string, msg?: string): void {
    this.emit('warn', obj, msg);
  }
  error(obj: object | string, msg?: string): void {
    this.emit('error', obj, msg);
  }
  child(bindings: Record<string, unknown>): Logger {
    return new GatedLogger(this.pinoLogger.child(bindings), this.gate);
  }
}

class RootLogger extends GatedLogger implements DaemonLogger {
  get level(): LogLevel {
    return this.gate.level;
  }
  setLevel(level: LogLevel): void {
    this.gate.set(level);
  }
}

/**
 * A logger at `level` writing to stderr synchronously (nothing is lost when the
 * process exits): pino JSON lines, or what `format` makes of each. A stderr that
 * fails (the terminal closed) loses the lines and never stops the daemon. The
 * level, and that of every child, follows {@link DaemonLogger.setLevel}.
 */
export function createLogger(level: LogLevel, format?: LogLineFormat): DaemonLogger {
  const stderr = pino.destination({fd: 2, sync: true, maxLength: MAX_PENDING_LOG_BYTES});
  stderr.on('error', () => undefined);
  const destination = format === undefined ? stderr : {write: (line: string) => stderr.write(format(line))};
  return new RootLogger(pino({level: 'trace', base: {pid: process.pid}}, destination), new LevelGate(level));
}
