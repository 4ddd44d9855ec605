/**
 * Readiness for systemd. A daemon started by a `Type=notify` unit finds the
 * service manager's datagram socket in `NOTIFY_SOCKET` and sends `READY=1`
 * there once it serves requests. Node has no Unix datagram sockets, so the
 * message goes through systemd's own `systemd-notify`, which also waits (a
 * barrier) until the manager has read it, so the message is never lost with
 * the short-lived sender. The unit sets `NotifyAccess=all` to let that child
 * speak for the daemon; `--pid` names the daemon as the service's main process.
 */
import {execFile} from 'node:child_process';

/** How long `systemd-notify` may take (it waits for the manager to read the message). */
const NOTIFY_TIMEOUT_MS = 10_000;

/** What {@link notifySystemdReady} needs. */
export interface NotifyReadyOptions {
  /** The daemon's environment; nothing is sent when it has no `NOTIFY_SOCKET`. */
  env: NodeJS.ProcessEnv;
  /** The daemon's process id (the service's main process). */
  pid: number;
  /** One line for `systemctl status` (`STATUS=`). */
  status: string;
}

/** What happened: not under a notify unit, told, or failed (with the problem, for the log). */
export type NotifyOutcome = {status: 'not-requested'} | {status: 'sent'} | {status: 'failed'; problem: string};

/**
 * Tell systemd the daemon is ready, when it runs under a `Type=notify` unit.
 * Never throws: a failure is returned for the caller to log, since the daemon
 * itself runs fine (systemd will report the start as timed out).
 */
export function notifySystemdReady(options: NotifyReadyOptions): Promise<NotifyOutcome> {
  const socket = options.env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') return Promise.resolve({status: 'not-requested'});
  const args = ['--ready', `--pid=${options.pid}`, `--status=${options.status}`];
  return new Promise((resolve) => {
    execFile('systemd-notify', args, {env: options.env, timeout: NOTIFY_TIMEOUT_MS}, (error, _stdout, stderr) => {
      if (error === null) resolve({status: 'sent'});
      else {
        const detail = stderr.trim() || error.message;
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        resolve({status: 'failed', problem: missing ? "'systemd-notify' is not installed or not on PATH (Debian package systemd)" : `systemd-notify failed: ${detail}`});
      }
    });
  });
}
