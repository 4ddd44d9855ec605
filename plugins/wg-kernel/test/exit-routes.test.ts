/**
 * The commands the driver runs to keep WireGuard's own packets off default
 * routes through an exit: the fwmark on each interface, default routes in
 * their own table, and the policy rule that follows them. Runs anywhere (no
 * root): a small in-memory model of `ip` and `wg` answers the driver, and a
 * recording runner shows exactly what it ran.
 */
import {WgDriverError, wgPublicKeyFromPrivate} from '@wgmesh/core';
import {describe, expect, it} from 'vitest';
import {KernelWgDriver, type KernelWgDriverOptions} from '../src/driver.js';
import {CommandError, type CommandOutput, type CommandRunner, type RunOptions} from '../src/runner.js';
import {RecordingRunner, keyPair} from './helpers.js';

interface Route {
  family: 4 | 6;
  destination: string;
  via?: string;
  dev: string;
  proto: string;
  table: string;
  metric: number;
}

/** Value after `key` in `args`, if any. */
function after(args: readonly string[], key: string): string | undefined {
  const index = args.indexOf(key);
  return index >= 0 ? args[index + 1] : undefined;
}

function failed(command: string, stderr: string): CommandError {
  return new CommandError('failed', command, stderr, {stderr, exitCode: 2});
}

/** `ip` and `wg` as far as the route code uses them, over in-memory links, routes and rules. */
class FakeKernel implements CommandRunner {
  readonly links = new Map<string, {fwmark: number; publicKey?: string}>();
  routes: Route[] = [];
  rules: Array<{family: 4 | 6; not: boolean; fwmark: number; table: string; priority: number}> = [];
  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandOutput> {
    const ok = (stdout = ''): CommandOutput => ({stdout, stderr: ''});
    if (command === 'wg') {
      const link = this.links.get(args[1]!);
      if (!link) throw failed('wg', 'Unable to access interface: No such device');
      if (args[0] === 'show' && args[2] === 'dump') return ok(`(none)\t${link.publicKey ?? '(none)'}\t51820\t${link.fwmark ? `0x${link.fwmark.toString(16)}` : 'off'}\n`);
      if (args[0] === 'show' && args[2] === 'listen-port') return ok('51820\n');
      if (args[0] === 'set') {
        const mark = after(args, 'fwmark');
        if (mark !== undefined) link.fwmark = Number(mark);
        if (args.includes('private-key')) link.publicKey = wgPublicKeyFromPrivate(options.input!.trim());
        return ok();
      }
    }
    if (command !== 'ip') throw new Error(`unexpected command ${command}`);
    const family: 4 | 6 = args.includes('-4') ? 4 : 6;
    const words = args.filter((arg) => !['-j', '-d', '-N', '-4', '-6'].includes(arg));
    const [object, verb] = words;
    if (object === 'link') {
      const name = after(words, 'dev')!;
      if (verb === 'show') return ok(this.links.has(name) ? JSON.stringify([{ifname: name, mtu: 1420, flags: ['UP'], linkinfo: {info_kind: 'wireguard'}}]) : '[]');
      if (verb === 'del') {
        this.links.delete(name);
        this.routes = this.routes.filter((route) => route.dev !== name);
        return ok();
      }
      return ok();
    }
    if (object === 'rule') {
      const priority = Number(after(words, 'priority'));
      if (verb === 'show') {
        const listed = this.rules.filter((rule) => rule.family === family && rule.priority === priority);
        return ok(JSON.stringify(listed.map((rule) => ({priority: rule.priority, ...(rule.not ? {not: null} : {}), src: 'all', fwmark: `0x${rule.fwmark.toString(16)}`, table: rule.table}))));
      }
      const rule = {family, not: words.includes('not'), fwmark: Number(after(words, 'fwmark')), table: after(words, 'lookup')!, priority};
      const same = (other: typeof rule): boolean => JSON.stringify(other) === JSON.stringify(rule);
      if (verb === 'add') {
        if (this.rules.some(same)) throw failed('ip', 'RTNETLINK answers: File exists');
        this.rules.push(rule);
      } else {
        if (!this.rules.some(same)) throw failed('ip', 'RTNETLINK answers: No such file or directory');
        this.rules = this.rules.filter((other) => !same(other));
      }
      return ok();
    }
    if (object === 'route') {
      const table = after(words, 'table') ?? 'main';
      if (verb === 'show') {
        if (table !== 'main' && !this.routes.some((route) => route.table === table && route.family === family)) throw failed('ip', `Error: ipv${family}: FIB table does not exist.\nDump terminated`);
        const exact = after(words, 'exact');
        const dev = after(words, 'dev');
        const listed = this.routes.filter(
          (route) => route.family === family && route.table === table && route.proto === after(words, 'proto') && (dev === undefined || route.dev === dev) && (exact === undefined || route.destination === exact),
        );
        return ok(JSON.stringify(listed.map((route) => ({dst: route.destination.endsWith('/0') ? 'default' : route.destination, ...(route.via ? {gateway: route.via} : {}), dev: route.dev, metric: route.metric}))));
      }
      const destination = words[2]!;
      const route: Route = {family: destination.includes(':') ? 6 : 4, destination, dev: after(words, 'dev')!, proto: after(words, 'proto') ?? 'boot', table, metric: Number(after(words, 'metric') ?? 1024)};
      const via = after(words, 'via');
      if (via !== undefined) route.via = via;
      const clash = (other: Route): boolean => other.destination === route.destination && other.table === route.table && other.metric === route.metric;
      if (verb === 'add') {
        if (this.routes.some(clash)) throw failed('ip', 'RTNETLINK answers: File exists');
        this.routes.push(route);
      } else if (verb === 'replace') {
        this.routes = [...this.routes.filter((other) => !clash(other)), route];
      } else {
        this.routes = this.routes.filter((other) => !(clash(other) && other.dev === route.dev));
      }
      return ok();
    }
    throw new Error(`unexpected ip ${args.join(' ')}`);
  }

