/**
 * The daemon's signals and fatal errors. SIGINT, SIGTERM and SIGQUIT stop it
 * (a second one while stopping is only logged), SIGHUP reloads its settings,
 * and an uncaught exception or unhandled rejection stops it as a failure. In
 * every case the daemon removes what it created (socket, interfaces, their
 * wireguard-go processes) before it exits, instead of Node's default of dying
 * on the spot.
 */

/** Signals that stop the daemon. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGQUIT'] as const;

/** What the daemon does on each event. */
export interface DaemonSignalHandlers {
  /** A stop signal arrived. */
  stop(signal: (typeof STOP_SIGNALS)[number]): void;
  /** SIGHUP arrived. */
  reload(): void;
  /** An exception nobody caught, or a rejected promise nobody handled. */
  fatal(error: unknown, origin: 'uncaughtException' | 'unhandledRejection'): void;
}

/**
 * Route the process's stop signals, SIGHUP and uncaught errors to `handlers`.
 * @returns a function that removes every listener it added
 */
export function handleDaemonSignals(handlers: DaemonSignalHandlers): () => void {
  const listeners: Array<[string, (arg: unknown) => void]> = [
    ...STOP_SIGNALS.map((signal): [string, () => void] => [signal, () => handlers.stop(signal)]),
    ['SIGHUP', () => handlers.reload()],
    ['uncaughtException', (error: unknown) => handlers.fatal(error, 'uncaughtException')],
    ['unhandledRejection', (reason: unknown) => handlers.fatal(reason, 'unhandledRejection')],
  ];
  for (const [event, listener] of listeners) process.on(event, listener);
  return () => {
    for (const [event, listener] of listeners) process.off(event, listener);
  };
}
