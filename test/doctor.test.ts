/**
 * `wgmesh doctor` against real hosts: every check on a host where it passes
 * and on one where it fails. The failing hosts are made for real: a network
 * namespace with IPv6 disabled, ports bound by the test, a PATH without `wg`
 * and `wireguard-go`, a data dir with a 0644 identity, a mount namespace
 * without /dev/net/tun, a user without CAP_NET_ADMIN, a clock ten years
 * back (libfaketime), a socket whose "daemon" never answers; and real
 * daemons: one with a mesh on the stub driver, one relaying in a namespace
 * without forwarding, and two with real WireGuard (wireguard-go) for the
 * handshake check. Each run checks the exit status and the `--json` shape.
 */
import {execFile, spawnSync} from 'node:child_process';
import {createSocket, type Socket as UdpSocket} from 'node:dgram';
import {chmod, mkdir, symlink, writeFile} from 'node:fs/promises';
import {createServer, type Server} from 'node:net';
import {join} from 'node:path';
import {commandAvailable, netnsAvailable, skipWithout} from '@wgmesh/testkit';
import {afterAll, afterEach, beforeEach, describe, expect, it} from 'vitest';
import {BIN, killAllDaemons, makeSandbox, waitFor, type Sandbox} from './helpers/cli.js';
import {wireguardModule} from '../src/cli/doctor/wireguard-host.js';
import {faketimeAvailable, faketimeEnv} from './helpers/faketime.js';
import {MeshCluster, MeshNode, freePorts, writeNodeFiles} from './helpers/mesh-cluster.js';
import {NetnsCluster, waitForPing} from './helpers/netns-cluster.js';

/** One check line of `doctor --json`. */
interface CheckLine {
  name: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
  fix: string | null;
}

/** `doctor --json`. */
interface Report {
  status: 'ok' | 'warn' | 'fail';
  checks: CheckLine[];
}

interface DoctorRun {
  code: number;
  report: Report;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Every check name, in report order (a check may report several lines, e.g. one per port). */
const CHECK_NAMES = ['config', 'privileges', 'wireguard', 'ip', 'wg', 'tun', 'ipv6', 'forwarding', 'ports', 'clock', 'data-dir', 'daemon', 'handshakes'];

/** Run `wgmesh doctor ARGS` (with `--json` unless `human`), optionally under a prefix (`ip netns exec NS`, `setpriv ...`). */
function doctor(args: readonly string[], env: NodeJS.ProcessEnv, options: {prefix?: readonly string[]; human?: boolean} = {}): Promise<DoctorRun> {
  const argv = [process.execPath, BIN, 'doctor', ...(options.human ? [] : ['--json']), ...args];
  const [command, ...rest] = [...(options.prefix ?? []), ...argv];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(command!, rest, {env, timeout: 30_000, maxBuffer: 4 * 1024 * 1024}, (error, stdout, stderr) => {
      const code = error ? (typeof (error as {code?: unknown}).code === 'number' ? (error as {code: number}).code : -1) : 0;
      if (options.human) return resolve({code, report: {status: 'ok', checks: []}, stdout, stderr, ms: Date.now() - started});
      try {
        resolve({code, report: expectReportShape(JSON.parse(stdout)), stdout, stderr, ms: Date.now() - started});
      } catch (parseError) {
        reject(new Error(`doctor printed no report (exit ${code}): ${(parseError as Error).message}\nstdout: ${stdout}\nstderr: ${stderr}`));
      }
    });
  });
}

/** The `--json` document: `{status, checks: [{name, status, detail, fix}]}`, a line for every check, and the exit status it implies. */
function expectReportShape(value: unknown): Report {
  const report = value as Report;
  expect(Object.keys(report).sort()).toEqual(['checks', 'status']);
  expect(['ok', 'warn', 'fail']).toContain(report.status);
  for (const line of report.checks) {
    expect(Object.keys(line).sort()).toEqual(['detail', 'fix', 'name', 'status']);
    expect(['ok', 'warn', 'fail', 'skip']).toContain(line.status);
    expect(typeof line.detail).toBe('string');
    expect(line.detail.length).toBeGreaterThan(0);
    // Every problem says what to do; a passing line has nothing to do.
    if (line.status === 'warn' || line.status === 'fail') expect(line.fix).toMatch(/\S/);
    if (line.status === 'ok' || line.status === 'skip') expect(line.fix).toBeNull();
  }
  expect([...new Set(report.checks.map((line) => line.name))]).toEqual(CHECK_NAMES);
  return report;
}

