#!/usr/bin/env node
/**
 * What one membership message costs on the wire with the gRPC transport: two
 * real transports (mutual TLS) in a network namespace of their own, one
 * sending `--count` messages of `--payload` bytes answered with `--reply`
 * bytes, `--gap-ms` apart (idle heartbeats are ~80 + 28 bytes, about 2 s apart
 * per pair). Bytes and packets are read from the namespace's loopback
 * counters, so they include IP and TCP headers and every ACK.
 *
 *   node bench/message-wire-cost.js [--count 60] [--gap-ms 400] [--payload 80] [--reply 28] [--json]
 *
 * Needs root (ip netns); run `npm run build` first.
 */
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {parseArgs} from 'node:util';
import {ROOT, sleep} from './lib/fleet.js';
import {machineInfo, printRows} from './lib/report.js';

const {values: args} = parseArgs({
  options: {
    count: {type: 'string', default: '60'},
    'gap-ms': {type: 'string', default: '400'},
    payload: {type: 'string', default: '80'},
    reply: {type: 'string', default: '28'},
    json: {type: 'boolean', default: false},
    'in-namespace': {type: 'boolean', default: false},
    help: {type: 'boolean', short: 'h', default: false},
  },
});
if (args.help) {
  process.stdout.write('usage: node bench/message-wire-cost.js [--count 60] [--gap-ms 400] [--payload 80] [--reply 28] [--json]\n');
  process.exit(0);
}
const count = Number(args.count);
const gapMs = Number(args['gap-ms']);
const payloadBytes = Number(args.payload);
const replyBytes = Number(args.reply);
for (const [name, value] of [['count', count], ['gap-ms', gapMs], ['payload', payloadBytes], ['reply', replyBytes]]) {
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`--${name} must be a non-negative integer\n`);
    process.exit(2);
  }
}

if (!args['in-namespace']) {
  // Re-run this script inside a fresh namespace so its loopback counts only this traffic.
  if (process.getuid?.() !== 0) {
    process.stderr.write('message-wire-cost needs root (it measures in a network namespace of its own)\n');
    process.exit(2);
  }
  const netns = `wgmesh-wire-${process.pid}`;
  execFileSync('ip', ['netns', 'add', netns]);
  try {
    execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['netns', 'exec', netns, process.execPath, import.meta.filename, ...process.argv.slice(2), '--in-namespace'], {stdio: 'inherit'});
  } finally {
    execFileSync('ip', ['netns', 'del', netns]);
  }
  process.exit(0);
}

const core = await import(join(ROOT, 'src/core/dist/index.js'));
const {grpcTransportFactory} = await import(join(ROOT, 'plugins/transport-grpc/dist/factory.js'));
const dir = mkdtempSync(join(tmpdir(), 'wgmesh-wire-'));
const quiet = {debug() {}, info() {}, warn() {}, error() {}, child: () => quiet};
const abort = new AbortController();
try {
  await core.initCertificateAuthority({outDir: join(dir, 'ca')});
  const transports = [];
  for (const name of ['a', 'b']) {
    const files = await core.issueNodeCertificateFiles({caDir: join(dir, 'ca'), name, hosts: ['127.0.0.1'], outDir: join(dir, name)});
    transports.push(
      await grpcTransportFactory.create({
        config: {listenAddress: '127.0.0.1'},
        daemonConfig: {gRPCPort: 0, timeoutMs: 5_000, ...files},
        logger: quiet,
        dataDir: dir,
        signal: abort.signal,
        identity: {nodeId: '0'.repeat(32), signingKey: '', wgPublicKey: ''},
        clock: core.systemClock,
        random: core.systemRandom,
      }),
    );
  }
  const [caller, member] = transports;
  const reply = new Uint8Array(replyBytes);
  const refuse = () => {
    throw new Error('not used by this bench');
  };
  const {port} = await member.listen({snapshot: refuse, openSync: refuse, message: async () => reply});
  const endpoint = `127.0.0.1:${port}`;
  const meshId = core.generateMeshId();
  const payload = new Uint8Array(payloadBytes);
  // Connection, TLS handshake and stream set-up are not what is measured.
  await caller.message(endpoint, meshId, payload);
  await sleep(200);
  const counter = (name) => Number(readFileSync(`/sys/class/net/lo/statistics/${name}`, 'utf8'));
  const bytes0 = counter('tx_bytes');
  const packets0 = counter('tx_packets');
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    await caller.message(endpoint, meshId, payload);
    if (gapMs > 0) await sleep(gapMs);
  }
  const cpu = process.cpuUsage(cpu0);
  // Delayed ACKs of the last reply.
  await sleep(300);
  const bytes = (counter('tx_bytes') - bytes0) / count;
  const packets = (counter('tx_packets') - packets0) / count;
  // Both ends run in this process: the CPU of a sender and a receiver, sleeps between messages included (they cost next to none).
  const cpuUsPerMessage = Math.round((cpu.user + cpu.system) / count);
  const report = {machine: machineInfo(), count, gapMs, payloadBytes, replyBytes, wireBytesPerMessage: Math.round(bytes), packetsPerMessage: Number(packets.toFixed(2)), cpuUsPerMessage};
  if (args.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    printRows([
      ['messages', `${count}, ${gapMs} ms apart, ${payloadBytes} B request + ${replyBytes} B reply`],
      ['wire bytes per message and reply', `${report.wireBytesPerMessage} B (IP + TCP headers and ACKs included)`],
      ['packets per message and reply', String(report.packetsPerMessage)],
      ['CPU per message and reply, both ends', `${report.cpuUsPerMessage} µs (user + system)`],
    ]);
  }
  abort.abort();
  await Promise.all(transports.map((t) => t.close()));
} finally {
  rmSync(dir, {recursive: true, force: true});
}
