/**
 * `ports`: the ports the config and the meshes use are free: the transport's
 * gRPC port (TCP), the DNS listener (UDP) and metrics listener (TCP) when
 * enabled, and each mesh's WireGuard port (UDP). A port held by the running
 * daemon itself (or by the WireGuard interface of one of its meshes) is how
 * it should be, not a problem.
 */
import {parseListenAddress, type DaemonConfig} from '@wgmesh/core';
import {fail, ok, skip, warn, type CheckResult, type DoctorCheck} from '../check.js';
import type {DaemonFacts, DoctorContext} from '../context.js';
import {probePort} from '../port-probe.js';
import {processHoldsPort, type PortProtocol} from '../socket-owner.js';

const NAME = 'ports';

/** A port wgmesh will bind. */
export interface WantedPort {
  protocol: PortProtocol;
  host: string;
  port: number;
  /** What uses it, e.g. `gRPCPort`. */
  what: string;
  /** How to choose another one. */
  change: string;
  /** The mesh whose WireGuard interface binds it. */
  meshId?: string;
}

/** The transport's listen address: the `grpc.listenAddress` of the config when it is a string, else `::` (its default). */
function grpcHost(config: DaemonConfig): string {
  const section = config.sections.grpc;
  const address = typeof section === 'object' && section !== null ? (section as {listenAddress?: unknown}).listenAddress : undefined;
  return typeof address === 'string' ? address : '::';
}

/** The ports of the config and of the saved meshes. */
export async function wantedPorts(context: DoctorContext, config: DaemonConfig): Promise<WantedPort[]> {
  const where = config.configFile ?? 'the config file';
  const ports: WantedPort[] = [];
  if (config.transport === 'grpc') ports.push({protocol: 'tcp', host: grpcHost(config), port: config.gRPCPort, what: 'gRPCPort', change: `set gRPCPort in ${where}`});
  if (config.dnsEnabled) ports.push({protocol: 'udp', ...parseListenAddress(config.dnsListen), what: 'dnsListen', change: `set dnsListen in ${where}`});
  if (config.metricsEnabled) ports.push({protocol: 'tcp', ...parseListenAddress(config.metricsListen), what: 'metricsListen', change: `set metricsListen in ${where}`});
  if (config.apiEnabled) ports.push({protocol: 'tcp', ...parseListenAddress(config.apiListen), what: 'apiListen', change: `set apiListen in ${where}`});
  for (const mesh of (await context.storedMeshes()).settings) {
    const port = mesh.listenPort === 0 ? mesh.pickedPort : mesh.listenPort;
    if (port === undefined) continue;
    ports.push({protocol: 'udp', host: '::', port, what: `mesh ${mesh.meshId} WireGuard port`, change: `wgmesh mesh set ${mesh.meshId} --port OTHER_PORT`, meshId: mesh.meshId});
  }
  return ports.filter((wanted) => wanted.port !== 0);
}

/** Whether the running daemon holds the port: its own socket, or its mesh's WireGuard interface listening there. */
async function heldByDaemon(context: DoctorContext, daemon: DaemonFacts, wanted: WantedPort, signal: AbortSignal): Promise<string | undefined> {
  if (!daemon.reachable) return undefined;
  if (wanted.meshId === undefined) {
    const pid = await context.daemonPid();
    return pid !== undefined && (await processHoldsPort(pid, wanted.port, wanted.protocol)) ? `the wgmesh daemon (pid ${pid})` : undefined;
  }
  const running = daemon.status.meshes.find((mesh) => mesh.meshId === wanted.meshId && mesh.interface !== '-');
  if (!running) return undefined;
  try {
    const {stdout} = await context.runner.run('wg', ['show', running.interface, 'listen-port'], {signal});
    return Number(stdout.trim()) === wanted.port ? `its WireGuard interface ${running.interface}` : undefined;
  } catch {
    return undefined;
  }
}

async function checkPort(context: DoctorContext, daemon: DaemonFacts, wanted: WantedPort, signal: AbortSignal): Promise<CheckResult> {
  const label = `${wanted.protocol.toUpperCase()} ${wanted.host.includes(':') ? `[${wanted.host}]` : wanted.host}:${wanted.port} (${wanted.what})`;
  let probe = await probePort(wanted.protocol, wanted.host, wanted.port);
  // Without IPv6 the wildcard `::` cannot be bound; WireGuard then listens on IPv4 alone.
  if (!probe.free && probe.code === 'EAFNOSUPPORT' && wanted.host === '::') probe = await probePort(wanted.protocol, '0.0.0.0', wanted.port);
  if (probe.free) return ok(NAME, `${label} is free`);
  if (probe.code === 'EADDRINUSE') {
    const holder = await heldByDaemon(context, daemon, wanted, signal);
    if (holder !== undefined) return ok(NAME, `${label} is held by ${holder}`);
    const ss = wanted.protocol === 'tcp' ? 'ss -ltnp' : 'ss -lunp';
    return fail(NAME, `${label} is in use by another program`, `find it with '${ss} sport = :${wanted.port}' and stop it, or ${wanted.change}`);
  }
  if (probe.code === 'EACCES') return warn(NAME, `${label} cannot be bound by this user (ports below 1024 need root)`, `run the daemon as root, or ${wanted.change}`);
  if (probe.code === 'EADDRNOTAVAIL') return fail(NAME, `${label}: the address is not on this host`, wanted.change);
  return warn(NAME, `${label} cannot be bound (${probe.code})`, wanted.change);
}

/** Every port wgmesh will bind is free, or already held by wgmesh. */
export const portsCheck: DoctorCheck = {
  name: NAME,
  async run(context, signal) {
    const {config, error} = await context.config();
    if (!config) return skip(NAME, `the config cannot be read: ${error}`);
    const daemon = await context.daemon();
    const ports = await wantedPorts(context, config);
    return Promise.all(ports.map((wanted) => checkPort(context, daemon, wanted, signal)));
  },
};
