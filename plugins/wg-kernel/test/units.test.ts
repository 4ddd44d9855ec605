/**
 * The pure parts of wg-kernel, runnable anywhere (no root): difference
 * planning, parsing of `wg`/`ip` output, input checks, failure
 * classification, the factory's config handling and the plugin declaration.
 */
import {mkdtemp, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {
  ConfigError,
  WgDriverError,
  canonicalEndpoint,
  canonicalPeers,
  canonicalPrefix,
  canonicalRoutes,
  checkFactory,
  checkInterfaceName,
  checkInterfaceSpec,
  generateIdentity,
  systemClock,
  systemRandom,
  wgPublicKeyFromPrivate,
  type BackendContext,
  type WgPeerConfig,
} from '@wgmesh/core';
import {SimulatedClock, netnsAvailable, recordingLogger, silentLogger} from '@wgmesh/testkit';
import {describe, expect, it} from 'vitest';
import {HANDSHAKE_NOW_KEEPALIVE_S, handshakeNowArgs, keepaliveResetArgs, peerChangeArgs, planAddresses, planPeers, planRoutes, reinitiateArgs} from '../src/diff.js';
import {KernelWgDriver, LINK_CHECK_MS, RETRY_MIN_MS, hasNetAdmin} from '../src/driver.js';
import {kernelConfigSchema, wgKernelBackend} from '../src/factory.js';
import backendsHook from '../src/hooks/backends.js';
import {parseLink, parseManagedAddresses, parseRoutes, parseWgDump, type DumpPeer} from '../src/parse.js';
import {ensureIpv6Forwarding, parseAcceptRa} from '../src/forwarding.js';
import {CommandError, ExecRunner, classifyFailure, type CommandOutput, type CommandRunner, type RunOptions} from '../src/runner.js';
import {eventually, keyPair} from './helpers.js';

const K1 = keyPair().publicKey;
const K2 = keyPair().publicKey;
const K3 = keyPair().publicKey;

function dumpPeer(publicKey: string, patch: Partial<DumpPeer> = {}): DumpPeer {
  return {publicKey, endpoint: '[fd00::2]:51820', allowedIps: ['fd00::2/128'], latestHandshake: 0, rxBytes: 0, txBytes: 0, keepaliveSeconds: 0, ...patch};
}

function desired(publicKey: string, patch: Partial<WgPeerConfig> = {}): WgPeerConfig {
  return {publicKey, endpoint: '[fd00::2]:51820', allowedIps: ['fd00::2/128'], keepaliveSeconds: 0, ...patch};
}

describe('planPeers', () => {
  it('changes nothing when the interface already matches', () => {
    const last = new Map([[K1, '[fd00::2]:51820']]);
    expect(planPeers([dumpPeer(K1)], [desired(K1)], last)).toEqual([]);
  });

  it('adds, updates and removes only what differs, removals first', () => {
    const changes = planPeers(
      [dumpPeer(K1), dumpPeer(K2, {allowedIps: ['fd00::3/128']})],
      [desired(K3, {endpoint: null, allowedIps: ['fd00::4/128'], keepaliveSeconds: 25}), desired(K1, {allowedIps: ['fd00::2/128', 'fd00::5/128']})],
      new Map([[K1, '[fd00::2]:51820']]),
    );
    expect(changes).toEqual([
      {kind: 'remove', publicKey: K2},
      {kind: 'add', publicKey: K3, allowedIps: ['fd00::4/128'], keepaliveSeconds: 25},
      {kind: 'update', publicKey: K1, allowedIps: ['fd00::2/128', 'fd00::5/128']},
    ]);
    expect(peerChangeArgs(changes)).toEqual([
      'peer', K2, 'remove',
      'peer', K3, 'allowed-ips', 'fd00::4/128', 'persistent-keepalive', '25',
      'peer', K1, 'allowed-ips', 'fd00::2/128,fd00::5/128',
    ]);
  });

  it('keeps a roamed endpoint while the desired one is unchanged, and sets a changed one', () => {
    const roamed = dumpPeer(K1, {endpoint: '[fd00::99]:40000'});
    const last = new Map([[K1, '[fd00::2]:51820']]);
    expect(planPeers([roamed], [desired(K1)], last)).toEqual([]);
    expect(planPeers([roamed], [desired(K1, {endpoint: '[fd00::2]:51821'})], last)).toEqual([{kind: 'update', publicKey: K1, endpoint: '[fd00::2]:51821'}]);
    // No earlier desire (first apply after a restart): WireGuard is brought to the record.
    expect(planPeers([roamed], [desired(K1)], new Map())).toEqual([{kind: 'update', publicKey: K1, endpoint: '[fd00::2]:51820'}]);
    // A client peer (no endpoint) keeps what WireGuard learned from it.
    expect(planPeers([roamed], [desired(K1, {endpoint: null})], last)).toEqual([]);
  });

  it('starts a handshake at once for a peer that takes over the session of a removed one (a rotated key), and turns the keepalive used for it off again', () => {
    const changes = planPeers([dumpPeer(K1, {latestHandshake: 1_700_000_000})], [desired(K2)], new Map([[K1, '[fd00::2]:51820']]));
    expect(changes).toEqual([
      {kind: 'remove', publicKey: K1},
      {kind: 'add', publicKey: K2, endpoint: '[fd00::2]:51820', allowedIps: ['fd00::2/128'], handshakeNow: true},
    ]);
    expect(peerChangeArgs(changes)).toEqual([
      'peer', K1, 'remove',
      'peer', K2, 'endpoint', '[fd00::2]:51820', 'allowed-ips', 'fd00::2/128', 'persistent-keepalive', String(HANDSHAKE_NOW_KEEPALIVE_S),
    ]);
    expect(keepaliveResetArgs(changes)).toEqual(['peer', K2, 'persistent-keepalive', 'off']);
    // With a keepalive of its own the peer gets that one, which starts the handshake as well: nothing to reset.
    const kept = planPeers([dumpPeer(K1, {latestHandshake: 1_700_000_000})], [desired(K2, {keepaliveSeconds: 5})], new Map());
    expect(peerChangeArgs(kept)).toEqual(['peer', K1, 'remove', 'peer', K2, 'endpoint', '[fd00::2]:51820', 'allowed-ips', 'fd00::2/128', 'persistent-keepalive', '5']);
    expect(keepaliveResetArgs(kept)).toEqual([]);
  });

  it('gives a replacing peer without an endpoint (a client) the endpoint of the session it takes over', () => {
    const client = dumpPeer(K1, {endpoint: '[fd00::9]:40000', latestHandshake: 1_700_000_000});
    expect(planPeers([client], [desired(K2, {endpoint: null})], new Map([[K1, null]]))).toEqual([
      {kind: 'remove', publicKey: K1},
      {kind: 'add', publicKey: K2, endpoint: '[fd00::9]:40000', allowedIps: ['fd00::2/128'], handshakeNow: true},
    ]);
  });

  it('starts no handshake for a new peer that replaces nothing, a peer that never had a session, or one with other allowed IPs', () => {
    expect(planPeers([], [desired(K2)], new Map())).toEqual([{kind: 'add', publicKey: K2, endpoint: '[fd00::2]:51820', allowedIps: ['fd00::2/128']}]);
    expect(planPeers([dumpPeer(K1)], [desired(K2, {endpoint: null})], new Map())).toEqual([
      {kind: 'remove', publicKey: K1},
      {kind: 'add', publicKey: K2, allowedIps: ['fd00::2/128']},
    ]);
    expect(planPeers([dumpPeer(K1, {latestHandshake: 1_700_000_000})], [desired(K2, {allowedIps: ['fd00::3/128']})], new Map())).toEqual([
      {kind: 'remove', publicKey: K1},
      {kind: 'add', publicKey: K2, endpoint: '[fd00::2]:51820', allowedIps: ['fd00::3/128']},
    ]);
    // A dead home peer that also carried a client's /128: the client, now a peer of this node, is another member.
    const deadHome = dumpPeer(K1, {endpoint: '[fd00::7]:51820', allowedIps: ['fd00::2/128', 'fd00::7/128'], latestHandshake: 1_700_000_000});
    expect(planPeers([deadHome], [desired(K2, {endpoint: null})], new Map())).toEqual([
      {kind: 'remove', publicKey: K1},
      {kind: 'add', publicKey: K2, allowedIps: ['fd00::2/128']},
    ]);
  });

  it('on a fresh interface starts a handshake with every peer added with an endpoint, and with none added without one', () => {
    const changes = planPeers([], [desired(K1), desired(K2, {endpoint: null, allowedIps: ['fd00::3/128']}), desired(K3, {allowedIps: ['fd00::4/128'], keepaliveSeconds: 25})], new Map(), {fresh: true});
    expect(changes).toEqual([
      {kind: 'add', publicKey: K1, endpoint: '[fd00::2]:51820', allowedIps: ['fd00::2/128'], handshakeNow: true},
      {kind: 'add', publicKey: K2, allowedIps: ['fd00::3/128']},
      {kind: 'add', publicKey: K3, endpoint: '[fd00::2]:51820', allowedIps: ['fd00::4/128'], keepaliveSeconds: 25, handshakeNow: true},
    ]);
    // The keepalive that starts the handshake is turned off again only where the peer has none of its own.
    expect(keepaliveResetArgs(changes)).toEqual(['peer', K1, 'persistent-keepalive', 'off']);
  });

  it('starts a handshake with a peer added again after this interface removed it, and with no peer it never had', () => {
    const changes = planPeers([dumpPeer(K3, {allowedIps: ['fd00::4/128']})], [desired(K1), desired(K2, {allowedIps: ['fd00::3/128']}), desired(K3, {allowedIps: ['fd00::4/128']})], new Map([[K3, '[fd00::2]:51820']]), {
      returning: new Set([K1, K3]),
    });
    expect(changes).toEqual([
      {kind: 'add', publicKey: K1, endpoint: '[fd00::2]:51820', allowedIps: ['fd00::2/128'], handshakeNow: true},
      {kind: 'add', publicKey: K2, endpoint: '[fd00::2]:51820', allowedIps: ['fd00::3/128']},
    ]);
  });

  it('starts a handshake with every peer that has an endpoint, leaving each keepalive as it was', () => {
    const args = handshakeNowArgs([dumpPeer(K1), dumpPeer(K2, {keepaliveSeconds: 5}), dumpPeer(K3, {endpoint: null})]);
    expect(args).toEqual([
      ...['peer', K1, 'persistent-keepalive', 'off', 'peer', K1, 'persistent-keepalive', '25', 'peer', K1, 'persistent-keepalive', 'off'],
      ...['peer', K2, 'persistent-keepalive', 'off', 'peer', K2, 'persistent-keepalive', '5'],
    ]);
  });

  it('adds afresh, to start a handshake again, only peers with an endpoint, keeping allowed IPs and keepalive', () => {
    const args = reinitiateArgs([dumpPeer(K1), dumpPeer(K2, {keepaliveSeconds: 5, allowedIps: []}), dumpPeer(K3, {endpoint: null})]);
    expect(args).toEqual([
      ...['peer', K1, 'remove', 'peer', K1, 'endpoint', '[fd00::2]:51820', 'allowed-ips', 'fd00::2/128'],
      ...['peer', K2, 'remove', 'peer', K2, 'endpoint', '[fd00::2]:51820'],
      ...['peer', K1, 'persistent-keepalive', 'off', 'peer', K1, 'persistent-keepalive', '25', 'peer', K1, 'persistent-keepalive', 'off'],
      ...['peer', K2, 'persistent-keepalive', 'off', 'peer', K2, 'persistent-keepalive', '5'],
    ]);
  });

  it('turns keepalive off with "off" and clears allowed IPs with an empty list', () => {
    const changes = planPeers([dumpPeer(K1, {keepaliveSeconds: 25})], [desired(K1, {allowedIps: [], keepaliveSeconds: 0})], new Map([[K1, '[fd00::2]:51820']]));
    expect(peerChangeArgs(changes)).toEqual(['peer', K1, 'allowed-ips', '', 'persistent-keepalive', 'off']);
  });
});

describe('planAddresses and planRoutes', () => {
  it('adds and removes only the difference', () => {
    expect(planAddresses(['fd00::1/64', 'fd00::9/64'], ['fd00::1/64', 'fd01::1/64'])).toEqual({add: ['fd01::1/64'], remove: ['fd00::9/64']});
    expect(planAddresses(['fd00::1/64'], ['fd00::1/64'])).toEqual({add: [], remove: []});
  });

  it('replaces a route whose next hop or metric changed and keeps the rest', () => {
    const plan = planRoutes(
      [
        {destination: 'fd10::/64', via: 'fd00::2', metric: 1024, table: 'main'},
        {destination: 'fd11::/64', via: 'fd00::2', metric: 1024, table: 'main'},
        {destination: 'fd12::/64', metric: 100, table: 'main'},
      ],
      [{destination: 'fd10::/64', via: 'fd00::2'}, {destination: 'fd11::/64', via: 'fd00::3'}, {destination: 'fd12::/64'}],
      () => ({metric: 1024, table: 'main'}),
    );
    expect(plan.add).toEqual([{destination: 'fd11::/64', via: 'fd00::3'}, {destination: 'fd12::/64'}]);
    expect(plan.remove).toEqual([
      {destination: 'fd11::/64', via: 'fd00::2', metric: 1024, table: 'main'},
      {destination: 'fd12::/64', metric: 100, table: 'main'},
    ]);
  });

  it('puts each route where placeOf says: a default route found in main (or with another metric) moves to the exit table', () => {
    const placeOf = (route: {destination: string}) => (route.destination === '::/0' ? {metric: 100_000, table: '51821'} : {metric: 1024, table: 'main'});
    const desired = [{destination: '::/0', via: 'fd00::2'}, {destination: 'fd10::/64', via: 'fd00::2'}];
    const inMain = {destination: '::/0', via: 'fd00::2', metric: 100_000, table: 'main'};
    const otherMetric = {destination: '::/0', via: 'fd00::2', metric: 1024, table: '51821'};
    expect(planRoutes([inMain, otherMetric], desired, placeOf)).toEqual({add: desired, remove: [inMain, otherMetric]});
    expect(
      planRoutes(
        [
          {destination: '::/0', via: 'fd00::2', metric: 100_000, table: '51821'},
          {destination: 'fd10::/64', via: 'fd00::2', metric: 1024, table: 'main'},
        ],
        desired,
        placeOf,
      ),
    ).toEqual({add: [], remove: []});
  });
});

describe('parsing wg and ip output', () => {
  const privateKey = generateIdentity().wgPrivateKey;

  it('reads wg show dump, never echoing the private key on bad input', () => {
    const text = [
      `${privateKey}\t${K1}\t51820\toff`,
      `${K2}\t(none)\t[FD00:0::2]:51820\tfd00::2/128,fd01::1/64\t1700000000\t1234\t5678\t25`,
      `${K3}\t(none)\t(none)\t(none)\t0\t0\t0\toff`,
    ].join('\n');
    const dump = parseWgDump('wgm0', `${text}\n`);
    expect(dump.interface).toEqual({publicKey: K1, listenPort: 51820, fwmark: 0});
    expect(dump.peers).toEqual([
      {publicKey: K2, endpoint: '[fd00::2]:51820', allowedIps: ['fd00::2/128', 'fd01::/64'], latestHandshake: 1700000000, rxBytes: 1234, txBytes: 5678, keepaliveSeconds: 25},
      {publicKey: K3, endpoint: null, allowedIps: [], latestHandshake: 0, rxBytes: 0, txBytes: 0, keepaliveSeconds: 0},
    ]);
    expect(parseWgDump('wgm0', '(none)\t(none)\t0\toff\n').interface).toEqual({publicKey: null, listenPort: 0, fwmark: 0});
    // wg prints a mark in hex.
    expect(parseWgDump('wgm0', '(none)\t(none)\t0\t0xca6d\n').interface.fwmark).toBe(51821);
    for (const bad of [`${privateKey}\t${K1}\t51820`, `${privateKey}\t${K1}\tport\toff`, `${privateKey}\t${K1}\t1\toff\n${K2}\tx\ty`, `${privateKey}\t${K1}\t1\t-1`]) {
      let error: unknown;
      try {
        parseWgDump('wgm0', bad);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(WgDriverError);
      expect((error as Error).message).not.toContain(privateKey);
    }
  });

  it('reads ip -j links, addresses (without link-local) and routes', () => {
    expect(parseLink('wgm0', '[{"ifname":"wgm0","mtu":1420,"flags":["UP"],"linkinfo":{"info_kind":"tun"}}]')).toEqual({name: 'wgm0', kind: 'tun', mtu: 1420, up: true});
    expect(parseLink('wgm0', '[]')).toBeNull();
    const addresses = JSON.stringify([
      {addr_info: [
        {family: 'inet6', local: 'fd00:0::1', prefixlen: 64, scope: 'global'},
        {family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link'},
        {family: 'inet', local: '10.0.0.1', prefixlen: 24, scope: 'global'},
      ]},
    ]);
    expect(parseManagedAddresses('wgm0', addresses)).toEqual(['fd00::1/64', '10.0.0.1/24']);
    expect(parseRoutes('wgm0', 6, '[{"dst":"default","gateway":"fd00::2","metric":1024},{"dst":"fd00::5","metric":1024}]')).toEqual([
      {destination: '::/0', via: 'fd00::2', metric: 1024},
      {destination: 'fd00::5/128', metric: 1024},
    ]);
    expect(parseRoutes('wgm0', 4, '')).toEqual([]);
    expect(() => parseLink('wgm0', 'not json')).toThrow(WgDriverError);
    expect(() => parseRoutes('wgm0', 6, '[{"gateway":"x"}]')).toThrow(WgDriverError);
  });
});

describe('input checks', () => {
  it('refuses names that are not safe interface names', () => {
    for (const name of ['', '-x', '../etc', 'a/b', 'a b', 'x'.repeat(16), '.']) expect(() => checkInterfaceName(name)).toThrow(WgDriverError);
    expect(() => checkInterfaceName('wgmabcdefghij')).not.toThrow();
  });

  it('checks a spec without echoing the private key', () => {
    const privateKey = generateIdentity().wgPrivateKey;
    expect(() => checkInterfaceSpec({name: 'wgm0', privateKey, listenPort: 0, mtu: 1420})).not.toThrow();
    expect(() => checkInterfaceSpec({name: 'wgm0', privateKey, listenPort: 70000, mtu: 1420})).toThrow(/listen port 70000/);
    expect(() => checkInterfaceSpec({name: 'wgm0', privateKey, listenPort: 0, mtu: 1200})).toThrow(/MTU 1200/);
    const broken = `${privateKey.slice(0, 40)}!!!=`;
    expect(() => checkInterfaceSpec({name: 'wgm0', privateKey: broken, listenPort: 0, mtu: 1420})).toThrow(/not a WireGuard key/);
    try {
      checkInterfaceSpec({name: 'wgm0', privateKey: broken, listenPort: 0, mtu: 1420});
    } catch (error) {
      expect((error as Error).message).not.toContain(broken);
    }
  });

  it('refuses hostile peers: bad keys, keywords as keys, shared allowed IPs, odd endpoints', () => {
    expect(() => canonicalPeers('wgm0', [desired('remove')])).toThrow(/not a WireGuard key/);
    expect(() => canonicalPeers('wgm0', [desired(K1), desired(K1)])).toThrow(/appears twice/);
    expect(() => canonicalPeers('wgm0', [desired(K1), desired(K2)])).toThrow(/fd00::2\/128 is given to two peers/);
    expect(() => canonicalPeers('wgm0', [desired(K1, {endpoint: '-x:1'})])).toThrow(WgDriverError);
    expect(() => canonicalPeers('wgm0', [desired(K1, {endpoint: 'fd00::2:51820'})])).toThrow(WgDriverError);
    expect(() => canonicalPeers('wgm0', [desired(K1, {allowedIps: ['1.2.3/8']})])).toThrow(/CIDR/);
    expect(() => canonicalPeers('wgm0', [desired(K1, {keepaliveSeconds: -1})])).toThrow(/keepalive/);
  });

  it('writes endpoints, prefixes and routes in one canonical form', () => {
    expect(canonicalEndpoint('x', '[FD00:0:0::2]:51820')).toBe('[fd00::2]:51820');
    expect(canonicalEndpoint('x', 'Node.Example.org:51820')).toBe('node.example.org:51820');
    expect(canonicalEndpoint('x', '192.0.2.1:51820')).toBe('192.0.2.1:51820');
    expect(canonicalPrefix('x', 'fd00::1234/64')).toBe('fd00::/64');
    expect(canonicalPrefix('x', '10.1.2.3/8')).toBe('10.0.0.0/8');
    // Host bits cleared inside a byte too, and at both ends of the range.
    for (const [cidr, network] of [
      ['10.1.2.3/13', '10.0.0.0/13'],
      ['192.168.1.77/27', '192.168.1.64/27'],
      ['fd12:3456:789a::1/13', 'fd10::/13'],
      ['fd00:0:0:1:ffff::1/67', 'fd00:0:0:1:e000::/67'],
      ['fd00::1/128', 'fd00::1/128'],
      ['2001:db8::1/0', '::/0'],
    ]) {
      expect(canonicalPrefix('x', cidr!), cidr).toBe(network);
    }
    expect(canonicalPeers('wgm0', [desired(K1, {allowedIps: ['fd01::1/64', 'fd00::2/128', 'fd01::/64']})])[0]!.allowedIps).toEqual(['fd00::2/128', 'fd01::/64']);
    expect(canonicalRoutes('wgm0', [{destination: 'fd10::1/64', via: 'FD00::0:2'}, {destination: 'fd10::/64', via: 'fd00::2'}])).toEqual([{destination: 'fd10::/64', via: 'fd00::2'}]);
    expect(() => canonicalRoutes('wgm0', [{destination: 'fd10::/64', via: '10.0.0.1'}])).toThrow(/address family/);
    expect(() => canonicalRoutes('wgm0', [{destination: 'fd10::/64', via: 'fd00::2'}, {destination: 'fd10::/64', via: 'fd00::3'}])).toThrow(/twice/);
  });
});

describe('failure classification', () => {
  it('says what to install or which permission is missing', () => {
    expect(classifyFailure('wg', [], '', null, 'ENOENT').message).toBe('wg is not installed: apt-get install wireguard-tools');
    expect(classifyFailure('ip', [], '', null, 'ENOENT').message).toBe('ip is not installed: apt-get install iproute2');
    expect(classifyFailure('wg', ['show'], 'exec of "wg" failed: No such file or directory\n', 255).message).toBe('wg is not installed: apt-get install wireguard-tools');
    const denied = classifyFailure('ip', ['link', 'add', 'dev', 'wgm0', 'type', 'wireguard'], 'RTNETLINK answers: Operation not permitted\n', 2);
    expect(denied.kind).toBe('permission');
    expect(denied.message).toBe(
      "permission denied: wgmesh needs root or CAP_NET_ADMIN to configure WireGuard interfaces ('ip link add dev wgm0 type wireguard' said: RTNETLINK answers: Operation not permitted)",
    );
    const failed = classifyFailure('ip', ['addr', 'add'], 'Error: any valid prefix is expected rather than "x".\n', 1);
    expect(failed.kind).toBe('failed');
    expect(failed.message).toBe(`'ip addr add' failed: Error: any valid prefix is expected rather than "x".`);
  });
});

describe('preflight', () => {
  it('names a missing ip before anything else runs', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'wgk-empty-'));
    try {
      const driver = new KernelWgDriver({runner: new ExecRunner({env: {PATH: empty}})});
      await expect(driver.preflight()).rejects.toThrow('ip is not installed: apt-get install iproute2');
    } finally {
      await rm(empty, {recursive: true, force: true});
    }
  });

  it('reads CAP_NET_ADMIN from the effective capability set', () => {
    expect(hasNetAdmin('Name:\tnode\nCapEff:\t000001fffeffffff\n')).toBe(true);
    expect(hasNetAdmin('CapEff:\t0000000000000000\n')).toBe(false);
    expect(hasNetAdmin('CapEff:\t0000000000001000\n')).toBe(true);
    expect(hasNetAdmin('CapEff:\t0000000000000fff\n')).toBe(false);
    expect(hasNetAdmin('no such line')).toBe(true);
  });
});

