/**
 * The systemd unit shipped in the package, as `wgmesh systemd install` writes
 * it (checked by systemd's own `systemd-analyze verify` and `security`), and the
 * daemon's readiness message on NOTIFY_SOCKET, received by a real Unix
 * datagram socket standing in for the service manager.
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {existsSync} from 'node:fs';
import {chmod, mkdir, readFile, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {commandAvailable, createNetnsLab, netnsAvailable, skipWithout} from '@wgmesh/testkit';
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';
import {SystemdUnitError, renderUnit} from '../src/cli/systemd-unit.js';
import {JEMALLOC_CONF, findJemalloc, jemallocCandidates, jemallocEnvironment} from '../src/cli/unit-allocator.js';
import {BIN, ROOT, killAllDaemons, makeSandbox, runCli, startDaemon, waitFor, type Sandbox} from './helpers/cli.js';
import {freePorts} from './helpers/mesh-cluster.js';

const HAVE_SYSTEMD = !skipWithout('the systemd unit checks', commandAvailable('systemd-analyze', ['--version'], 'systemd'));
const HAVE_NOTIFY = !skipWithout('the readiness test', commandAvailable('systemd-notify', ['--version'], 'systemd'));
const HAVE_NETNS = !skipWithout('the capability test (the daemon with the unit\'s capabilities only, real WireGuard in a namespace)', netnsAvailable());
const HAVE_SETPRIV = !skipWithout('the capability test', commandAvailable('setpriv', ['--version'], 'util-linux'));
const HAVE_PYTHON = !skipWithout('the readiness test (its stand-in service manager)', commandAvailable('python3', ['--version'], 'python3'));
/** The jemalloc `systemd install` would preload here. */
const JEMALLOC = await findJemalloc();
const HAVE_JEMALLOC = !skipWithout('the allocator checks (the unit preloads jemalloc)', JEMALLOC === undefined ? {ok: false, reason: `no jemalloc at ${jemallocCandidates().join(', ')} (apt-get install libjemalloc2)`} : {ok: true});

/** A stand-in for systemd's notify socket: prints each datagram it gets as one JSON string per line. */
const LISTENER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("listening"), flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

/** `systemd-analyze ARGS`: exit status and output. */
function analyze(args: readonly string[]): {status: number | null; stdout: string; stderr: string} {
  const result = spawnSync('systemd-analyze', args, {encoding: 'utf8', timeout: 30_000});
  return {status: result.status, stdout: result.stdout, stderr: result.stderr};
}

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await makeSandbox('wgmesh-systemd-');
});
afterAll(async () => {
  await killAllDaemons();
  await sandbox.cleanup();
});

