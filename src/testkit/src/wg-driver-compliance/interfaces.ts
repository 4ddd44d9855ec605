/**
 * WgDriver compliance, interfaces: what a driver keeps for an interface and
 * reports back through the contract. A port asked as 0 is picked once and
 * kept; calls are idempotent; `applyPeers` makes the peer set exactly what
 * was asked, in the canonical form `wg` reports; a new key keeps port and
 * peers; removal is idempotent and the interface is gone afterwards.
 */
import {describe, expect, it} from 'vitest';
import {WgmeshError} from '@wgmesh/core';
import type {WgPeerConfig} from '@wgmesh/core';
import {wgKeyPair, type WgDriverBench} from './bench.js';

/** Define the interface-state tests on `bench`. */
export function describeWgDriverInterfaces(bench: WgDriverBench): void {
  describe('interfaces', () => {
    const peer = (index: number, endpoint: string | null = null): WgPeerConfig => ({publicKey: wgKeyPair().publicKey, endpoint, allowedIps: [`fd00:10::${index}/128`], keepaliveSeconds: 0});

    it('picks a listen port for port 0 and keeps it when asked again', async () => {
      const {driver, spec, state} = await bench.createInterface();
      expect(state.name).toBe(spec.name);
      expect(state.listenPort).toBeGreaterThan(0);
      expect(state.listenPort).toBeLessThanOrEqual(65_535);
      await expect(driver.ensureInterface(spec)).resolves.toEqual(state);
    });

    it('makes the peers exactly the set asked for, and reports each with its endpoint', async () => {
      const {driver, spec} = await bench.createInterface();
      expect(await driver.stats(spec.name)).toEqual([]);
      const peers = [peer(1, '127.0.0.1:51820'), peer(2), peer(3, '[fd00:10::99]:4000')];
      await driver.applyPeers(spec.name, peers);
      const byKey = (list: Array<{publicKey: string; endpoint: string | null}>) => list.map(({publicKey, endpoint}) => ({publicKey, endpoint})).sort((a, b) => a.publicKey.localeCompare(b.publicKey));
      expect(byKey(await driver.stats(spec.name))).toEqual(byKey(peers));
      await driver.applyPeers(spec.name, peers);
      expect(await driver.stats(spec.name)).toHaveLength(3);
      await driver.applyPeers(spec.name, [peers[1]!]);
      expect((await driver.stats(spec.name)).map((stats) => stats.publicKey)).toEqual([peers[1]!.publicKey]);
      await driver.applyPeers(spec.name, []);
      expect(await driver.stats(spec.name)).toEqual([]);
    });

    it('reports a peer it cannot reach (no endpoint) with no handshake and no bytes', async () => {
      const {driver, spec} = await bench.createInterface();
      const only = peer(1);
      await driver.applyPeers(spec.name, [only]);
      expect(await driver.stats(spec.name)).toEqual([{publicKey: only.publicKey, endpoint: null, latestHandshakeMs: null, rxBytes: 0, txBytes: 0}]);
    });

    it('keeps the port and the peers when the key changes', async () => {
      const {driver, spec, state} = await bench.createInterface();
      const peers = [peer(1), peer(2)];
      await driver.applyPeers(spec.name, peers);
      const rotated = await driver.ensureInterface({...spec, privateKey: wgKeyPair().privateKey});
      expect(rotated).toEqual(state);
      expect((await driver.stats(spec.name)).map((stats) => stats.publicKey).sort()).toEqual(peers.map((each) => each.publicKey).sort());
    });

    it('takes addresses and on-link routes, and the same again', async () => {
      const {driver, spec} = await bench.createInterface();
      for (let round = 0; round < 2; round += 1) {
        await driver.setAddresses(spec.name, ['fd00:20::1/64']);
        await driver.setRoutes(spec.name, [{destination: 'fd00:21::/64'}]);
      }
      await driver.setRoutes(spec.name, []);
      await driver.setAddresses(spec.name, []);
    });

    it('removes an interface, then refuses calls about it, and removing it again succeeds', async () => {
      const {driver, spec} = await bench.createInterface();
      await driver.applyPeers(spec.name, [peer(1)]);
      await driver.removeInterface(spec.name);
      await expect(driver.stats(spec.name)).rejects.toBeInstanceOf(WgmeshError);
      await expect(driver.applyPeers(spec.name, [peer(2)])).rejects.toBeInstanceOf(WgmeshError);
      await driver.removeInterface(spec.name);
    });

    it('keeps interfaces apart', async () => {
      const first = await bench.createInterface();
      const second = await bench.createInterface();
      expect(second.state.listenPort).not.toBe(first.state.listenPort);
      const only = peer(1);
      await first.driver.applyPeers(first.spec.name, [only]);
      expect(await second.driver.stats(second.spec.name)).toEqual([]);
      expect((await first.driver.stats(first.spec.name)).map((stats) => stats.publicKey)).toEqual([only.publicKey]);
    });
  });
}