describe('driver options', () => {
  it('refuses a route protocol or metric out of range', () => {
    expect(() => new KernelWgDriver({routeProtocol: 2})).toThrow(/route protocol 2/);
    expect(() => new KernelWgDriver({routeMetric: -1})).toThrow(/route metric -1/);
    expect(() => new KernelWgDriver({defaultRouteMetric: 2 ** 32})).toThrow(/default route metric 4294967296/);
  });

  it('refuses an exit-route fwmark, table or rule priority out of range', () => {
    expect(() => new KernelWgDriver({fwmark: 0})).toThrow(/fwmark 0 is not from 1/);
    expect(() => new KernelWgDriver({fwmark: 2 ** 32})).toThrow(/fwmark 4294967296/);
    for (const table of [0, 253, 254, 255, 2 ** 32]) expect(() => new KernelWgDriver({defaultRouteTable: table})).toThrow(new RegExp(`default route table ${table} `));
    expect(() => new KernelWgDriver({defaultRouteRulePriority: 32766})).toThrow(/rule priority 32766 is not from 32768.*after the main and default tables/);
    expect(() => new KernelWgDriver({fwmark: 1, defaultRouteTable: 252, defaultRouteRulePriority: 32768})).not.toThrow();
  });

  it('refuses calls after close', async () => {
    const driver = new KernelWgDriver();
    await driver.close();
    await expect(driver.stats('wgm0')).rejects.toThrow(/closed/);
    await expect(driver.applyPeers('wgm0', [])).rejects.toThrow(/closed/);
  });
});

