#!/usr/bin/env node
// `npm run demo`: a short, self-cleaning tour of wgmesh.
//
// Where it can (root, /dev/net/tun, ip, wg, wireguard-go, ping), it brings up
// three hosts in network namespaces on a private bridge with an IPv6 underlay,
// runs a daemon on each with real WireGuard, creates a mesh on the first,
// joins the other two, shows `wgmesh mesh show`, pings every mesh address over
// WireGuard, and tears everything down. Where it cannot, it says why and runs
// the same story on loopback with the in-memory stub WireGuard driver, showing
// what the stub would configure instead of pinging.
//
//   node scripts/demo.js [--loopback]   (--loopback: the stub story even where namespaces work)
import {parseArgs} from 'node:util';
import {netnsAvailable} from '@wgmesh/testkit';
import {readStubState, stubStateFile} from '@wgmesh/wg-stub';
import {startMeshHosts} from './lib/mesh-hosts.js';

const {values: args} = parseArgs({options: {loopback: {type: 'boolean', default: false}}});
const support = args.loopback ? {ok: false, reason: '--loopback was given'} : netnsAvailable();
const mode = support.ok ? 'netns' : 'loopback';

/** Print a section title. */
function say(text) {
  console.log(`\n== ${text}`);
}

/**
 * Run `wgmesh ARGS` on a host, echo it like a shell session, and return its output.
 * @param {import('./lib/mesh-hosts.js').MeshHosts} hosts
 * @param {import('./lib/mesh-hosts.js').Host} host
 * @param {string[]} args
 */
async function wgmesh(hosts, host, args) {
  // An invite line is a secret of ~1 KB: show its start only.
  const shown = args.map((arg) => (arg.startsWith('wgm1-') && arg.length > 24 ? `${arg.slice(0, 16)}...` : arg));
  console.log(`\n${host.name}$ wgmesh ${shown.join(' ')}`);
  const result = await hosts.cli(host, args);
  process.stdout.write(result.stdout);
  if (result.code !== 0) {
    process.stdout.write(result.stderr);
    throw new Error(`wgmesh ${args.join(' ')} failed on ${host.name} (exit ${result.code})`);
  }
  return result.stdout;
}

if (mode === 'netns') {
  console.log('wgmesh demo: three hosts in network namespaces, real WireGuard.');
} else {
  console.log(`wgmesh demo: real WireGuard in network namespaces is not possible here (${support.reason}),`);
  console.log('so the same story runs on loopback with the stub WireGuard driver (it configures nothing real, so there is nothing to ping).');
}

const started = Date.now();
const hosts = await startMeshHosts({count: 3, mode});
try {
  const [h0, h1, h2] = hosts.hosts;
  say(mode === 'netns' ? `hosts on a private bridge, underlay ${hosts.lab.prefix}` : 'daemons on loopback');
  for (const host of hosts.hosts) {
    const where = host.netns ? `namespace ${host.netns}, underlay ${host.address}` : 'loopback';
    console.log(`${host.name}: ${where}; daemon (${mode === 'netns' ? 'kernel' : 'stub'} WireGuard driver) listening on ${host.endpoint}`);
  }
  console.log(`(no certificates: each daemon's TLS identity is its own node key; ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`);

  say('create a mesh on h0 (its admin), issue one invite for two nodes; h1 joins with it, h2 with the same line through h1');
  const meshId = (await wgmesh(hosts, h0, ['mesh', 'create'])).trim().split('\n').pop();
  const invite = (await wgmesh(hosts, h0, ['mesh', 'invite', meshId, '--uses', '2', '--expires', '10m'])).trim().split('\n').pop();
  await wgmesh(hosts, h1, ['mesh', 'join', '--invite', invite]);
  await wgmesh(hosts, h2, ['mesh', 'join', '--invite', invite, '--via', h1.endpoint]);
  await hosts.waitForMembers(meshId, 3);
  await wgmesh(hosts, h0, ['mesh', 'list']);

  /** Each host's mesh address and WireGuard interface. */
  const addressOf = new Map();
  const iface = new Map();
  for (const host of hosts.hosts) {
    addressOf.set(host, (await hosts.call(host, 'mesh.show', {meshId})).nodes.find((node) => node.self).address);
    iface.set(host, (await hosts.call(host, 'mesh.list', {}))[0].interface);
  }

  if (mode === 'netns') {
    say('ping every mesh address over WireGuard');
    for (const from of hosts.hosts) {
      for (const to of hosts.hosts.filter((other) => other !== from)) {
        const ms = await hosts.firstPing(from, addressOf.get(to), {timeoutMs: 15_000});
        if (ms === null) throw new Error(`${from.name} got no answer from ${to.name} at ${addressOf.get(to)}`);
        console.log(`${from.name} -> ${to.name}  ${addressOf.get(to)}  answered after ${ms.toFixed(0)} ms`);
      }
    }
    await wgmesh(hosts, h0, ['mesh', 'show', meshId]);
    console.log(`\n${h0.name}$ wg show ${iface.get(h0)}`);
    process.stdout.write((await hosts.exec(h0, 'wg', ['show', iface.get(h0)])).stdout);
  } else {
    await wgmesh(hosts, h0, ['mesh', 'show', meshId]);
    say('what the stub driver would configure on each host');
    for (const host of hosts.hosts) {
      const state = await readStubState(stubStateFile(host.dataDir));
      const configured = state?.interfaces.find((candidate) => candidate.name === iface.get(host));
      console.log(`${host.name}: interface ${iface.get(host)} address ${configured?.addresses.join(', ') ?? '-'}`);
      for (const peer of configured?.peers ?? []) console.log(`    peer ${peer.publicKey}  endpoint ${peer.endpoint ?? '-'}  allowed ${peer.allowedIps.join(', ')}`);
    }
  }

  say('h2 leaves; the others drop it');
  await wgmesh(hosts, h2, ['mesh', 'leave', meshId]);
  await hosts.waitForMembers(meshId, 2, {among: [h0, h1]});
  await wgmesh(hosts, h0, ['mesh', 'list']);
} finally {
  say('tearing down');
  await hosts.close();
}
console.log(`Demo finished in ${((Date.now() - started) / 1000).toFixed(1)} s; nothing is left behind.`);
