#!/usr/bin/env node
/**
 * NAT traversal in the namespace lab (issue 19): 2 public peers on the shared
 * bridge and 6 clients behind 3 NAT routers of the core test kit, 2 clients
 * each: sites n0 and n1 map endpoint-independently (Linux masquerade with
 * port preservation), site n2 is symmetric (masquerade with random ports).
 * Real daemons, real wireguard-go, `natTraversal: true` everywhere.
 *
 * Each run builds a new mesh: p1 creates it, p2 joins, then the clients join
 * one after the other as clients (`role client`, keepalive 5 s). From the
 * first client's join on, every client's WireGuard peers (what `wg show`
 * prints, read from the wireguard-go UAPI socket: no process per poll) are
 * read every `--poll-ms`; a pair of clients is *direct* when each one's WireGuard has
 * the other with its /128 (the punched entry, which wins over the home
 * peer's /64). Per pair it records when it was first direct, counted from the
 * moment both were in the mesh (the later of the two joins returned), whether
 * a punch was tried (an entry for the other without its /128), and whether a
 * direct path was lost again. After `--watch` seconds past the last join:
 *   - every pair pings (one `ping` per pair until its first answer, bounded);
 *   - throughput (iperf3 over TCP, `--iperf-seconds`) and latency (`ping -c
 *     --pings` every 10 ms) from n0h0 to a client across sites on a direct
 *     path, to one behind the symmetric NAT (relayed), and to the other client
 *     behind its own NAT (same NAT); the path of each is classified from `wg
 *     show` (the /128 on the client's own entry for the target) and from the
 *     peers' receive counters for the source client over the transfer (what
 *     went through a relay).
 * Then every node leaves and the routers forget their mappings before the
 * next run.
 *
 * Pairs whose NATs allow a direct path: endpoint-independent <-> endpoint-
 * independent across sites (4 of the 15). The lab's routers do not hairpin
 * (a packet from the LAN to the router's own public address is not sent back
 * into the LAN), so two clients behind the same NAT can only punch towards
 * each other's public mapping, which goes nowhere: they stay relayed.
 *
 * Run after a build, as root, with wireguard-go, wireguard-tools, iproute2,
 * iputils-ping, nftables, conntrack and iperf3:
 *   node bench/nat-lab.js [--runs 3] [--watch 20] [--iperf-seconds 3] [--pings 100] [--poll-ms 200] [--logs DIR] [--extra-config JSON] [--json]
 * (`--logs DIR`: write every daemon's log there at the end; `--extra-config JSON`: more
 * config keys for every daemon, e.g. `'{"heartbeatInterval":"4s"}'`.)
 */
