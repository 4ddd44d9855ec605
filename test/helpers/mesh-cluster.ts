/**
 * A cluster of real wgmesh daemons on loopback, for the multi-daemon tests:
 * each daemon's TLS identity its own node key (no certificate files) or, in CA
 * mode, a PKI made with the real `wgmesh certs` commands; one YAML config file per
 * node (stub WireGuard, its own free control port, a fault-injection file for
 * partitions), and the means to drive and observe each node: IPC calls (cheap
 * enough to poll), CLI runs (what a user types), the WireGuard configuration the
 * stub mirrors to disk, and the daemon's JSON log.
 *
 * Everything lives in one sandbox directory; {@link MeshCluster.close} kills
 * every daemon of the cluster and removes it, and is safe to call after any
 * failure (also twice).
 */
import {createServer, type AddressInfo} from 'node:net';
import {mkdir, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {IpcClient, type IpcMethod, type IpcMethods} from '@wgmesh/core/client';
import {formatEndpoint, generateIdentity, selfIssueTlsIdentity, systemClock, systemRandom, writeFileAtomic, type NodeIdentity, type Transport} from '@wgmesh/core';
import {silentLogger} from '@wgmesh/testkit';
import {grpcTransportFactory} from '@wgmesh/transport-grpc';
import {readStubState, stubStateFile, type StubInterfaceSnapshot} from '@wgmesh/wg-stub';
import {stringify} from 'yaml';
import {daemonPaths, makeSandbox, runCli, startDaemon, type CliResult, type DaemonProcess, type Sandbox} from './cli.js';
import {redeemAndJoin} from './member-attacks.js';

/** The CA mode TLS keys of a daemon config (absolute paths), with the node key's file for hand-made clients. */
export interface TlsFiles {
  caCertificatePath: string;
  certificatePath: string;
  /** The node key in PEM (written for an identity; a daemon's stays in its identity file). */
  privateKeyPath?: string;
}

/** Whose node key a certificate is for: a daemon's data dir (its identity, made there if missing) or an identity in the test. */
export type NodeKey = {dataDir: string} | {identity: NodeIdentity};

/** A certificate authority made with `wgmesh certs init`, issuing node certificates with `wgmesh certs issue`. */
export interface TestPki {
  /** The CA directory (ca.crt, ca.key). */
  caDir: string;
  /**
   * Issue a certificate for node `name` and its node key, valid for `host` (an
   * IP address; default 127.0.0.1). For an identity, its key is written beside
   * (NAME.key, 0600) for hand-made TLS clients.
   */
  issue(name: string, key: NodeKey, host?: string): Promise<TlsFiles>;
}

/** Run a CLI command that must succeed and print JSON; throws with its output otherwise. */
async function cliJson<T>(args: readonly string[], env: NodeJS.ProcessEnv): Promise<T> {
  const result = await runCli([...args, '--json'], env);
  if (result.code !== 0) throw new Error(`wgmesh ${args.join(' ')} exited with ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** Make a CA in `sandbox/dirName` with the real CLI. */
export async function makePki(sandbox: Sandbox, dirName = 'pki'): Promise<TestPki> {
  const root = join(sandbox.dir, dirName);
  const caDir = join(root, 'ca');
  await cliJson(['certs', 'init', '--out', caDir], sandbox.env);
  return {
    caDir,
    async issue(name, key, host = '127.0.0.1') {
      const out = join(root, name);
      const forKey = 'dataDir' in key ? ['--data-dir', key.dataDir] : ['--signing-key', key.identity.signingKey];
      const issued = await cliJson<TlsFiles>(['certs', 'issue', '--ca', caDir, '--name', name, '--host', host, ...forKey, '--out', out], sandbox.env);
      const files = {caCertificatePath: issued.caCertificatePath, certificatePath: issued.certificatePath};
      if ('dataDir' in key) return files;
      const privateKeyPath = join(out, `${name}.key`);
      await writeFileAtomic(privateKeyPath, key.identity.tlsPrivateKey().export({type: 'pkcs8', format: 'pem'}), 0o600);
      return {...files, privateKeyPath};
    },
  };
}

/**
 * `count` distinct TCP ports that were free a moment ago. All are held open
 * until every one is found, so two calls within one test never collide.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      {length: count},
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return ports;
}

/** The fault-injection file of the grpc transport (see plugins/transport-grpc/README.md). */
export interface Faults {
  blockOutbound?: string[];
  blockInbound?: string[];
}

/** One line of a daemon's JSON log (pino). */
export interface LogLine {
  level: number;
  msg?: string;
  [key: string]: unknown;
}

/** pino's numeric levels. */
export const LOG_LEVEL = {trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60} as const;

/** Parse JSON log lines; anything else (a stack trace, oclif output) is skipped. */
export function parseLogLines(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const value = JSON.parse(line) as unknown;
      if (typeof value === 'object' && value !== null && typeof (value as {level?: unknown}).level === 'number') lines.push(value as LogLine);
    } catch {
      // a line cut by the end of the buffer so far
    }
  }
  return lines;
}

/** How to set up one node. */
export interface NodeSpec {
  name: string;
  /** Extra top-level config keys, e.g. `{syncInterval: '500ms'}` (the defaults otherwise). */
  config?: Record<string, unknown>;
  /** Extra keys of the `grpc:` section. */
  grpc?: Record<string, unknown>;
  /** `--log-level` (default info: debug logs of many daemons cost CPU on small CI machines). */
  logLevel?: string;
}

/** Where a node runs: its control port, the address it is reached at, its network namespace and WireGuard driver. */
export interface NodePlacement {
  /** Control (gRPC) port. */
  port: number;
  /** The address the daemon listens on, advertises and has its certificate for (default 127.0.0.1). */
  host?: string;
  /** Run the daemon in this network namespace (default: the test's own). */
  netns?: string;
  /** The `wgDriver` of its config (default `stub`). */
  wgDriver?: string;
}

/** What {@link MeshNode} is made from ({@link writeNodeFiles} writes the files and returns these). */
export interface MeshNodeOptions {
  sandbox: Sandbox;
  name: string;
  port: number;
  configFile: string;
  faultFile: string;
  logLevel: string;
  /** The address other daemons dial (default 127.0.0.1). */
  host?: string;
  /** Run the daemon in this network namespace (default: the test's own). */
  netns?: string;
}

/**
 * Write the YAML config of one node (data dir and socket in the sandbox, the
 * fault-injection file, the placement's port, address and driver, then the
 * spec's extra keys) and, with a `pki` (CA mode), issue its certificate for
 * its node key. Starts nothing.
 */
export async function writeNodeFiles(sandbox: Sandbox, pki: TestPki | null, spec: NodeSpec, placement: NodePlacement): Promise<MeshNodeOptions> {
  const host = placement.host ?? '127.0.0.1';
  const {dataDir, socket} = daemonPaths(sandbox, spec.name);
  const tls = pki ? await pki.issue(spec.name, {dataDir}, host) : {};
  const dir = join(sandbox.dir, 'configs');
  await mkdir(dir, {recursive: true});
  const configFile = join(dir, `${spec.name}.yaml`);
  const faultFile = join(dir, `${spec.name}.faults.json`);
  const config = {
    gRPCPort: placement.port,
    wgDriver: placement.wgDriver ?? 'stub',
    dataDir,
    socket,
    ...tls,
    baseConfiguration: {publicEndpoint: host},
    ...spec.config,
    // Only the given address: a test never opens a port on the machine's real interfaces.
    grpc: {listenAddress: host, faultInjectionFile: faultFile, ...spec.grpc},
  };
  await writeFile(configFile, stringify(config));
  return {sandbox, name: spec.name, port: placement.port, configFile, faultFile, logLevel: spec.logLevel ?? 'info', host, netns: placement.netns};
}

/** One node of a cluster: its files, its daemon (when running) and the ways to talk to it. */
export class MeshNode {
  /** Node name (also its certificate CN, data dir and socket name). */
  readonly name: string;
  /** Control (gRPC) port. */
  readonly port: number;
  /** Control endpoint, `HOST:PORT` (`127.0.0.1:PORT` unless told otherwise; IPv6 in brackets). */
  readonly endpoint: string;
  readonly configFile: string;
  readonly faultFile: string;
  readonly dataDir: string;
  readonly socket: string;
  private readonly sandbox: Sandbox;
  private readonly logLevel: string;
  /** The network namespace the daemon runs in (undefined: the test's own). */
  private readonly netns: string | undefined;
  private process: DaemonProcess | undefined;
  /** Logs of the daemon processes that ran before the current one (restarts). */
  private earlierLogs = '';

  constructor(options: MeshNodeOptions) {
    this.sandbox = options.sandbox;
    this.name = options.name;
    this.port = options.port;
    this.endpoint = formatEndpoint(options.host ?? '127.0.0.1', options.port);
    this.netns = options.netns;
    this.configFile = options.configFile;
    this.faultFile = options.faultFile;
    this.logLevel = options.logLevel;
    const {dataDir, socket} = daemonPaths(options.sandbox, options.name);
    this.dataDir = dataDir;
    this.socket = socket;
  }

  /** The running daemon. @throws when it was never started or has exited. */
  get daemon(): DaemonProcess {
    if (!this.process || !this.running) throw new Error(`daemon ${this.name} is not running`);
    return this.process;
  }

  /** True while its daemon process runs. */
  get running(): boolean {
    const child = this.process?.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Start the daemon from its config file and wait until it is ready (also a restart from the same data dir). */
  async start(): Promise<void> {
    if (this.running) throw new Error(`daemon ${this.name} is already running`);
    if (this.process) this.earlierLogs += this.process.logs();
    this.process = await startDaemon({sandbox: this.sandbox, name: this.name, config: this.configFile, logLevel: this.logLevel, netns: this.netns});
  }

  /** Send `signal` (default SIGKILL) and wait for the process to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.process) await this.process.stop(signal);
  }

  /** Everything this node's daemons logged (all runs). */
  logs(): string {
    return this.earlierLogs + (this.process?.logs() ?? '');
  }

  /** The current daemon's log from character `from` on, parsed. */
  logLinesSince(from: number): LogLine[] {
    return parseLogLines((this.process?.logs() ?? '').slice(from));
  }

  /** Length of the current daemon's log so far (a mark for {@link logLinesSince}). */
  logMark(): number {
    return this.process?.logs().length ?? 0;
  }

  /** One IPC call to the daemon (a fresh connection each time, so it survives restarts). */
  async call<M extends IpcMethod>(method: M, params: IpcMethods[M]['params'], timeoutMs = 10_000): Promise<IpcMethods[M]['result']> {
    const client = new IpcClient(this.socket, {timeoutMs});
    try {
      return await client.call(method, params);
    } finally {
      client.close();
    }
  }

  /** Run `wgmesh ARGS --config <this node's file>`. */
  cli(args: readonly string[]): Promise<CliResult> {
    return runCli([...args, '--config', this.configFile], this.sandbox.env);
  }

  /** Run `wgmesh ARGS --config FILE --json`; it must exit 0. */
  cliJson<T>(args: readonly string[]): Promise<T> {
    return cliJson<T>([...args, '--config', this.configFile], this.sandbox.env);
  }

  /** An invite to `meshId` issued by this node (an admin of it): the line `mesh join --invite` takes. */
  async invite(meshId: string, options: {uses?: number; role?: 'peer' | 'client'; validForMs?: number} = {}): Promise<string> {
    const issued = await this.call('mesh.invite', {meshId, uses: options.uses ?? 1, role: options.role ?? 'peer', validForMs: options.validForMs ?? 3_600_000});
    return issued.token;
  }

  /**
   * `wgmesh mesh join MESH_ID --invite LINE --via VIA ...extra`, with a
   * single-use invite from `admin`; it must succeed.
   */
  async join(meshId: string, admin: MeshNode, via: MeshNode, extra: readonly string[] = []): Promise<{meshId: string; members: number}> {
    const role = extra.includes('client') ? 'client' : 'peer';
    return this.cliJson(['mesh', 'join', meshId, '--invite', await admin.invite(meshId, {role}), '--via', via.endpoint, ...extra]);
  }

  /** Ids of the members this node sees alive in `meshId` (sorted). */
  async view(meshId: string): Promise<string[]> {
    const shown = await this.call('mesh.show', {meshId});
    return shown.nodes.map((node) => node.id).sort();
  }

  /** The WireGuard interface the stub driver was last asked to configure for `iface`, if any. */
  async wireguard(iface: string): Promise<StubInterfaceSnapshot | undefined> {
    const state = await readStubState(stubStateFile(this.dataDir));
    return state?.interfaces.find((candidate) => candidate.name === iface);
  }

  /** Rewrite the fault-injection file (atomically: the transport re-reads it on every call). */
  async setFaults(faults: Faults): Promise<void> {
    await writeFileAtomic(this.faultFile, JSON.stringify({blockOutbound: faults.blockOutbound ?? [], blockInbound: faults.blockInbound ?? []}), 0o644);
  }
}

/** Options of {@link MeshCluster.create}. */
export interface MeshClusterOptions {
  /** CA mode: daemons also require certificates of one CA (issued for each node key); default false (node keys only, no files). */
  ca?: boolean;
}

/** Real daemons on loopback; in CA mode they share one CA. */
export class MeshCluster {
  readonly sandbox: Sandbox;
  /** The CA in CA mode, else null. */
  readonly pki: TestPki | null;
  readonly nodes: MeshNode[] = [];
  private closed = false;

  private constructor(sandbox: Sandbox, pki: TestPki | null) {
    this.sandbox = sandbox;
    this.pki = pki;
  }

  /** A sandbox and, in CA mode, a CA; no nodes yet. The sandbox is removed again if the CA cannot be made. */
  static async create(prefix = 'wgmesh-cluster-', options: MeshClusterOptions = {}): Promise<MeshCluster> {
    const sandbox = await makeSandbox(prefix);
    try {
      return new MeshCluster(sandbox, options.ca ? await makePki(sandbox) : null);
    } catch (error) {
      await sandbox.cleanup();
      throw error;
    }
  }

  /** The node called `name`. */
  node(name: string): MeshNode {
    const found = this.nodes.find((node) => node.name === name);
    if (!found) throw new Error(`no node ${name} in this cluster`);
    return found;
  }

  /**
   * Write the config (and, in CA mode, the certificate) of each spec and start
   * the daemons in parallel; resolves when every one is ready.
   */
  async addNodes(specs: readonly NodeSpec[]): Promise<MeshNode[]> {
    const ports = await freePorts(specs.length);
    const nodes = await Promise.all(specs.map(async (spec, index) => new MeshNode(await writeNodeFiles(this.sandbox, this.pki, spec, {port: ports[index]!}))));
    this.nodes.push(...nodes);
    await Promise.all(nodes.map((node) => node.start()));
    return nodes;
  }

  /**
   * Cut the control plane between groups: every node lists the control
   * endpoints of every node outside its own group in `blockOutbound` (daemons
   * sharing one IP cannot be told apart by `blockInbound`).
   */
  async partition(groups: readonly (readonly MeshNode[])[]): Promise<void> {
    await Promise.all(
      groups.flatMap((group) => {
        const others = groups.filter((other) => other !== group).flatMap((other) => other.map((node) => node.endpoint));
        return group.map((node) => node.setFaults({blockOutbound: others}));
      }),
    );
  }

  /** Remove every fault (empty lists in every node's file). */
  async heal(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.setFaults({})));
  }

  /** Kill every daemon of the cluster and remove the sandbox. Safe after failures and when called twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.nodes.map((node) => node.kill('SIGKILL')));
    await this.sandbox.cleanup();
  }
}

/** Milliseconds `wait` took to resolve (it rejects as it would without the timing). */
export async function timed(wait: () => Promise<void>): Promise<number> {
  const start = Date.now();
  await wait();
  return Date.now() - start;
}

/** Observers that must each see every id in `required`. */
export interface ViewExpectation {
  observers: readonly MeshNode[];
  required: Iterable<string>;
}

/**
 * Samples every observer's view of one mesh in the background (IPC
 * `mesh.show`, one round after another) and records each sample in which a
 * node that must be there is missing, or an observer does not answer. The test
 * changes the expectation with {@link expect} before it removes a node on
 * purpose; a sample that was in flight across such a change is discarded, so
 * an intended removal is never reported.
 */
export class ViewWatch {
  /** Every violation seen, as text. */
  readonly violations: string[] = [];
  /** Completed sampling rounds that counted. */
  rounds = 0;
  private readonly meshId: string;
  private groups: {observers: MeshNode[]; required: Set<string>}[] = [];
  private generation = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(meshId: string) {
    this.meshId = meshId;
  }

  /** From now on, every one of `observers` must see every id in `required` (no observers: nothing is checked). */
  expect(observers: readonly MeshNode[], required: Iterable<string>): void {
    this.expectEach([{observers, required}]);
  }

  /** From now on, each group's observers must see that group's required ids (e.g. the two sides of a partition). */
  expectEach(groups: readonly ViewExpectation[]): void {
    this.groups = groups.map((group) => ({observers: [...group.observers], required: new Set(group.required)}));
    this.generation++;
  }

  /** Start sampling. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stop sampling and wait for the round in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async check(observer: MeshNode, required: ReadonlySet<string>): Promise<string | undefined> {
    try {
      const seen = new Set(await observer.view(this.meshId));
      const missing = [...required].filter((id) => !seen.has(id));
      return missing.length > 0 ? `${observer.name} did not see ${missing.join(', ')} (it saw ${seen.size})` : undefined;
    } catch (error) {
      return `${observer.name} did not answer: ${(error as Error).message}`;
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const generation = this.generation;
      const checks = this.groups.flatMap((group) => group.observers.map((observer) => this.check(observer, group.required)));
      const started = new Date().toISOString();
      const problems = await Promise.all(checks);
      // Discard a round that straddled a change of expectation (an intended removal or restart).
      if (generation === this.generation && checks.length > 0) {
        this.rounds++;
        for (const problem of problems) if (problem) this.violations.push(`${started} ${problem}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** The interface name of `meshId` on `node` (from `mesh list`). */
export async function interfaceOf(node: MeshNode, meshId: string): Promise<string> {
  const meshes = await node.call('mesh.list', {});
  const mesh = meshes.find((candidate) => candidate.meshId === meshId);
  if (!mesh) throw new Error(`${node.name} is not in mesh ${meshId}`);
  return mesh.interface;
}

/** A test process that talks to daemons as another node would: its identity and the grpc transport's client. */
export interface MemberClient {
  /** The identity the client speaks for (its records and statements are signed with it). */
  readonly identity: NodeIdentity;
  /** The grpc transport, dialling only (it never listens). */
  readonly transport: Transport;
  /** Stop every request and close the transport. */
  close(): Promise<void>;
}

/**
 * A client proving its identity's node key (and, in CA mode, holding a
 * certificate of `cluster`'s CA issued to `name` for that key): what an
 * attacker that is (or has the credentials of) a member can send.
 */
export async function memberClient(cluster: MeshCluster, name: string, options: {timeoutMs?: number; identity?: NodeIdentity} = {}): Promise<MemberClient> {
  const identity = options.identity ?? generateIdentity();
  const files = cluster.pki ? await cluster.pki.issue(name, {identity}) : {};
  const abort = new AbortController();
  const transport = await grpcTransportFactory.create({
    config: {listenAddress: '127.0.0.1'},
    daemonConfig: {gRPCPort: 1, timeoutMs: options.timeoutMs ?? 5_000, ...files},
    logger: silentLogger(),
    dataDir: join(cluster.sandbox.dir, name),
    signal: abort.signal,
    identity: {nodeId: identity.nodeId, signingKey: identity.signingKey, wgPublicKey: identity.wgPublicKey},
    tls: await selfIssueTlsIdentity(identity),
    clock: systemClock,
    random: systemRandom,
  });
  return {
    identity,
    transport,
    async close() {
      abort.abort();
      await transport.close();
    },
  };
}

/**
 * Make `client`'s identity a member of `meshId` the way a joining daemon
 * does: redeem a fresh invite from `admin` for its key and present it to
 * `via` (a `jn` request), which then serves it for a minute, long enough to
 * push its own record. Returns the credential its entries must carry.
 */
export async function joinAsMember(client: MemberClient, admin: MeshNode, meshId: string, via: MeshNode, role: 'peer' | 'client' = 'peer'): Promise<Uint8Array> {
  return redeemAndJoin(client.transport, client.identity, via.endpoint, meshId, await admin.invite(meshId, {role}));
}
