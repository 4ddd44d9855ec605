/**
 * Unit tests of `wgmesh doctor`'s pure rules: the per-mesh handshake verdict,
 * which meshes make this node relay, reading socket owners from /proc/net
 * tables, and the time bound every check runs under.
 */
import type {MeshShowNode, MeshShowView} from '@wgmesh/core/client';
import {meshShowNode, meshShowView} from '@wgmesh/testkit';
import {describe, expect, it} from 'vitest';
import {runCheck, runChecks, type DoctorCheck} from '../src/cli/doctor/check.js';
import {MEMBER_CLOCK_WARN_MS, memberClocks} from '../src/cli/doctor/checks/clock.js';
import {relayReason} from '../src/cli/doctor/checks/forwarding.js';
import {HANDSHAKE_FRESH_MS, NEW_MEMBER_GRACE_MS, meshHandshakes} from '../src/cli/doctor/checks/handshakes.js';
import {DoctorContext} from '../src/cli/doctor/context.js';
import {doctorReport, renderReport} from '../src/cli/doctor/report.js';
import {socketInodes} from '../src/cli/doctor/socket-owner.js';
import {listsWireguard} from '../src/cli/doctor/wireguard-host.js';
import {palette} from '../src/cli/colour.js';

const NOW = 1_800_000_000_000;
const MESH = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';

function node(id: string, fields: Partial<MeshShowNode> = {}): MeshShowNode {
  return meshShowNode(id.padEnd(32, '0'), {wgPublicKey: `${id}=`, address: `fd00::${id}`, receivedAt: NOW - 3_600_000, ...fields});
}

function mesh(nodes: MeshShowNode[]): MeshShowView {
  return meshShowView(MESH, nodes);
}

const stats = (latestHandshakeMs: number | null) => ({latestHandshakeMs, rxBytes: 0, txBytes: 0});

describe('handshake verdict of one mesh', () => {
  const self = node('a', {self: true});

  it('is ok when every WireGuard peer handshook within 180 s, and ignores members that are not WireGuard peers here', () => {
    const result = meshHandshakes(mesh([self, node('b', {stats: stats(NOW - HANDSHAKE_FRESH_MS + 1000)}), node('c')]), 0, NOW);
    expect(result).toMatchObject({name: 'handshakes', status: 'ok', fix: null});
    expect(result.detail).toContain('all 1 WireGuard peer');
  });

  it('warns about an old or missing handshake without keepalive (an idle tunnel does not handshake)', () => {
    const result = meshHandshakes(mesh([self, node('b', {stats: stats(NOW - HANDSHAKE_FRESH_MS - 1000)}), node('c', {stats: stats(null)})]), 0, NOW);
    expect(result.status).toBe('warn');
    expect(result.detail).toContain('2 of 2');
    expect(result.detail).toContain('never');
    expect(result.fix).toContain('ping6');
  });

  it('fails with keepalive on, where tunnels are never idle, except for a member learnt of moments ago', () => {
    expect(meshHandshakes(mesh([self, node('b', {stats: stats(null)})]), 25, NOW)).toMatchObject({status: 'fail'});
    const fresh = node('b', {stats: stats(null), receivedAt: NOW - NEW_MEMBER_GRACE_MS + 1000});
    expect(meshHandshakes(mesh([self, fresh]), 25, NOW).status).toBe('warn');
  });
});

describe("members' clocks", () => {
  const self = node('a', {self: true, clockLagMs: 999_999_999});
  const skew = 300_000;

  it('says nothing until a lag is known, and counts each member once over several meshes', () => {
    expect(memberClocks([mesh([self, node('b')])], skew)).toBeUndefined();
    const b = node('b', {clockLagMs: 40});
    expect(memberClocks([mesh([self, b]), mesh([self, b])], skew)).toMatchObject({status: 'ok', detail: "the clocks of 1 member are within 10 s of this node's"});
  });

  it('warns beyond 10 s and fails beyond maxClockSkew, naming each member, worst first, ahead or behind', () => {
    const behind = node('b', {clockLagMs: MEMBER_CLOCK_WARN_MS + 5_000});
    const ahead = node('c', {alias: 'cee', clockLagMs: -7_200_000});
    expect(memberClocks([mesh([self, behind, node('d', {clockLagMs: -3})])], skew)).toMatchObject({status: 'warn', detail: `1 of 2 members' clocks differ from this node's: ${behind.id.slice(0, 12)} (fd00::b) 15 s behind`});
    const failed = memberClocks([mesh([self, behind, ahead])], skew);
    expect(failed?.status).toBe('fail');
    expect(failed?.detail).toBe(`2 of 2 members' clocks differ from this node's: cee (fd00::c) 2 h ahead, ${behind.id.slice(0, 12)} (fd00::b) 15 s behind; beyond maxClockSkew (5 min) their records and heartbeats are refused`);
  });
});

