/**
 * The wg-kernel driver against real WireGuard: wireguard-go in network
 * namespaces from the core test kit, one driver per namespace, traffic over
 * the tunnel, and the failure modes a user meets. Skips (with the reason)
 * only where the machine cannot run namespaces or lacks the tools.
 */
import {execFileSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdtemp, rm, symlink} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {WgDriverError, generateMeshId, interfaceName, meshPrefix, nodeAddress, type WgPeerConfig} from '@wgmesh/core';
import {createNetnsLab, netnsAvailable, recordingLogger, skipWithout, type NetnsHost, type NetnsLab, type RecordingLogger} from '@wgmesh/testkit';
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';
import {KernelWgDriver, type KernelWgDriverOptions} from '../src/driver.js';
import {ExecRunner} from '../src/runner.js';
import {uapiSocketPath} from '../src/userspace.js';
import {RecordingRunner, eventually, isAlive, keyPair} from './helpers.js';

const SKIP = skipWithout('the wg-kernel namespace tests', netnsAvailable());

/** A unique interface name per run, derived the way the daemon derives them. */
function uniqueName(): string {
  return interfaceName(generateMeshId(), generateMeshId());
}

describe.skipIf(SKIP)('wg-kernel driver with wireguard-go in network namespaces', () => {
  let lab: NetnsLab;
  /** Interfaces to remove after the suite, whatever happens. */
  const created: Array<{driver: KernelWgDriver; name: string}> = [];
  const drivers: KernelWgDriver[] = [];

  function host(index: number): NetnsHost {
    return lab.hosts[index]!;
  }

  function newDriver(netns: string, options: Omit<KernelWgDriverOptions, 'runner'> = {}, runnerOptions: ConstructorParameters<typeof ExecRunner>[0] = {}) {
    const runner = new RecordingRunner(new ExecRunner({netns, ...runnerOptions}));
    const logger = recordingLogger();
    const driver = new KernelWgDriver({...options, runner, logger});
    drivers.push(driver);
    return {driver, runner, logger};
  }

  async function ipJson<T>(where: NetnsHost, args: string[]): Promise<T> {
    return JSON.parse((await lab.exec(where, 'ip', ['-j', ...args])).stdout || '[]') as T;
  }

  async function linkExists(where: NetnsHost, name: string): Promise<boolean> {
    const links = await ipJson<Array<{ifname: string}>>(where, ['link', 'show']);
    return links.some((link) => link.ifname === name);
  }

  beforeAll(async () => {
    lab = await createNetnsLab({hosts: 2});
  });

  afterAll(async () => {
    for (const {driver, name} of created.reverse()) await driver.removeInterface(name).catch(() => undefined);
    for (const driver of drivers) await driver.close().catch(() => undefined);
    await lab?.cleanup();
  });

  describe('a tunnel between two hosts', () => {
    const meshId = generateMeshId();
    const prefix = meshPrefix(meshId);
    const a = {key: keyPair(), name: uniqueName(), address: nodeAddress(meshId, 'a'.repeat(32)), port: 0};
    const b = {key: keyPair(), name: uniqueName(), address: nodeAddress(meshId, 'b'.repeat(32)), port: 0};
    let sideA: ReturnType<typeof newDriver>;
    let sideB: ReturnType<typeof newDriver>;

    function peerB(endpoint = lab.endpoint(host(1), b.port)): WgPeerConfig {
      return {publicKey: b.key.publicKey, endpoint, allowedIps: [`${b.address}/128`], keepaliveSeconds: 0};
    }

    beforeAll(async () => {
      sideA = newDriver(host(0).netns);
      sideB = newDriver(host(1).netns);
    });

    it('creates the interfaces with wireguard-go, MTU 1420, and reports the port actually bound', async () => {
      const stateA = await sideA.driver.ensureInterface({name: a.name, privateKey: a.key.privateKey, listenPort: 0, mtu: 1420});
      created.push({driver: sideA.driver, name: a.name});
      const stateB = await sideB.driver.ensureInterface({name: b.name, privateKey: b.key.privateKey, listenPort: 0, mtu: 1420});
      created.push({driver: sideB.driver, name: b.name});
      a.port = stateA.listenPort;
      b.port = stateB.listenPort;
      expect(a.port).toBeGreaterThan(0);
      expect(b.port).toBeGreaterThan(0);
      // The kernel fallback happened (no module here) and wireguard-go serves the UAPI socket.
      expect(sideA.runner.calls.some((call) => call.command === 'wireguard-go' && call.args.join(' ') === `-f ${a.name}`)).toBe(true);
      expect(existsSync(uapiSocketPath(a.name))).toBe(true);
      const [link] = await ipJson<Array<{mtu: number; flags: string[]}>>(host(0), ['link', 'show', 'dev', a.name]);
      expect(link!.mtu).toBe(1420);
      expect(link!.flags).toContain('UP');
      const shown = await lab.exec(host(0), 'wg', ['show', a.name, 'listen-port']);
      expect(Number(shown.stdout.trim())).toBe(a.port);
      const publicKey = await lab.exec(host(0), 'wg', ['show', a.name, 'public-key']);
      expect(publicKey.stdout.trim()).toBe(a.key.publicKey);
      // The private key went in on stdin, never on a command line, and never into the log.
      for (const side of [sideA, sideB]) {
        expect(side.runner.calls.some((call) => call.hadInput)).toBe(true);
        expect(JSON.stringify(side.runner.calls)).not.toContain(a.key.privateKey);
        expect(JSON.stringify(side.logger.lines)).not.toContain(a.key.privateKey);
        expect(JSON.stringify(side.logger.lines)).not.toContain(b.key.privateKey);
      }
      // Ensuring again (port 0) keeps the bound port and changes nothing.
      sideA.runner.reset();
      const again = await sideA.driver.ensureInterface({name: a.name, privateKey: a.key.privateKey, listenPort: 0, mtu: 1420});
      expect(again.listenPort).toBe(a.port);
      expect(sideA.runner.mutations()).toEqual([]);
    });

    it('carries IPv6 traffic across the tunnel and reports the handshake in stats', async () => {
      const started = Date.now();
      await sideA.driver.setAddresses(a.name, [`${a.address}/64`]);
      await sideB.driver.setAddresses(b.name, [`${b.address}/64`]);
      await sideA.driver.applyPeers(a.name, [peerB()]);
      await sideB.driver.applyPeers(b.name, [{publicKey: a.key.publicKey, endpoint: lab.endpoint(host(0), a.port), allowedIps: [`${a.address}/128`]}]);
      expect(prefix.endsWith('/64')).toBe(true);
      // -w: wait up to 10 s for the first reply (the handshake happens first).
      const ping = await lab.exec(host(0), 'ping', ['-6', '-n', '-c', '1', '-w', '10', b.address], {timeoutMs: 15_000});
      expect(ping.stdout).toMatch(/1 received/);
      const [stats] = await sideA.driver.stats(a.name);
      expect(stats!.publicKey).toBe(b.key.publicKey);
      expect(stats!.endpoint).toBe(lab.endpoint(host(1), b.port));
      expect(stats!.latestHandshakeMs).not.toBeNull();
      // Handshake times are whole seconds.
      expect(stats!.latestHandshakeMs!).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000 - 1000);
      expect(stats!.latestHandshakeMs!).toBeLessThanOrEqual(Date.now() + 1000);
      expect(stats!.rxBytes).toBeGreaterThan(0);
      expect(stats!.txBytes).toBeGreaterThan(0);
    });

    it('applies peers by difference: nothing for the same set, only the changed peer otherwise', async () => {
      const c = keyPair();
      const peerC: WgPeerConfig = {publicKey: c.publicKey, endpoint: null, allowedIps: [`${nodeAddress(meshId, 'c'.repeat(32))}/128`]};
      const wgSets = (): string[][] => sideA.runner.mutations().filter((call) => call.command === 'wg').map((call) => call.args);

      sideA.runner.reset();
      await sideA.driver.applyPeers(a.name, [peerB()]);
      expect(sideA.runner.mutations()).toEqual([]);

      sideA.runner.reset();
      await sideA.driver.applyPeers(a.name, [peerB(), peerC]);
      expect(wgSets()).toHaveLength(1);
      expect(wgSets()[0]).toContain(c.publicKey);
      expect(wgSets()[0]).not.toContain(b.key.publicKey);

      sideA.runner.reset();
      const moved = {...peerC, allowedIps: [...peerC.allowedIps, 'fd99:1::/64'], keepaliveSeconds: 25};
      await sideA.driver.applyPeers(a.name, [peerB(), moved]);
      expect(wgSets()).toEqual([['set', a.name, 'peer', c.publicKey, 'allowed-ips', [...moved.allowedIps].sort().join(','), 'persistent-keepalive', '25']]);
      const dump = (await lab.exec(host(0), 'wg', ['show', a.name, 'allowed-ips'])).stdout;
      expect(dump).toContain('fd99:1::/64');

      sideA.runner.reset();
      await sideA.driver.applyPeers(a.name, [peerB()]);
      expect(wgSets()).toEqual([['set', a.name, 'peer', c.publicKey, 'remove']]);
      const peers = (await lab.exec(host(0), 'wg', ['show', a.name, 'peers'])).stdout.trim().split('\n');
      expect(peers).toEqual([b.key.publicKey]);
    });

    it('applies the other peers when one cannot be configured, and says which one failed', async () => {
      const bad = keyPair().publicKey;
      const good = keyPair().publicKey;
      const started = Date.now();
      const apply = sideA.driver.applyPeers(a.name, [
        peerB(),
        {publicKey: bad, endpoint: 'no-such-host.invalid:51820', allowedIps: ['fd99:6::1/128']},
        {publicKey: good, endpoint: null, allowedIps: ['fd99:6::2/128']},
      ]);
      await expect(apply).rejects.toThrow(new RegExp(`1 of 2 peer changes failed, the others were applied; peer ${bad.replace(/[+/]/g, '\\$&')}: .*no-such-host\\.invalid`));
      // wg is told not to retry the name for a minute.
      expect(Date.now() - started).toBeLessThan(4_000);
      const peers = (await lab.exec(host(0), 'wg', ['show', a.name, 'peers'])).stdout.trim().split('\n').sort();
      expect(peers).toEqual([b.key.publicKey, good].sort());
      await sideA.driver.applyPeers(a.name, [peerB()]);
      expect((await lab.exec(host(0), 'wg', ['show', a.name, 'peers'])).stdout.trim()).toBe(b.key.publicKey);
    });

    it('keeps an endpoint the peer roamed to, and sets it when the desired one changes', async () => {
      // B gains a second underlay address and A's WireGuard now uses it (as
      // after roaming): the tunnel keeps working through it.
      const roamed = lab.prefix.replace('::/64', '::b2');
      await lab.exec(host(1), 'ip', ['addr', 'add', `${roamed}/64`, 'dev', host(1).interface, 'nodad']);
      const roamedEndpoint = `[${roamed}]:${b.port}`;
      await lab.exec(host(0), 'wg', ['set', a.name, 'peer', b.key.publicKey, 'endpoint', roamedEndpoint]);
      const ping = await lab.exec(host(0), 'ping', ['-6', '-n', '-c', '1', '-w', '10', b.address], {timeoutMs: 15_000});
      expect(ping.stdout).toMatch(/1 received/);

      sideA.runner.reset();
      await sideA.driver.applyPeers(a.name, [peerB()]);
      expect(sideA.runner.mutations()).toEqual([]);
      const [kept] = await sideA.driver.stats(a.name);
      expect(kept!.endpoint).toBe(roamedEndpoint);

      // The same endpoint written differently is no change either.
      await sideA.driver.applyPeers(a.name, [peerB(`[${host(1).address.toUpperCase()}]:${b.port}`)]);
      expect(sideA.runner.mutations()).toEqual([]);
      // The record now advertises another endpoint: that one is set.
      await sideA.driver.applyPeers(a.name, [peerB(lab.endpoint(host(1), b.port + 1))]);
      expect(sideA.runner.mutations().map((call) => call.args)).toEqual([['set', a.name, 'peer', b.key.publicKey, 'endpoint', lab.endpoint(host(1), b.port + 1)]]);
      await sideA.driver.applyPeers(a.name, [peerB()]);
      const [back] = await sideA.driver.stats(a.name);
      expect(back!.endpoint).toBe(lab.endpoint(host(1), b.port));
    });

    it('sets addresses by difference and keeps link-local ones', async () => {
      type Addr = Array<{addr_info: Array<{local: string; prefixlen: number; scope: string}>}>;
      const addresses = async (): Promise<string[]> =>
        (await ipJson<Addr>(host(0), ['addr', 'show', 'dev', a.name])).flatMap((link) => link.addr_info.map((info) => `${info.local}/${info.prefixlen} ${info.scope}`));
      const linkLocal = (await addresses()).filter((text) => text.endsWith(' link'));
      const extra = lab.prefix.replace('::/64', '::a9') + '/64';

      sideA.runner.reset();
      await sideA.driver.setAddresses(a.name, [`${a.address}/64`]);
      expect(sideA.runner.mutations()).toEqual([]);

      await sideA.driver.setAddresses(a.name, [`${a.address}/64`, extra]);
      expect(sideA.runner.mutations().map((call) => call.args)).toEqual([['addr', 'add', extra, 'dev', a.name]]);
      expect(await addresses()).toContain(`${extra} global`);

      sideA.runner.reset();
      await sideA.driver.setAddresses(a.name, [`${a.address}/64`]);
      expect(sideA.runner.mutations().map((call) => call.args)).toEqual([['addr', 'del', extra, 'dev', a.name]]);
      const after = await addresses();
      expect(after).not.toContain(`${extra} global`);
      expect(after).toContain(`${a.address}/64 global`);
      for (const text of linkLocal) expect(after).toContain(text);
    });

    it('installs, changes and removes only its own routes, and reports a clash with an operator route', async () => {
      type Route = Array<{dst: string; gateway?: string; protocol: string; metric: number}>;
      const routes = async (): Promise<Route> => ipJson<Route>(host(0), ['-6', 'route', 'show', 'dev', a.name]);
      // An operator's route on the same interface (protocol static, the default metric 1024).
      await lab.exec(host(0), 'ip', ['-6', 'route', 'add', 'fd99:1::/64', 'dev', a.name, 'proto', 'static']);

      sideA.runner.reset();
      await sideA.driver.setRoutes(a.name, [{destination: 'fd99:2::/64', via: b.address}, {destination: 'fd99:3::1/64'}]);
      expect(sideA.runner.mutations().filter((call) => call.args[1] === 'add')).toHaveLength(2);
      let table = await routes();
      expect(table.find((route) => route.dst === 'fd99:2::/64')).toMatchObject({gateway: b.address, protocol: '119', metric: 1024});
      expect(table.find((route) => route.dst === 'fd99:3::/64')).toMatchObject({protocol: '119'});
      expect(table.find((route) => route.dst === 'fd99:1::/64')).toMatchObject({protocol: 'static'});

      sideA.runner.reset();
      await sideA.driver.setRoutes(a.name, [{destination: 'fd99:3::/64'}, {destination: 'fd99:2::/64', via: b.address}]);
      expect(sideA.runner.mutations()).toEqual([]);

      // Next hop changes: the old route goes, the new one comes; the other stays.
      const otherGateway = nodeAddress(meshId, 'd'.repeat(32));
      await sideA.driver.setRoutes(a.name, [{destination: 'fd99:2::/64', via: otherGateway}, {destination: 'fd99:3::/64'}]);
      expect(sideA.runner.mutations().map((call) => call.args.slice(0, 3))).toEqual([
        ['route', 'del', 'fd99:2::/64'],
        ['route', 'add', 'fd99:2::/64'],
      ]);
      expect((await routes()).find((route) => route.dst === 'fd99:2::/64')).toMatchObject({gateway: otherGateway, protocol: '119'});

      // Asked for the operator's destination: refused with a clear error, the rest applied, the operator's route untouched.
      const clash = sideA.driver.setRoutes(a.name, [{destination: 'fd99:1::/64', via: b.address}]);
      await expect(clash).rejects.toThrow(WgDriverError);
      await expect(clash).rejects.toThrow(/route to fd99:1::\/64 \(metric 1024\) not installed: a route wgmesh did not install already exists/);
      table = (await routes()).filter((route) => route.protocol !== 'kernel');
      expect(table.map((route) => route.dst)).toEqual(['fd99:1::/64']);
      expect(table.find((route) => route.dst === 'fd99:1::/64')).toMatchObject({protocol: 'static'});

      await sideA.driver.setRoutes(a.name, []);
      table = await routes();
      expect(table.find((route) => route.dst === 'fd99:1::/64')).toMatchObject({protocol: 'static'});
      expect(table.filter((route) => route.protocol === '119')).toEqual([]);
    });

    it("installs a default route through an exit in its own table, used after the host's own default route (never touched) and never by WireGuard's own packets", async () => {
      type Route = Array<{dst: string; dev?: string; gateway?: string; protocol: string; metric: number; table?: string}>;
      const defaults = async (table: string): Promise<Route> => ipJson<Route>(host(0), ['-6', 'route', 'show', 'default', 'table', table]).catch(() => []);
      const rules = async (): Promise<Array<{priority: number; not?: null; fwmark?: string; table: string}>> => ipJson(host(0), ['-N', '-6', 'rule', 'show']);
      const routeTo = async (mark?: number): Promise<{dev?: string; table?: string}> => {
        const {stdout} = await lab.exec(host(0), 'ip', ['-6', '-j', 'route', 'get', '2001:db8::1', ...(mark === undefined ? [] : ['mark', String(mark)])]);
        return (JSON.parse(stdout) as Array<{dev?: string; table?: string}>)[0]!;
      };
      // WireGuard's own packets carry the mark.
      expect((await lab.exec(host(0), 'wg', ['show', a.name, 'fwmark'])).stdout.trim()).toBe('0xca6d');
      const uplink = host(1).address;
      await lab.exec(host(0), 'ip', ['-6', 'route', 'add', 'default', 'via', uplink, 'dev', host(0).interface]);
      try {
        await sideA.driver.setRoutes(a.name, [{destination: '::/0', via: b.address}]);
        // The host's own default route stays alone in main; the exit's is in table 51821, behind a rule after main.
        expect(await defaults('main')).toEqual([expect.objectContaining({dev: host(0).interface, gateway: uplink, metric: 1024})]);
        expect(await defaults('51821')).toEqual([expect.objectContaining({dev: a.name, gateway: b.address, protocol: '119', metric: 100_000})]);
        expect((await rules()).filter((rule) => rule.priority === 32800)).toEqual([expect.objectContaining({not: null, fwmark: '0xca6d', table: '51821'})]);
        // The host's own way out keeps winning.
        expect(await routeTo()).toMatchObject({dev: host(0).interface});
        // Without it, unmarked traffic takes the exit, and WireGuard's marked packets find no route at all.
        await lab.exec(host(0), 'ip', ['-6', 'route', 'del', 'default', 'via', uplink, 'dev', host(0).interface]);
        expect(await routeTo()).toMatchObject({dev: a.name, table: '51821'});
        await expect(routeTo(0xca6d)).rejects.toThrow(/unreachable/i);
        // No default route left: no rule either.
        await sideA.driver.setRoutes(a.name, []);
        expect(await defaults('51821')).toEqual([]);
        expect((await rules()).filter((rule) => rule.priority === 32800)).toEqual([]);
      } finally {
        await lab.exec(host(0), 'ip', ['-6', 'route', 'del', 'default', 'via', uplink, 'dev', host(0).interface]).catch(() => undefined);
      }
    });

    it('moves a destination from one of its interfaces to another (a route moving between meshes), and only then lets go of it', async () => {
      const second = {key: keyPair(), name: uniqueName()};
      await sideA.driver.ensureInterface({name: second.name, privateKey: second.key.privateKey, listenPort: 0, mtu: 1420});
      created.push({driver: sideA.driver, name: second.name});
      try {
        const otherMesh = generateMeshId();
        await sideA.driver.setAddresses(second.name, [`${nodeAddress(otherMesh, 'f'.repeat(32))}/64`]);
        type Route = Array<{dst: string; dev: string; gateway?: string; metric: number}>;
        const held = async (): Promise<Route> => ipJson<Route>(host(0), ['-6', 'route', 'show', 'exact', 'fd99:5::/64', 'proto', '119']);
        await sideA.driver.setRoutes(a.name, [{destination: 'fd99:5::/64', via: b.address}]);
        // Wanted on the second interface while the first still has it: taken over, not refused.
        const otherGateway = nodeAddress(otherMesh, 'e'.repeat(32));
        await sideA.driver.setRoutes(second.name, [{destination: 'fd99:5::/64', via: otherGateway}]);
        expect(await held()).toEqual([expect.objectContaining({dev: second.name, gateway: otherGateway, metric: 1024})]);
        // The first interface no longer wanting it does not remove it from the second.
        await sideA.driver.setRoutes(a.name, []);
        expect(await held()).toEqual([expect.objectContaining({dev: second.name})]);
        await sideA.driver.removeInterface(second.name);
        expect(await held()).toEqual([]);
      } finally {
        await sideA.driver.removeInterface(second.name);
      }
    });

    it('turns IPv6 forwarding on in its namespace, first raising accept_ra 1 to 2 so RAs keep configuring the uplink', async () => {
      const sysctl = async (path: string): Promise<string> => (await lab.exec(host(1), 'cat', [`/proc/sys/net/ipv6/conf/${path}`])).stdout.trim();
      expect(await sysctl('all/forwarding')).toBe('0');
      expect(await sysctl(`${host(1).interface}/accept_ra`)).toBe('1');
      expect(await sideB.driver.ensureForwarding()).toEqual({changed: true});
      expect(await sysctl('all/forwarding')).toBe('1');
      expect(await sysctl(`${host(1).interface}/forwarding`)).toBe('1');
      expect(await sysctl(`${host(1).interface}/accept_ra`)).toBe('2');
      expect(await sysctl('default/accept_ra')).toBe('2');
      // Already on: one read, nothing written.
      sideB.runner.reset();
      expect(await sideB.driver.ensureForwarding()).toEqual({changed: false});
      expect(sideB.runner.calls.map((call) => call.command)).toEqual(['cat']);
      // The other namespace is untouched.
      expect((await lab.exec(host(0), 'cat', ['/proc/sys/net/ipv6/conf/all/forwarding'])).stdout.trim()).toBe('0');
    });

    it('restarts a wireguard-go that dies and restores its port, addresses and peers', async () => {
      await sideA.driver.setRoutes(a.name, [{destination: 'fd99:4::/64', via: b.address}]);
      const pid = sideA.driver.userspacePid(a.name);
      expect(pid).toBeGreaterThan(0);
      process.kill(pid!, 'SIGKILL');
      await eventually('the driver restarted wireguard-go', async () => {
        const next = sideA.driver.userspacePid(a.name);
        return next !== undefined && next !== pid && (await linkExists(host(0), a.name));
      });
      // The routes come last in the restore: once they are back, everything is.
      await eventually('the routes were restored', async () => {
        const table = await ipJson<Array<{dst: string}>>(host(0), ['-6', 'route', 'show', 'dev', a.name, 'proto', '119']);
        return table.some((route) => route.dst === 'fd99:4::/64');
      });
      expect(Number((await lab.exec(host(0), 'wg', ['show', a.name, 'listen-port'])).stdout.trim())).toBe(a.port);
      const ping = await lab.exec(host(0), 'ping', ['-6', '-n', '-c', '1', '-w', '10', b.address], {timeoutMs: 15_000});
      expect(ping.stdout).toMatch(/1 received/);
      expect(sideA.logger.lines.some((line) => line.level === 'warn' && /exited unexpectedly/.test(line.msg ?? ''))).toBe(true);
    });

    it('removeInterface leaves no link, no process and no socket', async () => {
      const pids = [sideA.driver.userspacePid(a.name), sideB.driver.userspacePid(b.name)];
      await sideA.driver.removeInterface(a.name);
      await sideB.driver.removeInterface(b.name);
      expect(await linkExists(host(0), a.name)).toBe(false);
      expect(await linkExists(host(1), b.name)).toBe(false);
      for (const pid of pids) expect(isAlive(pid!)).toBe(false);
      expect(existsSync(uapiSocketPath(a.name))).toBe(false);
      expect(existsSync(uapiSocketPath(b.name))).toBe(false);
      // Idempotent; and the driver no longer knows the interface.
      await sideA.driver.removeInterface(a.name);
      await expect(sideA.driver.applyPeers(a.name, [])).rejects.toThrow(/ensureInterface must come first/);
    });
  });

  it('a handshake started at once that reached a peer not yet holding this key completes once the peer has it, before WireGuard would retry (5 s)', async () => {
    const x = {key: keyPair(), name: uniqueName()};
    const y = {key: keyPair(), name: uniqueName()};
    const sideX = newDriver(host(0).netns);
    const sideY = newDriver(host(1).netns);
    created.push({driver: sideX.driver, name: x.name}, {driver: sideY.driver, name: y.name});
    try {
      await sideX.driver.ensureInterface({name: x.name, privateKey: x.key.privateKey, listenPort: 0, mtu: 1420});
      const yPort = (await sideY.driver.ensureInterface({name: y.name, privateKey: y.key.privateKey, listenPort: 0, mtu: 1420})).listenPort;
      // x's device is new, so it starts a handshake with y at once; y does not know x yet and drops it.
      await sideX.driver.applyPeers(x.name, [{publicKey: y.key.publicKey, endpoint: lab.endpoint(host(1), yPort), allowedIps: ['fd99:6::2/128'], keepaliveSeconds: 0}]);
      // Then y takes x, without an endpoint (as a member takes a new client): y starts no handshake itself.
      await sideY.driver.applyPeers(y.name, [{publicKey: x.key.publicKey, endpoint: null, allowedIps: ['fd99:6::1/128'], keepaliveSeconds: 0}]);
      const known = Date.now();
      const handshaken = async (): Promise<boolean> => ((await sideX.driver.stats(x.name))[0]?.latestHandshakeMs ?? null) !== null;
      await eventually('x and y completed a handshake', handshaken, 10_000);
      const tookMs = Date.now() - known;
      expect(tookMs, `handshake ${tookMs} ms after y took x's key`).toBeLessThan(3_000);
      expect(sideX.logger.lines.some((line) => /added afresh/.test(line.msg ?? ''))).toBe(true);
      // The peer is as it was given: its allowed IPs, and the keepalive used to start the handshake off again.
      expect(await sideX.driver.stats(x.name)).toHaveLength(1);
      const [peer] = (await lab.exec(host(0), 'wg', ['show', x.name, 'dump'])).stdout.trim().split('\n').slice(1).map((line) => line.split('\t'));
      expect([peer?.[0], peer?.[3], peer?.[7]]).toEqual([y.key.publicKey, 'fd99:6::2/128', 'off']);
    } finally {
      // The tests below expect no process left in these namespaces.
      await Promise.all([sideX.driver.removeInterface(x.name), sideY.driver.removeInterface(y.name)]);
    }
  });

  it('leaves interfaces running on close, and a later driver adopts, supervises and removes them', async () => {
    const name = uniqueName();
    const key = keyPair();
    const spec = {name, privateKey: key.privateKey, listenPort: 0, mtu: 1420};
    const first = newDriver(host(0).netns).driver;
    created.push({driver: first, name});
    const state = await first.ensureInterface(spec);
    const pid = first.userspacePid(name)!;
    await first.close();
    await expect(first.stats(name)).rejects.toThrow(/closed/);
    expect(isAlive(pid)).toBe(true);
    expect(await linkExists(host(0), name)).toBe(true);

    // As after a daemon restart: the interface is adopted, not recreated, and keeps its port.
    const second = newDriver(host(0).netns);
    created.push({driver: second.driver, name});
    expect((await second.driver.ensureInterface(spec)).listenPort).toBe(state.listenPort);
    expect(second.runner.calls.filter((call) => call.command === 'wireguard-go' || call.args.includes('add'))).toEqual([]);
    expect(second.driver.userspacePid(name)).toBeUndefined();
    const peer = keyPair().publicKey;
    await second.driver.applyPeers(name, [{publicKey: peer, endpoint: null, allowedIps: ['fd99:5::1/128']}]);
    expect((await second.driver.stats(name)).map((entry) => entry.publicKey)).toEqual([peer]);

    // Supervised like a child: killed, it is replaced by one the driver starts, on the same port with the same peers.
    const events: string[] = [];
    second.driver.onInterfaceEvent((event) => events.push(`${event.name} ${event.kind}`));
    process.kill(pid, 'SIGKILL');
    await eventually('the driver rebuilt the interface', () => events.includes(`${name} restored`));
    expect(events).toEqual([`${name} lost`, `${name} restored`]);
    const child = second.driver.userspacePid(name);
    expect(child).toBeGreaterThan(0);
    expect(Number((await lab.exec(host(0), 'wg', ['show', name, 'listen-port'])).stdout.trim())).toBe(state.listenPort);
    expect((await second.driver.stats(name)).map((entry) => entry.publicKey)).toEqual([peer]);

    await second.driver.removeInterface(name);
    expect(await linkExists(host(0), name)).toBe(false);
    expect(isAlive(child!)).toBe(false);
    expect(existsSync(uapiSocketPath(name))).toBe(false);
    expect(events).toEqual([`${name} lost`, `${name} restored`]);
  });

  describe('failures give one clear error and leave nothing behind', () => {
    const cleanups: Array<() => Promise<unknown>> = [];

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    });

    async function expectNothingLeft(where: NetnsHost, name: string): Promise<void> {
      expect(await linkExists(where, name)).toBe(false);
      expect(existsSync(uapiSocketPath(name))).toBe(false);
      // Asked from the root namespace: run inside, `ip netns pids` would list itself.
      expect(execFileSync('ip', ['netns', 'pids', where.netns], {encoding: 'utf8'}).trim()).toBe('');
    }

    const spec = (name: string, listenPort = 0) => ({name, privateKey: keyPair().privateKey, listenPort, mtu: 1420});

    it('names a missing userspace implementation (configured path, WG_USERSPACE_IMPLEMENTATION, or wireguard-go itself)', async () => {
      const name = uniqueName();
      const configured = newDriver(host(0).netns, {userspaceImplementation: '/nonexistent/wireguard-go'}).driver;
      await expect(configured.ensureInterface(spec(name))).rejects.toThrow(/'\/nonexistent\/wireguard-go' \(from the kernel.userspaceImplementation setting\) was not found/);
      await expectNothingLeft(host(0), name);

      const fromEnv = newDriver(host(0).netns, {env: {WG_USERSPACE_IMPLEMENTATION: '/nonexistent/wg-userspace'}}).driver;
      await expect(fromEnv.ensureInterface(spec(name))).rejects.toThrow(/'\/nonexistent\/wg-userspace' \(from WG_USERSPACE_IMPLEMENTATION\) was not found/);
      await expectNothingLeft(host(0), name);

      // A PATH with ip and wg but no wireguard-go.
      const bin = await mkdtemp(join(tmpdir(), 'wgk-path-'));
      cleanups.push(() => rm(bin, {recursive: true, force: true}));
      for (const tool of ['ip', 'wg']) await symlink(execFileSync('which', [tool], {encoding: 'utf8'}).trim(), join(bin, tool));
      const noGo = newDriver(host(0).netns, {env: {}}, {env: {PATH: bin}}).driver;
      await expect(noGo.ensureInterface(spec(name))).rejects.toThrow('wireguard-go is not installed: apt-get install wireguard-go (or set WG_USERSPACE_IMPLEMENTATION)');
      await expectNothingLeft(host(0), name);
    });

    it('names a missing ip', async () => {
      const empty = await mkdtemp(join(tmpdir(), 'wgk-empty-'));
      cleanups.push(() => rm(empty, {recursive: true, force: true}));
      const {driver} = newDriver(host(0).netns, {}, {env: {PATH: empty}});
      await expect(driver.ensureInterface(spec(uniqueName()))).rejects.toThrow('ip is not installed: apt-get install iproute2');
    });

    it('says which UDP port is in use, and removes the half-made interface', async () => {
      // Something else holds a UDP port (both families) inside the namespace.
      const holder = lab.spawn(host(0), process.execPath, [
        '-e',
        "const s=require('node:dgram').createSocket('udp6');s.bind(0,'::',()=>console.log(s.address().port));",
      ]);
      cleanups.push(async () => holder.kill());
      const port = await new Promise<number>((resolve, reject) => {
        holder.stdout!.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
        holder.once('exit', (code) => reject(new Error(`the port holder exited (${code})`)));
      });
      const name = uniqueName();
      const {driver} = newDriver(host(0).netns);
      await expect(driver.ensureInterface(spec(name, port))).rejects.toThrow(`UDP port ${port} is already in use on this host`);
      expect(await linkExists(host(0), name)).toBe(false);
      expect(existsSync(uapiSocketPath(name))).toBe(false);
    });

    it('refuses a name taken by a link that is not WireGuard, and leaves that link alone', async () => {
      const name = uniqueName();
      // A bridge: always built in, unlike the dummy module.
      await lab.exec(host(0), 'ip', ['link', 'add', name, 'type', 'bridge']);
      cleanups.push(() => lab.exec(host(0), 'ip', ['link', 'del', name]));
      const {driver, runner} = newDriver(host(0).netns);
      await expect(driver.ensureInterface(spec(name))).rejects.toThrow(`interface name clash: ${name} already exists and is not a WireGuard interface (kind bridge)`);
      await driver.removeInterface(name);
      expect(await linkExists(host(0), name)).toBe(true);
      expect(runner.mutations()).toEqual([]);
    });

    it('refuses a name a wireguard-go in another namespace already serves', async () => {
      const name = uniqueName();
      const owner = newDriver(host(1).netns).driver;
      await owner.ensureInterface(spec(name));
      cleanups.push(() => owner.removeInterface(name));
      const {driver} = newDriver(host(0).netns);
      await expect(driver.ensureInterface(spec(name))).rejects.toThrow(/interface name clash: .* another network namespace of this host/);
      expect(await linkExists(host(0), name)).toBe(false);
      // The other namespace's interface is untouched.
      expect(await linkExists(host(1), name)).toBe(true);
      expect(existsSync(uapiSocketPath(name))).toBe(true);
    });

    it('says an interface does not exist', async () => {
      const {driver} = newDriver(host(0).netns);
      const name = uniqueName();
      await expect(driver.stats(name)).rejects.toThrow(`interface ${name} does not exist`);
      await expect(driver.setAddresses(name, [])).rejects.toThrow(/ensureInterface must come first/);
    });

    it('says which permission is missing', async () => {
      const name = uniqueName();
      const {driver} = newDriver(host(0).netns, {}, {prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']});
      await expect(driver.ensureInterface(spec(name))).rejects.toThrow(/^permission denied: wgmesh needs root or CAP_NET_ADMIN/);
      await expectNothingLeft(host(0), name);
    });

    it.skipIf(existsSync('/sys/module/wireguard'))('says the kernel module is missing when told to use it', async () => {
      const name = uniqueName();
      const {driver} = newDriver(host(0).netns, {implementation: 'kernel'});
      await expect(driver.ensureInterface(spec(name))).rejects.toThrow(/this kernel has no WireGuard module .*modprobe wireguard/);
      await expectNothingLeft(host(0), name);
    });
  });
});