describe('the wg:kernel backend', () => {
  function context(config: unknown): BackendContext {
    const identity = generateIdentity();
    return {
      config,
      daemonConfig: {timeoutMs: 2_000},
      logger: silentLogger(),
      dataDir: '/nonexistent',
      signal: new AbortController().signal,
      identity: {nodeId: identity.nodeId, signingKey: identity.signingKey, wgPublicKey: identity.wgPublicKey},
      clock: systemClock,
      random: systemRandom,
    } as BackendContext;
  }

  it('is declared in package.json and returned by the hook', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {wgmesh: {backends: Array<{kind: string; name: string}>}; oclif: {hooks: Record<string, string>}};
    expect(pkg.wgmesh.backends).toEqual([expect.objectContaining({kind: 'wg', name: 'kernel'})]);
    expect(pkg.oclif.hooks['wgmesh:backends']).toBe('./dist/hooks/backends.js');
    const factories = await backendsHook();
    expect(factories).toEqual([wgKernelBackend]);
    expect(checkFactory(wgKernelBackend)).toMatchObject({ok: true});
  });

  it('creates a driver from defaults (or says what the host lacks) and names a bad key', async () => {
    // Where root, ip and wg are present it is created; elsewhere the preflight says what is missing.
    const created = wgKernelBackend.create(context(undefined));
    if (process.getuid?.() === 0 && netnsAvailable().ok) {
      const driver = await created;
      expect(driver.name).toBe('kernel');
      await driver.close();
    } else {
      await expect(created).rejects.toThrow(WgDriverError);
    }
    expect(kernelConfigSchema.parse(undefined)).toEqual({
      implementation: 'auto',
      userspaceImplementation: null,
      routeProtocol: 119,
      routeMetric: 1024,
      defaultRouteMetric: 100_000,
      fwmark: 51821,
      defaultRouteTable: 51821,
      defaultRouteRulePriority: 32800,
      manageForwarding: true,
    });
    await expect(wgKernelBackend.create(context({manageForwarding: 'yes'}))).rejects.toThrow(/^config key kernel\.manageForwarding:/);
    await expect(wgKernelBackend.create(context({implementation: 'magic'}))).rejects.toThrow(ConfigError);
    await expect(wgKernelBackend.create(context({implementation: 'magic'}))).rejects.toThrow(/^config key kernel\.implementation:/);
    await expect(wgKernelBackend.create(context({routeProtocol: 3}))).rejects.toThrow(/^config key kernel\.routeProtocol:/);
    await expect(wgKernelBackend.create(context({fwmark: 0}))).rejects.toThrow(/^config key kernel\.fwmark:/);
    await expect(wgKernelBackend.create(context({defaultRouteTable: 254}))).rejects.toThrow(/^config key kernel\.defaultRouteTable: tables 253 \(default\), 254 \(main\) and 255 \(local\) are the kernel's own/);
    await expect(wgKernelBackend.create(context({defaultRouteRulePriority: 100}))).rejects.toThrow(/^config key kernel\.defaultRouteRulePriority:/);
    await expect(wgKernelBackend.create(context({unknown: 1}))).rejects.toThrow(/^config key kernel/);
  });
});

