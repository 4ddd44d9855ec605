/**
 * Signals and fatal errors of a real daemon. SIGHUP reloads the log level and
 * the DNS and metrics listeners and says so, and the daemon keeps running;
 * SIGINT, SIGTERM and SIGQUIT stop it, and an uncaught exception or unhandled
 * rejection stops it with exit status 1: in every case its socket, pid file,
 * interfaces and wireguard-go processes are gone afterwards (the last checked
 * with the kernel driver and wireguard-go in a namespace of its own).
 */
import {spawn} from 'node:child_process';
import {createSocket} from 'node:dgram';
import {existsSync} from 'node:fs';
import {readdir, readFile, writeFile} from 'node:fs/promises';
import {createServer, type Server} from 'node:net';
import {basename, join} from 'node:path';
import {commandAvailable, createNetnsLab, netnsAvailable, skipWithout} from '@wgmesh/testkit';
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';
import {BIN, ROOT, daemonPaths, killAllDaemons, makeSandbox, runCli, startDaemon, waitFor, type DaemonProcess, type Sandbox} from './helpers/cli.js';
import {freePorts} from './helpers/mesh-cluster.js';

const HAVE_NETNS = !skipWithout('the kernel-driver signal test (wireguard-go in a namespace)', netnsAvailable());
const HAVE_SCRIPT = !skipWithout('the terminal log format test (a pseudo-terminal)', commandAvailable('script', ['--version'], 'util-linux'));

/** The JSON log lines a daemon wrote. */
function logLines(daemon: DaemonProcess): Array<Record<string, unknown>> {
  return daemon
    .logs()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The log lines whose message starts with `prefix`. */
function linesStarting(daemon: DaemonProcess, prefix: string): Array<Record<string, unknown>> {
  return logLines(daemon).filter((line) => typeof line.msg === 'string' && line.msg.startsWith(prefix));
}

/** `status --json` of a daemon. */
async function status(sandbox: Sandbox, daemon: DaemonProcess): Promise<{dns?: {address: string}; metrics?: {address: string; url: string}}> {
  const result = await runCli(['status', '--json', '--socket', daemon.socket], sandbox.env);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as {dns?: {address: string}; metrics?: {address: string; url: string}};
}

/** The ids of the processes on the host whose program is named `program` (any directory) and whose arguments are `args`. */
async function processIds(program: string, args: readonly string[]): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0').slice(0, -1);
    if (argv.length > 0 && basename(argv[0]!) === program && argv.slice(1).join('\0') === args.join('\0')) found.push(Number(entry));
  }
  return found;
}

/** After a stop: no socket, no pid file, one "stopping" line naming the signal and a "stopped" line. */
function expectCleanStop(daemon: DaemonProcess, reason: string): void {
  expect(existsSync(daemon.socket), `socket ${daemon.socket} left behind`).toBe(false);
  expect(existsSync(join(daemon.dataDir, 'daemon.pid')), 'pid file left behind').toBe(false);
  expect(linesStarting(daemon, 'stopping').map((line) => line.signal)).toEqual([reason]);
}

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await makeSandbox('wgmesh-signals-');
});
afterEach(async () => {
  await killAllDaemons();
});
afterAll(async () => {
  await killAllDaemons();
  await sandbox.cleanup();
});

/** A config file for daemon NAME with these extra YAML lines, on a free gRPC port. */
async function writeConfig(name: string, extra: string, port?: number): Promise<{file: string; port: number}> {
  const [free] = port === undefined ? await freePorts(1) : [port];
  const file = join(sandbox.dir, `${name}.yaml`);
  await writeFile(file, `gRPCPort: ${free}\ngrpc:\n  listenAddress: 127.0.0.1\n${extra}`);
  return {file, port: free!};
}

