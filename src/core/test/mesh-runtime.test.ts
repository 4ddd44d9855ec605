/**
 * MeshRuntime between a mesh's store and its WireGuard interface: which
 * changes reach the driver, and when the store is saved. One runtime over the
 * stub driver and a simulated clock; no control plane (every record is live).
 */
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import {StubWgDriver} from '@wgmesh/wg-stub';
import {afterEach, describe, expect, it} from 'vitest';
import type {WgInterfaceEvent} from '../src/contracts/wg-driver.js';
import type {NodeRecord} from '../src/model/record.js';
import {generateIdentity} from '../src/identity/identity.js';
import type {SelectedRoute} from '../src/routing/select.js';
import {MeshRepository} from '../src/runtime/mesh-repository.js';
import {MeshRuntime, SAVE_DELAY_MS} from '../src/runtime/mesh-runtime.js';
import {FIXTURE_NOW, makeTestNode, silentLogger, testMeshId, testMeshSettings, SimulatedClock} from '@wgmesh/testkit';

const INTERFACE = 'wgmrt0';

/** A repository that keeps the saved states in memory, in the order they were saved. */
class RecordingRepository extends MeshRepository {
  readonly saved: Uint8Array[] = [];

  override async saveState(_meshId: string, state: Uint8Array): Promise<void> {
    this.saved.push(state);
  }
}

const opened: MeshRuntime[] = [];
afterEach(async () => {
  for (const runtime of opened.splice(0)) await runtime.close({removeInterface: false, save: false});
});

function newStore(meshId: string, clock: SimulatedClock): TwoPhaseStore {
  return new TwoPhaseStore({meshId, clock, logger: silentLogger(), gcHorizonMs: 24 * 3_600_000, maxClockSkewMs: 60_000});
}

/** The stub driver, plus interface events a test fires by hand (as wg-kernel's supervision sends them). */
class EventfulStubDriver extends StubWgDriver {
  private readonly listeners = new Set<(event: WgInterfaceEvent) => void>();

  onInterfaceEvent(listener: (event: WgInterfaceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  fire(event: WgInterfaceEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

/** A peer's runtime, up, with one other member (`other`) in its store. */
async function upRuntime() {
  const meshId = testMeshId();
  const identity = generateIdentity();
  const clock = new SimulatedClock(FIXTURE_NOW);
  const store = newStore(meshId, clock);
  const driver = new EventfulStubDriver({allocatePort: async () => 51820});
  const repository = new RecordingRepository('/nonexistent-wgmesh-test-dir');
  const settings = testMeshSettings(meshId, identity, {storeKind: store.kind, interfaceName: INTERFACE, keepaliveSeconds: 25});

  const runtime = new MeshRuntime({settings, store, identity, driver, repository, logger: silentLogger(), clock, controlPort: 7946, maxClockSkewMs: 60_000});
  opened.push(runtime);
  const other = makeTestNode(meshId, {now: FIXTURE_NOW});
  store.merge([other.record()]);
  await runtime.up();
  const calls = () => driver.snapshot().interfaces[0]!.calls;
  /** The record of `id` in the state saved last. */
  const savedRecord = (id: string) => {
    const copy = newStore(meshId, clock);
    copy.load(repository.saved.at(-1)!);
    return copy.get(id)?.value as NodeRecord | undefined;
  };
  return {meshId, clock, store, driver, repository, runtime, other, selfId: identity.nodeId, calls, savedRecord};
}

describe('MeshRuntime', () => {
  it('shows a failed interface as its problem, leaves the driver alone meanwhile, and reconciles everything once it is restored', async () => {
    const {meshId, runtime, driver, calls, store} = await upRuntime();
    const before = calls();
    const detail = `interface ${INTERFACE} is gone: rebuilding it failed: (test)`;
    driver.fire({name: 'wgmother', kind: 'failed', detail: 'another mesh'});
    expect(runtime.summary().problem).toBeUndefined();
    driver.fire({name: INTERFACE, kind: 'failed', detail});
    expect(runtime.summary().problem).toBe(detail);

    // A new member arrives: nothing is applied to the failed interface.
    store.merge([makeTestNode(meshId, {now: FIXTURE_NOW}).record()]);
    await runtime.reconcile();
    expect(calls()).toEqual(before);
    expect(driver.snapshot().interfaces[0]!.peers).toHaveLength(1);

    driver.fire({name: INTERFACE, kind: 'restored', detail: 'back'});
    await runtime.reconcile();
    expect(runtime.summary().problem).toBeUndefined();
    expect(driver.snapshot().interfaces[0]!.peers).toHaveLength(2);
    // Everything is applied again (the driver restored only what it last had).
    expect(calls().setAddresses).toBe(before.setAddresses + 1);
  });

  it('calls the driver only for what changed: a service moves no peer, address or route', async () => {
    const {runtime, calls, driver} = await upRuntime();
    const before = calls();
    expect(before.applyPeers).toBeGreaterThan(0);
    expect(driver.snapshot().interfaces[0]!.peers).toHaveLength(1);

    await runtime.publishSelf({services: {http: '[::1]:8080'}});
    await runtime.reconcile();
    expect(calls()).toEqual(before);
  });

  it('applies a route again when it moved to another mesh and back before this mesh reconciled', async () => {
    const {meshId, runtime, other, driver, calls} = await upRuntime();
    const route: SelectedRoute = {destination: 'fd50::/64', meshId, gatewayId: other.id, path: [other.id], hops: 0};
    const installed = () => driver.snapshot().interfaces[0]!.routes.map((r) => r.destination);
    runtime.setRoutes([route]);
    await runtime.reconcile();
    expect(installed()).toEqual(['fd50::/64']);

    // Another mesh's interface took the route over (the kernel moves it, unseen by this mesh) ...
    await driver.setRoutes(INTERFACE, []);
    const setRoutesBefore = calls().setRoutes;
    // ... and gave it back: this mesh's wish is what it was, but the kernel no longer has it.
    runtime.setRoutes([]);
    runtime.setRoutes([route]);
    await runtime.reconcile();
    expect(calls().setRoutes).toBe(setRoutesBefore + 1);
    expect(installed()).toEqual(['fd50::/64']);
  });

  it("saves this node's own change before reporting it done", async () => {
    const {runtime, repository, selfId, savedRecord} = await upRuntime();
    const savesBefore = repository.saved.length;
    await runtime.publishSelf({services: {db: '[::1]:5432'}});
    expect(repository.saved).toHaveLength(savesBefore + 1);
    expect(savedRecord(selfId)?.services).toEqual({db: '[::1]:5432'});
  });

  it("saves other members' news once, SAVE_DELAY_MS after the first of a burst", async () => {
    const {clock, store, repository, other, savedRecord} = await upRuntime();
    const savesBefore = repository.saved.length;
    store.merge([other.record({version: FIXTURE_NOW + 1, services: {a: '[::1]:1'}})]);
    await clock.advance(SAVE_DELAY_MS / 2);
    store.merge([other.record({version: FIXTURE_NOW + 2, services: {a: '[::1]:2'}})]);
    await clock.advance(SAVE_DELAY_MS / 2 - 1);
    expect(repository.saved).toHaveLength(savesBefore);

    await clock.advance(1);
    expect(repository.saved).toHaveLength(savesBefore + 1);
    expect(savedRecord(other.id)?.services).toEqual({a: '[::1]:2'});
    await clock.advance(10 * SAVE_DELAY_MS);
    expect(repository.saved).toHaveLength(savesBefore + 1);
  });
});