describe('whether this node relays in a mesh', () => {
  it('relays when it advertises routes, or is the home peer of a client', () => {
    const self = node('a', {self: true});
    expect(relayReason(mesh([self, node('b')]))).toBeUndefined();
    expect(relayReason(mesh([node('a', {self: true, routes: [{destination: '::/0', path: [MESH]}]})]))).toContain('::/0');
    expect(relayReason(mesh([self, node('c', {role: 'client', homePeer: self.id})]))).toBe('is the home peer of 1 client');
    expect(relayReason(mesh([self, node('c', {role: 'client', homePeer: node('b').id})]))).toBeUndefined();
  });
});

describe('sockets bound to a port in /proc/net tables', () => {
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:0FA0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:0FA0 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 100 0 0 10 0',
    '   2: 0100007F:0FA1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0',
  ].join('\n');

  it('finds listening TCP sockets of the port only, and any UDP socket of it', () => {
    expect(socketInodes(tcp, 4000, 'tcp')).toEqual(['111']);
    expect(socketInodes(tcp, 4000, 'udp')).toEqual(['111', '222']);
    expect(socketInodes(tcp, 4002, 'tcp')).toEqual([]);
  });
});

describe('the WireGuard module in modules.dep', () => {
  it('is found under its path, compressed or not, and not in the name of another module', () => {
    expect(listsWireguard('kernel/drivers/net/wireguard/wireguard.ko.xz: kernel/lib/crypto/libchacha20poly1305.ko.xz\n')).toBe(true);
    expect(listsWireguard('kernel/net/ipv4/udp_tunnel.ko:\nkernel/drivers/net/wireguard/wireguard.ko: kernel/net/ipv4/udp_tunnel.ko\n')).toBe(true);
    expect(listsWireguard('kernel/drivers/net/tun.ko.zst:\nkernel/drivers/net/notwireguard.ko:\n')).toBe(false);
    expect(listsWireguard('')).toBe(false);
  });
});

describe('running checks', () => {
  const context = new DoctorContext({env: {PATH: ''}});

  it('bounds a check that never finishes, and reports it as failed', async () => {
    const stuck: DoctorCheck = {name: 'stuck', run: (_context, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))))};
    const started = Date.now();
    const [result] = await runCheck(stuck, context, 200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result).toMatchObject({name: 'stuck', status: 'fail'});
    expect(result!.detail).toContain('did not finish within 200 ms');
  });

  it('turns a check that throws into a failed line, and keeps the order of the checks', async () => {
    const broken: DoctorCheck = {name: 'broken', run: () => Promise.reject(new Error('boom'))};
    const fine: DoctorCheck = {name: 'fine', run: async () => ({name: 'fine', status: 'ok', detail: 'yes', fix: null})};
    const results = await runChecks([broken, fine], context);
    expect(results.map((result) => [result.name, result.status])).toEqual([['broken', 'fail'], ['fine', 'ok']]);
    expect(results[0]!.detail).toContain('boom');
  });

  it('reports the worst status, and prints one line per check with its fix', () => {
    const report = doctorReport([
      {name: 'a', status: 'ok', detail: 'fine', fix: null},
      {name: 'bb', status: 'warn', detail: 'hmm', fix: 'do this'},
      {name: 'c', status: 'skip', detail: 'n/a', fix: null},
    ]);
    expect(report.status).toBe('warn');
    const lines = renderReport(report, palette(false)).split('\n');
    expect(lines.slice(0, 3)).toEqual(['ok    a     fine', 'WARN  bb    hmm; fix: do this', 'skip  c     n/a']);
    expect(lines.at(-1)).toBe('1 warning');
    expect(doctorReport([{name: 'a', status: 'fail', detail: 'x', fix: 'y'}, {name: 'b', status: 'warn', detail: 'x', fix: 'y'}]).status).toBe('fail');
  });
});