/** The lines of check `name`. */
function lines(report: Report, name: string): CheckLine[] {
  return report.checks.filter((line) => line.name === name);
}

/** The single line of check `name`. */
function line(report: Report, name: string): CheckLine {
  const found = lines(report, name);
  expect(found, `lines of ${name}`).toHaveLength(1);
  return found[0]!;
}

/** A summary for assertion messages. */
function shown(report: Report): string {
  return report.checks.map((check) => `${check.status} ${check.name}: ${check.detail}`).join('\n');
}

function run(command: string, args: readonly string[]): void {
  const result = spawnSync(command, args, {encoding: 'utf8', timeout: 10_000});
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr || result.error?.message}`);
}

/** A network namespace with loopback up, removed by {@link removeNamespaces}. */
const namespaces: string[] = [];
function makeNamespace(tag: string): string {
  const name = `wgdoc-${tag}-${process.pid}`;
  run('ip', ['netns', 'add', name]);
  namespaces.push(name);
  run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}
function removeNamespaces(): void {
  for (const name of namespaces.splice(0)) spawnSync('ip', ['netns', 'del', name], {timeout: 10_000});
}

/** Write `value` to a sysctl file inside namespace `netns`. */
function sysctlIn(netns: string, file: string, value: string): void {
  run('ip', ['netns', 'exec', netns, 'sh', '-c', `echo ${value} > ${file}`]);
}

const NETNS = netnsAvailable({wireguard: false});
const SKIP_NETNS = skipWithout('doctor checks in network namespaces', NETNS);
const SKIP_WIREGUARD = skipWithout('the doctor handshake check with real WireGuard', netnsAvailable());
const SKIP_TOOLS = skipWithout('doctor checks that need ip, wg and wireguard-go installed', commandAvailable('wg', ['--version'], 'wireguard-tools'));
const SKIP_ROOT = skipWithout('doctor checks run as root and as another user', process.getuid?.() === 0 ? {ok: true} : {ok: false, reason: 'not root'});
const SKIP_FAKETIME = skipWithout('the doctor clock check with a wrong clock', faketimeAvailable());

describe('wgmesh doctor on this host, no daemon running', () => {
  let sandbox: Sandbox;
  let configFile: string;
  let dataDir: string;
  let grpcPort: number;
  const holders: (Server | UdpSocket)[] = [];

  /** Write the sandbox config: its own data dir and socket, a free gRPC port on loopback, then `extra`. YAML is a superset of JSON. */
  async function writeConfig(extra: Record<string, unknown> = {}): Promise<void> {
    await writeFile(configFile, JSON.stringify({dataDir, socket: join(sandbox.dir, 'd.sock'), gRPCPort: grpcPort, grpc: {listenAddress: '127.0.0.1'}, ...extra}));
  }

  beforeEach(async () => {
    sandbox = await makeSandbox('wgmesh-doctor-');
    configFile = join(sandbox.dir, 'config.yaml');
    dataDir = join(sandbox.dir, 'data');
    [grpcPort] = await freePorts(1);
    await writeConfig();
  });

  afterEach(async () => {
    await Promise.all(holders.splice(0).map((holder) => new Promise<void>((resolve) => holder.close(() => resolve()))));
    removeNamespaces();
    await sandbox.cleanup();
  });

  it.skipIf(SKIP_ROOT || SKIP_TOOLS)('passes every host check as root with the tools installed, fails the daemon check, exits 1 and prints one line per check with its fix', async () => {
    const {code, report} = await doctor(['--config', configFile], sandbox.env);
    expect(code, shown(report)).toBe(1);
    expect(report.status).toBe('fail');
    for (const name of ['config', 'privileges', 'wireguard', 'ip', 'wg', 'tun', 'ipv6', 'forwarding', 'ports', 'data-dir']) {
      expect(lines(report, name).map((check) => check.status), `${name}\n${shown(report)}`).toEqual(['ok']);
    }
    expect(line(report, 'privileges').detail).toContain('root');
    expect(line(report, 'ports').detail).toBe(`TCP 127.0.0.1:${grpcPort} (gRPCPort) is free`);
    expect(line(report, 'data-dir').detail).toContain('does not exist yet');
    expect(['ok', 'skip']).toContain(line(report, 'clock').status);
    expect(line(report, 'daemon')).toMatchObject({status: 'fail', detail: `the daemon is not running: nothing answers on ${join(sandbox.dir, 'd.sock')}`});
    expect(line(report, 'daemon').fix).toContain('wgmesh daemon');
    expect(line(report, 'handshakes').status).toBe('skip');

    const human = await doctor(['--config', configFile], sandbox.env, {human: true});
    expect(human.code).toBe(1);
    const printed = human.stdout.trimEnd().split('\n');
    expect(printed).toHaveLength(report.checks.length + 2);
    expect(printed).toContainEqual(expect.stringMatching(/^FAIL {2}daemon +the daemon is not running: .*; fix: start it/));
    expect(printed).toContainEqual(expect.stringMatching(/^ok {4}ipv6 +IPv6 is enabled$/));
    expect(printed.at(-1)).toBe('1 failed');
  });

  it('fails the ip, wg and wireguard checks with a PATH without wg and wireguard-go, naming the package to install', async () => {
    const bin = join(sandbox.dir, 'bin');
    await mkdir(bin);
    const ip = spawnSync('sh', ['-c', 'command -v ip'], {encoding: 'utf8'}).stdout.trim();
    if (ip !== '') await symlink(ip, join(bin, 'ip'));
    const {code, report} = await doctor(['--config', configFile], {...sandbox.env, PATH: bin});
    expect(code).toBe(1);
    if (ip !== '') expect(line(report, 'ip').status).toBe('ok');
    expect(line(report, 'wg')).toEqual({name: 'wg', status: 'fail', detail: 'wg is not installed: apt-get install wireguard-tools', fix: 'apt-get install wireguard-tools'});
    if ((await wireguardModule()) === 'absent') {
      expect(line(report, 'wireguard').status).toBe('fail');
      expect(line(report, 'wireguard').detail).toContain('wireguard-go is not installed');
      expect(line(report, 'wireguard').fix).toContain('apt-get install wireguard-go');
    }
  });

  it('skips the WireGuard host checks when the config uses another driver', async () => {
    await writeConfig({wgDriver: 'stub'});
    const {report} = await doctor(['--config', configFile], {...sandbox.env, PATH: join(sandbox.dir, 'nowhere')});
    for (const name of ['privileges', 'wireguard', 'ip', 'wg', 'tun']) expect(line(report, name).status, name).toBe('skip');
  });

  it.skipIf(SKIP_NETNS)('fails the ipv6 check in a namespace with IPv6 disabled, and passes it in one with IPv6 on', async () => {
    const off = makeNamespace('v6off');
    sysctlIn(off, '/proc/sys/net/ipv6/conf/all/disable_ipv6', '1');
    sysctlIn(off, '/proc/sys/net/ipv6/conf/default/disable_ipv6', '1');
    const on = makeNamespace('v6on');
    const [without, withIpv6] = await Promise.all([
      doctor(['--config', configFile], sandbox.env, {prefix: ['ip', 'netns', 'exec', off]}),
      doctor(['--config', configFile], sandbox.env, {prefix: ['ip', 'netns', 'exec', on]}),
    ]);
    expect(without.code).toBe(1);
    expect(line(without.report, 'ipv6')).toMatchObject({status: 'fail', detail: expect.stringContaining('IPv6 is disabled (net.ipv6.conf.all.disable_ipv6=1, net.ipv6.conf.default.disable_ipv6=1)')});
    expect(line(without.report, 'ipv6').fix).toContain('sysctl -w net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0');
    expect(line(withIpv6.report, 'ipv6')).toMatchObject({status: 'ok', detail: 'IPv6 is enabled'});
  });

  it('fails the ports check for each configured port another program holds, saying where to change it, and passes once they are free', async () => {
    const [dnsPort, metricsPort] = await freePorts(2);
    await writeConfig({dnsEnabled: true, dnsListen: `127.0.0.1:${dnsPort}`, metricsEnabled: true, metricsListen: `127.0.0.1:${metricsPort}`});
    for (const port of [grpcPort!, metricsPort!]) {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen({host: '127.0.0.1', port}, resolve));
      holders.push(server);
    }
    const udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind({address: '127.0.0.1', port: dnsPort}, resolve));
    holders.push(udp);

    const held = await doctor(['--config', configFile], sandbox.env);
    expect(held.code).toBe(1);
    expect(lines(held.report, 'ports')).toEqual([
      {name: 'ports', status: 'fail', detail: `TCP 127.0.0.1:${grpcPort} (gRPCPort) is in use by another program`, fix: `find it with 'ss -ltnp sport = :${grpcPort}' and stop it, or set gRPCPort in ${configFile}`},
      {name: 'ports', status: 'fail', detail: `UDP 127.0.0.1:${dnsPort} (dnsListen) is in use by another program`, fix: `find it with 'ss -lunp sport = :${dnsPort}' and stop it, or set dnsListen in ${configFile}`},
      {name: 'ports', status: 'fail', detail: `TCP 127.0.0.1:${metricsPort} (metricsListen) is in use by another program`, fix: `find it with 'ss -ltnp sport = :${metricsPort}' and stop it, or set metricsListen in ${configFile}`},
    ]);

    await Promise.all(holders.splice(0).map((holder) => new Promise<void>((resolve) => holder.close(() => resolve()))));
    const free = await doctor(['--config', configFile], sandbox.env);
    expect(lines(free.report, 'ports').map((check) => [check.status, check.detail])).toEqual([
      ['ok', `TCP 127.0.0.1:${grpcPort} (gRPCPort) is free`],
      ['ok', `UDP 127.0.0.1:${dnsPort} (dnsListen) is free`],
      ['ok', `TCP 127.0.0.1:${metricsPort} (metricsListen) is free`],
    ]);
  });

  it('fails the data-dir check for a 0644 identity, a readable admin key and a world-writable dir, and passes once they are private', async () => {
    const identity = join(dataDir, 'identity.json');
    const admin = join(dataDir, 'admin', 'aaaaaaaaaaaaaaaaaaaaaaaaaa.json');
    await mkdir(join(dataDir, 'admin'), {recursive: true});
    await writeFile(identity, '{}\n', {mode: 0o644});
    await writeFile(admin, '{}\n', {mode: 0o640});
    await chmod(identity, 0o644);
    await chmod(admin, 0o640);
    await chmod(dataDir, 0o777);
    const open = await doctor(['--config', configFile], sandbox.env);
    expect(open.code).toBe(1);
    expect(lines(open.report, 'data-dir')).toEqual([
      {name: 'data-dir', status: 'fail', detail: `${dataDir} is writable by everyone (mode 0777): anyone could replace the node's keys`, fix: `chmod 700 ${dataDir}`},
      {name: 'data-dir', status: 'fail', detail: `${identity} holds private keys and is readable or writable by others (mode 0644)`, fix: `chmod 600 ${identity}`},
      {name: 'data-dir', status: 'fail', detail: `${admin} holds private keys and is readable or writable by others (mode 0640)`, fix: `chmod 600 ${admin}`},
    ]);

    await chmod(dataDir, 0o700);
    await chmod(identity, 0o600);
    await chmod(admin, 0o600);
    const closed = await doctor(['--config', configFile], sandbox.env);
    expect(line(closed.report, 'data-dir')).toMatchObject({status: 'ok', detail: `${dataDir} (mode 0700) and its key files are private`});
  });

  it('fails the data-dir check for a data dir of a newer format, and passes for the current one', async () => {
    await mkdir(dataDir, {recursive: true, mode: 0o700});
    await writeFile(join(dataDir, 'format.json'), '{"format":9}\n');
    const newer = await doctor(['--config', configFile], sandbox.env);
    expect(newer.code).toBe(1);
    expect(lines(newer.report, 'data-dir')).toEqual([
      {name: 'data-dir', status: 'fail', detail: `${dataDir} has format 9, written by a newer wgmesh; this one reads format 1 at most`, fix: `run the newer wgmesh, or restore the copy in ${join(dataDir, 'backups')}`},
    ]);
    await writeFile(join(dataDir, 'format.json'), '{"format":1}\n');
    const current = await doctor(['--config', configFile], sandbox.env);
    expect(line(current.report, 'data-dir')).toMatchObject({status: 'ok'});
  });

  it('fails the config check, naming the key, and skips what needs the config', async () => {
    await writeConfig({gRPCPort: 'four thousand'});
    const {code, report} = await doctor(['--config', configFile], sandbox.env);
    expect(code).toBe(1);
    expect(line(report, 'config')).toMatchObject({status: 'fail', detail: expect.stringContaining(`config ${configFile}: gRPCPort:`)});
    expect(line(report, 'ports').status).toBe('skip');
    expect(line(report, 'data-dir').status).toBe('skip');
  });

  it('gives up on a daemon that accepts and never answers within the probe time, and reports it', async () => {
    const socket = join(sandbox.dir, 'stuck.sock');
    // Accepts and reads, never answers.
    const stuck = createServer((connection) => connection.resume());
    await new Promise<void>((resolve) => stuck.listen(socket, resolve));
    holders.push(stuck);
    const {code, report, ms} = await doctor(['--config', configFile, '--socket', socket], sandbox.env);
    expect(code).toBe(1);
    expect(line(report, 'daemon')).toMatchObject({status: 'fail', detail: expect.stringContaining('did not answer status within 3000 ms')});
    expect(line(report, 'handshakes').status).toBe('skip');
    // The probe time plus a node start, far below the 30 s a plain CLI call would wait.
    expect(ms).toBeLessThan(10_000);
  });

  it.skipIf(SKIP_ROOT)('fails the privileges check for a user without CAP_NET_ADMIN', async () => {
    const {code, report} = await doctor(['--config', configFile], {...sandbox.env, HOME: '/'}, {prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']});
    expect(code).toBe(1);
    expect(line(report, 'privileges')).toMatchObject({status: 'fail', detail: expect.stringContaining('this user runs as uid 65534 without CAP_NET_ADMIN')});
    expect(line(report, 'privileges').fix).toContain('CAP_NET_ADMIN');
  });

  it.skipIf(SKIP_ROOT)('fails the tun check where /dev/net/tun is missing and WireGuard needs wireguard-go', async () => {
    const script = `mount -t tmpfs none /dev/net && exec "$@"`;
    const {code, report} = await doctor(['--config', configFile], sandbox.env, {prefix: ['unshare', '-m', 'sh', '-c', script, 'sh']});
    expect(code).toBe(1);
    const tun = line(report, 'tun');
    expect(tun.detail).toContain('/dev/net/tun does not exist');
    expect(tun.status).toBe((await wireguardModule()) === 'absent' ? 'fail' : 'warn');
    expect(tun.fix).toContain('mknod /dev/net/tun c 10 200');
  });

  it('fails the clock check for a clock before the install, warns when not synchronised and passes when synchronised', async () => {
    const stubs = join(sandbox.dir, 'stubs');
    await mkdir(stubs);
    const timedatectl = join(stubs, 'timedatectl');
    const withStub = {...sandbox.env, PATH: `${stubs}:${sandbox.env.PATH ?? ''}`};
    await writeFile(timedatectl, '#!/bin/sh\necho no\n', {mode: 0o755});
    const unsynced = await doctor(['--config', configFile], withStub);
    expect(line(unsynced.report, 'clock')).toMatchObject({status: 'warn', detail: expect.stringContaining('not synchronised')});
    expect(line(unsynced.report, 'clock').fix).toContain('timedatectl set-ntp true');
    await writeFile(timedatectl, '#!/bin/sh\necho yes\n', {mode: 0o755});
    const synced = await doctor(['--config', configFile], withStub);
    expect(line(synced.report, 'clock')).toMatchObject({status: 'ok', detail: expect.stringContaining('the clock is synchronised')});
    if (SKIP_FAKETIME) return;
    const behind = await doctor(['--config', configFile], {...withStub, ...faketimeEnv('-3650d')});
    expect(behind.code).toBe(1);
    expect(line(behind.report, 'clock')).toMatchObject({status: 'fail', detail: expect.stringContaining('before this wgmesh was installed')});
  });
});

