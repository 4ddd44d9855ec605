/**
 * The systemd unit shipped in the package (`systemd/wgmesh.service`) and how
 * `wgmesh systemd install` puts it in place: the shipped file names the CLI
 * where `npm install -g` puts it by default; the installed copy names the node
 * and the CLI script that ran the command, so the service runs exactly this
 * installation whatever the PATH of the service manager.
 */
import {execFile} from 'node:child_process';
import {access, chmod, constants, mkdir, readFile} from 'node:fs/promises';
import {join} from 'node:path';
import {WgmeshError, writeFileAtomic} from '@wgmesh/core';
import {findJemalloc, jemallocEnvironment} from './unit-allocator.js';

/** The unit file inside the package. */
export const UNIT_TEMPLATE_PATH = join('systemd', 'wgmesh.service');

/** The unit's name. */
export const UNIT_NAME = 'wgmesh.service';

/** Where units written by the administrator live. */
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';

/** The program the shipped unit's ExecStart names. */
const TEMPLATE_PROGRAM = '/usr/local/bin/wgmesh';

/** How long one `systemctl` call may take. */
const SYSTEMCTL_TIMEOUT_MS = 60_000;

/** Installing the unit failed; the message says why and what to do. One subclass per reason. */
export abstract class SystemdUnitError extends WgmeshError {}

/** Installing the unit needs root. */
export class SystemdNotRootError extends SystemdUnitError {
  static override readonly code = 'NOT_ROOT';
}

/** The unit file shipped with wgmesh is missing or not of the expected form. */
export class UnitTemplateError extends SystemdUnitError {
  static override readonly code = 'UNIT_TEMPLATE';
}

/** A path of this installation cannot be written in a unit file. */
export class UnitPathError extends SystemdUnitError {
  static override readonly code = 'UNIT_PATH';
}

/** A `systemctl` call failed. */
export class SystemctlError extends SystemdUnitError {
  static override readonly code = 'SYSTEMCTL';
}

/** Starting the service was asked on a host where systemd is not running. */
export class SystemdNotRunningError extends SystemdUnitError {
  static override readonly code = 'SYSTEMD_NOT_RUNNING';
}

/**
 * One word of an ExecStart command line as systemd reads it back: `%` starts a
 * specifier everywhere, `$` a variable in arguments (not in the program's
 * path), and spaces split words unless quoted.
 * @throws SystemdUnitError for quotes, backslashes and control characters, which a path of an installation does not need.
 */
