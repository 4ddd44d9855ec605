/**
 * Rotation of a node's WireGuard key (key-rotation.ts) over real MeshRuntimes,
 * the stub driver, a real identity file and simulated time: the file, every
 * interface and every mesh's record carry the new key; a driver failure, or a
 * crash after the file was written, never loses the key; `--mesh` is refused
 * where it would change other meshes too.
 */
import {mkdtemp, rm, stat} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import {StubWgDriver} from '@wgmesh/wg-stub';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import type {WgDriver, WgInterfaceSpec, WgInterfaceState} from '../src/contracts/wg-driver.js';
import {createIdentity, generateIdentity, generateWgPrivateKey, loadIdentity, storeWgPrivateKey, type NodeIdentity} from '../src/identity/identity.js';
import {KeyRotationError} from '../src/errors.js';
import {checkRotationScope, rotateWgKey} from '../src/runtime/key-rotation.js';
import {MeshRepository} from '../src/runtime/mesh-repository.js';
import {MeshRuntime} from '../src/runtime/mesh-runtime.js';
import {FIXTURE_NOW, makeTestNode, silentLogger, testMeshId, testMeshSettings, SimulatedClock} from '@wgmesh/testkit';

/** A stub driver whose `ensureInterface` fails for the interfaces named in `failing`. */
class FailingDriver extends StubWgDriver {
  readonly failing = new Set<string>();

  override async ensureInterface(spec: WgInterfaceSpec, signal?: AbortSignal): Promise<WgInterfaceState> {
    if (this.failing.has(spec.name)) throw new Error(`${spec.name}: device busy`);
    return super.ensureInterface(spec, signal);
  }
}

/** A stub driver that notes, each time an interface takes a key, which key the mesh's record carried then, and when a handshake was asked for. */
class OrderRecordingDriver extends StubWgDriver {
  readonly events: string[] = [];
  runtime: MeshRuntime | undefined;

  override async ensureInterface(spec: WgInterfaceSpec, signal?: AbortSignal): Promise<WgInterfaceState> {
    const state = await super.ensureInterface(spec, signal);
    const publicKey = this.snapshot().interfaces.find((entry) => entry.name === spec.name)?.publicKey;
    if (this.runtime) this.events.push(`interface ${publicKey} while the record carries ${this.runtime.self()!.wgPublicKey}`);
    return state;
  }

  override async handshakeNow(name: string, signal?: AbortSignal): Promise<void> {
    this.events.push('handshake');
    await super.handshakeNow?.(name, signal);
  }
}

let dir: string;
const opened: MeshRuntime[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wgmesh-rotate-'));
});
afterEach(async () => {
  for (const runtime of opened.splice(0)) await runtime.close({removeInterface: false, save: false});
  await rm(dir, {recursive: true, force: true});
});

/** A peer's runtime in a new mesh with one other member, up on `driver` as interface `name`. */
async function upMesh(identity: NodeIdentity, driver: WgDriver, clock: SimulatedClock, name: string): Promise<MeshRuntime> {
  const meshId = testMeshId();
  const store = new TwoPhaseStore({meshId, clock, logger: silentLogger(), gcHorizonMs: 24 * 3_600_000, maxClockSkewMs: 60_000});
  const settings = testMeshSettings(meshId, identity, {storeKind: store.kind, interfaceName: name});

  const runtime = new MeshRuntime({settings, store, identity, driver, repository: new MeshRepository(dir), logger: silentLogger(), clock, controlPort: 7946, maxClockSkewMs: 60_000});
  opened.push(runtime);
  store.merge([makeTestNode(meshId, {now: FIXTURE_NOW}).record()]);
  await runtime.up();
  return runtime;
}