describe.skipIf(!HAVE_SYSTEMD)('wgmesh systemd install', () => {
  it('prints with --dry-run a unit that passes systemd-analyze verify, and changes nothing', async () => {
    const dry = await runCli(['systemd', 'install', '--dry-run', '--json'], sandbox.env);
    expect(dry.code, dry.stderr).toBe(0);
    const result = JSON.parse(dry.stdout) as {unit: string; unitPath: string; change: null; dryRun: boolean};
    expect(result).toMatchObject({unitPath: '/etc/systemd/system/wgmesh.service', change: null, dryRun: true});
    expect(result.unit).toMatch(/^ExecStart=\/\S*node --expose-gc \/\S+\/bin\/run\.js daemon$/m);

    const unitFile = join(sandbox.dir, 'verify', 'wgmesh.service');
    await mkdir(join(sandbox.dir, 'verify'), {recursive: true});
    await writeFile(unitFile, result.unit);
    const verify = analyze(['verify', unitFile]);
    // verify exits 0 on unknown keys and bad values, only saying so: any output is a finding.
    expect(verify.stderr + verify.stdout).toBe('');
    expect(verify.status).toBe(0);

    const text = await runCli(['systemd', 'install', '--dry-run'], sandbox.env);
    expect(text.code).toBe(0);
    expect(text.stdout.trimEnd()).toBe(result.unit.trimEnd());
    expect(text.stderr).toContain('dry run: would write /etc/systemd/system/wgmesh.service');
  });

  it.skipIf(!HAVE_JEMALLOC)('preloads the host’s jemalloc with its settings, or with --no-jemalloc leaves glibc’s malloc', async () => {
    const dry = JSON.parse((await runCli(['systemd', 'install', '--dry-run', '--json'], sandbox.env)).stdout) as {unit: string; jemalloc: string | null; next: string[]};
    expect(dry.jemalloc).toBe(JEMALLOC);
    const lines = dry.unit.split('\n');
    const exec = lines.findIndex((line) => line.startsWith('ExecStart='));
    expect(lines.slice(exec + 2, exec + 4)).toEqual([`Environment=LD_PRELOAD=${JEMALLOC}`, `Environment=MALLOC_CONF=${JEMALLOC_CONF}`]);
    expect(dry.next).toEqual([]);
    const glibc = JSON.parse((await runCli(['systemd', 'install', '--dry-run', '--json', '--no-jemalloc'], sandbox.env)).stdout) as {unit: string; jemalloc: string | null};
    expect(glibc.jemalloc).toBeNull();
    expect(glibc.unit).not.toContain('Environment=');
  });

  it('has the readiness, restart and hardening settings systemd reads from it', async () => {
    const {unit} = JSON.parse((await runCli(['systemd', 'install', '--dry-run', '--json'], sandbox.env)).stdout) as {unit: string};
    const unitFile = join(sandbox.dir, 'security', 'wgmesh.service');
    await mkdir(join(sandbox.dir, 'security'), {recursive: true});
    await writeFile(unitFile, unit);
    const security = analyze(['security', '--offline=true', '--json=short', unitFile]);
    expect(security.status, security.stderr).toBe(0);
    const checks = new Map((JSON.parse(security.stdout) as Array<{name: string; set: boolean | null}>).map((check) => [check.name, check.set]));
    for (const name of ['NoNewPrivileges=', 'ProtectSystem=', 'ProtectKernelModules=', 'ProtectControlGroups=', 'RestrictNamespaces=~user', 'SystemCallFilter=~@mount', 'CapabilityBoundingSet=~CAP_SYS_ADMIN', 'CapabilityBoundingSet=~CAP_SYS_MODULE']) {
      expect(checks.get(name), name).toBe(true);
    }
    // Overall exposure as systemd rates it (0 best, 10 worst): a regression shows here.
    const threshold = analyze(['security', '--offline=true', '--threshold=35', unitFile]);
    expect(threshold.status, threshold.stdout.split('\n').slice(-3).join('\n')).toBe(0);
    for (const line of ['Type=notify', 'NotifyAccess=all', 'ExecReload=/bin/kill -HUP $MAINPID', 'Restart=on-failure', 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_CHOWN', 'ProtectSystem=strict', 'StateDirectory=wgmesh', 'RuntimeDirectory=wgmesh', 'ConfigurationDirectory=wgmesh']) {
      expect(unit.split('\n'), line).toContain(line);
    }
  });

  it('writes the unit as root (0644), reports an unchanged rerun, and says what is next', async () => {
    const unitDir = join(sandbox.dir, 'units');
    const first = await runCli(['systemd', 'install', '--unit-dir', unitDir, '--json'], sandbox.env);
    expect(first.code, first.stderr).toBe(0);
    const result = JSON.parse(first.stdout) as {unitPath: string; change: string; unit: string; reloaded: boolean; started: boolean; next: string[]};
    const systemdUp = existsSync('/run/systemd/system');
    expect(result).toMatchObject({unitPath: join(unitDir, 'wgmesh.service'), change: 'created', reloaded: systemdUp, started: false});
    expect(result.next).toContain('systemctl enable --now wgmesh.service');
    expect(await readFile(result.unitPath, 'utf8')).toBe(result.unit);
    expect((await stat(result.unitPath)).mode & 0o777).toBe(0o644);

    const again = await runCli(['systemd', 'install', '--unit-dir', unitDir], sandbox.env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`unchanged ${result.unitPath}`);
    expect(again.stdout).toContain('next: ');
  });

  // Where systemd runs, --now would really enable and start a wgmesh service on the test host.
  it.skipIf(existsSync('/run/systemd/system'))('refuses --now where systemd is not running, writing nothing', async () => {
    const unitDir = join(sandbox.dir, 'units-now');
    const result = await runCli(['systemd', 'install', '--now', '--unit-dir', unitDir], sandbox.env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe("Error: --now starts the service, but systemd is not running on this host (no /run/systemd/system); install without --now, or run the daemon yourself with 'wgmesh daemon'");
    expect(existsSync(unitDir)).toBe(false);
  });

  it('writes environment lines after ExecStart under their comment, and refuses a value that would need quoting', async () => {
    const template = await readFile(join(ROOT, 'systemd', 'wgmesh.service'), 'utf8');
    const environment = {comment: 'why', variables: {LD_PRELOAD: '/usr/lib/x/libjemalloc.so.2', MALLOC_CONF: 'narenas:2'}};
    const lines = renderUnit(template, {node: '/usr/bin/node', script: '/opt/w/run.js', environment}).split('\n');
    const exec = lines.findIndex((line) => line.startsWith('ExecStart='));
    expect(lines.slice(exec, exec + 4)).toEqual(['ExecStart=/usr/bin/node /opt/w/run.js daemon', '# why', 'Environment=LD_PRELOAD=/usr/lib/x/libjemalloc.so.2', 'Environment=MALLOC_CONF=narenas:2']);
    expect(renderUnit(template, {node: '/usr/bin/node', script: '/opt/w/run.js'})).not.toContain('Environment=');
    for (const value of ['/opt/my lib.so', '/opt/a"b.so', '/opt/%h.so', '/opt/$X.so']) {
      expect(() => renderUnit(template, {node: '/usr/bin/node', script: 'x', environment: {comment: 'c', variables: {LD_PRELOAD: value}}}), value).toThrow(SystemdUnitError);
    }
  });

  it('looks for jemalloc where distributions put it, for the machine’s architecture first', async () => {
    expect(jemallocCandidates('x64')[0]).toBe('/usr/lib/x86_64-linux-gnu/libjemalloc.so.2');
    expect(jemallocCandidates('arm64')[0]).toBe('/usr/lib/aarch64-linux-gnu/libjemalloc.so.2');
    expect(jemallocCandidates('mips')).toEqual(['/usr/lib64/libjemalloc.so.2', '/usr/lib/libjemalloc.so.2']);
    const dir = join(sandbox.dir, 'libs');
    await mkdir(dir, {recursive: true});
    await writeFile(join(dir, 'second.so'), '');
    expect(await findJemalloc([join(dir, 'first.so'), join(dir, 'second.so')])).toBe(join(dir, 'second.so'));
    expect(await findJemalloc([join(dir, 'none.so')])).toBeUndefined();
  });

  it('escapes node and script paths with spaces, % and $ so that systemd runs exactly those files, and refuses quotes', async () => {
    const dir = join(sandbox.dir, 'odd dir %i $HOME');
    await mkdir(dir, {recursive: true});
    const node = join(dir, 'node');
    await writeFile(node, '#!/bin/sh\n');
    await chmod(node, 0o755);
    const template = await readFile(join(ROOT, 'systemd', 'wgmesh.service'), 'utf8');
    const unit = renderUnit(template, {node, script: join(dir, 'run.js')});
    const unitFile = join(sandbox.dir, 'odd', 'wgmesh.service');
    await mkdir(join(sandbox.dir, 'odd'), {recursive: true});
    await writeFile(unitFile, unit);
    // verify checks that ExecStart's program exists: only the unquoted path of `node` does.
    const verify = analyze(['verify', unitFile]);
    expect(verify.stderr + verify.stdout).toBe('');
    expect(verify.status).toBe(0);
    expect(() => renderUnit(template, {node: '/opt/a"b/node', script: 'x'})).toThrow(/cannot name "\/opt\/a\\"b\/node" in a systemd unit/);
    expect(() => renderUnit(template.replace(/^ExecStart=.*$/m, 'ExecStart=/usr/bin/wgmesh daemon'), {node, script: 'x'})).toThrow(SystemdUnitError);
  });

  it('explains itself in --help', async () => {
    const help = await runCli(['systemd', 'install', '--help'], sandbox.env);
    expect(help.code).toBe(0);
    for (const text of ['--dry-run', '--now', '--unit-dir', '--json', 'EXAMPLES', 'Needs root']) expect(help.stdout).toContain(text);
  });
});

describe.skipIf(!HAVE_NOTIFY || !HAVE_PYTHON)('readiness under a Type=notify unit', () => {
  let listener: ChildProcess | undefined;
  afterEach(async () => {
    await killAllDaemons();
    listener?.kill('SIGKILL');
  });

  it('sends READY=1 with its pid and socket once it answers on its IPC socket', async () => {
    const notifySocket = join(sandbox.dir, 'service-manager.sock');
    const proc = spawn('python3', ['-c', LISTENER, notifySocket], {stdio: ['ignore', 'pipe', 'inherit']});
    listener = proc;
    const messages: string[] = [];
    let buffered = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) messages.push(JSON.parse(line) as string);
    });
    await waitFor(() => messages.includes('listening'), 10_000, 'the stand-in notify socket');

    const [port] = await freePorts(1);
    const config = join(sandbox.dir, 'notify.yaml');
    await writeFile(config, `gRPCPort: ${port}\ngrpc:\n  listenAddress: 127.0.0.1\n`);
    const daemon = await startDaemon({sandbox: {...sandbox, env: {...sandbox.env, NOTIFY_SOCKET: notifySocket}}, name: 'notify', config, args: ['--wg', 'stub']});
    await waitFor(() => messages.some((message) => message.includes('READY=1')), 15_000, `READY=1 on the notify socket (got ${JSON.stringify(messages)}; daemon logged ${daemon.logs()})`);
    const ready = messages.find((message) => message.includes('READY=1'))!;
    expect(ready.split('\n')).toEqual(expect.arrayContaining(['READY=1', `MAINPID=${daemon.child.pid}`, `STATUS=ready; socket ${daemon.socket}`]));
    expect(daemon.logs()).not.toContain('could not tell systemd');
    const list = await runCli(['mesh', 'list', '--json', '--socket', daemon.socket], sandbox.env);
    expect(list.code, list.stderr).toBe(0);
    expect(await daemon.stop()).toBe(0);
  });
});