import {mkdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {netnsAvailable} from '@wgmesh/testkit';
import {run, startMeshHosts} from '../scripts/lib/mesh-hosts.js';
import {sleep} from './lib/fleet.js';
import {machineInfo, printRows, seconds, summarize} from './lib/report.js';
import {uapiPeers} from './lib/wg-uapi.js';

/** The lab: 2 public peers, then the NAT sites in this order (n0, n1, n2). */
const PEERS = 2;
const NAT_SITES = [
  {behaviour: 'endpoint-independent', hosts: 2},
  {behaviour: 'endpoint-independent', hosts: 2},
  {behaviour: 'symmetric', hosts: 2},
];
/** Client keepalive (s), as the NAT end-to-end tests use. */
const CLIENT_KEEPALIVE_S = 5;
/** Bound on each pair's first ping answer (a lost first handshake is retried after 5 s). */
const PING_BOUND_MS = 15_000;
/** Target of the issue: a direct path within 5 s of both ends being in the mesh. */
const DIRECT_TARGET_MS = 5_000;
const IPERF_PORT = 5201;
/** Bound on one join or leave (a join on a busy machine can take well over the IPC client's usual 10 s). */
const JOIN_BOUND = {timeoutMs: 60_000};
/** Attempts at one client's join. */
const JOIN_ATTEMPTS = 3;

const {values: args} = parseArgs({
  options: {
    runs: {type: 'string', default: '3'},
    watch: {type: 'string', default: '20'},
    'iperf-seconds': {type: 'string', default: '3'},
    pings: {type: 'string', default: '100'},
    'poll-ms': {type: 'string', default: '200'},
    logs: {type: 'string'},
    'extra-config': {type: 'string'},
    json: {type: 'boolean', default: false},
  },
});

/** @param {string} message */
function fail(message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}
/** @param {string} name @param {number} min @param {number} max */
function integer(name, min, max) {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}
const runs = integer('runs', 1, 50);
const watchS = integer('watch', 5, 600);
const iperfS = integer('iperf-seconds', 1, 30);
const pingCount = integer('pings', 1, 1000);
const pollMs = integer('poll-ms', 50, 5000);

/** @type {Record<string, unknown>} */
let extraConfig = {};
try {
  extraConfig = JSON.parse(args['extra-config'] ?? '{}');
} catch {
  fail('--extra-config must be a JSON object of config keys');
}
if (typeof extraConfig !== 'object' || extraConfig === null || Array.isArray(extraConfig)) fail('--extra-config must be a JSON object of config keys');

const support = netnsAvailable({nat: true});
if (!support.ok) fail(`cannot run the NAT lab here: ${support.reason}`);
if ((await run('iperf3', ['--version'])).code !== 0) fail('iperf3 is not installed (apt-get install iperf3)');

const progress = (text) => process.stderr.write(`${text}\n`);

/** @typedef {import('../scripts/lib/mesh-hosts.js').Host} Host */
/** @typedef {{host: Host, key: string, address: string, iface: string}} Member */

/**
 * The kind of a pair of clients: across two endpoint-independent sites (a
 * direct path is possible), behind the same NAT, or with a symmetric NAT on
 * at least one side.
 * @param {Host} a @param {Host} b
 * @returns {'eim-eim' | 'same-nat' | 'symmetric'}
 */
function pairKind(a, b) {
  if (a.site === b.site) return 'same-nat';
  return a.site.behaviour === 'endpoint-independent' && b.site.behaviour === 'endpoint-independent' ? 'eim-eim' : 'symmetric';
}

/** @param {Host} host @param {string} meshId @returns {Promise<Member>} */
async function memberOf(host, meshId) {
  const self = (await hosts.call(host, 'mesh.show', {meshId})).nodes.find((node) => node.self);
  const iface = (await hosts.call(host, 'mesh.list', {})).find((mesh) => mesh.meshId === meshId).interface;
  return {host, key: self.wgPublicKey, address: self.address, iface};
}

/** A member's WireGuard peers by public key (read from its UAPI socket), or undefined when its interface cannot be read (yet). @param {Member} member */
function wgPeers(member) {
  return uapiPeers(member.iface).catch(() => undefined);
}

/** The entry of `to` in `peers`, and whether it carries `to`'s /128 (a punched, direct path). */
function entryFor(peers, to) {
  const entry = peers?.get(to.key);
  return {entry, carries: entry !== undefined && entry.allowedIps.includes(`${to.address}/128`)};
}

/**
 * Milliseconds of `ping -c COUNT -i 0.01` from `from` to `to`, one per answer.
 * @param {Member} from @param {Member} to
 */
async function pingTimes(from, to, count) {
  const result = await run('ip', ['netns', 'exec', from.host.netns, 'ping', '-6', '-n', '-c', String(count), '-i', '0.01', '-W', '1', to.address], {timeoutMs: count * 10 + 15_000});
  return [...result.stdout.matchAll(/time=([\d.]+) ms/g)].map((match) => Number(match[1]));
}

/** The peers' receive counters for `client` (bytes), summed. @param {Member[]} peers @param {Member} client */
async function relayedBytes(peers, client) {
  const all = await Promise.all(peers.map(wgPeers));
  return all.reduce((sum, found) => sum + (found?.get(client.key)?.rxBytes ?? 0), 0);
}

/**
 * TCP throughput from `from` to `to` with iperf3 for `seconds`, with the
 * path it took: `direct` when `from`'s entry for `to` carries its /128, and
 * how many bytes the peers received from `from` meanwhile (a relay's share).
 * @param {Member} from @param {Member} to @param {Member[]} peers
 */
async function throughput(from, to, peers, secondsToRun) {
  const {carries} = entryFor(await wgPeers(from), to);
  const server = run('ip', ['netns', 'exec', to.host.netns, 'iperf3', '-s', '-1', '--idle-timeout', String(secondsToRun + 20), '-p', String(IPERF_PORT)], {timeoutMs: (secondsToRun + 30) * 1000});
  try {
    // Listening once `ss` shows the port (bounded).
    const deadline = Date.now() + 10_000;
    while ((await hosts.exec(to.host, 'ss', ['-ltnH', `sport = :${IPERF_PORT}`])).stdout.trim() === '') {
      if (Date.now() > deadline) throw new Error(`iperf3 did not listen in ${to.host.name} within 10 s`);
      await sleep(50);
    }
    const relayedBefore = await relayedBytes(peers, from);
    const client = await run('ip', ['netns', 'exec', from.host.netns, 'iperf3', '-6', '-c', to.address, '-p', String(IPERF_PORT), '-t', String(secondsToRun), '-J', '--connect-timeout', '5000'], {timeoutMs: (secondsToRun + 20) * 1000});
    const relayed = (await relayedBytes(peers, from)) - relayedBefore;
    if (client.code !== 0) return {path: carries ? 'direct' : 'relayed', error: (client.stdout.match(/"error":\s*"([^"]*)"/)?.[1] ?? client.stderr.trim()) || `iperf3 exited ${client.code}`};
    const report = JSON.parse(client.stdout);
    const end = report.end;
    if (report.error || !end?.sum_received || !end.sum_sent) return {path: carries ? 'direct' : 'relayed', error: report.error ?? `iperf3 reported no totals: ${JSON.stringify(end ?? report).slice(0, 300)}`};
    return {path: carries ? 'direct' : 'relayed', mbitPerS: end.sum_received.bits_per_second / 1e6, bytes: end.sum_sent.bytes, retransmits: end.sum_sent.retransmits ?? null, relayedBytes: relayed};
  } finally {
    await server;
  }
}

const info = machineInfo();
const startedAt = performance.now();
const hosts = await startMeshHosts({count: PEERS, mode: 'netns', natSites: NAT_SITES, config: {...extraConfig, natTraversal: true}, logLevel: args.logs ? 'info' : 'warn'});
const peerHosts = hosts.hosts.filter((host) => host.site === undefined);
const clientHosts = hosts.hosts.filter((host) => host.site !== undefined);
progress(`${hosts.hosts.length} daemons ready in namespaces after ${seconds(performance.now() - startedAt)}`);

/** Every pair of clients, in order: [a, b] with a before b. */
const pairsOf = (list) => list.flatMap((a, i) => list.slice(i + 1).map((b) => [a, b]));
const clientPairs = pairsOf(clientHosts);
const allowedPairs = clientPairs.filter(([a, b]) => pairKind(a, b) === 'eim-eim').length;

/** One record per run. */
const results = [];
/** Joins that failed and were tried again (the machine's load). */
let joinRetries = 0;
try {
  for (let round = 1; round <= runs; round++) {
    const [creator, ...otherPeers] = peerHosts;
    const {meshId} = await hosts.call(creator, 'mesh.create', {}, JOIN_BOUND);
    const invite = async (role, uses) => (await hosts.call(creator, 'mesh.invite', {meshId, role, uses, validForMs: 3_600_000})).token;
    const peerInvite = await invite('peer', otherPeers.length);
    for (const peer of otherPeers) await hosts.call(peer, 'mesh.join', {meshId, invite: peerInvite, via: creator.endpoint}, JOIN_BOUND);
    const peers = await Promise.all(peerHosts.map((host) => memberOf(host, meshId)));
    const clientInvite = await invite('client', clientHosts.length);

    /** By client: its member (once joined) and when its join returned. */
    const joined = new Map();
    /** By pair index: first time direct (ms, bench clock), a punch seen, losses of a direct path. */
    const watch = clientPairs.map(() => ({directAt: null, tried: false, lost: 0, wasDirect: false}));
    let polling = true;
    let polls = 0;
    const poller = (async () => {
      while (polling) {
        const cycle = performance.now();
        const members = [...joined.values()].map((j) => j.member);
        const dumps = new Map(await Promise.all(members.map(async (member) => [member.host, await wgPeers(member)])));
        polls++;
        clientPairs.forEach(([a, b], index) => {
          const ja = joined.get(a);
          const jb = joined.get(b);
          if (!ja || !jb) return;
          const ab = entryFor(dumps.get(a), jb.member);
          const ba = entryFor(dumps.get(b), ja.member);
          const state = watch[index];
          if ((ab.entry && !ab.carries) || (ba.entry && !ba.carries)) state.tried = true;
          const direct = ab.carries && ba.carries;
          if (direct && state.directAt === null) state.directAt = cycle;
          if (state.wasDirect && !direct) state.lost++;
          state.wasDirect = direct;
        });
        await sleep(Math.max(0, pollMs - (performance.now() - cycle)));
      }
    })();
    try {
      for (const [index, client] of clientHosts.entries()) {
        // A join that fails (a member too slow to answer on a busy machine) is tried again through the other peer, bounded.
        for (let attempt = 0; ; attempt++) {
          const via = peerHosts[(index + attempt) % peerHosts.length];
          try {
            await hosts.call(client, 'mesh.join', {meshId, invite: clientInvite, via: via.endpoint, role: 'client', keepalive: CLIENT_KEEPALIVE_S}, JOIN_BOUND);
            break;
          } catch (error) {
            if (attempt + 1 >= JOIN_ATTEMPTS) throw error;
            joinRetries++;
            progress(`run ${round}: ${client.name}: join through ${via.name} failed (${error.message}); trying again`);
          }
        }
        const returnedAt = performance.now();
        joined.set(client, {member: await memberOf(client, meshId), returnedAt});
        progress(`run ${round}: ${client.name} (behind ${client.site.name}, ${client.site.behaviour}) joined`);
      }
      const lastJoin = performance.now();
      // The whole window, so pairs that cannot go direct have their punch attempts (8 s each) and retries seen.
      while (performance.now() - lastJoin < watchS * 1000) await sleep(pollMs);
    } finally {
      polling = false;
      await poller;
    }

    const memberOfHost = (host) => joined.get(host).member;
    // What each client publishes about its NAT, and what each says of its path to the others.
    const views = await Promise.all(clientHosts.map((host) => hosts.call(host, 'mesh.show', {meshId})));
    const nat = Object.fromEntries(clientHosts.map((host, i) => [host.name, views[i].nodes.find((node) => node.self).nat ?? null]));
    // Members each node sees alive: fewer than all 8 means the mesh itself was not whole (members declared dead under load).
    const peerViews = await Promise.all(peerHosts.map((host) => hosts.call(host, 'mesh.show', {meshId})));
    const membersSeen = Object.fromEntries([...peerHosts.map((host, i) => [host.name, peerViews[i].nodes.length]), ...clientHosts.map((host, i) => [host.name, views[i].nodes.length])]);
    const pathSeen = (from, to) => views[clientHosts.indexOf(from)].nodes.find((node) => node.address === memberOfHost(to).address)?.path ?? null;

    const pairs = clientPairs.map(([a, b], index) => {
      const state = watch[index];
      const bothInAt = Math.max(joined.get(a).returnedAt, joined.get(b).returnedAt);
      return {
        a: a.name,
        b: b.name,
        kind: pairKind(a, b),
        direct: state.wasDirect,
        toDirectMs: state.directAt === null ? null : Math.max(0, state.directAt - bothInAt),
        punchTried: state.tried,
        lost: state.lost,
        path: [pathSeen(a, b), pathSeen(b, a)],
      };
    });

    progress(`run ${round}: every pair of clients pings`);
    const pingMs = await Promise.all(clientPairs.map(([a, b]) => hosts.firstPing(a, memberOfHost(b).address, {timeoutMs: PING_BOUND_MS})));
    pairs.forEach((pair, index) => (pair.firstPingMs = pingMs[index]));

    // n0h0 to a client across sites (direct when allowed), behind the symmetric NAT (relayed), and behind its own NAT.
    const [source, sameNat] = clientHosts.filter((host) => host.site === clientHosts[0].site);
    const across = clientHosts.find((host) => pairKind(source, host) === 'eim-eim');
    const symmetric = clientHosts.find((host) => pairKind(source, host) === 'symmetric');
    const transfers = [];
    for (const [label, target] of [
      ['across EIM sites', across],
      ['to the symmetric site', symmetric],
      ['same NAT', sameNat],
    ]) {
      progress(`run ${round}: ${source.name} -> ${target.name} (${label}): ping and iperf3`);
      const times = await pingTimes(memberOfHost(source), memberOfHost(target), pingCount);
      const tcp = await throughput(memberOfHost(source), memberOfHost(target), peers, iperfS);
      transfers.push({label, from: source.name, to: target.name, ...tcp, pings: times.length, pingSent: pingCount, rtt: summarize(times), rttP99: times.length ? times.sort((x, y) => x - y)[Math.ceil(0.99 * times.length) - 1] : null});
    }

    results.push({run: round, nat, membersSeen, pairs, transfers, polls, loadavg: machineInfo().loadavg});
    const direct = pairs.filter((pair) => pair.direct).length;
    progress(`run ${round}: ${direct} of ${pairs.length} pairs direct (${allowedPairs} allowed by their NATs)`);

    await Promise.all(hosts.hosts.map((host) => hosts.call(host, 'mesh.leave', {meshId}, JOIN_BOUND)));
    // A fresh NAT table for the next run, as after a router restart.
    await Promise.all(hosts.lab.natSites.map((site) => hosts.lab.forgetMappings(site)));
  }
} finally {
  if (args.logs) {
    mkdirSync(args.logs, {recursive: true});
    for (const host of hosts.hosts) writeFileSync(join(args.logs, `${host.name}.log`), host.logs());
  }
  await hosts.close();
}

// Summary over every run.
const allPairs = results.flatMap((r) => r.pairs);
const byKind = (kind) => allPairs.filter((pair) => pair.kind === kind);
const directOf = (list) => list.filter((pair) => pair.direct).length;
const toDirect = byKind('eim-eim').map((pair) => pair.toDirectMs);
const sortedToDirect = toDirect.filter((t) => t !== null).sort((x, y) => x - y);
const rank = (q) => (toDirect.includes(null) && q === 1 ? null : (sortedToDirect[Math.ceil(q * toDirect.length) - 1] ?? null));
const transfersBy = (label) => results.map((r) => r.transfers.find((t) => t.label === label));
const classes = ['across EIM sites', 'to the symmetric site', 'same NAT'].map((label) => {
  const list = transfersBy(label);
  return {
    label,
    paths: [...new Set(list.map((t) => t.path))].join('/'),
    mbitPerS: summarize(list.map((t) => t.mbitPerS ?? null)),
    relayedShare: summarize(list.map((t) => (t.bytes ? t.relayedBytes / t.bytes : null))),
    rttMedianMs: summarize(list.map((t) => t.rtt.median)),
    rttP99Ms: summarize(list.map((t) => t.rttP99)),
    pingLoss: list.reduce((s, t) => s + t.pingSent - t.pings, 0),
    errors: list.filter((t) => t.error).map((t) => t.error),
  };
});
const summary = {
  pairsPerRun: clientPairs.length,
  allowedPerRun: allowedPairs,
  direct: {total: directOf(allPairs), eimEim: directOf(byKind('eim-eim')), sameNat: directOf(byKind('same-nat')), symmetric: directOf(byKind('symmetric'))},
  sameNatPunchTried: byKind('same-nat').filter((pair) => pair.punchTried).length,
  joinRetries,
  directLost: allPairs.reduce((s, pair) => s + pair.lost, 0),
  toDirectMs: {p50: rank(0.5), p99: rank(0.99), max: rank(1), n: toDirect.length, overTarget: toDirect.filter((t) => t === null || t > DIRECT_TARGET_MS).length},
  unansweredPings: allPairs.filter((pair) => pair.firstPingMs === null).map((pair) => `${pair.a}-${pair.b}`),
  transfers: classes,
  loadavgEnd: machineInfo().loadavg,
};
const everyAllowedDirect = summary.direct.eimEim === byKind('eim-eim').length && summary.direct.total === summary.direct.eimEim;
const met = everyAllowedDirect && summary.unansweredPings.length === 0 && summary.toDirectMs.overTarget === 0;

if (args.json) {
  process.stdout.write(`${JSON.stringify({runs, extraConfig, watchS, iperfS, pings: pingCount, pollMs, lab: {peers: PEERS, natSites: NAT_SITES}, summary, met, machine: info, results}, null, 2)}\n`);
} else {
  const ratio = (a, b) => (a !== null && b ? `${(a / b).toFixed(2)}x` : '-');
  const [acrossRow, symRow, sameRow] = classes;
  const fmt = (c) => `${c.mbitPerS.median?.toFixed(0) ?? '-'} Mbit/s (min ${c.mbitPerS.min?.toFixed(0) ?? '-'}), rtt median ${c.rttMedianMs.median?.toFixed(2) ?? '-'} ms, p99 ${c.rttP99Ms.median?.toFixed(2) ?? '-'} ms, via peers ${((c.relayedShare.median ?? 0) * 100).toFixed(0)}% of the bytes, path ${c.paths}${c.pingLoss ? `, ${c.pingLoss} pings lost` : ''}${c.errors.length ? `, errors: ${c.errors.join('; ')}` : ''}`;
  process.stdout.write('\n');
  printRows([
    ['lab', `${PEERS} public peers, 6 clients behind n0 (EIM, 2), n1 (EIM, 2), n2 (symmetric, 2); natTraversal on${Object.keys(extraConfig).length ? `, ${JSON.stringify(extraConfig)}` : ''}; ${runs} runs`],
    ['client pairs direct', `${summary.direct.total} of ${allPairs.length} (${clientPairs.length} a run); allowed by their NATs: ${byKind('eim-eim').length} (${allowedPairs} a run: EIM<->EIM across sites)`],
    ['  EIM<->EIM across sites', `${summary.direct.eimEim} of ${byKind('eim-eim').length} direct`],
    ['  symmetric on one side', `${summary.direct.symmetric} of ${byKind('symmetric').length} direct (relayed as expected)`],
    ['  same NAT', `${summary.direct.sameNat} of ${byKind('same-nat').length} direct; punch tried in ${summary.sameNatPunchTried}: the lab's routers do not hairpin and no LAN address is tried, so these pairs stay relayed through a peer`],
    ['direct paths lost again', String(summary.directLost)],
    ['joins tried again', String(joinRetries)],
    ['both in mesh -> direct', `p50 ${seconds(summary.toDirectMs.p50)}, p99 ${seconds(summary.toDirectMs.p99)}, max ${seconds(summary.toDirectMs.max)} (${summary.toDirectMs.n} pairs, polled every ${pollMs} ms; target ${seconds(DIRECT_TARGET_MS)}: ${summary.toDirectMs.overTarget} over)`],
    ['every pair pings', summary.unansweredPings.length === 0 ? 'yes' : `NO: ${summary.unansweredPings.join(', ')}`],
    [`direct (${acrossRow.label})`, fmt(acrossRow)],
    [`relayed (${symRow.label})`, fmt(symRow)],
    [`relayed (${sameRow.label})`, fmt(sameRow)],
    ['direct / relayed', `throughput ${ratio(acrossRow.mbitPerS.median, symRow.mbitPerS.median)}, rtt ${ratio(acrossRow.rttMedianMs.median, symRow.rttMedianMs.median)}`],
    ['members seen (last run)', `${Object.entries(results.at(-1).membersSeen).map(([name, n]) => `${name} ${n}`).join(', ')} (of ${hosts.hosts.length})`],
    ['NAT published (last run)', Object.entries(results.at(-1).nat).map(([name, n]) => `${name} ${n?.mapping ?? '-'}`).join(', ')],
    ['machine', `${info.nproc} cores, node ${info.node}, load ${info.loadavg.join(' ')} -> ${summary.loadavgEnd.join(' ')}, ${info.date}, commit ${info.commit}`],
  ]);
}
process.exitCode = met ? 0 : 1;