/**
 * A /proc/sys/net/ipv6/conf in memory behind the runner interface: `cat`,
 * `grep -r ... accept_ra` and `tee` as the forwarding code uses them.
 */
class FakeSysctl implements CommandRunner {
  readonly writes: string[] = [];
  readOnly = false;
  constructor(readonly files: Map<string, string>) {}

  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandOutput> {
    const path = args.at(-1)!;
    if (command === 'cat') {
      const value = this.files.get(path);
      if (value === undefined) throw new CommandError('failed', 'cat', `cat: ${path}: No such file or directory`, {stderr: `cat: ${path}: No such file or directory`, exitCode: 1});
      return {stdout: `${value}\n`, stderr: ''};
    }
    if (command === 'grep') {
      const lines = [...this.files].filter(([file]) => file.endsWith('/accept_ra')).map(([file, value]) => `${file}:${value}`);
      return {stdout: `${lines.join('\n')}\n`, stderr: ''};
    }
    if (command === 'tee') {
      if (this.readOnly) throw new CommandError('failed', 'tee', 'tee failed', {stderr: `tee: ${path}: Read-only file system`, exitCode: 1});
      this.files.set(path, (options.input ?? '').trim());
      this.writes.push(`${path}=${(options.input ?? '').trim()}`);
      return {stdout: options.input ?? '', stderr: ''};
    }
    throw new Error(`unexpected command ${command}`);
  }