describe.skipIf(!HAVE_NETNS || !HAVE_SETPRIV)('the unit\'s capabilities', () => {
  it('are enough for the kernel driver: a root daemon limited to them brings a mesh up and down in a namespace', async () => {
    const template = await readFile(join(ROOT, 'systemd', 'wgmesh.service'), 'utf8');
    const capabilities = /^CapabilityBoundingSet=(.+)$/m.exec(template)![1]!.split(' ');
    const bits = {CAP_CHOWN: 0, CAP_NET_BIND_SERVICE: 10, CAP_NET_ADMIN: 12} as Record<string, number>;
    const mask = capabilities.reduce((sum, name) => sum | (1n << BigInt(bits[name] ?? -1)), 0n);
    const lab = await createNetnsLab({hosts: 1, namePrefix: 'wgmcap'});
    try {
      const host = lab.hosts[0]!;
      const dataDir = join(sandbox.dir, 'caps');
      const socket = join(sandbox.dir, 'caps.sock');
      const bounding = ['-all', ...capabilities.map((name) => `+${name.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
      // With the unit's memory settings too: jemalloc preloaded into the daemon and what it runs (ip, wg,
      // wireguard-go), and node's --expose-gc (the daemon's own GC after bursts).
      const allocator = JEMALLOC === undefined ? {} : jemallocEnvironment(JEMALLOC);
      const daemon = lab.spawn(host, 'setpriv', [`--bounding-set=${bounding}`, '--inh-caps=-all', process.execPath, '--expose-gc', BIN, 'daemon', '--wg', 'kernel', '--data-dir', dataDir, '--socket', socket], {env: {...sandbox.env, ...allocator}, stdio: ['ignore', 'pipe', 'pipe']});
      let logs = '';
      daemon.stdout!.setEncoding('utf8').on('data', (chunk: string) => (logs += chunk));
      daemon.stderr!.setEncoding('utf8').on('data', (chunk: string) => (logs += chunk));
      const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
      await waitFor(() => logs.includes('daemon ready') || daemon.exitCode !== null, 20_000, `the daemon to be ready (it logged:\n${logs})`);
      expect(daemon.exitCode, logs).toBeNull();
      const status = await readFile(`/proc/${daemon.pid}/status`, 'utf8');
      expect(BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(status)![1]}`)).toBe(mask);
      if (JEMALLOC !== undefined) expect(await readFile(`/proc/${daemon.pid}/maps`, 'utf8'), 'jemalloc mapped into the daemon').toContain(JEMALLOC);

      const created = await lab.exec(host, process.execPath, [BIN, 'mesh', 'create', '--endpoint', host.address, '--json', '--socket', socket], {timeoutMs: 20_000});
      const {meshId} = JSON.parse(created.stdout) as {meshId: string};
      const [mesh] = JSON.parse((await lab.exec(host, process.execPath, [BIN, 'mesh', 'list', '--json', '--socket', socket])).stdout) as Array<{meshId: string; interface: string; prefix: string}>;
      expect(mesh?.meshId).toBe(meshId);
      const addresses = (await lab.exec(host, 'ip', ['-6', '-br', 'addr', 'show', 'dev', mesh!.interface])).stdout;
      expect(addresses).toContain(mesh!.prefix.replace(/::\/64$/, ':'));
      expect(logs).not.toMatch(/"level":(50|60)/);

      daemon.kill('SIGTERM');
      expect(await exited, logs).toBe(0);
      await expect(lab.exec(host, 'ip', ['link', 'show', 'dev', mesh!.interface])).rejects.toThrow();
    } finally {
      await lab.cleanup();
    }
  }, 60_000);
});
