import {mkdtemp, rm, stat} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {
  ConfigError,
  WgDriverError,
  checkFactory,
  generateIdentity,
  systemClock,
  systemRandom,
  wgPublicKeyFromPrivate,
  type BackendContext,
  type Logger,
  type WgPeerConfig,
} from '@wgmesh/core';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import backendsHook from '../src/hooks/backends.js';
import {StubWgDriver, freeUdpPort, readStubState, stubStateFile, wgStubBackend} from '../src/index.js';

const silent: Logger = {debug() {}, info() {}, warn() {}, error() {}, child: () => silent};

/** A fresh WireGuard key pair (private, public). */
function keyPair(): {privateKey: string; publicKey: string} {
  const identity = generateIdentity();
  return {privateKey: identity.wgPrivateKey, publicKey: identity.wgPublicKey};
}

/** A port allocator that counts up from 51820, so tests are deterministic. */
function counter(start = 51820): () => Promise<number> {
  let next = start;
  return async () => next++;
}

function peer(address: string, endpoint: string | null = null): WgPeerConfig {
  return {publicKey: keyPair().publicKey, endpoint, allowedIps: [`${address}/128`]};
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wg-stub-'));
});
afterEach(async () => {
  await rm(dir, {recursive: true, force: true});
});

describe('StubWgDriver', () => {
  it('creates an interface, picks a port for 0 and keeps it when port 0 is restated', async () => {
    const driver = new StubWgDriver({allocatePort: counter()});
    const keys = keyPair();
    expect(await driver.ensureInterface({name: 'wgm0', privateKey: keys.privateKey, listenPort: 0, mtu: 1420})).toEqual({name: 'wgm0', listenPort: 51820});
    expect(await driver.ensureInterface({name: 'wgm1', privateKey: keys.privateKey, listenPort: 0, mtu: 1420})).toEqual({name: 'wgm1', listenPort: 51821});
    expect(await driver.ensureInterface({name: 'wgm0', privateKey: keys.privateKey, listenPort: 0, mtu: 1380})).toEqual({name: 'wgm0', listenPort: 51820});
    expect(await driver.ensureInterface({name: 'wgm0', privateKey: keys.privateKey, listenPort: 40000, mtu: 1380})).toEqual({name: 'wgm0', listenPort: 40000});
    const wgm0 = driver.snapshot().interfaces.find((entry) => entry.name === 'wgm0');
    expect(wgm0).toMatchObject({publicKey: keys.publicKey, listenPort: 40000, mtu: 1380, calls: {ensureInterface: 3}});
    await driver.close();
  });

  it('skips a port it already handed to another interface', async () => {
    let calls = 0;
    const driver = new StubWgDriver({allocatePort: async () => (calls++ < 2 ? 51820 : 51999)});
    const {privateKey} = keyPair();
    await driver.ensureInterface({name: 'a', privateKey, listenPort: 0, mtu: 1420});
    expect((await driver.ensureInterface({name: 'b', privateKey, listenPort: 0, mtu: 1420})).listenPort).toBe(51999);
  });

  it('by default takes distinct free UDP ports from the kernel', async () => {
    const driver = new StubWgDriver();
    const {privateKey} = keyPair();
    const a = await driver.ensureInterface({name: 'a', privateKey, listenPort: 0, mtu: 1420});
    const b = await driver.ensureInterface({name: 'b', privateKey, listenPort: 0, mtu: 1420});
    for (const port of [a.listenPort, b.listenPort]) expect(port).toBeGreaterThan(0);
    expect(a.listenPort).not.toBe(b.listenPort);
    expect(await freeUdpPort()).toBeGreaterThan(0);
  });

  it('records exactly the peers, addresses and routes it was last asked for, as copies', async () => {
    const driver = new StubWgDriver({allocatePort: counter()});
    await driver.ensureInterface({name: 'wgm0', privateKey: keyPair().privateKey, listenPort: 51820, mtu: 1420});
    const peers = [peer('fd00::2', '[fd00:1::2]:51820'), {...peer('fd00::3', '192.0.2.3:51820'), keepaliveSeconds: 25}];
    await driver.applyPeers('wgm0', peers);
    await driver.setAddresses('wgm0', ['fd00::1/64']);
    await driver.setRoutes('wgm0', [{destination: '2001:db8:1::/48', via: 'fd00::2'}, {destination: 'fd01::/64'}]);
    peers[0]!.allowedIps.push('fd00::99/128');
    let state = driver.snapshot().interfaces[0]!;
    expect(state.peers).toEqual([
      {publicKey: peers[0]!.publicKey, endpoint: '[fd00:1::2]:51820', allowedIps: ['fd00::2/128']},
      {publicKey: peers[1]!.publicKey, endpoint: '192.0.2.3:51820', allowedIps: ['fd00::3/128'], keepaliveSeconds: 25},
    ]);
    expect(state.addresses).toEqual(['fd00::1/64']);
    expect(state.routes).toEqual([{destination: '2001:db8:1::/48', via: 'fd00::2'}, {destination: 'fd01::/64'}]);

    await driver.applyPeers('wgm0', [peers[1]!]);
    await driver.setRoutes('wgm0', []);
    state = driver.snapshot().interfaces[0]!;
    expect(state.peers.map((entry) => entry.publicKey)).toEqual([peers[1]!.publicKey]);
    expect(state.routes).toEqual([]);
    expect(state.calls).toEqual({ensureInterface: 1, applyPeers: 2, setAddresses: 1, setRoutes: 2});
  });

  it('reports one zero entry per peer until a test injects statistics', async () => {
    const driver = new StubWgDriver({allocatePort: counter()});
    await driver.ensureInterface({name: 'wgm0', privateKey: keyPair().privateKey, listenPort: 0, mtu: 1420});
    const [a, b] = [peer('fd00::2', '192.0.2.2:51820'), peer('fd00::3')];
    await driver.applyPeers('wgm0', [a, b]);
    expect(await driver.stats('wgm0')).toEqual([
      {publicKey: a.publicKey, endpoint: '192.0.2.2:51820', latestHandshakeMs: null, rxBytes: 0, txBytes: 0},
      {publicKey: b.publicKey, endpoint: null, latestHandshakeMs: null, rxBytes: 0, txBytes: 0},
    ]);
    driver.setPeerStats('wgm0', a.publicKey, {latestHandshakeMs: 1_700_000_000_000, rxBytes: 10, txBytes: 20});
    expect((await driver.stats('wgm0'))[0]).toMatchObject({latestHandshakeMs: 1_700_000_000_000, rxBytes: 10, txBytes: 20});
    await driver.applyPeers('wgm0', [b]);
    await driver.applyPeers('wgm0', [a, b]);
    expect((await driver.stats('wgm0'))[0]).toMatchObject({latestHandshakeMs: null, rxBytes: 0});
    expect(() => driver.setPeerStats('wgm0', keyPair().publicKey, {latestHandshakeMs: null, rxBytes: 0, txBytes: 0})).toThrow(WgDriverError);
  });

  it('refuses what ip/wg would refuse, without echoing the private key', async () => {
    const driver = new StubWgDriver({allocatePort: counter()});
    const {privateKey} = keyPair();
    const spec = {name: 'wgm0', privateKey, listenPort: 0, mtu: 1420};
    await expect(driver.ensureInterface({...spec, name: 'much-too-long-name'})).rejects.toThrow(/not a valid interface name/);
    await expect(driver.ensureInterface({...spec, mtu: 1200})).rejects.toThrow(/MTU 1200/);
    await expect(driver.ensureInterface({...spec, listenPort: 70000})).rejects.toThrow(/listen port/);
    const badKey = `${privateKey.slice(0, 40)}====`;
    const keyError = await driver.ensureInterface({...spec, privateKey: badKey}).catch((error: unknown) => error as Error);
    expect(keyError).toBeInstanceOf(WgDriverError);
    expect((keyError as Error).message).not.toContain(badKey.slice(0, 40));
    await expect(driver.applyPeers('wgm0', [])).rejects.toThrow(/no interface named wgm0/);

    await driver.ensureInterface(spec);
    const a = peer('fd00::2');
    await expect(driver.applyPeers('wgm0', [a, {...peer('fd00::3'), allowedIps: ['fd00::2/128']}])).rejects.toThrow(/given to two peers/);
    await expect(driver.applyPeers('wgm0', [a, a])).rejects.toThrow(/appears twice/);
    await expect(driver.applyPeers('wgm0', [{...a, endpoint: 'fd00::1:51820'}])).rejects.toThrow(/not an endpoint/);
    await expect(driver.applyPeers('wgm0', [{...a, allowedIps: ['fd00::2/129']}])).rejects.toThrow(/CIDR/);
    await expect(driver.setAddresses('wgm0', ['fd00::1'])).rejects.toThrow(/CIDR/);
    await expect(driver.setRoutes('wgm0', [{destination: '10.0.0.0/8', via: 'gateway'}])).rejects.toThrow(/next hop/);
    expect(driver.snapshot().interfaces[0]!.calls).toEqual({ensureInterface: 1, applyPeers: 0, setAddresses: 0, setRoutes: 0});
  });

  it('removes interfaces idempotently and records each removal', async () => {
    const driver = new StubWgDriver({allocatePort: counter()});
    await driver.ensureInterface({name: 'wgm0', privateKey: keyPair().privateKey, listenPort: 0, mtu: 1420});
    await driver.removeInterface('wgm0');
    await driver.removeInterface('wgm0');
    expect(driver.snapshot()).toEqual({version: 1, interfaces: [], removed: ['wgm0'], forwarding: false, forwardingCalls: 0});
    await expect(driver.stats('wgm0')).rejects.toThrow(WgDriverError);
  });

  it('records that the host must forward IPv6: on once asked, and it stays on (mirrored)', async () => {
    const file = stubStateFile(dir);
    const driver = new StubWgDriver({stateFile: file, allocatePort: counter()});
    expect(driver.snapshot()).toMatchObject({forwarding: false, forwardingCalls: 0});
    expect(await driver.ensureForwarding()).toEqual({changed: true});
    expect(await driver.ensureForwarding()).toEqual({changed: false});
    expect(driver.snapshot()).toMatchObject({forwarding: true, forwardingCalls: 2});
    await driver.close();
    expect(await readStubState(file)).toMatchObject({forwarding: true, forwardingCalls: 2});
    await expect(driver.ensureForwarding()).rejects.toThrow(/closed/);
  });

  it('honours an aborted signal and refuses calls after close', async () => {
    const driver = new StubWgDriver({allocatePort: counter()});
    const abort = new AbortController();
    abort.abort(new Error('stopping'));
    await expect(driver.ensureInterface({name: 'wgm0', privateKey: keyPair().privateKey, listenPort: 0, mtu: 1420}, abort.signal)).rejects.toThrow('stopping');
    expect(driver.snapshot().interfaces).toEqual([]);
    await driver.close();
    await expect(driver.removeInterface('wgm0')).rejects.toThrow(/closed/);
  });

  it('mirrors its state to a file (mode 0600, no private key) that ends at the latest state', async () => {
    const file = stubStateFile(dir);
    const driver = new StubWgDriver({stateFile: file, allocatePort: counter()});
    const {privateKey} = keyPair();
    await driver.ensureInterface({name: 'wgm0', privateKey, listenPort: 0, mtu: 1420});
    // Calls in flight together: the file must still end at the final state.
    await Promise.all(Array.from({length: 10}, (_, index) => driver.setAddresses('wgm0', [`fd00::${index + 1}/64`])));
    await driver.close();
    const mirrored = await readStubState(file);
    expect(mirrored).toEqual(driver.snapshot());
    expect(mirrored?.interfaces[0]?.addresses).toEqual(['fd00::10/64']);
    expect(mirrored?.interfaces[0]?.publicKey).toBe(wgPublicKeyFromPrivate(privateKey));
    expect(JSON.stringify(mirrored)).not.toContain(privateKey);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });
});

