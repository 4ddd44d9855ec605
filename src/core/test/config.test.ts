import {mkdtemp, mkdir, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {
  BASE_CONFIGURATION_KEYS,
  CONFIG_DEFAULTS,
  CONFIG_KEYS,
  configKeyDocs,
  defaultConfigPath,
  formatDurationMs,
  loadConfig,
  parseConfig,
  parseDurationMs,
  resolveSocketPath,
} from '../src/config/index.js';
import {ConfigError} from '../src/errors.js';

const FILE = '/etc/wgmesh/config.yaml';
// A non-root host with no XDG variables, so defaults are predictable and nothing real is read.
const HOST = {env: {}, isRoot: false, home: '/home/alice', cwd: '/work'};

function parse(text: string) {
  return parseConfig(text, FILE, HOST);
}

function errorOf(text: string): ConfigError {
  try {
    parse(text);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

describe('defaults', () => {
  it('runs with no file at all: every key has its default', async () => {
    const home = await mkdtemp(join(tmpdir(), 'wgmesh-config-'));
    try {
      const config = await loadConfig({env: {}, isRoot: false, home, cwd: home});
      expect(config.configFile).toBeNull();
      expect(config).toMatchObject({
        store: 'twophase',
        transport: 'grpc',
        wgDriver: 'kernel',
        dataDir: join(home, '.local/state/wgmesh'),
        socket: join(home, '.local/state/wgmesh/wgmesh.sock'),
        logLevel: 'info',
        ipcIdleTimeoutMs: 60_000,
        syncIntervalMs: 1000,
        heartbeatIntervalMs: 2000,
        pullIntervalMs: 20_000,
        timeoutMs: 5000,
        gcHorizonMs: 86_400_000,
        deadProbeHorizonMs: 1_800_000,
        dialBackoffGraceMs: 60_000,
        dialBackoffMaxMs: 600_000,
        controlDatagrams: true,
        maxClockSkewMs: 300_000,
        branch: 3,
        clusterSize: 64,
        interClusterChance: 0.15,
        infectionCount: 3,
        gRPCPort: 4000,
        certificatePath: null,
        privateKeyPath: null,
        caCertificatePath: null,
        sections: {},
      });
      expect(config.baseConfiguration).toEqual({
        role: 'peer',
        ipDiscovery: 'outgoing',
        publicEndpoint: null,
        advertiseRoute: false,
        advertiseDefaults: false,
        keepAliveWg: 0,
        clientKeepAliveWg: 25,
        preUp: [],
        postUp: [],
        preDown: [],
        postDown: [],
      });
    } finally {
      await rm(home, {recursive: true, force: true});
    }
  });

  it('an empty file and a comment-only file are all defaults', () => {
    const empty = parse('');
    expect(parse('# nothing here\n')).toEqual(empty);
    expect(empty.syncIntervalMs).toBe(CONFIG_DEFAULTS.syncIntervalMs);
    expect(empty.configFile).toBe(FILE);
  });

  it('picks the data directory by user: root, XDG_STATE_HOME, then ~/.local/state', () => {
    expect(parseConfig('', FILE, {...HOST, isRoot: true}).dataDir).toBe('/var/lib/wgmesh');
    expect(parseConfig('', FILE, {...HOST, env: {XDG_STATE_HOME: '/xdg/state'}}).dataDir).toBe('/xdg/state/wgmesh');
    // The XDG spec says a relative value is invalid and ignored.
    expect(parseConfig('', FILE, {...HOST, env: {XDG_STATE_HOME: 'rel'}}).dataDir).toBe('/home/alice/.local/state/wgmesh');
    expect(parse('').dataDir).toBe('/home/alice/.local/state/wgmesh');
  });

  it('picks the socket by user when neither socket nor dataDir is set: /run/wgmesh as root, XDG_RUNTIME_DIR, then the data dir', () => {
    expect(parseConfig('', FILE, {...HOST, isRoot: true}).socket).toBe('/run/wgmesh/wgmesh.sock');
    expect(parseConfig('', FILE, {...HOST, isRoot: true, env: {XDG_RUNTIME_DIR: '/run/user/0'}}).socket).toBe('/run/wgmesh/wgmesh.sock');
    expect(parseConfig('', FILE, {...HOST, env: {XDG_RUNTIME_DIR: '/run/user/1000'}}).socket).toBe('/run/user/1000/wgmesh/wgmesh.sock');
    // A relative XDG_RUNTIME_DIR is invalid and ignored; without one the socket stays in the user's data dir.
    expect(parseConfig('', FILE, {...HOST, env: {XDG_RUNTIME_DIR: 'run'}}).socket).toBe('/home/alice/.local/state/wgmesh/wgmesh.sock');
    expect(parse('').socket).toBe('/home/alice/.local/state/wgmesh/wgmesh.sock');
  });

  it('keeps the socket with a data dir that is set, by the file or --data-dir, for root too', () => {
    expect(parseConfig('dataDir: /srv/w\n', FILE, {...HOST, isRoot: true}).socket).toBe('/srv/w/wgmesh.sock');
    expect(parseConfig('', FILE, {...HOST, isRoot: true, overrides: {dataDir: '/srv/flag'}}).socket).toBe('/srv/flag/wgmesh.sock');
    expect(parseConfig('dataDir: /srv/w\nsocket: /run/s.sock\n', FILE, {...HOST, isRoot: true}).socket).toBe('/run/s.sock');
    expect(parseConfig('dataDir: /srv/w\n', FILE, {...HOST, isRoot: true, overrides: {socket: '/run/f.sock'}}).socket).toBe('/run/f.sock');
  });

  it('picks the default config file: WGMESH_CONFIG, root, XDG_CONFIG_HOME, then ~/.config', () => {
    expect(defaultConfigPath({env: {WGMESH_CONFIG: '/srv/w.yaml'}, isRoot: true, home: '/root'})).toBe('/srv/w.yaml');
    expect(defaultConfigPath({env: {}, isRoot: true, home: '/root'})).toBe('/etc/wgmesh/config.yaml');
    expect(defaultConfigPath({env: {XDG_CONFIG_HOME: '/cfg'}, isRoot: false, home: '/home/a'})).toBe('/cfg/wgmesh/config.yaml');
    expect(defaultConfigPath({env: {}, isRoot: false, home: '/home/a'})).toBe('/home/a/.config/wgmesh/config.yaml');
  });
});

describe('valid values', () => {
  it('reads every key', () => {
    const config = parse(`
store: automerge
transport: memory
wgDriver: stub
dataDir: /srv/wgmesh
socket: /run/wgmesh.sock
logLevel: debug
syncInterval: 250ms
heartbeatInterval: 1.5
pullInterval: 0
timeout: 10s
gcHorizon: 2d
deadProbeHorizon: 2h
dialBackoffGrace: 10s
dialBackoffMax: 2m
controlDatagrams: false
maxClockSkew: 30s
branch: 5
clusterSize: 65536
interClusterChance: 1
infectionCount: 1
gRPCPort: 65535
certificatePath: /etc/wgmesh/cert.pem
privateKeyPath: key.pem
caCertificatePath: ../ca.pem
baseConfiguration:
  role: client
  ipDiscovery: public
  publicEndpoint: "fd00::1"
  advertiseRoute: true
  advertiseDefaults: true
  keepAliveWg: 25
  clientKeepAliveWg: 10
  preUp: ["echo pre-up"]
  postUp: ["echo up", "echo up again"]
  preDown: ["echo pre-down"]
  postDown: ["echo down"]
`);
    expect(config).toMatchObject({
      store: 'automerge',
      transport: 'memory',
      wgDriver: 'stub',
      dataDir: '/srv/wgmesh',
      socket: '/run/wgmesh.sock',
      logLevel: 'debug',
      syncIntervalMs: 250,
      heartbeatIntervalMs: 1500,
      pullIntervalMs: 0,
      timeoutMs: 10_000,
      gcHorizonMs: 2 * 86_400_000,
      deadProbeHorizonMs: 2 * 3_600_000,
      dialBackoffGraceMs: 10_000,
      dialBackoffMaxMs: 120_000,
      controlDatagrams: false,
      maxClockSkewMs: 30_000,
      branch: 5,
      clusterSize: 65536,
      interClusterChance: 1,
      infectionCount: 1,
      gRPCPort: 65535,
      certificatePath: '/etc/wgmesh/cert.pem',
      // Relative paths are relative to the config file's directory.
      privateKeyPath: '/etc/wgmesh/key.pem',
      caCertificatePath: '/etc/ca.pem',
    });
    expect(config.baseConfiguration).toEqual({
      role: 'client',
      ipDiscovery: 'public',
      publicEndpoint: 'fd00::1',
      advertiseRoute: true,
      advertiseDefaults: true,
      keepAliveWg: 25,
      clientKeepAliveWg: 10,
      preUp: ['echo pre-up'],
      postUp: ['echo up', 'echo up again'],
      preDown: ['echo pre-down'],
      postDown: ['echo down'],
    });
  });

  it('reads socketGroup as a group name or a numeric gid; unset is none', () => {
    expect(parse('').socketGroup).toBeNull();
    expect(parse('socketGroup: wgmesh\n').socketGroup).toBe('wgmesh');
    expect(parse('socketGroup: 1234\n').socketGroup).toBe('1234');
    expect(parse('socketGroup: "_wg-mesh"\n').socketGroup).toBe('_wg-mesh');
  });

  it('derives the socket from dataDir when socket is not set', () => {
    expect(parse('dataDir: /srv/w\n').socket).toBe('/srv/w/wgmesh.sock');
    expect(parse('dataDir: state\n').dataDir).toBe('/etc/wgmesh/state');
  });

  it('accepts host names and IPv4 addresses as publicEndpoint', () => {
    for (const host of ['vpn.example.com', 'node-1', '203.0.113.7']) {
      expect(parse(`baseConfiguration: {publicEndpoint: "${host}"}\n`).baseConfiguration.publicEndpoint).toBe(host);
    }
  });
});

describe('durations', () => {
  it.each([
    [1, 1000],
    [0.25, 250],
    ['2', 2000],
    ['1.5', 1500],
    ['250ms', 250],
    ['2s', 2000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['7d', 7 * 86_400_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    [' 3s ', 3000],
  ])('%j is %d ms', (input, ms) => {
    expect(parseDurationMs(input)).toBe(ms);
  });

  it.each([['abc'], ['5 s'], ['5sec'], ['s'], [''], ['1.s'], [true], [null], [{}], [Number.POSITIVE_INFINITY], [Number.NaN]])(
    '%j is not a duration',
    (input) => {
      expect(parseDurationMs(input)).toBeUndefined();
    },
  );

  it('formats milliseconds in the largest whole unit', () => {
    expect([1000, 250, 86_400_000, 90_000, 0].map(formatDurationMs)).toEqual(['1s', '250ms', '1d', '90s', '0ms']);
  });

  it('parses every duration key with units in the file', () => {
    const config = parse('syncInterval: 100ms\nheartbeatInterval: 3s\npullInterval: 1m\ntimeout: "0.5"\ngcHorizon: 1h\nmaxClockSkew: 1s\n');
    expect([config.syncIntervalMs, config.heartbeatIntervalMs, config.pullIntervalMs, config.timeoutMs, config.gcHorizonMs, config.maxClockSkewMs]).toEqual([
      100, 3000, 60_000, 500, 3_600_000, 1000,
    ]);
  });
});

describe('errors name the file, the key and the rule', () => {
  const backend = (kind: string) => `must be a ${kind} backend name: a letter or digit, then letters, digits, '.', '_' or '-' (see 'wgmesh backends')`;
  // [yaml, the exact message after "config FILE: "]
  const cases: [string, string][] = [
    ['dnsEnabled: "yes"', 'dnsEnabled: must be true or false (got "yes")'],
    ['dnsListen: "localhost:53"', 'dnsListen: must be a local listen address: IPv4:PORT or [IPv6]:PORT with a port from 0 to 65535 (0: any free port) (got "localhost:53")'],
    ['metricsEnabled: 1', 'metricsEnabled: must be true or false (got 1)'],
    ['metricsListen: 9474', 'metricsListen: must be a local listen address: IPv4:PORT or [IPv6]:PORT with a port from 0 to 65535 (0: any free port) (got 9474)'],
    ['apiEnabled: "on"', 'apiEnabled: must be true or false (got "on")'],
    ['apiListen: ":9475"', 'apiListen: must be a local listen address: IPv4:PORT or [IPv6]:PORT with a port from 0 to 65535 (0: any free port) (got ":9475")'],
    ['apiAllowRemote: 1', 'apiAllowRemote: must be true or false (got 1)'],
    [
      'apiCorsOrigins: ["https://admin.example.com/path"]',
      'apiCorsOrigins.0: must be a list of origins such as https://admin.example.com or http://localhost:8080 (scheme, host and optional port; no path) (got "https://admin.example.com/path")',
    ],
    ['apiMaxBodyBytes: 100', 'apiMaxBodyBytes: must be an integer number of bytes from 1024 to 16777216 (got 100)'],
    ['apiRateLimit: 0', 'apiRateLimit: must be a number of requests per second greater than 0, at most 100000 (got 0)'],
    ['apiRateBurst: 0.5', 'apiRateBurst: must be an integer from 1 to 1000000 (got 0.5)'],
    ['apiMaxStreams: 5000', 'apiMaxStreams: must be an integer from 1 to 4096 (got 5000)'],
    ['store: "bad name"', `store: ${backend('store')} (got "bad name")`],
    ['transport: 7', `transport: ${backend('transport')} (got 7)`],
    ['wgDriver: ""', `wgDriver: ${backend('WireGuard driver')} (got "")`],
    ['dataDir: ""', 'dataDir: must be a non-empty path (got "")'],
    ['socket: [a]', 'socket: must be a non-empty path (got a list)'],
    ['socketGroup: Wheel Users', 'socketGroup: must be a group name (as groupadd accepts) or a numeric gid (got "Wheel Users")'],
    ['socketGroup: -1', 'socketGroup: must be a group name (as groupadd accepts) or a numeric gid (got -1)'],
    ['socketGroup: [a]', 'socketGroup: must be a group name (as groupadd accepts) or a numeric gid (got a list)'],
    [`socket: /${'s'.repeat(120)}`, `socket: must be a path of at most 107 bytes (the limit for a Unix socket) (got "/${'s'.repeat(75)}...)`],
    ['logLevel: verbose', 'logLevel: must be one of trace, debug, info, warn, error, fatal, silent (got "verbose")'],
    ['logFormat: colour', 'logFormat: must be one of auto, pretty, json (got "colour")'],
    ['syncInterval: "-1"', 'syncInterval: must be a duration greater than 0 (got "-1")'],
    ['heartbeatInterval: 0', 'heartbeatInterval: must be a duration greater than 0 (got 0)'],
    ['natTraversal: 1', 'natTraversal: must be true or false (got 1)'],
    ['natPunchTimeout: 500ms', 'natPunchTimeout: must be a duration of at least 1s (got "500ms")'],
    ['natMaxPunches: -1', 'natMaxPunches: must be an integer from 0 to 1024 (0: no hole punching) (got -1)'],
    ['natMaxDirectPaths: 5000', 'natMaxDirectPaths: must be an integer from 0 to 4096 (0: no hole punching) (got 5000)'],
    ['verifyWorkers: 65', 'verifyWorkers: must be an integer from 0 to 64 (0: check on the main thread) (got 65)'],
    ['heartbeatInterval: 30d', 'heartbeatInterval: must be a duration of at most 24d (got "30d")'],
    ['pullInterval: -1', 'pullInterval: must be a duration greater than or equal to 0 (0 disables pulling) (got -1)'],
    ['timeout: soon', 'timeout: must be a duration greater than 0 (got "soon")'],
    ['ipcIdleTimeout: 0', 'ipcIdleTimeout: must be a duration greater than 0 (got 0)'],
    ['gcHorizon: 59m', 'gcHorizon: must be a duration of at least 1h (got "59m")'],
    ['deadProbeHorizon: -1s', 'deadProbeHorizon: must be a duration greater than or equal to 0 (0: only the keeper of a dead member tries it) (got "-1s")'],
    ['dialBackoffGrace: -1s', 'dialBackoffGrace: must be a duration greater than or equal to 0 (got "-1s")'],
    ['dialBackoffMax: 500ms', 'dialBackoffMax: must be a duration of at least 1s (got "500ms")'],
    ['controlDatagrams: 1', 'controlDatagrams: must be true or false (got 1)'],
    ['maxClockSkew: 0s', 'maxClockSkew: must be a duration greater than 0 (got "0s")'],
    ['branch: 0', 'branch: must be an integer greater than or equal to 1 (got 0)'],
    ['clusterSize: 65537', 'clusterSize: must be an integer from 1 to 65536 (got 65537)'],
    ['interClusterChance: 1.5', 'interClusterChance: must be a number from 0 to 1 (got 1.5)'],
    ['infectionCount: 2.5', 'infectionCount: must be an integer greater than or equal to 1 (got 2.5)'],
    ['gRPCPort: 0', 'gRPCPort: must be an integer port from 1 to 65535 (got 0)'],
    ['certificatePath: ""', 'certificatePath: must be a non-empty path (got "")'],
    ['privateKeyPath: 5', 'privateKeyPath: must be a non-empty path (got 5)'],
    ['caCertificatePath: {a: 1}', 'caCertificatePath: must be a non-empty path (got a mapping)'],
    ['baseConfiguration: [1]', 'baseConfiguration: must be a mapping (got a list)'],
    ['baseConfiguration: {role: server}', 'baseConfiguration.role: must be one of peer, client (got "server")'],
    ['baseConfiguration: {ipDiscovery: dns}', 'baseConfiguration.ipDiscovery: must be one of outgoing, public (got "dns")'],
    [
      'baseConfiguration: {publicEndpoint: "host:51820"}',
      'baseConfiguration.publicEndpoint: must be a host name, an IPv4 address or an IPv6 address, without a port (got "host:51820")',
    ],
    ['baseConfiguration: {advertiseRoute: "yes"}', 'baseConfiguration.advertiseRoute: must be true or false (got "yes")'],
    ['baseConfiguration: {advertiseDefaults: 1}', 'baseConfiguration.advertiseDefaults: must be true or false (got 1)'],
    ['baseConfiguration: {keepAliveWg: 70000}', 'baseConfiguration.keepAliveWg: must be an integer number of seconds from 0 to 65535 (got 70000)'],
    ['baseConfiguration: {clientKeepAliveWg: -1}', 'baseConfiguration.clientKeepAliveWg: must be an integer number of seconds from 0 to 65535 (got -1)'],
    ['baseConfiguration: {preUp: "echo"}', 'baseConfiguration.preUp: must be a list of non-empty command strings (got "echo")'],
    ['baseConfiguration: {postUp: ["ok", ""]}', 'baseConfiguration.postUp.1: must be a list of non-empty command strings (got "")'],
    ['baseConfiguration: {preDown: [3]}', 'baseConfiguration.preDown.0: must be a list of non-empty command strings (got 3)'],
    ['baseConfiguration: {postDown: {a: b}}', 'baseConfiguration.postDown: must be a list of non-empty command strings (got a mapping)'],
  ];

  it.each(cases)('%s', (yaml, message) => {
    expect(errorOf(`${yaml}\n`).message).toBe(`config ${FILE}: ${message}`);
  });

  it('covers every key of the schema', () => {
    const tested = new Set(cases.map(([yaml, message]) => (message.startsWith('baseConfiguration.') ? message.split(':')[0]?.replace(/\.\d+$/, '') : yaml.split(':')[0])));
    const keys = [...CONFIG_KEYS, ...BASE_CONFIGURATION_KEYS.map((key) => `baseConfiguration.${key}`)];
    expect(keys.filter((key) => !tested.has(key))).toEqual([]);
  });

  it('reports every problem, one line each', () => {
    const lines = errorOf('branch: 0\ngRPCPort: 70000\n').message.split('\n');
    expect(lines).toEqual([
      `config ${FILE}: branch: must be an integer greater than or equal to 1 (got 0)`,
      `config ${FILE}: gRPCPort: must be an integer port from 1 to 65535 (got 70000)`,
    ]);
  });

  it('reports a derived default socket that is too long', () => {
    const dataDir = `/${'d'.repeat(100)}`;
    expect(errorOf(`dataDir: ${dataDir}\n`).message).toBe(
      `config ${FILE}: socket: the default ${dataDir}/wgmesh.sock is over the 107-byte limit for a Unix socket path; set socket to a shorter path`,
    );
    expect(parse(`dataDir: ${dataDir}\nsocket: /run/w.sock\n`).socket).toBe('/run/w.sock');
  });

  it('rejects a file that is not a mapping', () => {
    expect(errorOf('- a\n- b\n').message).toBe(`config ${FILE}: the file must be a mapping of keys to values (got a list)`);
    expect(errorOf('just text\n').message).toBe(`config ${FILE}: the file must be a mapping of keys to values (got "just text")`);
  });
});

describe('unknown keys and plugin sections', () => {
  it('names an unknown scalar key and lists the valid keys', () => {
    const {message} = errorOf('syncIntervall: 2s\n');
    expect(message).toMatch(new RegExp(`^config ${FILE}: syncIntervall: unknown key; valid keys are store, transport, wgDriver, `));
    for (const key of CONFIG_KEYS) expect(message).toContain(key);
    expect(message).toMatch(/\(got "2s"\)$/);
  });

  it('names an unknown key inside baseConfiguration with its dotted path', () => {
    const {message} = errorOf('baseConfiguration:\n  role: peer\n  keepalive: 25\n');
    expect(message).toBe(`config ${FILE}: baseConfiguration.keepalive: unknown key; valid keys are ${BASE_CONFIGURATION_KEYS.join(', ')}`);
  });

  it('keeps a mapping under any other key as a backend section, unvalidated', () => {
    const config = parse('grpc:\n  maxMessageBytes: 1024\n  tls: {verify: false}\ntwophase: {}\nstore: twophase\n');
    expect(config.sections).toEqual({grpc: {maxMessageBytes: 1024, tls: {verify: false}}, twophase: {}});
    expect(config).not.toHaveProperty('grpc');
  });
});

describe('YAML syntax errors', () => {
  it('give the line and column', () => {
    expect(errorOf('store: twophase\nbranch: [1, 2\nclusterSize: 3\n').message).toMatch(
      new RegExp(`^config ${FILE}: line 3, column 1: YAML syntax error: .*\\S$`),
    );
  });

  it('report duplicate keys with their position', () => {
    expect(errorOf('branch: 1\nbranch: 2\n').message).toBe(`config ${FILE}: line 2, column 1: YAML syntax error: Map keys must be unique`);
  });

  it('report an alias to an unknown anchor', () => {
    expect(errorOf('branch: *nowhere\n').message).toMatch(new RegExp(`^config ${FILE}: YAML error: .*nowhere`));
  });
});

describe('files, flags and the environment', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgmesh-config-'));
  });
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true});
  });

  const host = () => ({env: {}, isRoot: false, home: dir, cwd: dir});

  it('flags override the file', async () => {
    const file = join(dir, 'config.yaml');
    await writeFile(file, 'store: automerge\ntransport: other\nwgDriver: kernel\ndataDir: /srv/a\nsocket: /srv/a.sock\nlogLevel: warn\nbranch: 4\n');
    const fromFile = await loadConfig({...host(), file});
    expect(fromFile).toMatchObject({store: 'automerge', transport: 'other', dataDir: '/srv/a', socket: '/srv/a.sock', logLevel: 'warn', configFile: file});
    const config = await loadConfig({
      ...host(),
      file,
      overrides: {store: 'twophase', transport: 'grpc', wgDriver: 'stub', dataDir: 'state', socket: '/run/x.sock', logLevel: 'error'},
    });
    expect(config).toMatchObject({
      store: 'twophase',
      transport: 'grpc',
      wgDriver: 'stub',
      // A relative flag path is relative to the working directory, not to the file.
      dataDir: join(dir, 'state'),
      socket: '/run/x.sock',
      logLevel: 'error',
      branch: 4,
    });
  });

  it('a --data-dir flag moves the default socket with it', async () => {
    const config = await loadConfig({...host(), overrides: {dataDir: '/srv/b'}});
    expect(config.socket).toBe('/srv/b/wgmesh.sock');
  });

  it('WGMESH_SOCKET overrides the file and --socket overrides WGMESH_SOCKET', async () => {
    const file = join(dir, 'config.yaml');
    await writeFile(file, 'socket: /srv/file.sock\n');
    const env = {WGMESH_SOCKET: '/srv/env.sock'};
    expect((await loadConfig({...host(), env, file})).socket).toBe('/srv/env.sock');
    expect((await loadConfig({...host(), env, file, overrides: {socket: '/srv/flag.sock'}})).socket).toBe('/srv/flag.sock');
  });

  it('names the flag when a flag value is invalid', async () => {
    await expect(loadConfig({...host(), overrides: {wgDriver: 'no good', logLevel: 'loud'}})).rejects.toThrow(
      new ConfigError(
        [
          `flag --wg: must be a WireGuard driver backend name: a letter or digit, then letters, digits, '.', '_' or '-' (see 'wgmesh backends') (got "no good")`,
          'flag --log-level: must be one of trace, debug, info, warn, error, fatal, silent (got "loud")',
        ].join('\n'),
      ),
    );
    await expect(loadConfig({...host(), env: {WGMESH_SOCKET: `/${'x'.repeat(200)}`}})).rejects.toThrow(/^env WGMESH_SOCKET: must be a path of at most 107 bytes/);
  });

  it('a missing file given with --config is an error', async () => {
    const file = join(dir, 'missing.yaml');
    await expect(loadConfig({...host(), file})).rejects.toThrow(new ConfigError(`config ${file}: no such file (it was given with --config; create it or drop the flag)`));
  });

  it('reads the default file when present and uses defaults when it is absent', async () => {
    expect((await loadConfig(host())).configFile).toBeNull();
    const file = join(dir, '.config/wgmesh/config.yaml');
    await mkdir(join(dir, '.config/wgmesh'), {recursive: true});
    await writeFile(file, 'branch: 7\n');
    const config = await loadConfig(host());
    expect(config.configFile).toBe(file);
    expect(config.branch).toBe(7);
  });

  it('WGMESH_CONFIG chooses the file', async () => {
    const file = join(dir, 'elsewhere.yaml');
    await writeFile(file, 'infectionCount: 9\n');
    expect((await loadConfig({...host(), env: {WGMESH_CONFIG: file}})).infectionCount).toBe(9);
  });

  it('a directory or an oversized file is a clear error', async () => {
    await expect(loadConfig({...host(), file: dir})).rejects.toThrow(new ConfigError(`config ${dir}: is a directory, not a config file`));
    const big = join(dir, 'big.yaml');
    await writeFile(big, `# ${'x'.repeat(1024 * 1024)}\n`);
    await expect(loadConfig({...host(), file: big})).rejects.toThrow(/^config .*big\.yaml: the file is over 1048576 bytes/);
  });

  it('invalid UTF-8 is a clear error', async () => {
    const file = join(dir, 'bin.yaml');
    await writeFile(file, Buffer.from([0x62, 0x3a, 0x20, 0xff, 0xfe, 0x0a]));
    await expect(loadConfig({...host(), file})).rejects.toThrow(new ConfigError(`config ${file}: the file is not valid UTF-8 text`));
  });
});