describe('stop signals and fatal errors (stub driver)', () => {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) {
    it(`${signal} saves the mesh, removes the socket and pid file, and exits 0`, async () => {
      const name = `stop-${signal.toLowerCase()}`;
      const {file} = await writeConfig(name, '');
      const daemon = await startDaemon({sandbox, name, config: file, args: ['--wg', 'stub']});
      const created = await runCli(['mesh', 'create', '--endpoint', '192.0.2.20', '--json', '--socket', daemon.socket], sandbox.env);
      expect(created.code, created.stderr).toBe(0);
      expect(await daemon.stop(signal), daemon.logs()).toBe(0);
      expectCleanStop(daemon, signal);
      expect(linesStarting(daemon, 'stopped')).toHaveLength(1);
      // The mesh was saved: the next start restores it.
      const again = await startDaemon({sandbox, name, config: file, args: ['--wg', 'stub']});
      expect(linesStarting(again, 'mesh restored')).toHaveLength(1);
      expect(await again.stop()).toBe(0);
    }, 60_000);
  }

  for (const crash of ['exception', 'rejection'] as const) {
    it(`an uncaught ${crash} stops the daemon cleanly with exit status 1`, async () => {
      const name = `crash-${crash}`;
      const {file} = await writeConfig(name, '');
      const preload = join(ROOT, 'test', 'fixtures', 'crash', 'on-sigusr2.mjs');
      const env = {...sandbox.env, NODE_OPTIONS: `--import ${preload}`, WGMESH_TEST_CRASH: crash};
      const daemon = await startDaemon({sandbox: {...sandbox, env}, name, config: file, args: ['--wg', 'stub']});
      expect(await daemon.stop('SIGUSR2'), daemon.logs()).toBe(1);
      const origin = crash === 'exception' ? 'uncaughtException' : 'unhandledRejection';
      expect(linesStarting(daemon, 'uncaught error').map((line) => [line.origin, (line.err as {message?: string}).message])).toEqual([[origin, expect.stringMatching(/^test: /)]]);
      expectCleanStop(daemon, origin);
      expect(linesStarting(daemon, 'stopped after an uncaught error')).toHaveLength(1);
    }, 60_000);
  }
});

describe('SIGHUP', () => {
  let blocker: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    blocker = undefined;
  });

  it('is caught from the start: one that arrives while the daemon is starting does not stop it', async () => {
    const {file} = await writeConfig('early-hup', '');
    const {dataDir, socket} = daemonPaths(sandbox, 'early-hup');
    const child = spawn(process.execPath, [BIN, 'daemon', '--config', file, '--data-dir', dataDir, '--socket', socket, '--log-level', 'debug'], {env: sandbox.env, stdio: ['ignore', 'pipe', 'pipe']});
    let output = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // SIGHUP's bit in the caught-signals mask: set as soon as something handles it.
      const caughtSignals = async (): Promise<bigint> => BigInt(`0x${/SigCgt:\s*([0-9a-f]+)/.exec(await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => ''))?.[1] ?? '0'}`);
      await waitFor(async () => ((await caughtSignals()) & 1n) === 1n, 10_000, 'the daemon process to catch SIGHUP');
      // Long before it holds its data dir (and so before its own signal handling is in place).
      expect(existsSync(join(dataDir, 'daemon.pid'))).toBe(false);
      child.kill('SIGHUP');
      await waitFor(() => output.includes('daemon ready') || child.exitCode !== null || child.signalCode !== null, 20_000, `the daemon to be ready (it logged:\n${output})`);
      expect(child.signalCode, output).toBeNull();
      expect(child.exitCode, output).toBeNull();
      child.kill('SIGTERM');
      expect(await exited, output).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });

  it('reloads the log level and the DNS and metrics listeners, says what needs a restart, and keeps running', async () => {
    const name = 'reload';
    const [grpcPort, movedGrpcPort, blockedPort] = await freePorts(3);
    const {file} = await writeConfig(name, 'logLevel: info\ndnsEnabled: true\ndnsListen: 127.0.0.1:0\n', grpcPort);
    const daemon = await startDaemon({sandbox, name, config: file, logLevel: null, args: ['--wg', 'stub']});
    const pid = daemon.child.pid;
    const dnsAtStart = (await status(sandbox, daemon)).dns!.address;
    expect((await status(sandbox, daemon)).metrics).toBeUndefined();
    expect(logLines(daemon).filter((line) => line.level === 20)).toEqual([]);
    // The info lines saying what a reload did (errors of a reload are separate lines).
    const summaries = (): Array<Record<string, unknown>> => linesStarting(daemon, 'SIGHUP').filter((line) => line.level === 30);
    const hup = async (expected: number): Promise<Record<string, unknown>> => {
      daemon.child.kill('SIGHUP');
      await waitFor(() => summaries().length >= expected || daemon.child.exitCode !== null, 10_000, `reload line ${expected}`);
      expect(daemon.child.exitCode, daemon.logs()).toBeNull();
      return summaries()[expected - 1]!;
    };

    // The level of loggers made before the reload follows it: the DNS server's, made at start, logs a dropped packet at debug.
    await writeConfig(name, 'logLevel: debug\ndnsEnabled: true\ndnsListen: 127.0.0.1:0\n', grpcPort);
    const first = await hup(1);
    expect(first).toMatchObject({level: 30, msg: 'SIGHUP: reloaded logLevel info → debug', reloaded: ['logLevel info → debug'], needsRestart: []});
    expect((await status(sandbox, daemon)).dns?.address).toBe(dnsAtStart);
    const garbage = createSocket('udp4');
    const [host, port] = [dnsAtStart.split(':')[0]!, Number(dnsAtStart.split(':')[1])];
    await new Promise<void>((resolve, reject) => garbage.send(Buffer.from([1]), port, host, (error) => (error ? reject(error) : resolve())));
    garbage.close();
    await waitFor(() => logLines(daemon).some((line) => line.level === 20 && line.component === 'dns'), 10_000, 'the DNS server\'s debug line');

    // Metrics on, DNS moved, a key that needs a restart.
    await writeConfig(name, 'logLevel: debug\ndnsEnabled: true\ndnsListen: 127.0.0.2:0\nmetricsEnabled: true\nmetricsListen: 127.0.0.1:0\n', movedGrpcPort);
    const second = await hup(2);
    expect(second).toMatchObject({reloaded: ['DNS on 127.0.0.2:0', 'metrics on 127.0.0.1:0'], needsRestart: ['gRPCPort']});
    expect(second.msg).toBe('SIGHUP: reloaded DNS on 127.0.0.2:0, metrics on 127.0.0.1:0; restart the daemon to apply gRPCPort');
    const moved = await status(sandbox, daemon);
    expect(moved.dns?.address).toMatch(/^127\.0\.0\.2:\d+$/);
    const scrape = await fetch(moved.metrics!.url);
    expect(scrape.status).toBe(200);
    expect(await scrape.text()).toContain('wgmesh_');

    // A port in use keeps the running metrics server; DNS off; the level back to info (the line still shows).
    blocker = createServer();
    await new Promise<void>((resolve) => blocker!.listen(blockedPort, '127.0.0.1', resolve));
    await writeConfig(name, `logLevel: info\nmetricsEnabled: true\nmetricsListen: 127.0.0.1:${blockedPort}\n`, movedGrpcPort);
    const third = await hup(3);
    expect(third).toMatchObject({reloaded: ['DNS off', 'logLevel debug → info'], needsRestart: ['gRPCPort']});
    expect(logLines(daemon).some((line) => line.level === 50 && line.msg === 'SIGHUP: the metrics server stays as it was')).toBe(true);
    const after = await status(sandbox, daemon);
    expect(after.dns).toBeUndefined();
    expect(after.metrics?.url).toBe(moved.metrics!.url);
    expect((await fetch(moved.metrics!.url)).status).toBe(200);

    // An invalid config changes nothing.
    await writeFile(file, 'logLevel: [\n');
    daemon.child.kill('SIGHUP');
    await waitFor(() => logLines(daemon).some((line) => line.level === 50 && String(line.msg).startsWith('SIGHUP: the config could not be read again')), 10_000, 'the reload error');
    expect((await status(sandbox, daemon)).metrics?.url).toBe(moved.metrics!.url);

    // Still the same process, answering on its socket; a stop after reloads still removes everything.
    expect(daemon.child.pid).toBe(pid);
    expect(daemon.child.exitCode).toBeNull();
    expect(await daemon.stop('SIGTERM'), daemon.logs()).toBe(0);
    expectCleanStop(daemon, 'SIGTERM');
    await expect(fetch(moved.metrics!.url)).rejects.toThrow();
  }, 90_000);
});