describe('WireGuard key rotation', () => {
  it('stores the new key (0600), puts it on every interface on the same port, and publishes it in every mesh; the node id stays', async () => {
    const clock = new SimulatedClock(FIXTURE_NOW);
    const file = join(dir, 'identity.json');
    const identity = await createIdentity(file);
    const driver = new StubWgDriver();
    const meshes = [await upMesh(identity, driver, clock, 'wgmrot0'), await upMesh(identity, driver, clock, 'wgmrot1')];
    const before = driver.snapshot().interfaces.map((state) => ({name: state.name, listenPort: state.listenPort, publicKey: state.publicKey}));
    const versions = meshes.map((runtime) => runtime.self()!.version);
    const {nodeId, signingKey} = identity;
    const oldKey = identity.wgPublicKey;
    await clock.advance(1_000);

    const result = await rotateWgKey({identity, identityFile: file, meshes, clock, logger: silentLogger()});

    expect(result).toEqual({oldPublicKey: oldKey, newPublicKey: identity.wgPublicKey, meshIds: meshes.map((runtime) => runtime.meshId)});
    expect(result.newPublicKey).not.toBe(oldKey);
    expect([identity.nodeId, identity.signingKey]).toEqual([nodeId, signingKey]);
    expect(identity.retiredWgKey).toEqual({publicKey: oldKey, retiredAt: clock.now()});
    const stored = await loadIdentity(file);
    expect([stored?.nodeId, stored?.wgPublicKey]).toEqual([nodeId, result.newPublicKey]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(driver.snapshot().interfaces.map((state) => ({name: state.name, listenPort: state.listenPort, publicKey: state.publicKey}))).toEqual(
      before.map((state) => ({...state, publicKey: result.newPublicKey})),
    );
    meshes.forEach((runtime, index) => {
      const self = runtime.self()!;
      expect(self.wgPublicKey).toBe(result.newPublicKey);
      expect(self.version).toBeGreaterThan(versions[index]!);
    });
  });

  it('publishes the new key before the interface uses it, then starts the handshakes: only the rotating node initiates under the new key', async () => {
    // A member that configures the new key sends a handshake to the rotating node at once (the kernel
    // driver's replaced peer). Were the rotating node's interface already on the new key, that handshake
    // and the rotating node's own could cross, and crossed handshakes both fail until WireGuard's 5 s
    // retry. With the record first, the member's handshake reaches an interface that cannot read it yet.
    const clock = new SimulatedClock(FIXTURE_NOW);
    const file = join(dir, 'identity.json');
    const identity = await createIdentity(file);
    const driver = new OrderRecordingDriver();
    const runtime = await upMesh(identity, driver, clock, 'wgmrot6');
    driver.runtime = runtime;
    const result = await rotateWgKey({identity, identityFile: file, meshes: [runtime], clock, logger: silentLogger()});
    expect(driver.events).toEqual([`interface ${result.newPublicKey} while the record carries ${result.newPublicKey}`, 'handshake']);
  });

  it('keeps the stored key when an interface cannot take it, names the mesh, and a restart puts the stored key everywhere', async () => {
    const clock = new SimulatedClock(FIXTURE_NOW);
    const file = join(dir, 'identity.json');
    const identity = await createIdentity(file);
    const driver = new FailingDriver();
    const [good, bad] = [await upMesh(identity, driver, clock, 'wgmrot2'), await upMesh(identity, driver, clock, 'wgmrot3')];
    driver.failing.add('wgmrot3');
    const rotation = rotateWgKey({identity, identityFile: file, meshes: [good!, bad!], clock, logger: silentLogger()});
    await expect(rotation).rejects.toThrow(KeyRotationError);
    await expect(rotation).rejects.toThrow(new RegExp(`could not be applied in ${bad!.meshId} \\(wgmrot3: device busy\\): restart the daemon`));
    const newKey = identity.wgPublicKey;
    expect((await loadIdentity(file))?.wgPublicKey).toBe(newKey);
    expect(good!.self()!.wgPublicKey).toBe(newKey);
    const keyOf = (name: string): string | undefined => driver.snapshot().interfaces.find((state) => state.name === name)?.publicKey;
    expect(keyOf('wgmrot2')).toBe(newKey);
    expect(keyOf('wgmrot3')).not.toBe(newKey);

    // What a restart (or a crash right after the file was written) does: the stored key goes on every interface and into every record.
    for (const runtime of opened.splice(0)) await runtime.close({removeInterface: false, save: false});
    driver.failing.clear();
    const restarted = (await loadIdentity(file))!;
    const again = await upMesh(restarted, driver, clock, 'wgmrot3');
    expect(keyOf('wgmrot3')).toBe(newKey);
    expect(again.self()!.wgPublicKey).toBe(newKey);
  });

  it("refuses --mesh when the node is in other meshes too (the key is per node), and takes it for the node's only mesh", async () => {
    const clock = new SimulatedClock(FIXTURE_NOW);
    const identity = generateIdentity();
    const driver = new StubWgDriver();
    const [first, second] = [await upMesh(identity, driver, clock, 'wgmrot4'), await upMesh(identity, driver, clock, 'wgmrot5')];
    expect(() => checkRotationScope(first!.meshId, [first!, second!])).toThrow(/the WireGuard key is per node, and this node uses it in 2 meshes .*run 'wgmesh node rotate-keys' without --mesh/);
    expect(() => checkRotationScope(first!.meshId, [first!])).not.toThrow();
    expect(() => checkRotationScope(undefined, [first!, second!])).not.toThrow();
  });

  it("refuses to store a key in another node's identity file", async () => {
    const file = join(dir, 'identity.json');
    await createIdentity(file);
    const other = generateIdentity();
    await expect(storeWgPrivateKey(file, other, generateWgPrivateKey())).rejects.toThrow(/holds another node's identity/);
    await expect(storeWgPrivateKey(join(dir, 'missing.json'), other, generateWgPrivateKey())).rejects.toThrow(/is missing/);
  });
});
