/** The rules of `mesh set` (runtime/mesh-set.ts): what changes, what is refused and why. */
import {describe, expect, it} from 'vitest';
import {changedSettings, planMeshSettings, settingsView} from '../src/runtime/mesh-set.js';
import type {MeshSettings} from '../src/runtime/mesh-settings.js';

const MESH = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';

function settings(overrides: Partial<MeshSettings> = {}): MeshSettings {
  return {
    version: 1,
    meshId: MESH,
    storeKind: 'twophase',
    interfaceName: 'wgm0',
    role: 'peer',
    listenPort: 0,
    pickedPort: 51820,
    endpointHost: '192.0.2.1',
    keepaliveSeconds: 0,
    advertiseRoutes: false,
    advertiseDefault: false,
    addressCounter: 0,
    joinedAt: 1,
    preUp: [],
    postUp: [],
    preDown: [],
    postDown: [],
    ...overrides,
  };
}

const peerContext = {credentialRole: 'peer' as const, otherPeers: 1};

describe('mesh set rules', () => {
  it('changes only what is given, without touching the settings it started from', () => {
    const current = settings();
    const next = planMeshSettings(current, {meshId: MESH, endpoint: 'vpn.example', keepalive: 25}, peerContext);
    expect(next).toMatchObject({endpointHost: 'vpn.example', keepaliveSeconds: 25, listenPort: 0, role: 'peer'});
    expect(current.endpointHost).toBe('192.0.2.1');
    expect(changedSettings(current, next)).toEqual(['endpoint', 'keepalive']);
    expect(changedSettings(current, planMeshSettings(current, {meshId: MESH, keepalive: 0}, peerContext))).toEqual([]);
  });

  it('switches the route flags on and off; an exit needs advertised routes', () => {
    const exit = planMeshSettings(settings(), {meshId: MESH, advertiseRoutes: true, advertiseDefault: true}, peerContext);
    expect(exit).toMatchObject({advertiseRoutes: true, advertiseDefault: true});
    expect(planMeshSettings(exit, {meshId: MESH, advertiseDefault: false}, peerContext)).toMatchObject({advertiseRoutes: true, advertiseDefault: false});
    expect(() => planMeshSettings(exit, {meshId: MESH, advertiseRoutes: false}, peerContext)).toThrow('--advertise-default needs --advertise-routes');
    expect(() => planMeshSettings(settings(), {meshId: MESH, advertiseDefault: true}, peerContext)).toThrow('--advertise-default needs --advertise-routes');
  });

  it('changes the role only where the credential and the mesh allow it', () => {
    expect(() => planMeshSettings(settings({role: 'client'}), {meshId: MESH, role: 'peer'}, {credentialRole: 'client', otherPeers: 1})).toThrow('its credential admits it as a client only');
    expect(planMeshSettings(settings({role: 'client'}), {meshId: MESH, role: 'peer'}, peerContext).role).toBe('peer');
    expect(() => planMeshSettings(settings(), {meshId: MESH, role: 'client'}, {credentialRole: 'peer', otherPeers: 0})).toThrow('no other peer is there');
    expect(planMeshSettings(settings(), {meshId: MESH, role: 'client'}, peerContext).role).toBe('client');
    // The same role again is no change, whatever the credential.
    expect(planMeshSettings(settings({role: 'client'}), {meshId: MESH, role: 'client'}, {credentialRole: 'client', otherPeers: 0}).role).toBe('client');
  });

  it('shows a client without an endpoint, and the bound port beside the one asked for', () => {
    expect(settingsView(settings({role: 'client'}), 40000)).toMatchObject({role: 'client', endpoint: null, port: 0, boundPort: 40000});
  });
});
