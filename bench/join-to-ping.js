#!/usr/bin/env node
/**
 * Join-to-ping benchmark: for a mesh of N hosts in network namespaces (real
 * daemons, real gRPC with mutual TLS, real WireGuard through the kernel
 * driver, wireguard-go where the kernel has no module), the time from
 * `wgmesh mesh join` returning to the first successful ping from the joiner to
 * every other member over the mesh addresses. Target: under 2 s.
 *
 * Each round: h0 runs `mesh create`; h1..hN-1 join one after the other, each
 * through the host before it; as soon as a join command exits, the joiner
 * pings every member that was there before it, all at once, each with one
 * `ping` process sending every 20 ms until its first reply. A joiner's time is
 * the slowest of its pings (the moment it reaches everyone). At the same
 * moment the bench asks each earlier member's WireGuard (`wg show IFACE
 * peers`) whether it already has a joining peer: a member that does not yet
 * drops the joiner's first handshake, and WireGuard retries only after 5 s
 * (REKEY_TIMEOUT). A member listed as not ready explains a slow sample; the
 * check races the first handshake, so a slow sample without one is possible. Then every host
 * leaves the mesh, and the next round starts with a new mesh on the same
 * daemons.
 *
 * With --client the last joiner joins as a client (`--role client
 * --keepalive 5`) and the peers forward for it (IPv6 forwarding on), so the
 * result also shows how long a client waits.
 *
 * Run after a build, as root with wireguard-go, wireguard-tools, iproute2 and iputils-ping:
 *   node bench/join-to-ping.js [--hosts 5] [--rounds 5] [--client] [--json]
 */
import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {netnsAvailable} from '@wgmesh/testkit';
import {startMeshHosts} from '../scripts/lib/mesh-hosts.js';
import {machineInfo, printRows, seconds, summarize} from './lib/report.js';

const TARGET_MS = 2_000;
/** Give up on one ping after this long (a lost first handshake is retried after 5 s). */
const PING_TIMEOUT_MS = 15_000;

const {values: args} = parseArgs({
  options: {
    hosts: {type: 'string', default: '5'},
    rounds: {type: 'string', default: '5'},
    client: {type: 'boolean', default: false},
    json: {type: 'boolean', default: false},
  },
});
const hostCount = Number(args.hosts);
const rounds = Number(args.rounds);
if (!Number.isInteger(hostCount) || hostCount < 2 || hostCount > 50) fail('--hosts must be an integer from 2 to 50');
if (!Number.isInteger(rounds) || rounds < 1) fail('--rounds must be an integer of at least 1');