export function execWord(word: string, position: 'program' | 'argument'): string {
  // eslint-disable-next-line no-control-regex
  if (/["'\\\u0000-\u001f\u007f]/.test(word)) {
    throw new UnitPathError(`cannot name ${JSON.stringify(word)} in a systemd unit: it has quotes, backslashes or control characters; install node and wgmesh under a plainer path`);
  }
  let escaped = word.replace(/%/g, '%%');
  if (position === 'argument') escaped = escaped.replace(/\$/g, '$$$$');
  return /\s/.test(escaped) ? `"${escaped}"` : escaped;
}

/** What a unit runs: `node script`, with `environment` besides the service manager's. */
export interface UnitCommand {
  node: string;
  /** Options for node itself, before the script (plain words, such as `--expose-gc`). */
  nodeOptions?: readonly string[];
  script: string;
  /** Variables (name -> value) and the one comment line that says why they are set. */
  environment?: {comment: string; variables: Readonly<Record<string, string>>};
}

/**
 * One `Environment=` line. Values here are paths and plain settings; one with
 * quotes, backslashes, spaces, `%`, `$` or control characters is refused rather than escaped.
 * @throws UnitPathError for such a name or value.
 */
function environmentLine(name: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/^[A-Z_][A-Z0-9_]*$/.test(name) || /["'\\%$\s\u0000-\u001f\u007f]/.test(value)) {
    throw new UnitPathError(`cannot set ${name}=${JSON.stringify(value)} in a systemd unit: it needs quoting; install under a plainer path`);
  }
  return `Environment=${name}=${value}`;
}

/**
 * The unit text with ExecStart running `node [nodeOptions] script` instead of the template's
 * program, the rest of the command line (`daemon` and its flags) kept, and
 * after it the comment and one `Environment=` line per variable of `environment`.
 * @throws SystemdUnitError when the template has no ExecStart of the expected program, or a path cannot be written in a unit.
 */
export function renderUnit(template: string, command: UnitCommand): string {
  const prefix = `ExecStart=${TEMPLATE_PROGRAM} `;
  const lines = template.split('\n');
  const index = lines.findIndex((line) => line.startsWith(prefix));
  if (index === -1) throw new UnitTemplateError(`the unit file shipped with wgmesh has no line starting with '${prefix}'; reinstall wgmesh`);
  const variables = Object.entries(command.environment?.variables ?? {}).map(([name, value]) => environmentLine(name, value));
  const environment = variables.length === 0 ? [] : [`# ${command.environment!.comment.replace(/\n/g, ' ')}`, ...variables];
  const program = [execWord(command.node, 'program'), ...(command.nodeOptions ?? []).map((option) => execWord(option, 'argument')), execWord(command.script, 'argument')];
  lines.splice(index, 1, `ExecStart=${program.join(' ')} ${lines[index]!.slice(prefix.length)}`, ...environment);
  return lines.join('\n');
}

/**
 * What the unit runs on this host for the installation at `packageRoot`: this
 * node with `--expose-gc` (the daemon's own GC after bursts, memory-release.ts),
 * the installation's bin/run.js, and jemalloc preloaded when `jemalloc` is
 * asked for and the host has it (unit-allocator.ts). Benchmarks start their
 * daemons from it too, so that they run as installed.
 */
export async function unitCommandForHost(packageRoot: string, options: {jemalloc: boolean}): Promise<UnitCommand & {jemalloc: string | null}> {
  const jemalloc = options.jemalloc ? ((await findJemalloc()) ?? null) : null;
  return {
    node: process.execPath,
    nodeOptions: ['--expose-gc'],
    script: join(packageRoot, 'bin', 'run.js'),
    environment: jemalloc === null ? undefined : {comment: 'jemalloc, found by `wgmesh systemd install`: returns memory freed after a burst (README, "Memory").', variables: jemallocEnvironment(jemalloc)},
    jemalloc,
  };
}

/** Read the shipped unit from the package at `packageRoot` and render it for `command`. */
export async function unitForInstallation(packageRoot: string, command: UnitCommand): Promise<string> {
  const template = await readFile(join(packageRoot, UNIT_TEMPLATE_PATH), 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UnitTemplateError(`cannot read the unit file shipped with wgmesh (${join(packageRoot, UNIT_TEMPLATE_PATH)}: ${error.code ?? error.message}); reinstall wgmesh`);
  });
  return renderUnit(template, command);
}

/** Whether the file at `path` holds exactly `text`. */
async function sameContent(path: string, text: string): Promise<boolean | undefined> {
  try {
    return (await readFile(path, 'utf8')) === text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** What writing the unit did to the file. */
export type UnitFileChange = 'created' | 'replaced' | 'unchanged';

/** Write `text` as `dir`/wgmesh.service (mode 0644, atomically). */
export async function writeUnit(dir: string, text: string): Promise<{path: string; change: UnitFileChange}> {
  const path = join(dir, UNIT_NAME);
  const same = await sameContent(path, text);
  if (same === true) return {path, change: 'unchanged'};
  await mkdir(dir, {recursive: true, mode: 0o755});
  await writeFileAtomic(path, text, 0o644);
  await chmod(path, 0o644);
  return {path, change: same === undefined ? 'created' : 'replaced'};
}

/** Whether systemd manages this host (its runtime directory exists: the test `sd_booted()` makes). */
export async function systemdRunning(): Promise<boolean> {
  return access('/run/systemd/system', constants.F_OK).then(
    () => true,
    () => false,
  );
}

/**
 * Run `systemctl ...args`.
 * @throws SystemctlError with systemctl's own message when it fails.
 */
export function systemctl(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('systemctl', args, {timeout: SYSTEMCTL_TIMEOUT_MS}, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new SystemctlError(`systemctl ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
    });
  });
}