describe('wgmesh doctor with a running daemon (stub driver)', () => {
  let cluster: MeshCluster | undefined;
  let meshOfA = '';

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
  });

  it('finds the daemon, its own gRPC port held by it, private keys, and warns of members with no handshake; exit 0', async () => {
    cluster = await MeshCluster.create('wgmesh-doctor-');
    const [a, b] = await cluster.addNodes([{name: 'a'}, {name: 'b'}]);
    const {meshId} = await a!.cliJson<{meshId: string}>(['mesh', 'create']);
    await b!.join(meshId, a!, a!);
    await waitFor(async () => (await a!.view(meshId)).length === 2, 15_000, 'a to see b');
    // A heartbeat from b tells a how far b's clock is from its own.
    await waitFor(async () => (await a!.call('mesh.show', {meshId})).nodes.some((record) => !record.self && record.clockLagMs !== undefined), 15_000, "b's clock lag at a");
    const {code, report} = await doctor(['--config', a!.configFile], cluster.sandbox.env);
    expect(code, shown(report)).toBe(0);
    expect(report.status).toBe('warn');
    const status = await a!.call('status', {});
    expect(line(report, 'daemon')).toMatchObject({status: 'ok', detail: `the daemon (pid ${status.pid}, node ${status.nodeId}) answers on ${a!.socket}; 1 mesh`});
    expect(lines(report, 'ports')[0]).toMatchObject({status: 'ok', detail: `TCP 127.0.0.1:${a!.port} (gRPCPort) is held by the wgmesh daemon (pid ${status.pid})`});
    expect(lines(report, 'ports').map((check) => check.status)).not.toContain('fail');
    expect(line(report, 'data-dir').status).toBe('ok');
    expect(line(report, 'forwarding')).toMatchObject({status: 'ok', detail: expect.stringContaining('this node relays for no one')});
    const handshakes = line(report, 'handshakes');
    expect(handshakes.status).toBe('warn');
    expect(handshakes.detail).toContain(`mesh ${meshId}: no recent handshake with 1 of 1 WireGuard peers`);
    expect(handshakes.detail).toContain('never');
    expect(lines(report, 'clock').at(-1)).toMatchObject({status: 'ok', detail: "the clocks of 1 member are within 10 s of this node's"});
    meshOfA = meshId;
  });

  it.skipIf(SKIP_FAKETIME)("warns of a member whose clock is two minutes behind, from the stamps of its heartbeats", async () => {
    const [port] = await freePorts(1);
    const shifted = {...cluster!.sandbox, env: {...cluster!.sandbox.env, ...faketimeEnv('-2m')}};
    const late = new MeshNode(await writeNodeFiles(shifted, null, {name: 'late'}, {port: port!}));
    cluster!.nodes.push(late);
    await late.start();
    const a = cluster!.node('a');
    await late.join(meshOfA, a, a);
    const lateId = (await late.call('status', {})).nodeId;
    let lag: number | undefined;
    await waitFor(async () => (lag = (await a.call('mesh.show', {meshId: meshOfA})).nodes.find((record) => record.id === lateId)?.clockLagMs) !== undefined, 15_000, "the late node's clock lag at a");
    // Two minutes, over-stated by the fastest delivery of a heartbeat on loopback.
    expect(lag).toBeGreaterThanOrEqual(119_000);
    expect(lag).toBeLessThan(125_000);
    const {code, report} = await doctor(['--config', a.configFile], cluster!.sandbox.env);
    expect(code, shown(report)).toBe(0);
    const members = lines(report, 'clock').at(-1)!;
    expect(members.status).toBe('warn');
    expect(members.detail).toMatch(new RegExp(`^1 of 2 members' clocks differ from this node's: ${lateId.slice(0, 12)} \\(\\S+\\) 2 min behind$`));
    expect(members.fix).toContain('NTP');
  });
});