describe.skipIf(!HAVE_NETNS)('signals with the kernel driver and wireguard-go', () => {
  it('a SIGHUP to the daemon\'s process group (a closing terminal) keeps the interface and wireguard-go; SIGQUIT to the group removes both', async () => {
    const lab = await createNetnsLab({hosts: 1, namePrefix: 'wgmsig'});
    // Its own process group, as a shell job: a signal to the group reaches the daemon and everything it started there.
    let group: number | undefined;
    let iface: string | undefined;
    try {
      const host = lab.hosts[0]!;
      const {file} = await writeConfig('kernel', 'kernel:\n  implementation: userspace\n');
      const {dataDir, socket} = daemonPaths(sandbox, 'kernel');
      const child = spawn('ip', ['netns', 'exec', host.netns, process.execPath, BIN, 'daemon', '--config', file, '--data-dir', dataDir, '--socket', socket, '--wg', 'kernel', '--log-level', 'debug'], {env: sandbox.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true});
      group = child.pid!;
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const daemon: DaemonProcess = {child, socket, dataDir, logs: () => output, exited, stop: async () => exited};
      await waitFor(() => output.includes('daemon ready') || child.exitCode !== null, 20_000, 'the daemon to be ready');
      expect(child.exitCode, output).toBeNull();

      const created = await runCli(['mesh', 'create', '--endpoint', host.address, '--json', '--socket', socket], sandbox.env);
      expect(created.code, created.stderr).toBe(0);
      const {meshId} = JSON.parse(created.stdout) as {meshId: string};
      const [mesh] = JSON.parse((await runCli(['mesh', 'list', '--json', '--socket', socket], sandbox.env)).stdout) as Array<{meshId: string; interface: string}>;
      expect(mesh?.meshId).toBe(meshId);
      iface = mesh!.interface;
      await lab.exec(host, 'ip', ['link', 'show', 'dev', iface]);
      const wireguardGo = await processIds('wireguard-go', ['-f', iface]);
      expect(wireguardGo).toHaveLength(1);

      process.kill(-group, 'SIGHUP');
      await waitFor(() => linesStarting(daemon, 'SIGHUP').length === 1 || child.exitCode !== null, 10_000, 'the reload line');
      expect(child.exitCode, output).toBeNull();
      await lab.exec(host, 'ip', ['link', 'show', 'dev', iface]);
      expect(await processIds('wireguard-go', ['-f', iface])).toEqual(wireguardGo);
      expect((await runCli(['mesh', 'list', '--json', '--socket', socket], sandbox.env)).code).toBe(0);

      process.kill(-group, 'SIGQUIT');
      expect(await exited, output).toBe(0);
      group = undefined;
      expectCleanStop(daemon, 'SIGQUIT');
      await expect(lab.exec(host, 'ip', ['link', 'show', 'dev', iface])).rejects.toThrow();
      await waitFor(async () => (await processIds('wireguard-go', ['-f', iface])).length === 0, 10_000, `wireguard-go -f ${iface} to exit`);
    } finally {
      if (group !== undefined) process.kill(-group, 'SIGKILL');
      if (iface !== undefined) for (const pid of await processIds('wireguard-go', ['-f', iface])) process.kill(pid, 'SIGKILL');
      await lab.cleanup();
    }
  }, 90_000);
});