/** @param {string} message */
function fail(message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

const support = netnsAvailable();
if (!support.ok) fail(`cannot run the namespace benchmark here: ${support.reason}`);

/**
 * A member's host, mesh address and WireGuard interface in `meshId`.
 * @param {import('../scripts/lib/mesh-hosts.js').Host} host
 * @param {string} meshId
 */
async function memberOf(host, meshId) {
  const self = (await hosts.call(host, 'mesh.show', {meshId})).nodes.find((node) => node.self);
  const iface = (await hosts.call(host, 'mesh.list', {})).find((mesh) => mesh.meshId === meshId).interface;
  return {host, address: self.address, iface};
}

/**
 * Names of the members whose WireGuard does not list `publicKey` as a peer.
 * @param {{host: import('../scripts/lib/mesh-hosts.js').Host, iface: string}[]} members
 * @param {string} publicKey
 */
async function notConfiguredOn(members, publicKey) {
  const listed = await Promise.all(members.map(async (member) => (await hosts.exec(member.host, 'wg', ['show', member.iface, 'peers'])).stdout.includes(publicKey)));
  return members.filter((_, index) => !listed[index]).map((member) => member.host.name);
}

const log = (text) => {
  if (!args.json) process.stdout.write(`${text}\n`);
};

const info = machineInfo();
const startedAt = performance.now();
const hosts = await startMeshHosts({count: hostCount, mode: 'netns'});
log(`${hostCount} daemons ready in namespaces after ${seconds(performance.now() - startedAt)}`);

/** One sample per joiner per round. */
const samples = [];
try {
  if (args.client) await Promise.all(hosts.hosts.slice(0, -1).map((host) => hosts.exec(host, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.forwarding=1'])));
  for (let round = 1; round <= rounds; round++) {
    const [creator, ...joiners] = hosts.hosts;
    const created = await hosts.cli(creator, ['mesh', 'create', '--json']);
    if (created.code !== 0) throw new Error(`mesh create failed:\n${created.stdout}${created.stderr}`);
    const {meshId} = JSON.parse(created.stdout);
    const invited = await hosts.cli(creator, ['mesh', 'invite', meshId, '--uses', String(joiners.length), '--json']);
    if (invited.code !== 0) throw new Error(`mesh invite failed:\n${invited.stdout}${invited.stderr}`);
    const {token: invite} = JSON.parse(invited.stdout);
    /** The members so far: host, mesh address, interface. */
    const members = [await memberOf(creator, meshId)];
    for (const [index, joiner] of joiners.entries()) {
      const asClient = args.client && index === joiners.length - 1;
      const joinerKey = (await hosts.call(joiner, 'status', {})).wgPublicKey;
      const via = members[members.length - 1].host;
      const extra = asClient ? ['--role', 'client', '--keepalive', '5'] : [];
      const joined = await hosts.cli(joiner, ['mesh', 'join', meshId, '--invite', invite, '--via', via.endpoint, ...extra, '--json']);
      const returnedAt = performance.now();
      if (joined.code !== 0) throw new Error(`${joiner.name}: mesh join failed:\n${joined.stdout}${joined.stderr}`);
      const pings = Promise.all(members.map((member) => hosts.firstPing(joiner, member.address, {timeoutMs: PING_TIMEOUT_MS})));
      // A client is a WireGuard peer of its home only, so the check is for joining peers.
      const unaware = asClient ? [] : await notConfiguredOn(members, joinerKey);
      const times = await pings;
      const toAll = times.includes(null) ? null : performance.now() - returnedAt;
      samples.push({round, joiner: joiner.name, role: asClient ? 'client' : 'peer', members: members.length, toAllMs: toAll, perMemberMs: times, unawareAtReturn: unaware});
      const late = unaware.length > 0 ? `; ${unaware.join(', ')} had not configured it yet when the join returned` : '';
      log(`round ${round}: ${joiner.name}${asClient ? ' (client)' : ''} joined, pinged all ${members.length} other members ${seconds(toAll)} after the join returned (each: ${times.map(seconds).join(', ')})${late}`);
      members.push(await memberOf(joiner, meshId));
    }
    await Promise.all(hosts.hosts.map((host) => hosts.call(host, 'mesh.leave', {meshId})));
  }
} finally {
  await hosts.close();
}

const slow = samples.filter((sample) => sample.role === 'peer' && (sample.toAllMs === null || sample.toAllMs >= TARGET_MS));
const byRole = (role) => summarize(samples.filter((sample) => sample.role === role).map((sample) => sample.toAllMs));
const peers = byRole('peer');
const clients = args.client ? byRole('client') : undefined;
const peersMet = peers.max !== null && peers.max < TARGET_MS;
const result = {hosts: hostCount, rounds, target: TARGET_MS, peers, clients, peersMetTarget: peersMet, peerJoinsOverTarget: slow.length, machine: info, samples};
if (args.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  log('');
  printRows([
    ['hosts', String(hostCount)],
    ['rounds', `${rounds} (${peers.n} peer joins${clients ? `, ${clients.n} client joins` : ''})`],
    ['peer join -> ping all: median', seconds(peers.median)],
    ['peer join -> ping all: min / max', `${seconds(peers.min)} / ${seconds(peers.max)}`],
    ...(clients ? [['client join -> ping all: median / max', `${seconds(clients.median)} / ${seconds(clients.max)}`]] : []),
    ['target', `every peer join under ${seconds(TARGET_MS)}: ${peersMet ? 'met' : `NOT met (${slow.length} of ${peers.n} joins over)`}`],
    ['machine', `${info.nproc} cores, node ${info.node}, load ${info.loadavg.join(' ')}, ${info.date}`],
  ]);
}
process.exitCode = peersMet ? 0 : 1;
