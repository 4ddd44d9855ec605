/**
 * Base of every wgmesh command: the shared `--socket`/`--config` flags, `--json`,
 * and error output. A known error prints one line (`Error: <message>`) on stderr
 * and exits 1; with `--json` it prints `{"error": {"code", "message"}}` instead.
 * Only unexpected bugs reach oclif's handler with a stack trace.
 */
import type {IpcMethod, IpcMethods} from '@wgmesh/core/client';
import {InvalidInputError, IpcClient, IpcError, ipcResultProblem, resolveSocketPath} from '@wgmesh/core/client';
import {Command, Flags, isOclifError, isOclifExit} from './oclif.js';

/** Flags every command that talks to the daemon accepts. */
export const daemonFlags = {
  socket: Flags.string({
    description:
      "IPC socket of the daemon [default: WGMESH_SOCKET, else from the config file, else /run/wgmesh/wgmesh.sock as root, else $XDG_RUNTIME_DIR/wgmesh/wgmesh.sock, or the system daemon's /run/wgmesh/wgmesh.sock when that is the one running]",
    helpGroup: 'GLOBAL',
  }),
  config: Flags.string({
    description: 'config file used to find the socket [default: WGMESH_CONFIG, else /etc/wgmesh/config.yaml as root, else ~/.config/wgmesh/config.yaml]',
    helpGroup: 'GLOBAL',
  }),
};

/** True for errors wgmesh raises on purpose (they carry a code and a user-facing message). */
function isUserError(error: unknown): error is Error & {code: string} {
  const code = (error as {code?: unknown} | null)?.code;
  return error instanceof Error && typeof code === 'string' && /^[A-Z_]+$/.test(code);
}

/** Base class: JSON output, one-line errors. */
export abstract class WgmeshCommand extends Command {
  static override enableJsonFlag = true;

  protected override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    reportKnownError(this.errorOutput(), error);
    return super.catch(error);
  }

  /** What {@link reportKnownError} needs of this command. */
  protected errorOutput(): ErrorOutput {
    return {json: this.jsonEnabled(), logJson: (json) => this.logJson(json), exit: (code) => this.exit(code)};
  }
}

/** How a command prints errors: whether `--json` is on, its JSON printer, its exit. */
export interface ErrorOutput {
  json: boolean;
  logJson(json: unknown): void;
  exit(code: number): never;
}

/**
 * wgmesh's error output for `command`, for commands that cannot extend
 * {@link WgmeshCommand} (subclasses of a plugin's commands): a known error is
 * printed as one line, or as `{"error": {"code", "message"}}` with `--json`,
 * and the command exits 1. Returns for anything else (oclif's handler takes it).
 */
export function reportKnownError(command: ErrorOutput, error: Error): void {
  if (isOclifExit(error)) throw error;
  const parseError = error.name?.includes('Parse') || error.constructor?.name?.includes('Parse') || isOclifError(error);
  if (isUserError(error) || parseError) {
    const code = isUserError(error) ? error.code : InvalidInputError.code;
    const message = error.message.split('\n')[0] ?? error.message;
    if (command.json) command.logJson({error: {code, message}});
    else process.stderr.write(`Error: ${isUserError(error) ? error.message : oneLine(stripAnsi(error.message))}\n`);
    command.exit(1);
  }
}

/** oclif's parse errors span lines (the problem, details, "See more help with --help"): keep them on one. */
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^See more help with/.test(line))
    .join(' ');
}

function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

/** Base class for commands that call the daemon over IPC. */
export abstract class DaemonClientCommand extends WgmeshCommand {
  static override baseFlags = daemonFlags;

  /**
   * Whether the command needs oclif plugins (backends, their hooks, plugin
   * commands) loaded. A command that only talks to the daemon does not, and
   * bin/run.js then starts it with the root plugin alone, which makes it start
   * much faster; the value is read from the oclif manifest. Override with
   * `true` in a subclass that runs plugin hooks itself (e.g. lists backends).
   */
  static pluginsNeeded = false;

  /**
   * Call the daemon once and close the connection. The result is checked
   * against the method's result shape before the command prints or reads it:
   * whatever listens on the socket is untrusted.
   * @throws IpcError when the result is not of the method's shape.
   */
  protected async call<M extends IpcMethod>(flags: {socket?: string; config?: string}, method: M, params: IpcMethods[M]['params']): Promise<IpcMethods[M]['result']> {
    const socketPath = await resolveSocketPath({socket: flags.socket, file: flags.config, env: process.env});
    const client = new IpcClient(socketPath);
    try {
      return await checkedCall(client, method, params);
    } finally {
      client.close();
    }
  }
}

/**
 * Call the daemon on `client` and check the result against the method's
 * result shape: whatever listens on the socket is untrusted.
 * @throws IpcError when the result is not of the method's shape.
 */
export async function checkedCall<M extends IpcMethod>(client: IpcClient, method: M, params: IpcMethods[M]['params']): Promise<IpcMethods[M]['result']> {
  const result = await client.call(method, params);
  const problem = ipcResultProblem(method, result);
  if (problem !== undefined) {
    throw new IpcError(`the wgmesh daemon at ${client.socketPath} sent a ${method} result this CLI cannot read (${problem}); use the wgmesh CLI that came with the daemon`);
  }
  return result;
}