  spawn(): never {
    throw new Error('not used');
  }
}

function sysctls(forwarding: string, acceptRa: Record<string, string>): Map<string, string> {
  const files = new Map([['/proc/sys/net/ipv6/conf/all/forwarding', forwarding]]);
  for (const [name, value] of Object.entries(acceptRa)) files.set(`/proc/sys/net/ipv6/conf/${name}/accept_ra`, value);
  return files;
}

describe('IPv6 forwarding', () => {
  it('only reads when forwarding is already on', async () => {
    const fake = new FakeSysctl(sysctls('1', {eth0: '1'}));
    expect(await ensureIpv6Forwarding(fake, {manage: true})).toEqual({changed: false, acceptRaRaised: []});
    expect(fake.writes).toEqual([]);
  });

  it('raises accept_ra 1 to 2 (interfaces and the default template, not lo or all) before turning forwarding on', async () => {
    const fake = new FakeSysctl(sysctls('0', {all: '1', default: '1', lo: '1', eth0: '1', wlan0: '0', 'eth0.100': '2'}));
    const outcome = await ensureIpv6Forwarding(fake, {manage: true});
    expect(outcome).toEqual({changed: true, acceptRaRaised: ['default', 'eth0']});
    expect(fake.writes).toEqual([
      '/proc/sys/net/ipv6/conf/default/accept_ra=2',
      '/proc/sys/net/ipv6/conf/eth0/accept_ra=2',
      '/proc/sys/net/ipv6/conf/all/forwarding=1',
    ]);
  });

  it('says how to turn it on when it may not (manageForwarding false) or cannot (read-only /proc/sys)', async () => {
    const off = new FakeSysctl(sysctls('0', {eth0: '1'}));
    await expect(ensureIpv6Forwarding(off, {manage: false})).rejects.toThrow(/IPv6 forwarding is off and kernel\.manageForwarding is false.*sysctl -w net\.ipv6\.conf\.all\.forwarding=1/);
    expect(off.writes).toEqual([]);
    off.readOnly = true;
    await expect(ensureIpv6Forwarding(off, {manage: true})).rejects.toThrow(/could not be turned on: tee: .*Read-only file system.*sysctl -w/);
    const noIpv6 = new FakeSysctl(new Map());
    await expect(ensureIpv6Forwarding(noIpv6, {manage: true})).rejects.toThrow(/cannot read \/proc\/sys\/net\/ipv6\/conf\/all\/forwarding/);
  });

  it('is what the driver does on ensureForwarding, logged when it changes something', async () => {
    const fake = new FakeSysctl(sysctls('0', {eth0: '1'}));
    const lines: string[] = [];
    const logger = {...silentLogger(), warn: (_obj: object | string, msg?: string) => void lines.push(msg ?? '')};
    const driver = new KernelWgDriver({runner: fake, logger});
    expect(await driver.ensureForwarding()).toEqual({changed: true});
    expect(await driver.ensureForwarding()).toEqual({changed: false});
    expect(lines).toEqual([expect.stringMatching(/turned IPv6 forwarding on.*accept_ra raised from 1 to 2 on eth0/)]);
    await driver.close();
  });

  it('reads grep output strictly', () => {
    const parsed = parseAcceptRa('/proc/sys/net/ipv6/conf/eth0/accept_ra:1\n/proc/sys/net/ipv6/conf/-x/accept_ra:1\ngarbage\n/proc/sys/net/ipv6/conf/lo/accept_ra:0\n');
    expect([...parsed]).toEqual([
      ['eth0', '1'],
      ['lo', '0'],
    ]);
  });
});

