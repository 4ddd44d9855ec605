/**
 * Where a daemon and the CLI put and look for their files when given no path
 * flags, with real processes: root's system paths (in a mount namespace whose
 * /etc, /run and /var/lib are private copies, so this host's own are never
 * touched), a user's XDG paths (the daemon and the CLI run as an unprivileged
 * uid with `setpriv`), group access to the system socket (config
 * `socketGroup`: a uid in the group may use the CLI, one outside may not), and
 * the data dir's format version (a newer dir refused, an unversioned one
 * backed up and migrated).
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {existsSync} from 'node:fs';
import {chmod, chown, mkdir, readFile, readdir, rm, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {commandAvailable, skipWithout, type Availability} from '@wgmesh/testkit';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {BIN, ROOT, killAllDaemons, makeSandbox, runCli, startDaemon, waitFor, type Sandbox} from './helpers/cli.js';
import {freePorts} from './helpers/mesh-cluster.js';
import {runCommand, type RunResult} from './plugins-helpers.js';

const IS_ROOT: Availability = process.geteuid?.() === 0 ? {ok: true} : {ok: false, reason: 'not running as root'};
const HAVE_ROOT = !skipWithout('the default path and socket group tests (they switch users and make mount namespaces)', IS_ROOT);
const HAVE_TOOLS = !skipWithout('the default path tests', commandAvailable('setpriv', ['--version'], 'util-linux'));
const HAVE_NSENTER = !skipWithout('the root default path test', commandAvailable('nsenter', ['--version'], 'util-linux'));

/** Unprivileged uids of this test; no account needs to exist for them. */
const MEMBER_UID = 60_171;
const OUTSIDER_UID = 60_172;
const USER_UID = 60_173;

/** The system paths, which must not exist on this host after the tests when they did not before. */
const SYSTEM_PATHS = ['/etc/wgmesh', '/var/lib/wgmesh', '/run/wgmesh'];

/** A process whose output is collected, stopped by the test. */
interface Logged {
  child: ChildProcess;
  logs(): string;
  exited: Promise<number | null>;
}

const started: Logged[] = [];

function spawnLogged(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Logged {
  const child = spawn(command, args, {env, stdio: ['ignore', 'pipe', 'pipe']});
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const logged = {child, logs: () => output, exited};
  started.push(logged);
  return logged;
}

async function waitReady(daemon: Logged): Promise<void> {
  await waitFor(() => daemon.logs().includes('daemon ready') || daemon.child.exitCode !== null, 20_000, `the daemon to be ready (it logged:\n${daemon.logs()})`);
  expect(daemon.child.exitCode, daemon.logs()).toBeNull();
}

async function stop(daemon: Logged): Promise<number | null> {
  daemon.child.kill('SIGTERM');
  return daemon.exited;
}

/** `setpriv` arguments that run a command as `uid` with only `groups` (none: no supplementary group). */
function asUser(uid: number, groups: readonly number[]): string[] {
  return ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, groups.length === 0 ? '--clear-groups' : `--groups=${groups.join(',')}`, '--'];
}

/** The gid of a group every Debian system has. */
function gidOf(group: string): number {
  const line = spawnSync('getent', ['group', group], {encoding: 'utf8'}).stdout.trim();
  return Number(line.split(':')[2]);
}

/** The environment of a user whose HOME is `home`, with no wgmesh variables; USER and SHELL are set, as a login sets them. */
function userEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {PATH: process.env.PATH, HOME: home, USER: 'wgmesh-test', LOGNAME: 'wgmesh-test', SHELL: '/bin/sh', NO_COLOR: '1', ...extra};
}

/** A directory owned by `uid`, that uid's home. */
async function homeOf(sandbox: Sandbox, uid: number): Promise<string> {
  const home = join(sandbox.dir, `home-${uid}`);
  await mkdir(home, {mode: 0o700});
  await chown(home, uid, uid);
  return home;
}

/** Make `path` and its parents below `base` owned by `uid` (mkdir -p then chown -R). */
async function chownTree(path: string, uid: number): Promise<void> {
  await chown(path, uid, uid);
  const entries = await readdir(path, {withFileTypes: true});
  for (const entry of entries) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(child, uid);
    else await chown(child, uid, uid);
  }
}