  spawn(): never {
    throw new Error('not used');
  }
}

/** A driver over a fake kernel that already has WireGuard links `names` (fwmark off), recording every command. */
async function setUp(names: string[], options: Omit<KernelWgDriverOptions, 'runner'> = {}) {
  const kernel = new FakeKernel();
  for (const name of names) kernel.links.set(name, {fwmark: 0});
  const runner = new RecordingRunner(kernel);
  const driver = new KernelWgDriver({...options, runner});
  for (const name of names) await driver.ensureInterface({name, privateKey: keyPair().privateKey, listenPort: 0, mtu: 1420});
  /** The commands that changed something since the last call, as command lines. */
  const changes = (): string[] => {
    const lines = runner.calls
      .filter((call) => (call.command === 'wg' && call.args[0] === 'set') || (call.command === 'ip' && call.args.some((arg) => ['add', 'del', 'replace'].includes(arg))))
      .map((call) => `${call.command} ${call.args.join(' ')}`);
    runner.reset();
    return lines;
  };
  return {kernel, runner, driver, changes};
}

const GATEWAY = 'fd00::2';
const EXIT = {destination: '::/0', via: GATEWAY};
const MESH_ROUTE = {destination: 'fd10::/64', via: GATEWAY};
const RULE6 = 'ip -6 rule add not fwmark 51821 lookup 51821 priority 32800';