/**
 * Kernel WireGuard links in memory behind the runner interface: what
 * `ensureInterface` runs on a kernel with the module, and the look for
 * deleted links. `refuseAdd` makes `ip link add` fail, as a kernel that
 * cannot create the link would.
 */
class FakeKernelLinks implements CommandRunner {
  readonly links = new Map<string, {port: number; publicKey: string; up: boolean}>();
  listings = 0;
  refuseAdd = false;

  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandOutput> {
    const fail = (stderr: string): never => {
      throw new CommandError('failed', command, stderr, {stderr, exitCode: 1});
    };
    const out = (stdout: string): CommandOutput => ({stdout, stderr: ''});
    const line = args.join(' ');
    const name = args.find((arg) => arg.startsWith('wgm')) ?? '';
    const link = this.links.get(name);
    if (command === 'ip' && line === '-j link show type wireguard') {
      this.listings++;
      return out(JSON.stringify([...this.links.keys()].map((ifname) => ({ifname}))));
    }
    if (command === 'ip' && line.startsWith('-j -d link show dev')) {
      if (!link) fail(`Device "${name}" does not exist.`);
      return out(JSON.stringify([{ifname: name, mtu: 1420, flags: link!.up ? ['UP'] : [], linkinfo: {info_kind: 'wireguard'}}]));
    }
    if (command === 'ip' && line === `link add dev ${name} type wireguard`) {
      if (this.refuseAdd) fail('RTNETLINK answers: Cannot allocate memory');
      this.links.set(name, {port: 0, publicKey: '(none)', up: false});
      return out('');
    }
    if (command === 'ip' && line === `link set dev ${name} mtu 1420 up`) {
      link!.up = true;
      return out('');
    }
    if (command === 'wg' && !link) fail('Unable to access interface: No such device');
    if (command === 'wg' && line === `show ${name} dump`) return out(`(hidden)\t${link!.publicKey}\t${link!.port}\toff\n`);
    if (command === 'wg' && line === `show ${name} listen-port`) return out(`${link!.port}\n`);
    if (command === 'wg' && args[0] === 'set') {
      const port = args.indexOf('listen-port');
      if (port >= 0) link!.port = Number(args[port + 1]);
      if (args.includes('private-key')) link!.publicKey = wgPublicKeyFromPrivate((options.input ?? '').trim());
      if (link!.port === 0) link!.port = 51820;
      return out('');
    }
    throw new Error(`unexpected command ${command} ${line}`);
  }

