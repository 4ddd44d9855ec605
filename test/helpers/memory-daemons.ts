/**
 * Whole daemons in this process, over the in-memory transport (which proves
 * each daemon's node id the way gRPC's TLS does) with the stub WireGuard
 * driver: for the trust flows (create, invite, join, revoke) that need many
 * daemons, some stopped, without the cost of real processes.
 */
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {Daemon, generateIdentity, systemClock, systemRandom, type NodeIdentity} from '@wgmesh/core';
import {MemoryNetwork, silentLogger} from '@wgmesh/testkit';
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import {StubWgDriver} from '@wgmesh/wg-stub';

/** Control settings fast enough for tests. */
export const FAST_CONTROL = {syncIntervalMs: 300, heartbeatIntervalMs: 500, pullIntervalMs: 2_000, branch: 3, clusterSize: 64, interClusterChance: 0.15, infectionCount: 3, timeoutMs: 2000, maxClockSkewMs: 300_000};

/** One in-process daemon. */
export interface MemoryDaemon {
  readonly name: string;
  readonly identity: NodeIdentity;
  readonly driver: StubWgDriver;
  /** Its control endpoint on the network (`name:4000`). */
  readonly endpoint: string;
  daemon: Daemon;
  /** Start it again after {@link stop} (same identity and data dir). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A set of in-process daemons on one memory network, removed with {@link dispose}. */
export class MemoryFleet {
  readonly network = new MemoryNetwork();
  private readonly daemons: MemoryDaemon[] = [];
  private readonly dirs: string[] = [];

  /** Make and start a daemon called `name`; `prepare` may write files in its data dir first. */
  async add(name: string, prepare?: (dataDir: string) => Promise<void>): Promise<MemoryDaemon> {
    const dir = await mkdtemp(join(tmpdir(), `wgmesh-${name}-`));
    this.dirs.push(dir);
    await prepare?.(dir);
    const identity = generateIdentity();
    const driver = new StubWgDriver();
    const endpoint = `${name}:4000`;
    const make = (): Daemon =>
      new Daemon({
        identity,
        dataDir: dir,
        store: {kind: 'twophase', open: (options) => new TwoPhaseStore(options)},
        driver,
        transport: this.network.transport(endpoint, identity.nodeId),
        control: FAST_CONTROL,
        backendNames: {store: 'twophase', transport: 'memory', wg: 'stub'},
        base: {role: 'peer', ipDiscovery: 'outgoing', publicEndpoint: name, advertiseRoute: false, advertiseDefaults: false, keepAliveWg: 0, clientKeepAliveWg: 25, preUp: [], postUp: [], preDown: [], postDown: []},
        controlPort: 4000,
        gcHorizonMs: 24 * 3600_000,
        maxClockSkewMs: 300_000,
        logger: silentLogger(),
        clock: systemClock,
        random: systemRandom,
      });
    let running = true;
    const member: MemoryDaemon = {
      name,
      identity,
      driver,
      endpoint,
      daemon: make(),
      restart: async () => {
        member.daemon = make();
        await member.daemon.start();
        running = true;
      },
      stop: async () => {
        if (!running) return;
        running = false;
        await member.daemon.stop();
      },
    };
    await member.daemon.start();
    this.daemons.push(member);
    return member;
  }

  /** Stop every daemon and remove their data dirs. */
  async dispose(): Promise<void> {
    for (const member of this.daemons) await member.stop().catch(() => undefined);
    for (const dir of this.dirs) await rm(dir, {recursive: true, force: true});
  }
}