describe.skipIf(SKIP_NETNS)('wgmesh doctor with a daemon that relays, in a namespace', () => {
  let sandbox: Sandbox | undefined;
  let node: MeshNode | undefined;

  afterAll(async () => {
    await node?.kill('SIGKILL');
    await killAllDaemons();
    removeNamespaces();
    await sandbox?.cleanup();
  });

  it('fails the forwarding check while an exit has IPv6 forwarding off, and passes once it is on', async () => {
    sandbox = await makeSandbox('wgmesh-doctor-fwd-');
    const netns = makeNamespace('fwd');
    sysctlIn(netns, '/proc/sys/net/ipv6/conf/all/forwarding', '0');
    node = new MeshNode(await writeNodeFiles(sandbox, null, {name: 'exit'}, {port: 4000, netns}));
    await node.start();
    const {meshId} = await node.cliJson<{meshId: string}>(['mesh', 'create', '--advertise-routes', '--advertise-default']);
    await waitFor(async () => (await node!.call('mesh.show', {meshId})).nodes.some((record) => record.self && record.routes.length > 0), 10_000, 'the exit route in its record');
    const inside = ['ip', 'netns', 'exec', netns];
    const off = await doctor(['--config', node.configFile], sandbox.env, {prefix: inside});
    expect(off.code).toBe(1);
    expect(line(off.report, 'forwarding')).toMatchObject({status: 'fail', detail: `IPv6 forwarding is off, but in mesh ${meshId} this node advertises ::/0: packets for others are dropped`});
    expect(line(off.report, 'forwarding').fix).toContain('sysctl -w net.ipv6.conf.all.forwarding=1');
    sysctlIn(netns, '/proc/sys/net/ipv6/conf/all/forwarding', '1');
    const on = await doctor(['--config', node.configFile], sandbox.env, {prefix: inside});
    expect(line(on.report, 'forwarding')).toMatchObject({status: 'ok', detail: `IPv6 forwarding is on, as needed: in mesh ${meshId} this node advertises ::/0`});
  });
});