  spawn(): never {
    throw new Error('not used');
  }
}

describe('supervision of kernel interfaces', () => {
  it('notices a link deleted from outside with one listing per period, rebuilds it on the same port, and fails, logs once and retries when it cannot', async () => {
    const clock = new SimulatedClock();
    const fake = new FakeKernelLinks();
    const logger = recordingLogger();
    const driver = new KernelWgDriver({runner: fake, clock, logger, implementation: 'kernel'});
    const events: string[] = [];
    driver.onInterfaceEvent((event) => events.push(event.kind));
    const name = 'wgmsupervise01';
    const spec = {name, privateKey: keyPair().privateKey, listenPort: 51999, mtu: 1420};
    expect((await driver.ensureInterface(spec)).listenPort).toBe(51999);

    // Present: one listing per period, nothing else.
    await clock.advance(LINK_CHECK_MS);
    expect(fake.listings).toBe(1);
    expect(events).toEqual([]);

    // Deleted from outside: rebuilt at the next look, on the port it had.
    fake.links.delete(name);
    await clock.advance(LINK_CHECK_MS);
    // A rebuild touches the UAPI directory (real I/O): waited for, in real time.
    await eventually('the link was rebuilt', () => events.length === 2);
    expect(events).toEqual(['lost', 'restored']);
    expect(fake.links.get(name)?.port).toBe(51999);
    expect(logger.lines.filter((line) => line.level === 'warn').map((line) => line.msg)).toEqual([`the WireGuard link ${name} was deleted outside wgmesh: rebuilding interface ${name}`]);

    // Deleted again soon after, and the kernel refuses a new link: failed, logged at error once, every call says why.
    fake.links.delete(name);
    fake.refuseAdd = true;
    await clock.advance(LINK_CHECK_MS);
    await eventually('the rebuild failed', () => events.length === 3);
    expect(events).toEqual(['lost', 'restored', 'failed']);
    await expect(driver.applyPeers(name, [])).rejects.toThrow(/is gone: the WireGuard link .* was deleted outside wgmesh, the second time within 60 s/);
    const listings = fake.listings;
    await clock.advance(RETRY_MIN_MS);
    await eventually('the retry failed', () => events.length === 4);
    // The retry failed too: reported to listeners, not logged at error again; a failed interface is not looked for.
    expect(events).toEqual(['lost', 'restored', 'failed', 'failed']);
    expect(logger.lines.filter((line) => line.level === 'error')).toHaveLength(1);
    expect(fake.listings).toBe(listings);

    // Once the kernel can, the next retry (twice the wait) brings it back.
    fake.refuseAdd = false;
    await clock.advance(2 * RETRY_MIN_MS);
    await eventually('the second retry rebuilt the link', () => events.length === 5);
    expect(events).toEqual(['lost', 'restored', 'failed', 'failed', 'restored']);
    expect(fake.links.get(name)?.port).toBe(51999);
    expect(logger.lines.filter((line) => line.level === 'info' && /is back/.test(line.msg ?? ''))).toHaveLength(1);
    await driver.applyPeers(name, []);
    await driver.close();
  });
});