let sandbox: Sandbox;
let systemPathsBefore: boolean[];
beforeEach(async () => {
  sandbox = await makeSandbox('wgmesh-paths-');
  // Other uids must pass through the sandbox to their own homes.
  await chmod(sandbox.dir, 0o711);
  systemPathsBefore = SYSTEM_PATHS.map((path) => existsSync(path));
});
afterEach(async () => {
  for (const leftover of started.splice(0)) {
    if (leftover.child.exitCode === null && leftover.child.signalCode === null) {
      leftover.child.kill('SIGKILL');
      await leftover.exited;
    }
  }
  await killAllDaemons();
  await sandbox.cleanup();
  expect(SYSTEM_PATHS.map((path) => existsSync(path)), 'the host\'s own /etc/wgmesh, /var/lib/wgmesh and /run/wgmesh are untouched').toEqual(systemPathsBefore);
});

describe.skipIf(!HAVE_ROOT || !HAVE_TOOLS || !HAVE_NSENTER)('as root with no path flags', () => {
  /**
   * Start `wgmesh daemon` (no flags) in a new mount namespace where /run and
   * /var/lib are empty tmpfs, /etc is an overlay (writes go to a tmpfs) holding
   * `config` as /etc/wgmesh/config.yaml, and the daemon keeps only the
   * capabilities of the shipped systemd unit.
   */
  async function startSystemDaemon(config: string): Promise<Logged> {
    const unit = await readFile(join(ROOT, 'systemd', 'wgmesh.service'), 'utf8');
    const capabilities = /^CapabilityBoundingSet=(.+)$/m.exec(unit)![1]!.split(' ');
    const bounding = ['-all', ...capabilities.map((name) => `+${name.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
    const scratch = join(sandbox.dir, 'etc-overlay');
    await mkdir(scratch);
    const setup = [
      'set -e',
      'mount --make-rprivate /',
      'mount -t tmpfs -o mode=0755 tmpfs /run',
      'mount -t tmpfs -o mode=0755 tmpfs /var/lib',
      'mount -t tmpfs tmpfs "$SCRATCH"',
      'mkdir "$SCRATCH/upper" "$SCRATCH/work"',
      'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$SCRATCH/upper,workdir=$SCRATCH/work" /etc',
      'mkdir -p /etc/wgmesh',
      'printf "%s" "$CONFIG" > /etc/wgmesh/config.yaml',
      'exec "$@"',
    ].join('\n');
    const daemon = spawnLogged(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', setup, 'sh', 'setpriv', `--bounding-set=${bounding}`, '--inh-caps=-all', process.execPath, BIN, 'daemon'],
      userEnv(await homeOf(sandbox, 0), {SCRATCH: scratch, CONFIG: config}),
    );
    await waitReady(daemon);
    return daemon;
  }

  /** Run `command ...args` in the daemon's mount namespace. */
  function inNamespace(daemon: Logged, command: readonly string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
    return runCommand('nsenter', [`--target=${daemon.child.pid}`, '--mount', '--', ...command], {env, timeoutMs: 30_000});
  }

  it('uses /etc/wgmesh/config.yaml, /var/lib/wgmesh and /run/wgmesh/wgmesh.sock; the CLI and doctor find them; only the socket group may use it', async () => {
    const [port] = await freePorts(1);
    const users = gidOf('users');
    const daemon = await startSystemDaemon(`wgDriver: stub\ngRPCPort: ${port}\nsocketGroup: users\n`);
    const rootEnv = userEnv(join(sandbox.dir, 'home-0'));
    expect(daemon.logs()).not.toContain('no config file found');
    expect(daemon.logs()).toContain('"socket":"/run/wgmesh/wgmesh.sock"');

    const files = await inNamespace(daemon, ['stat', '-c', '%n %a %u %g', '/run/wgmesh', '/run/wgmesh/wgmesh.sock', '/var/lib/wgmesh', '/var/lib/wgmesh/identity.json', '/var/lib/wgmesh/format.json'], rootEnv);
    expect(files.code, files.stderr).toBe(0);
    expect(files.stdout.trim().split('\n')).toEqual([
      `/run/wgmesh 750 0 ${users}`,
      `/run/wgmesh/wgmesh.sock 660 0 ${users}`,
      '/var/lib/wgmesh 700 0 0',
      '/var/lib/wgmesh/identity.json 600 0 0',
      '/var/lib/wgmesh/format.json 644 0 0',
    ]);

    const asRoot = await inNamespace(daemon, [process.execPath, BIN, 'status', '--json'], rootEnv);
    expect(asRoot.code, asRoot.stderr).toBe(0);
    const status = JSON.parse(asRoot.stdout) as {nodeId: string; pid: number};
    expect(status.pid).toBe(daemon.child.pid);

    const doctor = await inNamespace(daemon, [process.execPath, BIN, 'doctor', '--json'], rootEnv);
    const report = JSON.parse(doctor.stdout) as {checks: Array<{name: string; status: string; detail: string}>};
    const line = (name: string) => report.checks.find((check) => check.name === name);
    expect(line('config')?.detail).toBe('/etc/wgmesh/config.yaml is valid (data dir /var/lib/wgmesh, socket /run/wgmesh/wgmesh.sock)');
    expect(line('daemon')).toMatchObject({status: 'ok'});
    expect(line('daemon')?.detail).toContain(`answers on /run/wgmesh/wgmesh.sock`);

    // A user in the group, with no flags and no daemon of its own, reaches the system daemon.
    const member = await inNamespace(daemon, [...asUser(MEMBER_UID, [users]), process.execPath, BIN, 'status', '--json'], userEnv(await homeOf(sandbox, MEMBER_UID)));
    expect(member.code, member.stderr).toBe(0);
    expect(JSON.parse(member.stdout)).toMatchObject({nodeId: status.nodeId});

    const outsider = await inNamespace(daemon, [...asUser(OUTSIDER_UID, []), process.execPath, BIN, 'status'], userEnv(await homeOf(sandbox, OUTSIDER_UID)));
    expect(outsider.code).not.toBe(0);
    expect(outsider.stderr).toContain(
      "permission denied on the wgmesh daemon socket /run/wgmesh/wgmesh.sock; run this command as root or as the user the daemon runs as, or as a member of the group the daemon's config names in socketGroup",
    );
    expect(outsider.stderr).not.toMatch(/\n\s+at /);

    expect(await stop(daemon), daemon.logs()).toBe(0);
  }, 90_000);

  it('without socketGroup the socket is root\'s alone (0600): a user in no group may not use it', async () => {
    const [port] = await freePorts(1);
    const daemon = await startSystemDaemon(`wgDriver: stub\ngRPCPort: ${port}\n`);
    const rootEnv = userEnv(join(sandbox.dir, 'home-0'));
    const files = await inNamespace(daemon, ['stat', '-c', '%n %a %u %g', '/run/wgmesh', '/run/wgmesh/wgmesh.sock'], rootEnv);
    expect(files.stdout.trim().split('\n')).toEqual(['/run/wgmesh 700 0 0', '/run/wgmesh/wgmesh.sock 600 0 0']);
    const other = await inNamespace(daemon, [...asUser(MEMBER_UID, [gidOf('users')]), process.execPath, BIN, 'status'], userEnv(await homeOf(sandbox, MEMBER_UID)));
    expect(other.code).not.toBe(0);
    // The CLI cannot see into /run/wgmesh, but that it is there is enough to dial the system daemon and say why it may not.
    expect(other.stderr).toContain('permission denied on the wgmesh daemon socket /run/wgmesh/wgmesh.sock');
    expect(await stop(daemon), daemon.logs()).toBe(0);
  }, 60_000);
});

describe.skipIf(!HAVE_ROOT || !HAVE_TOOLS)('as another user with no path flags', () => {
  it('uses $XDG_CONFIG_HOME/wgmesh/config.yaml, $XDG_STATE_HOME/wgmesh and $XDG_RUNTIME_DIR/wgmesh/wgmesh.sock, and the CLI finds the socket', async () => {
    const home = await homeOf(sandbox, USER_UID);
    const xdg = {XDG_CONFIG_HOME: join(home, 'cfg'), XDG_STATE_HOME: join(home, 'st'), XDG_RUNTIME_DIR: join(home, 'rt')};
    const [port] = await freePorts(1);
    await mkdir(join(xdg.XDG_CONFIG_HOME, 'wgmesh'), {recursive: true});
    await writeFile(join(xdg.XDG_CONFIG_HOME, 'wgmesh', 'config.yaml'), `wgDriver: stub\ngRPCPort: ${port}\n`);
    await mkdir(xdg.XDG_RUNTIME_DIR, {mode: 0o700});
    await chownTree(home, USER_UID);
    const env = userEnv(home, xdg);

    const daemon = spawnLogged(asUser(USER_UID, [])[0]!, [...asUser(USER_UID, []).slice(1), process.execPath, BIN, 'daemon'], env);
    await waitReady(daemon);
    expect(daemon.logs()).not.toContain('no config file found');

    const socket = join(xdg.XDG_RUNTIME_DIR, 'wgmesh', 'wgmesh.sock');
    const dataDir = join(xdg.XDG_STATE_HOME, 'wgmesh');
    for (const [path, mode] of [[socket, 0o600], [join(xdg.XDG_RUNTIME_DIR, 'wgmesh'), 0o700], [dataDir, 0o700], [join(dataDir, 'identity.json'), 0o600]] as const) {
      const info = await stat(path);
      expect([path, info.mode & 0o777, info.uid], path).toEqual([path, mode, USER_UID]);
    }
    expect(JSON.parse(await readFile(join(dataDir, 'format.json'), 'utf8'))).toEqual({format: 1});

    const cli = await runCommand(asUser(USER_UID, [])[0]!, [...asUser(USER_UID, []).slice(1), process.execPath, BIN, 'status', '--json'], {env, timeoutMs: 30_000});
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({pid: daemon.child.pid});

    // Another user may not use it, whatever its groups.
    const other = await runCommand(asUser(OUTSIDER_UID, [])[0]!, [...asUser(OUTSIDER_UID, [USER_UID]).slice(1), process.execPath, BIN, 'status', '--socket', socket], {env: userEnv(await homeOf(sandbox, OUTSIDER_UID)), timeoutMs: 30_000});
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain(`permission denied on the wgmesh daemon socket ${socket}`);

    expect(await stop(daemon), daemon.logs()).toBe(0);
  }, 60_000);

  it('runs for a uid with no account and no SHELL, as a container or a DynamicUser= service starts it', async () => {
    const home = await homeOf(sandbox, USER_UID);
    const {SHELL: _shell, USER: _user, LOGNAME: _logname, ...env} = userEnv(home);
    const [command, ...prefix] = asUser(USER_UID, []);
    const result = await runCommand(command!, [...prefix, process.execPath, BIN, 'version', '--json'], {env});
    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as {cli: string}).cli).toBe(JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).version);
  });
});

describe.skipIf(!HAVE_ROOT)('the data dir format', () => {
  async function configWithPort(): Promise<string> {
    const [port] = await freePorts(1);
    const file = join(sandbox.dir, 'config.yaml');
    await writeFile(file, `gRPCPort: ${port}\n`);
    return file;
  }

  it('a daemon refuses a data dir of a newer format, naming both formats, and writes nothing there', async () => {
    const config = await configWithPort();
    const dataDir = join(sandbox.dir, 'newer');
    await mkdir(dataDir, {mode: 0o700});
    await writeFile(join(dataDir, 'format.json'), '{"format":7}\n');
    const daemon = await startDaemon({sandbox, name: 'newer', config, args: ['--wg', 'stub'], waitReady: false});
    expect(await daemon.exited).not.toBe(0);
    expect(daemon.logs()).toContain(`the data dir ${dataDir} has format 7, but this wgmesh reads format 1 at most: it was written by a newer wgmesh.`);
    expect(daemon.logs()).not.toMatch(/\n\s+at /);
    expect((await readdir(dataDir)).sort()).toEqual(['format.json']);
  }, 30_000);

  it('a daemon backs up and migrates an unversioned data dir and is the same node after', async () => {
    const config = await configWithPort();
    const first = await startDaemon({sandbox, name: 'old', config, args: ['--wg', 'stub']});
    const before = JSON.parse((await runCli(['status', '--json', '--socket', first.socket], sandbox.env)).stdout) as {nodeId: string};
    expect(await first.stop()).toBe(0);
    // A data dir as wgmesh wrote it before data dirs had a format version.
    await rm(join(first.dataDir, 'format.json'));

    const second = await startDaemon({sandbox, name: 'old', config, args: ['--wg', 'stub']});
    expect(second.logs()).toContain('data dir is of an older format: backed it up, migrating');
    const after = JSON.parse((await runCli(['status', '--json', '--socket', second.socket], sandbox.env)).stdout) as {nodeId: string};
    expect(after.nodeId).toBe(before.nodeId);
    expect(JSON.parse(await readFile(join(first.dataDir, 'format.json'), 'utf8'))).toEqual({format: 1});
    const backups = await readdir(join(first.dataDir, 'backups'));
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatch(/^format-0-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/);
    const backup = join(first.dataDir, 'backups', backups[0]!);
    expect(await readFile(join(backup, 'identity.json'), 'utf8')).toBe(await readFile(join(first.dataDir, 'identity.json'), 'utf8'));
    expect((await stat(join(backup, 'identity.json'))).mode & 0o777).toBe(0o600);
    expect(await readdir(backup)).not.toContain('format.json');
    expect(await second.stop()).toBe(0);
  }, 60_000);
});