describe('resolveSocketPath (for the CLI, without a daemon)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgmesh-socket-'));
  });
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true});
  });

  it('follows --socket > WGMESH_SOCKET > file socket > file dataDir > default dataDir', async () => {
    const host = {env: {}, isRoot: false, home: dir, cwd: dir};
    const file = join(dir, 'config.yaml');
    expect(await resolveSocketPath(host)).toBe(join(dir, '.local/state/wgmesh/wgmesh.sock'));
    await writeFile(file, 'dataDir: /srv/data\n');
    expect(await resolveSocketPath({...host, file})).toBe('/srv/data/wgmesh.sock');
    await writeFile(file, 'dataDir: /srv/data\nsocket: /srv/file.sock\n');
    expect(await resolveSocketPath({...host, file})).toBe('/srv/file.sock');
    expect(await resolveSocketPath({...host, file, env: {WGMESH_SOCKET: 'env.sock'}})).toBe(join(dir, 'env.sock'));
    expect(await resolveSocketPath({...host, file, env: {WGMESH_SOCKET: '/e.sock'}, socket: '/flag.sock'})).toBe('/flag.sock');
  });

  it('ignores mistakes in unrelated keys but not in socket or dataDir', async () => {
    const file = join(dir, 'config.yaml');
    const host = {env: {}, isRoot: false, home: dir, cwd: dir, file};
    await writeFile(file, 'branch: 0\nsyncInterval: never\nsocket: /srv/ok.sock\n');
    expect(await resolveSocketPath(host)).toBe('/srv/ok.sock');
    await writeFile(file, 'dataDir: ""\n');
    await expect(resolveSocketPath(host)).rejects.toThrow(new ConfigError(`config ${file}: dataDir: must be a non-empty path (got "")`));
  });

  it('a missing --config file is an error here too', async () => {
    const file = join(dir, 'none.yaml');
    await expect(resolveSocketPath({env: {}, isRoot: false, home: dir, cwd: dir, file})).rejects.toThrow(ConfigError);
  });
});