describe('exit routes: fwmark, own table and policy rule', () => {
  it('marks WireGuard’s own packets on every interface it ensures, and only when the mark differs', async () => {
    const kernel = new FakeKernel();
    kernel.links.set('wgm0', {fwmark: 0});
    const runner = new RecordingRunner(kernel);
    const driver = new KernelWgDriver({runner, fwmark: 0x10});
    const spec = {name: 'wgm0', privateKey: keyPair().privateKey, listenPort: 0, mtu: 1420};
    await driver.ensureInterface(spec);
    expect(runner.mutations().map((call) => call.args.join(' '))).toEqual(['set wgm0 fwmark 16 private-key /dev/stdin']);
    expect(kernel.links.get('wgm0')!.fwmark).toBe(16);
    runner.reset();
    await driver.ensureInterface(spec);
    expect(runner.mutations()).toEqual([]);
    await driver.close();
  });

  it('installs a default route in the exit table (others in main) with one rule per family, and changes nothing when applied again', async () => {
    const {driver, changes} = await setUp(['wgm0']);
    changes();
    await driver.setRoutes('wgm0', [EXIT, MESH_ROUTE]);
    expect(changes()).toEqual([
      `ip route add ::/0 via ${GATEWAY} onlink dev wgm0 proto 119 table 51821 metric 100000`,
      `ip route add fd10::/64 via ${GATEWAY} onlink dev wgm0 proto 119 table main metric 1024`,
      RULE6,
    ]);
    await driver.setRoutes('wgm0', [EXIT, MESH_ROUTE]);
    expect(changes()).toEqual([]);
    // An IPv4 default route gets the IPv4 rule.
    await driver.setRoutes('wgm0', [EXIT, MESH_ROUTE, {destination: '0.0.0.0/0'}]);
    expect(changes()).toEqual(['ip route add 0.0.0.0/0 dev wgm0 proto 119 table 51821 metric 100000', 'ip -4 rule add not fwmark 51821 lookup 51821 priority 32800']);
    await driver.close();
  });

  it('moves a default route found in main (installed by an earlier version) into the exit table', async () => {
    const {kernel, driver, changes} = await setUp(['wgm0']);
    kernel.routes.push({family: 6, destination: '::/0', via: GATEWAY, dev: 'wgm0', proto: '119', table: 'main', metric: 100_000});
    changes();
    await driver.setRoutes('wgm0', [EXIT]);
    expect(changes()).toEqual([`ip route del ::/0 via ${GATEWAY} dev wgm0 proto 119 table main metric 100000`, `ip route add ::/0 via ${GATEWAY} onlink dev wgm0 proto 119 table 51821 metric 100000`, RULE6]);
    expect(kernel.routes.map((route) => route.table)).toEqual(['51821']);
    await driver.close();
  });

  it('removes the rule with the last default route in the table, whichever interface held it', async () => {
    const {kernel, driver, changes} = await setUp(['wgm0', 'wgm1']);
    await driver.setRoutes('wgm0', [EXIT]);
    await driver.setRoutes('wgm1', [{destination: '::/0', via: 'fd01::2'}]);
    expect(kernel.rules).toHaveLength(1);
    changes();
    // The metric clash inside the exit table is a move between meshes: wgm1 took it over.
    expect(kernel.routes).toEqual([expect.objectContaining({dev: 'wgm1', table: '51821'})]);
    await driver.setRoutes('wgm1', [MESH_ROUTE]);
    expect(changes()).toEqual([
      'ip route del ::/0 via fd01::2 dev wgm1 proto 119 table 51821 metric 100000',
      `ip route add fd10::/64 via ${GATEWAY} onlink dev wgm1 proto 119 table main metric 1024`,
      'ip -6 rule del not fwmark 51821 lookup 51821 priority 32800',
    ]);
    expect(kernel.rules).toEqual([]);
    await driver.close();
  });

  it('keeps the rule while another interface still has a default route there, and drops it when that interface is removed', async () => {
    const {kernel, driver, changes} = await setUp(['wgm0', 'wgm1'], {defaultRouteMetric: 100_000});
    await driver.setRoutes('wgm0', [EXIT]);
    kernel.routes.push({family: 6, destination: '::/0', via: 'fd01::2', dev: 'wgm1', proto: '119', table: '51821', metric: 200_000});
    changes();
    await driver.setRoutes('wgm0', []);
    expect(changes()).toEqual([`ip route del ::/0 via ${GATEWAY} dev wgm0 proto 119 table 51821 metric 100000`]);
    expect(kernel.rules).toHaveLength(1);
    await driver.removeInterface('wgm1');
    expect(changes()).toEqual(['ip link del dev wgm1', 'ip -6 rule del not fwmark 51821 lookup 51821 priority 32800']);
    expect(kernel.rules).toEqual([]);
    await driver.close();
  });

  it('uses the configured mark, table and priority, and reports an operator route in that table instead of replacing it', async () => {
    const {kernel, driver, changes} = await setUp(['wgm0'], {fwmark: 0x10, defaultRouteTable: 100, defaultRouteRulePriority: 40000});
    kernel.routes.push({family: 6, destination: '::/0', via: 'fd99::1', dev: 'eth0', proto: 'static', table: '100', metric: 100_000});
    changes();
    const refused = driver.setRoutes('wgm0', [EXIT]);
    await expect(refused).rejects.toThrow(WgDriverError);
    await expect(refused).rejects.toThrow(/route to ::\/0 \(table 100, metric 100000\) not installed: a route wgmesh did not install already exists there.*kernel\.defaultRouteTable/);
    expect(changes()).toEqual([`ip route add ::/0 via ${GATEWAY} onlink dev wgm0 proto 119 table 100 metric 100000`, 'ip -6 rule add not fwmark 16 lookup 100 priority 40000']);
    expect(kernel.routes).toEqual([expect.objectContaining({dev: 'eth0', proto: 'static'})]);
    await driver.close();
  });
});