describe('wg:stub factory and hook', () => {
  function context(config: unknown): BackendContext {
    const identity = generateIdentity();
    return {
      config,
      daemonConfig: {},
      logger: silent,
      dataDir: dir,
      signal: new AbortController().signal,
      identity: {nodeId: identity.nodeId, signingKey: identity.signingKey, wgPublicKey: identity.wgPublicKey},
      clock: systemClock,
      random: systemRandom,
    };
  }

  it('is returned by the hook as a valid factory for this API version', async () => {
    const factories = await backendsHook();
    expect(factories).toEqual([wgStubBackend]);
    expect(checkFactory(factories[0])).toMatchObject({ok: true});
    expect(wgStubBackend).toMatchObject({kind: 'wg', name: 'stub'});
  });

  it('creates a driver that mirrors to <dataDir>/wg-stub/state.json unless told not to', async () => {
    const driver = await wgStubBackend.create(context(undefined));
    await driver.ensureInterface({name: 'wgm0', privateKey: keyPair().privateKey, listenPort: 0, mtu: 1420});
    await driver.close();
    expect((await readStubState(stubStateFile(dir)))?.interfaces.map((entry) => entry.name)).toEqual(['wgm0']);

    await rm(join(dir, 'wg-stub'), {recursive: true});
    const quiet = await wgStubBackend.create(context({mirrorState: false}));
    await quiet.ensureInterface({name: 'wgm0', privateKey: keyPair().privateKey, listenPort: 0, mtu: 1420});
    await quiet.close();
    expect(await readStubState(stubStateFile(dir))).toBeUndefined();
  });

  it('refuses an invalid config section with the key named', async () => {
    await expect(wgStubBackend.create(context({mirrorState: 'yes'}))).rejects.toThrow(ConfigError);
    await expect(wgStubBackend.create(context({colour: 'blue'}))).rejects.toThrow(/config key stub/);
  });
});