describe('configKeyDocs', () => {
  const schemaKeys = [...CONFIG_KEYS, ...BASE_CONFIGURATION_KEYS.map((key) => `baseConfiguration.${key}`)];

  it('documents every schema key, and only those, once each', () => {
    const documented = configKeyDocs.map((doc) => doc.key);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...schemaKeys].sort());
    for (const doc of configKeyDocs) expect(doc.description.length).toBeGreaterThan(10);
  });

  it('gives the defaults the parser actually uses', () => {
    const config = parse('');
    const actual: Record<string, unknown> = {
      ...Object.fromEntries(Object.entries(config).map(([key, value]) => [key.replace(/Ms$/, ''), value])),
      ...Object.fromEntries(Object.entries(config.baseConfiguration).map(([key, value]) => [`baseConfiguration.${key}`, value])),
    };
    const render = (value: unknown): string =>
      value === null ? 'none' : Array.isArray(value) ? JSON.stringify(value) : String(value);
    const durations = new Set(['ipcIdleTimeout', 'syncInterval', 'heartbeatInterval', 'pullInterval', 'timeout', 'gcHorizon', 'deadProbeHorizon', 'dialBackoffGrace', 'dialBackoffMax', 'maxClockSkew', 'natPunchTimeout']);
    let checked = 0;
    for (const doc of configKeyDocs) {
      // Host-dependent and structural defaults are prose, not values.
      if (['dataDir', 'socket', 'baseConfiguration'].includes(doc.key)) continue;
      const value = actual[doc.key];
      if (durations.has(doc.key)) expect(parseDurationMs(doc.default), doc.key).toBe(value);
      else expect(doc.default, doc.key).toBe(render(value));
      checked += 1;
    }
    expect(checked).toBe(schemaKeys.length - 3);
  });
});