describe.skipIf(!HAVE_SCRIPT)('log format', () => {
  /** Run the daemon under `script` (a pseudo-terminal) until ready, stop it, and return what the terminal showed. */
  async function onTerminal(name: string, extraArgs: string[], env: NodeJS.ProcessEnv): Promise<string> {
    const {file} = await writeConfig(name, '');
    const {dataDir, socket} = daemonPaths(sandbox, name);
    const command = [process.execPath, BIN, 'daemon', '--config', file, '--data-dir', dataDir, '--socket', socket, '--wg', 'stub', '--log-level', 'info', ...extraArgs].map((word) => `'${word}'`).join(' ');
    const child = spawn('script', ['-qefc', command, '/dev/null'], {env, stdio: ['pipe', 'pipe', 'pipe']});
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => /daemon ready/.test(output) || child.exitCode !== null, 20_000, `the daemon under script to be ready (it showed:\n${output})`);
      const pid = Number((await readFile(join(dataDir, 'daemon.pid'), 'utf8')).trim());
      process.kill(pid, 'SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    return output;
  }

  // eslint-disable-next-line no-control-regex
  const ANSI = /\u001b\[[0-9;]*m/g;
  const ESCAPE = '\u001b[';

  it('is one coloured line per entry on a terminal, JSON with --log-format json, JSON when piped', async () => {
    const colourEnv = {...sandbox.env, TERM: 'xterm'};
    delete colourEnv.NO_COLOR;
    const pretty = await onTerminal('tty-pretty', [], colourEnv);
    const lines = pretty.split(/\r?\n/).filter((line) => line.trim() !== '');
    expect(pretty).toContain(ESCAPE);
    const plain = lines.map((line) => line.replace(ANSI, ''));
    expect(plain.some((line) => line.startsWith('{'))).toBe(false);
    expect(plain).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}daemon ready socket=\S+ backends=\{"store":"twophase","transport":"grpc","wg":"stub"\}$/));
    expect(plain).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}stopping signal=SIGTERM$/));

    const json = await onTerminal('tty-json', ['--log-format', 'json'], colourEnv);
    const jsonLines = json.split(/\r?\n/).filter((line) => line.trim() !== '');
    expect(jsonLines.length).toBeGreaterThan(2);
    for (const line of jsonLines) expect(() => JSON.parse(line), line).not.toThrow();

    // Piped: JSON (every other test here reads it as such); --log-format pretty without a terminal: pretty, uncoloured.
    const {file} = await writeConfig('piped-pretty', '');
    const piped = await startDaemon({sandbox: {...sandbox, env: colourEnv}, name: 'piped-pretty', config: file, logLevel: 'info', args: ['--wg', 'stub', '--log-format', 'pretty']});
    expect(await piped.stop()).toBe(0);
    expect(piped.logs()).not.toContain(ESCAPE);
    expect(piped.logs()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}stopped$/m);
  }, 90_000);
});