describe.skipIf(SKIP_WIREGUARD)('wgmesh doctor with real WireGuard in network namespaces', () => {
  let cluster: NetnsCluster | undefined;

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
  });

  it('passes every check once the two members have handshaken, with the WireGuard port held by the mesh interface', {timeout: 60_000}, async () => {
    const started = Date.now();
    cluster = await NetnsCluster.create({hosts: 2, prefix: 'wgmesh-doctor-wg-'});
    const [a, b] = await cluster.addNodes([{name: 'a'}, {name: 'b'}]);
    const {meshId} = await a!.cliJson<{meshId: string}>(['mesh', 'create']);
    await b!.join(meshId, a!, a!);
    const address = async () => (await a!.call('mesh.show', {meshId})).nodes.find((record) => !record.self)?.address;
    await waitFor(async () => (await address()) !== undefined, 15_000, 'a to see b');
    await waitForPing(a!, (await address())!, 15_000);
    const {code, report} = await doctor(['--config', a!.configFile], cluster.sandbox.env, {prefix: ['ip', 'netns', 'exec', a!.host.netns]});
    expect(code, shown(report)).toBe(0);
    expect(line(report, 'handshakes')).toMatchObject({status: 'ok', detail: `mesh ${meshId}: recent handshake with all 1 WireGuard peer`});
    const wgPort = lines(report, 'ports').find((check) => check.detail.includes('WireGuard port'));
    expect(wgPort).toMatchObject({status: 'ok', detail: expect.stringMatching(/^UDP \[::\]:\d+ \(mesh \S+ WireGuard port\) is held by its WireGuard interface \S+$/)});
    for (const name of ['privileges', 'wireguard', 'ip', 'wg', 'tun', 'ipv6', 'forwarding', 'data-dir', 'daemon']) {
      expect(lines(report, name).map((check) => check.status), `${name}\n${shown(report)}`).toEqual(['ok']);
    }
    // The daemon's own process is what needs the privileges.
    expect(line(report, 'privileges').detail).toBe(`the daemon (pid ${(await a!.call('status', {})).pid}) runs as root`);
    console.log(`doctor with real WireGuard: ${Date.now() - started} ms in all, doctor itself ${report.checks.length} lines in ${(await doctor(['--config', a!.configFile], cluster.sandbox.env, {prefix: ['ip', 'netns', 'exec', a!.host.netns]})).ms} ms`);
  });
});

