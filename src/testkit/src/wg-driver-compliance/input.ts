/**
 * WgDriver compliance, input: every driver refuses, with a WgDriverError and
 * before it changes anything, what `ip` and `wg` would refuse or read another
 * way (names that are not Linux interface names or that start like an option,
 * keys that are not canonical, ports and MTUs out of range, prefixes that do
 * not parse, one allowed IP on two peers however it is written, a next hop of
 * the other address family). The daemon meets no driver that takes more than
 * another.
 */
import {describe, expect, it} from 'vitest';
import {WgDriverError} from '@wgmesh/core';
import type {WgPeerConfig, WgRoute} from '@wgmesh/core';
import {wgKeyPair, type WgDriverBench} from './bench.js';

/** Names no driver takes: empty, over 15 bytes, starting like an option or a path step, or with a character outside `A-Z a-z 0-9 _ . = + -`. */
export const INVALID_INTERFACE_NAMES: readonly string[] = ['', 'a'.repeat(16), '-wg0', '.wg0', '.', '..', 'wg 0', 'wg/0', 'wg:0', 'wg\n0', 'wg%0', 'wg\u00e90'];

/** Keys no driver takes: empty, not base64, 31 bytes, and the non-canonical spelling of 32 bytes. */
const INVALID_KEYS: readonly string[] = ['', 'not a key', 'A'.repeat(42) + '=', 'A'.repeat(42) + 'B=', '-' + 'A'.repeat(42) + '='];

/** Prefixes no driver takes. */
const INVALID_PREFIXES: readonly string[] = ['', 'fd00::', 'fd00::/129', '10.0.0.0/33', '10.0.0/8', 'x/64', 'fd00::/-1', 'fd00::/6 4', '-fd00::/64'];

/** Define the input tests on `bench`. */
export function describeWgDriverInput(bench: WgDriverBench): void {
  describe('input', () => {
    it.each(INVALID_INTERFACE_NAMES.map((name) => [JSON.stringify(name), name]))('refuses the interface name %s in every call', async (_, name) => {
      const driver = await bench.driver();
      const privateKey = wgKeyPair().privateKey;
      await expect(driver.ensureInterface({name, privateKey, listenPort: 0, mtu: 1420})).rejects.toBeInstanceOf(WgDriverError);
      await expect(driver.applyPeers(name, [])).rejects.toBeInstanceOf(WgDriverError);
      await expect(driver.setAddresses(name, [])).rejects.toBeInstanceOf(WgDriverError);
      await expect(driver.setRoutes(name, [])).rejects.toBeInstanceOf(WgDriverError);
      await expect(driver.stats(name)).rejects.toBeInstanceOf(WgDriverError);
      await expect(driver.removeInterface(name)).rejects.toBeInstanceOf(WgDriverError);
    });

    it('takes a name of 15 characters from the whole allowed set', async () => {
      const {state, spec} = await bench.createInterface({name: bench.name('.-')});
      expect(spec.name).toHaveLength(15);
      expect(state.name).toBe(spec.name);
    });

    it.each(INVALID_KEYS.map((key) => [JSON.stringify(key), key]))('refuses the private key %s and does not echo it', async (_, privateKey) => {
      const driver = await bench.driver();
      const name = bench.name();
      const error = await driver.ensureInterface({name, privateKey, listenPort: 0, mtu: 1420}).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(WgDriverError);
      if (privateKey.length > 8) expect((error as Error).message).not.toContain(privateKey);
    });

    it.each([-1, 65_536, 1.5, Number.NaN])('refuses the listen port %s', async (listenPort) => {
      const driver = await bench.driver();
      await expect(driver.ensureInterface({name: bench.name(), privateKey: wgKeyPair().privateKey, listenPort, mtu: 1420})).rejects.toBeInstanceOf(WgDriverError);
    });

    it.each([0, 1279, 65_536, 1420.5])('refuses the MTU %s (IPv6 needs 1280)', async (mtu) => {
      const driver = await bench.driver();
      await expect(driver.ensureInterface({name: bench.name(), privateKey: wgKeyPair().privateKey, listenPort: 0, mtu})).rejects.toBeInstanceOf(WgDriverError);
    });

    describe('peers', () => {
      const peer = (overrides: Partial<WgPeerConfig> = {}): WgPeerConfig => ({publicKey: wgKeyPair().publicKey, endpoint: null, allowedIps: ['fd00:1::1/128'], keepaliveSeconds: 0, ...overrides});
      const cases: Array<[string, () => WgPeerConfig[]]> = [
        ...INVALID_KEYS.map((publicKey): [string, () => WgPeerConfig[]] => [`the public key ${JSON.stringify(publicKey)}`, () => [peer({publicKey})]]),
        ...INVALID_PREFIXES.map((cidr): [string, () => WgPeerConfig[]] => [`the allowed IP ${JSON.stringify(cidr)}`, () => [peer({allowedIps: [cidr]})]]),
        ...['nowhere', '[fd00::1]', 'fd00::1:51820', '10.0.0.1:65536', '-host:1', 'host name:1'].map((endpoint): [string, () => WgPeerConfig[]] => [`the endpoint ${JSON.stringify(endpoint)}`, () => [peer({endpoint})]]),
        ...[-1, 65_536, 2.5].map((keepaliveSeconds): [string, () => WgPeerConfig[]] => [`the keepalive ${keepaliveSeconds}`, () => [peer({keepaliveSeconds})]]),
        ['one key twice', () => {
          const twice = peer();
          return [twice, {...twice, allowedIps: ['fd00:1::2/128']}];
        }],
        ['one allowed IP on two peers', () => [peer({allowedIps: ['fd00:2::/64']}), peer({allowedIps: ['fd00:2::/64']})]],
        ['one allowed IP on two peers, written two ways', () => [peer({allowedIps: ['fd00:2::/64']}), peer({allowedIps: ['fd00:2:0:0::1/64']})]],
      ];
      it.each(cases)('refuses %s and keeps the peers it had', async (_, make) => {
        const {driver, spec} = await bench.createInterface();
        const kept = peer();
        await driver.applyPeers(spec.name, [kept]);
        await expect(driver.applyPeers(spec.name, make())).rejects.toBeInstanceOf(WgDriverError);
        expect((await driver.stats(spec.name)).map((stats) => stats.publicKey)).toEqual([kept.publicKey]);
      });
    });

    it.each(INVALID_PREFIXES.map((cidr) => [JSON.stringify(cidr), cidr]))('refuses the address %s', async (_, cidr) => {
      const {driver, spec} = await bench.createInterface();
      await expect(driver.setAddresses(spec.name, [cidr])).rejects.toBeInstanceOf(WgDriverError);
    });

    const badRoutes: Array<[string, WgRoute[]]> = [
      ...INVALID_PREFIXES.map((destination): [string, WgRoute[]] => [`to ${JSON.stringify(destination)}`, [{destination}]]),
      ['via something that is not an address', [{destination: 'fd00:3::/64', via: 'router'}]],
      ['via an address of the other family', [{destination: 'fd00:3::/64', via: '10.0.0.1'}]],
      ['given twice with two next hops', [{destination: 'fd00:3::/64', via: 'fd00:3::1'}, {destination: 'fd00:3::/64', via: 'fd00:3::2'}]],
    ];
    it.each(badRoutes)('refuses a route %s', async (_, routes) => {
      const {driver, spec} = await bench.createInterface();
      await expect(driver.setRoutes(spec.name, routes)).rejects.toBeInstanceOf(WgDriverError);
    });
  });
}
