/**
 * Helpers for tests that run the real `wgmesh` CLI (bin/run.js, built dist/)
 * with plugins: an isolated HOME so nothing touches the user's real oclif
 * data, config or cache directories, and a runner that captures output.
 */
import {spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdtemp} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

/** The repository root. */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The CLI entry point. */
export const BIN = join(REPO, 'bin', 'run.js');

/** The npm CLI that @oclif/plugin-plugins itself uses (pinned in node_modules). */
export const NPM_CLI = join(REPO, 'node_modules', 'npm', 'bin', 'npm-cli.js');

/** Absolute path of a plugin fixture under test/fixtures. */
export function fixturePath(name: string): string {
  return join(REPO, 'test', 'fixtures', name);
}

/** Fail early, with the fix, when the CLI has not been built. */
export function assertBuilt(): void {
  if (!existsSync(join(REPO, 'dist', 'commands', 'backends.js'))) {
    throw new Error("the CLI is not built: run 'npx tsc -b tsconfig.build.json' (or 'npm test', which builds first)");
  }
}

/** A fresh temporary HOME. */
export async function makeHome(prefix = 'wgmesh-cli-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * The environment for a CLI run under `home`: HOME and the XDG directories
 * point inside it; wgmesh/oclif overrides and npm's per-run settings (set when
 * the tests themselves run under `npm test`) are dropped so they cannot leak
 * into the CLI or into the npm that `plugins install` spawns.
 */
export function isolatedEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(WGMESH_|npm_|XDG_|OCLIF_)/i.test(key) || key === 'DEBUG') continue;
    env[key] = value;
  }
  return {
    ...env,
    HOME: home,
    XDG_DATA_HOME: join(home, 'data'),
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_CACHE_HOME: join(home, 'cache'),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    ...extra,
  };
}

/** What a finished process printed and how it exited. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `command ...args` to completion (killed after `timeoutMs`, default 60 s). */
export function runCommand(command: string, args: readonly string[], options: {env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {cwd: options.cwd ?? REPO, env: options.env, stdio: ['ignore', 'pipe', 'pipe']});
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({code, stdout, stderr});
    });
  });
}

/** Run `node script ...args` to completion (killed after `timeoutMs`). */
export function runNode(script: string, args: readonly string[], options: {env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number}): Promise<RunResult> {
  return runCommand(process.execPath, [script, ...args], options);
}

/** Run `wgmesh ...args` under the isolated `home`. */
export function runCli(home: string, args: readonly string[], options: {extraEnv?: Record<string, string>; timeoutMs?: number} = {}): Promise<RunResult> {
  return runNode(BIN, args, {env: isolatedEnv(home, options.extraEnv), timeoutMs: options.timeoutMs ?? 60_000});
}

/** One line of `wgmesh backends --json`. */
export interface BackendLine {
  kind: string;
  name: string;
  plugin: string;
  description: string;
  loaded: boolean;
}

/** `wgmesh backends --json`, parsed; fails with the CLI's output when it did not succeed. */
export async function listBackends(home: string): Promise<{backends: BackendLine[]; stderr: string}> {
  const result = await runCli(home, ['backends', '--json']);
  if (result.code !== 0) throw new Error(`wgmesh backends --json exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return {backends: JSON.parse(result.stdout) as BackendLine[], stderr: result.stderr};
}
