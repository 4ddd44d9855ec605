/**
 * `mesh create` does its work once: one save of the store, one save of the
 * settings, one reconciliation of WireGuard and one route update, traced from
 * the IPC handler through the daemon and the mesh runtime.
 */
import {mkdtemp, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import {StubWgDriver} from '@wgmesh/wg-stub';
import {afterEach, describe, expect, it, vi} from 'vitest';
import type {MeshStore} from '../src/contracts/store.js';
import {generateIdentity} from '../src/identity/identity.js';
import {RouteManager} from '../src/routing/manager.js';
import {Daemon} from '../src/runtime/daemon.js';
import {daemonIpcHandlers} from '../src/runtime/ipc-handlers.js';
import {MeshRepository} from '../src/runtime/mesh-repository.js';
import {MeshRuntime, SAVE_DELAY_MS} from '../src/runtime/mesh-runtime.js';
import {SeededRandom, silentLogger, SimulatedClock} from '@wgmesh/testkit';

const CONTROL = {syncIntervalMs: 300, heartbeatIntervalMs: 500, pullIntervalMs: 2_000, branch: 3, clusterSize: 64, interClusterChance: 0.15, infectionCount: 3, timeoutMs: 2000, maxClockSkewMs: 300_000};

describe('mesh create', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('saves, reconciles and updates routes once', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wgmesh-create-once-'));
    cleanup.push(() => rm(dataDir, {recursive: true, force: true}));
    const clock = new SimulatedClock(Date.now());
    const driver = new StubWgDriver();
    const stores: MeshStore[] = [];
    const storeSaves = (): number => stores.reduce((sum, store) => sum + vi.mocked(store.save).mock.calls.length, 0);
    const daemon = new Daemon({
      identity: generateIdentity(),
      dataDir,
      // A spy store: every save of the mesh state is one call of its `save()`.
      store: {
        kind: 'twophase',
        open: (options) => {
          const store = new TwoPhaseStore(options);
          vi.spyOn(store, 'save');
          stores.push(store);
          return store;
        },
      },
      driver,
      transport: null,
      control: CONTROL,
      backendNames: {store: 'twophase', transport: 'none', wg: 'stub'},
      base: {role: 'peer', ipDiscovery: 'outgoing', publicEndpoint: '192.0.2.1', advertiseRoute: false, advertiseDefaults: false, keepAliveWg: 0, clientKeepAliveWg: 25, preUp: [], postUp: [], preDown: [], postDown: []},
      controlPort: 4000,
      gcHorizonMs: 24 * 3600_000,
      maxClockSkewMs: 300_000,
      logger: silentLogger(),
      clock,
      random: new SeededRandom(1),
    });
    await daemon.start();
    cleanup.push(() => daemon.stop());
    const settingsSaves = vi.spyOn(MeshRepository.prototype, 'saveSettings');
    const routeUpdates = vi.spyOn(RouteManager.prototype, 'update');
    // Every reconciliation that reaches the driver is reported (and counted by the metrics) through this method.
    const reconciles = vi.spyOn(MeshRuntime.prototype as unknown as {applyTimed: () => Promise<void>}, 'applyTimed');

    const {meshId} = (await daemonIpcHandlers(daemon)['mesh.create']!({})) as {meshId: string};
    // Everything the create set off: the zero-delay reconcile timer, the delayed save, the route advertisement pass.
    await clock.advance(SAVE_DELAY_MS * 2);

    expect((await daemon.showMesh(meshId)).nodes).toHaveLength(1);
    expect({
      storeSaves: storeSaves(),
      settingsSaves: settingsSaves.mock.calls.length,
      reconciles: reconciles.mock.calls.length,
      routeUpdates: routeUpdates.mock.calls.length,
    }).toEqual({storeSaves: 1, settingsSaves: 1, reconciles: 1, routeUpdates: 1});
    // A spy driver: the stub counts every call it takes, per interface.
    const interfaces = driver.snapshot().interfaces;
    expect(interfaces.map((iface) => iface.calls)).toEqual([{ensureInterface: 1, setAddresses: 1, applyPeers: 1, setRoutes: 1}]);
    // The one save of the settings holds the port picked when the interface came up.
    const saved = JSON.parse(await readFile(join(dataDir, 'meshes', meshId, 'settings.json'), 'utf8')) as {listenPort: number; pickedPort?: number};
    expect(saved).toMatchObject({listenPort: 0, pickedPort: interfaces[0]!.listenPort});
  });
});
