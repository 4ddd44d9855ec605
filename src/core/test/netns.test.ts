/**
 * The namespace test kit itself: three hosts reach each other over IPv6 on the
 * private bridge, nothing lands in the root namespace, and cleanup removes
 * every namespace and kills what was started in them.
 */
import {execFileSync, spawn} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {once} from 'node:events';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {createNetnsLab, netnsAvailable, type NetnsLab, skipWithout} from '@wgmesh/testkit';

const SKIP = skipWithout('the network namespace kit tests', netnsAvailable({wireguard: false}));

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], {encoding: 'utf8'})
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.length > 0);
}

function rootLinks(): string[] {
  const links = JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], {encoding: 'utf8'})) as Array<{ifname: string}>;
  return links.map((link) => link.ifname).sort();
}

describe.skipIf(SKIP)('network namespace lab', () => {
  let lab: NetnsLab | undefined;
  let linksBefore: string[] = [];

  beforeAll(async () => {
    linksBefore = rootLinks();
    lab = await createNetnsLab({hosts: 3});
  });

  afterAll(async () => {
    await lab?.cleanup();
  });

  it('gives each host a unique namespace and an address in one ULA /64', () => {
    const hosts = lab!.hosts;
    expect(new Set(hosts.map((host) => host.netns)).size).toBe(3);
    expect(lab!.prefix).toMatch(/^fd[0-9a-f]{2}:/);
    const network = lab!.prefix.replace('::/64', '::');
    for (const host of hosts) {
      expect(host.address.startsWith(network.slice(0, -1))).toBe(true);
      expect(namespaces()).toContain(host.netns);
    }
    expect(lab!.endpoint(hosts[0]!, 51820)).toBe(`[${hosts[0]!.address}]:51820`);
    // Nothing was added to the root namespace.
    expect(rootLinks()).toEqual(linksBefore);
  });

  it('connects every pair of hosts over IPv6', async () => {
    const hosts = lab!.hosts;
    for (const from of hosts) {
      for (const to of hosts) {
        if (from === to) continue;
        // -w: wait up to 5 s for the first reply (neighbour discovery included), then stop.
        const {stdout} = await lab!.exec(from, 'ping', ['-6', '-n', '-c', '1', '-w', '5', to.address]);
        expect(stdout).toMatch(/1 received/);
      }
    }
  });

  it('runs a command inside the host namespace, not the root one', async () => {
    const {stdout} = await lab!.exec(lab!.hosts[1]!, 'ip', ['-j', 'addr', 'show', 'dev', 'eth0']);
    const [link] = JSON.parse(stdout) as Array<{addr_info: Array<{local: string}>}>;
    expect(link!.addr_info.map((info) => info.local)).toContain(lab!.hosts[1]!.address);
  });

  it('removes the labs of a process that died without cleaning up', async () => {
    // A pid that is certainly gone: a process that has exited and been reaped.
    const dead = spawn('true');
    await once(dead, 'exit');
    const abandoned = `wgmtk-p${dead.pid}-${randomBytes(4).toString('hex')}-h0`;
    execFileSync('ip', ['netns', 'add', abandoned]);
    const sleeper = spawn('ip', ['netns', 'exec', abandoned, 'sleep', '600'], {stdio: 'ignore'});
    const exited = once(sleeper, 'exit');
    try {
      const other = await createNetnsLab({hosts: 1, namePrefix: 'wgmtk'});
      await other.cleanup();
      expect(namespaces()).not.toContain(abandoned);
      await exited;
    } finally {
      sleeper.kill('SIGKILL');
      try {
        execFileSync('ip', ['netns', 'del', abandoned], {stdio: 'ignore'});
      } catch {
        // Removed by the lab, as it should be.
      }
    }
  });

  it('cleanup kills spawned processes and leaves no namespace', async () => {
    const other = await createNetnsLab({hosts: 2, namePrefix: 'wgmtk'});
    try {
      const child = other.spawn(other.hosts[0]!, 'sleep', ['600'], {stdio: 'ignore'});
      const exited = once(child, 'exit');
      await other.cleanup();
      await exited;
      expect(child.exitCode !== null || child.signalCode !== null).toBe(true);
      const left = namespaces();
      for (const netns of [other.bridgeNetns, ...other.hosts.map((host) => host.netns)]) expect(left).not.toContain(netns);
      // Idempotent.
      await other.cleanup();
    } finally {
      await other.cleanup();
    }
  });
});
