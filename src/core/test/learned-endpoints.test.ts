/**
 * Endpoints WireGuard learned for clients, kept across a clean restart: what
 * is saved, how a saved file is checked, and that a restarted runtime gives
 * them to its new interface (stub driver, simulated clock, a real data dir).
 */
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import {StubWgDriver} from '@wgmesh/wg-stub';
import {mkdir, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, describe, expect, it} from 'vitest';
import {DecodeError} from '../src/errors.js';
import {generateIdentity} from '../src/identity/identity.js';
import {MAX_LEARNED_ENDPOINTS, learnedEndpoints, withLearnedEndpoints} from '../src/runtime/learned-endpoints.js';
import {MeshRepository} from '../src/runtime/mesh-repository.js';
import {MeshRuntime} from '../src/runtime/mesh-runtime.js';
import {FIXTURE_NOW, makeTestNode, silentLogger, testMeshId, testMeshSettings, SimulatedClock} from '@wgmesh/testkit';

const KEY_A = generateIdentity().wgPublicKey;
const KEY_B = generateIdentity().wgPublicKey;
const INTERFACE = 'wglearn0';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, {recursive: true, force: true});
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wgmesh-learned-'));
  dirs.push(dir);
  return dir;
}

describe('learnedEndpoints', () => {
  it('keeps the endpoint WireGuard uses for each peer that advertises none, and nothing for peers with their own', () => {
    const desired = [
      {publicKey: KEY_A, endpoint: null, allowedIps: ['fd00::2/128']},
      {publicKey: KEY_B, endpoint: '[2001:db8::2]:51820', allowedIps: ['fd00::3/128']},
    ];
    const stats = [
      {publicKey: KEY_A, endpoint: '[2001:db8::9]:40000', latestHandshakeMs: FIXTURE_NOW, rxBytes: 1, txBytes: 1},
      {publicKey: KEY_B, endpoint: '[2001:db8::7]:51820', latestHandshakeMs: FIXTURE_NOW, rxBytes: 1, txBytes: 1},
    ];
    expect(learnedEndpoints(desired, stats)).toEqual([[KEY_A, '[2001:db8::9]:40000']]);
    // A client that never sent anything has no endpoint to keep.
    expect(learnedEndpoints(desired, [{...stats[0]!, endpoint: null}])).toEqual([]);
  });

  it('fills in a saved endpoint only where a peer has none of its own', () => {
    const learned = new Map([
      [KEY_A, '[2001:db8::9]:40000'],
      [KEY_B, '[2001:db8::8]:40000'],
    ]);
    const peers = withLearnedEndpoints(
      [
        {publicKey: KEY_A, endpoint: null, allowedIps: []},
        {publicKey: KEY_B, endpoint: '[2001:db8::2]:51820', allowedIps: []},
      ],
      learned,
    );
    expect(peers.map((peer) => peer.endpoint)).toEqual(['[2001:db8::9]:40000', '[2001:db8::2]:51820']);
  });
});

describe('MeshRepository learned endpoints', () => {
  it('saves them 0600, and takes them once: the file is gone after it was read', async () => {
    const repository = new MeshRepository(await dataDir());
    const meshId = testMeshId();
    await mkdir(repository.directory(meshId), {recursive: true});
    await repository.saveLearnedEndpoints(meshId, [[KEY_A, '192.0.2.7:40000']]);
    expect((await stat(join(repository.directory(meshId), 'endpoints.json'))).mode & 0o777).toBe(0o600);
    expect(await repository.takeLearnedEndpoints(meshId)).toEqual(new Map([[KEY_A, '192.0.2.7:40000']]));
    expect(await repository.takeLearnedEndpoints(meshId)).toBeUndefined();
  });

  it.each([
    ['a host name (it would be resolved)', JSON.stringify([[KEY_A, 'example.com:40000']])],
    ['a key that is not one', JSON.stringify([['not-a-key', '192.0.2.7:40000']])],
    ['a port out of range', JSON.stringify([[KEY_A, '[2001:db8::9]:70000']])],
    ['more entries than the cap', JSON.stringify(Array.from({length: MAX_LEARNED_ENDPOINTS + 1}, () => [KEY_A, '192.0.2.7:40000']))],
    ['not JSON', '[[['],
  ])('refuses a file holding %s, and deletes it', async (_what, text) => {
    const repository = new MeshRepository(await dataDir());
    const meshId = testMeshId();
    const file = join(repository.directory(meshId), 'endpoints.json');
    await mkdir(repository.directory(meshId), {recursive: true});
    await writeFile(file, text);
    await expect(repository.takeLearnedEndpoints(meshId)).rejects.toBeInstanceOf(DecodeError);
    await expect(readFile(file)).rejects.toThrow(/ENOENT/);
  });
});

describe('MeshRuntime across a clean restart', () => {
  it('saves the endpoint learned for a client homed here at a clean stop, and the next start configures it on the new interface', async () => {
    const meshId = testMeshId();
    const identity = generateIdentity();
    const clock = new SimulatedClock(FIXTURE_NOW);
    const repository = new MeshRepository(await dataDir());
    const settings = testMeshSettings(meshId, identity, {storeKind: 'twophase', interfaceName: INTERFACE});
    const client = makeTestNode(meshId);
    const open = (store: TwoPhaseStore, driver: StubWgDriver): MeshRuntime =>
      new MeshRuntime({settings, store, identity, driver, repository, logger: silentLogger(), clock, controlPort: 7946, maxClockSkewMs: 60_000});
    const newStore = (): TwoPhaseStore => new TwoPhaseStore({meshId, clock, logger: silentLogger(), gcHorizonMs: 24 * 3_600_000, maxClockSkewMs: 60_000});

    const store = newStore();
    store.merge([client.record({role: 'client', controlEndpoint: null, wgEndpoint: null})]);
    const driver = new StubWgDriver({allocatePort: async () => 51820});
    const first = open(store, driver);
    await mkdir(repository.directory(meshId), {recursive: true});
    await first.up();
    expect(driver.snapshot().interfaces[0]!.peers.map((peer) => peer.endpoint)).toEqual([null]);
    driver.setPeerStats(INTERFACE, client.identity.wgPublicKey, {endpoint: '[2001:db8::9]:40000', latestHandshakeMs: FIXTURE_NOW, rxBytes: 1, txBytes: 1});
    await first.close({removeInterface: true, save: true});

    const restored = newStore();
    restored.load((await repository.load(meshId)).state!);
    const newDriver = new StubWgDriver({allocatePort: async () => 51820});
    const second = open(restored, newDriver);
    await second.restoreLearnedEndpoints();
    await second.up();
    expect(newDriver.snapshot().interfaces[0]!.peers.map((peer) => [peer.publicKey, peer.endpoint])).toEqual([[client.identity.wgPublicKey, '[2001:db8::9]:40000']]);
    await second.close({removeInterface: true, save: false});
  });
});
