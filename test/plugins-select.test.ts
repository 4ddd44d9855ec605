/**
 * A third-party backend selected by flag: link the recorder fixture plugin,
 * start `wgmesh daemon --wg recorder`, create a mesh through the CLI, and
 * check that the plugin's driver (not the stub or the kernel one) was asked
 * to build the interface. The bundled wg:stub the same way, with `mesh show`.
 * Also: an unknown name fails listing the installed ones.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {readFile, rm} from 'node:fs/promises';
import {join} from 'node:path';
import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest';
import {readStubState, stubStateFile} from '@wgmesh/wg-stub';
import {BIN, assertBuilt, fixturePath, isolatedEnv, makeHome, runCli} from './plugins-helpers.js';

const RECORDER = 'wgmesh-plugin-recorder';

let home: string;
let daemon: ChildProcess | undefined;
beforeAll(() => assertBuilt());
beforeEach(async () => {
  home = await makeHome('wgmesh-select-');
});
afterEach(async () => {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    const exited = new Promise((resolve) => daemon!.once('exit', resolve));
    daemon.kill('SIGKILL');
    await exited;
  }
  daemon = undefined;
  await rm(home, {recursive: true, force: true});
});

/** Poll `probe` until it returns a value (not undefined) or the deadline passes. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function ok(args: string[]): Promise<string> {
  const result = await runCli(home, args);
  expect(result.code, `wgmesh ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

/** The recorder's call log, parsed (empty until it exists). */
async function recordedCalls(dataDir: string): Promise<Array<{op: string; args: Record<string, unknown>}>> {
  const text = await readFile(join(dataDir, 'recorder', 'calls.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as {op: string; args: Record<string, unknown>});
}

/** Start `wgmesh daemon` with `args` under the isolated HOME and wait until it is ready. */
async function startDaemon(args: string[]): Promise<{child: ChildProcess; exited: Promise<number | null>}> {
  const child = spawn(process.execPath, [BIN, 'daemon', ...args, '--log-level', 'info'], {env: isolatedEnv(home), stdio: ['ignore', 'pipe', 'pipe']});
  daemon = child;
  let logs = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (logs += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (logs += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor('the daemon to be ready', async () => {
    if (child.exitCode !== null) throw new Error(`the daemon exited with ${child.exitCode}:\n${logs}`);
    return /daemon ready/.test(logs) ? true : undefined;
  });
  return {child, exited};
}

describe('selecting a plugin backend by flag', () => {
  it('runs the daemon with --wg recorder and drives the linked plugin for a new mesh', async () => {
    await ok(['plugins', 'link', fixturePath(RECORDER), '--no-install']);
    const dataDir = join(home, 'node');
    const socket = join(home, 'wgmesh.sock');
    const {child, exited} = await startDaemon(['--wg', 'recorder', '--data-dir', dataDir, '--socket', socket]);
    const status = JSON.parse(await ok(['status', '--socket', socket, '--json'])) as {backends: {wg: string}};
    expect(status.backends.wg).toBe('recorder');

    const {meshId} = JSON.parse(await ok(['mesh', 'create', '--socket', socket, '--endpoint', '127.0.0.1', '--json'])) as {meshId: string};
    const meshes = JSON.parse(await ok(['mesh', 'list', '--socket', socket, '--json'])) as Array<{meshId: string; interface: string}>;
    expect(meshes.map((entry) => entry.meshId)).toEqual([meshId]);
    const mesh = meshes[0];
    const calls = await waitFor('the recorder to log ensureInterface', async () => {
      const logged = await recordedCalls(dataDir);
      return logged.some((call) => call.op === 'ensureInterface' && call.args.name === mesh!.interface) ? logged : undefined;
    });
    expect(calls.find((call) => call.op === 'ensureInterface')?.args.privateKey).toBe('<redacted>');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('runs the bundled wg:stub by flag: mesh show works and the stub state file records the interface', async () => {
    const dataDir = join(home, 'node');
    const socket = join(home, 'wgmesh.sock');
    const {child, exited} = await startDaemon(['--wg', 'stub', '--data-dir', dataDir, '--socket', socket]);
    const {meshId} = JSON.parse(await ok(['mesh', 'create', '--socket', socket, '--endpoint', '127.0.0.1', '--json'])) as {meshId: string};
    const view = JSON.parse(await ok(['mesh', 'show', meshId, '--socket', socket, '--json'])) as {nodes: Array<{self: boolean; address: string; wgPublicKey: string; wgEndpoint: string}>};
    expect(view.nodes.map((node) => node.self)).toEqual([true]);
    const self = view.nodes[0];
    expect(await ok(['mesh', 'show', meshId, '--socket', socket])).toContain(self!.address);

    const [summary] = JSON.parse(await ok(['mesh', 'list', '--socket', socket, '--json'])) as Array<{interface: string}>;
    const state = await readStubState(stubStateFile(dataDir));
    const wgInterface = state?.interfaces.find((entry) => entry.name === summary!.interface);
    expect(wgInterface).toMatchObject({publicKey: self!.wgPublicKey, addresses: [`${self!.address}/64`], peers: []});
    expect(self!.wgEndpoint).toBe(`127.0.0.1:${wgInterface!.listenPort}`);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('refuses an unknown backend name, listing the installed ones of that kind', async () => {
    await ok(['plugins', 'link', fixturePath(RECORDER), '--no-install']);
    const result = await runCli(home, ['daemon', '--wg', 'no-such-driver', '--data-dir', join(home, 'node'), '--socket', join(home, 'wgmesh.sock')], {
      timeoutMs: 30_000,
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/no wg backend named 'no-such-driver' is installed; installed: .*recorder/);
    expect(result.stderr).toContain("wgmesh plugins install <package>");
  });
});
