/**
 * A simulated mesh: N nodes of the real core in one process. Each node is a
 * real TwoPhaseStore, a real MeshControl (gossip scheduler, anti-entropy with
 * store sync sessions, failure detector, signed statements, liveness MACs)
 * and a MemoryTransport, wired the way `Daemon` wires them (the transport's
 * snapshot / sync / message handlers), all on one simulated clock over one
 * MemoryNetwork with latency, loss and bandwidth. Lost messages, cut links and
 * crashed hosts are silent by default: the sender waits for its own deadline.
 *
 * Every node holds a membership credential signed by the mesh's authority
 * (as after `mesh create` and its admin's invites), so every entry is checked
 * against its credential chain as a daemon checks it.
 *
 * The mesh starts converged (every store holds every record, as after a long
 * quiet period); scenarios then change, crash, partition, join and leave
 * nodes and listen to two event streams: store changes and live-view changes
 * of every node, stamped with the simulated time.
 */
import {mkdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {CONFIG_DEFAULTS, MeshControl, PeerUnreachableError, generateIdentity, issueMembership, issueRevocation, loadOrCreateIdentity, signEntry} from '@wgmesh/core';
import {MemoryNetwork, SeededRandom, makeTestNode, silentLogger, testMeshAdmin, testMeshId} from '@wgmesh/testkit';
import {TwoPhaseStore} from '@wgmesh/store-twophase';
import {FastClock} from './fast-clock.js';

/**
 * @typedef {object} SimulationOptions
 * @property {number} nodes initial members
 * @property {number} seed randomness of the run (network loss, partner choice, scenario choices)
 * @property {number} latencyMs one-way latency per message
 * @property {number} lossRate probability that one message (each leg of a request) is lost
 * @property {number} bandwidthBytesPerSecond upload bandwidth of every node (0: unlimited)
 * @property {boolean} silentFailures lost / blocked / dead-host messages time out (true) or are refused at once (false)
 * @property {import('@wgmesh/core').ControlSettings} settings
 * @property {number} [spare] extra identities made up front for nodes that join later
 * @property {string | null} [identityCache] directory of node identities kept between runs (node i is always
 *   the same node, so a seed reproduces a run); null: fresh identities every run
 * @property {(text: string) => void} [log] progress lines
 */

/**
 * One simulated node.
 * @typedef {object} SimNode
 * @property {number} index
 * @property {string} name its endpoint on the network
 * @property {string} id node id
 * @property {import('@wgmesh/core').NodeIdentity} identity
 * @property {TwoPhaseStore} store
 * @property {MeshControl | undefined} control
 * @property {import('@wgmesh/testkit').MemoryTransport} transport
 * @property {'up' | 'crashed' | 'left' | 'joining'} state
 */

/** N real nodes on one simulated clock and one in-memory network. */
export class Simulation {
  /** @param {SimulationOptions} options */
  constructor(options) {
    this.options = options;
    this.clock = new FastClock();
    this.random = new SeededRandom(options.seed);
    // The mesh id is derived from its authority's key, which signs every node's membership credential.
    this.meshId = testMeshId((n) => this.random.bytes(n));
    this.admin = testMeshAdmin(this.meshId);
    /** @type {Map<string, Uint8Array>} each node's credential, by node id: issued once, as an admin does */
    this.credentials = new Map();
    this.network = new MemoryNetwork({
      clock: this.clock,
      latencyMs: options.latencyMs,
      lossRate: options.lossRate,
      random: this.random.fork(),
      bandwidthBytesPerSecond: options.bandwidthBytesPerSecond,
      silentFailures: options.silentFailures,
    });
    /** @type {SimNode[]} every node ever made, by index */
    this.nodes = [];
    /** @type {Set<(node: SimNode, change: import('@wgmesh/core').StoreChange) => void>} */
    this.entryListeners = new Set();
    /** @type {Set<(node: SimNode, change: import('@wgmesh/core').LiveViewChange) => void>} */
    this.liveListeners = new Set();
    /** @type {import('@wgmesh/core').NodeIdentity[]} identities not used yet */
    this.spareIdentities = [];
    this.logger = silentLogger();
    this.log = options.log ?? (() => {});
    /** Wall-clock ms spent building the mesh, by phase. */
    this.setupMs = {identities: 0, records: 0, stores: 0, controls: 0};
  }

  /** Build and start the initial, converged mesh. */
  async build() {
    const {nodes: count, spare = 0} = this.options;
    let t = performance.now();
    const identities = [];
    const cache = this.options.identityCache ?? null;
    if (cache !== null) prepareCache(cache);
    for (let i = 0; i < count + spare; i++) {
      identities.push(cache === null ? generateIdentity() : await loadOrCreateIdentity(join(cache, `node-${i}.json`)));
      if ((i + 1) % 1000 === 0) this.log(`  identities ${i + 1}/${count + spare}`);
    }
    this.spareIdentities = identities.slice(count);
    this.setupMs.identities = performance.now() - t;

    t = performance.now();
    const now = this.clock.now();
    const members = identities.slice(0, count).map((identity, index) => ({identity, index, name: nodeName(index)}));
    const records = members.map(({identity, name}) => this.recordFor(identity, name, now));
    this.setupMs.records = performance.now() - t;

    t = performance.now();
    for (const {identity, index, name} of members) {
      const node = this.makeNode(identity, index, name);
      const result = node.store.merge(records);
      if (result.rejected.length > 0) throw new Error(`node ${name} rejected ${result.rejected.length} records: ${result.rejected[0].reason}`);
      if ((index + 1) % 1000 === 0) this.log(`  stores ${index + 1}/${count}`);
    }
    this.setupMs.stores = performance.now() - t;

    t = performance.now();
    for (const node of this.nodes) {
      await this.startNode(node);
      if ((node.index + 1) % 1000 === 0) this.log(`  control planes ${node.index + 1}/${count}`);
    }
    this.setupMs.controls = performance.now() - t;
  }

  /**
   * A signed record for a peer at endpoint `name`, dated `now`.
   * @param {import('@wgmesh/core').NodeIdentity} identity
   * @param {string} name
   * @param {number} now
   * @param {Partial<import('@wgmesh/core').NodeRecord>} [patch]
   */
  recordFor(identity, name, now, patch = {}) {
    return makeTestNode(this.meshId, {identity, now, credential: this.credentialFor(identity, now)}).record({controlEndpoint: name, wgEndpoint: `${name}:51820`, ...patch});
  }

  /**
   * The node's membership credential, signed by the mesh authority the first time it is asked for.
   * @param {import('@wgmesh/core').NodeIdentity} identity
   * @param {number} now
   */
  credentialFor(identity, now) {
    let credential = this.credentials.get(identity.nodeId);
    if (credential === undefined) {
      credential = issueMembership(this.admin, identity.signingKey, 'peer', now);
      this.credentials.set(identity.nodeId, credential);
    }
    return credential;
  }

  /**
   * The mesh authority revokes `target`, as `wgmesh mesh revoke` does on the
   * admin's node `admin`: the signed revocation is merged into its store, and
   * gossip spreads it from there like any change.
   * @param {SimNode} admin
   * @param {SimNode} target
   */
  revoke(admin, target) {
    const revocation = issueRevocation(this.admin, target.id, 'node', this.clock.now(), 'simulated');
    const result = admin.store.merge([revocation]);
    if (result.accepted.length !== 1) throw new Error(`revocation rejected: ${result.rejected[0]?.reason}`);
  }

  /**
   * Make a node (store and transport, no control plane yet).
   * @returns {SimNode}
   */
  makeNode(identity, index, name) {
    const store = new TwoPhaseStore({
      meshId: this.meshId,
      clock: this.clock,
      logger: this.logger,
      gcHorizonMs: CONFIG_DEFAULTS.gcHorizonMs,
      maxClockSkewMs: CONFIG_DEFAULTS.maxClockSkewMs,
    });
    /** @type {SimNode} */
    const node = {index, name, id: identity.nodeId, identity, store, control: undefined, transport: this.network.transport(name), state: 'joining'};
    store.onChange((change) => {
      for (const listener of this.entryListeners) listener(node, change);
    });
    this.nodes[index] = node;
    return node;
  }

  /** Create the node's MeshControl, listen as `Daemon` does, start gossip and failure detection. */
  async startNode(node) {
    const control = new MeshControl({
      meshId: this.meshId,
      identity: node.identity,
      role: 'peer',
      store: node.store,
      transport: node.transport,
      clock: this.clock,
      random: this.random.fork(),
      logger: this.logger,
      settings: this.options.settings,
    });
    control.onLiveViewChange((change) => {
      for (const listener of this.liveListeners) listener(node, change);
    });
    node.control = control;
    await node.transport.listen({
      snapshot: async () => ({storeKind: node.store.kind, snapshot: node.store.save()}),
      openSync: (_meshId, storeKind) => {
        if (storeKind !== node.store.kind) throw new Error(`store kind ${storeKind} is not ${node.store.kind}`);
        return node.store.openSync('responder');
      },
      message: (_meshId, payload, peer) => control.handleMessage(payload, peer),
    });
    control.start();
    node.state = 'up';
  }

  /** Nodes currently up. */
  live() {
    return this.nodes.filter((node) => node.state === 'up');
  }

  /** A random node among `pool` (default: the live ones). */
  pick(pool = this.live()) {
    return pool[Math.floor(this.random.float() * pool.length)];
  }

  /** `count` distinct random nodes of `pool`. */
  sample(pool, count) {
    const copy = [...pool];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(this.random.float() * (i + 1));
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy.slice(0, count);
  }

  /** Advance simulated time by `ms`. */
  advance(ms) {
    return this.clock.advance(ms);
  }

  /**
   * The node rewrites its own record (a new alias) at a higher version, as
   * `wgmesh service set` does through the runtime; gossip pushes it from there.
   * @returns {number} the new version
   */
  changeRecord(node, alias) {
    const current = node.store.get(node.id).value;
    const now = this.clock.now();
    const version = Math.max(current.version + 1, now);
    const entry = signEntry(node.identity, {...current, alias, version, updatedAt: now});
    const result = node.store.merge([entry]);
    if (result.accepted.length !== 1) throw new Error(`own record rejected: ${result.rejected[0]?.reason}`);
    return version;
  }

  /**
   * Crash a node: its control plane stops and its endpoint goes away. With
   * silent failures that is a dead host (requests to it time out); `refuse`
   * keeps the endpoint answering with a refusal at once (a dead process on a
   * live host: connection refused).
   */
  async crash(node, {refuse = false} = {}) {
    node.state = 'crashed';
    await node.control.stop();
    await node.transport.close();
    if (refuse) await node.transport.listen(refusingHandlers(node.name));
  }

  /**
   * Leave as `wgmesh mesh leave` does: merge a signed tombstone, push it to
   * `branch` peers and wait for their answers (bounded by the timeout), then
   * stop. Returns at once; the returned promise settles as simulated time passes.
   */
  leave(node) {
    node.state = 'left';
    const previous = node.store.get(node.id).value;
    const now = this.clock.now();
    const body = {kind: 'tombstone', meshId: this.meshId, id: node.id, signingKey: node.identity.signingKey, version: Math.max(previous.version + 1, now), updatedAt: now, credential: previous.credential};
    node.store.merge([signEntry(node.identity, body)]);
    return node.control
      .leave()
      .catch(() => undefined)
      .then(async () => {
        await node.control.stop();
        await node.transport.close();
      });
  }

  /**
   * Join as `wgmesh mesh join` does (Daemon.joinMesh / admit): fetch a
   * snapshot from `via`, load it, add this node's own signed record, start
   * the control plane, announce. Returns at once with the node and a promise
   * of the phase timings (simulated ms, and wall ms of the snapshot load),
   * which settles as simulated time passes.
   * @param {SimNode} via
   * @returns {{node: SimNode, done: Promise<{fetchMs: number, snapshotBytes: number, loadWallMs: number, announceMs: number, totalMs: number}>}}
   */
  join(via, {measureLoad} = {}) {
    const identity = this.spareIdentities.shift();
    if (!identity) throw new Error('no spare identity left: raise `spare`');
    const index = this.nodes.length;
    const node = this.makeNode(identity, index, nodeName(index));
    const start = this.clock.now();
    const done = (async () => {
      // Replies travel back to the requester's endpoint on a MemoryNetwork: be
      // there (refusing requests) before the control plane is.
      await node.transport.listen(refusingHandlers(node.name));
      const fetched = await withTimeout(this.clock, this.options.settings.timeoutMs + 2000, (s) => node.transport.fetchSnapshot(via.name, this.meshId, s));
      const fetchedAt = this.clock.now();
      const wall = performance.now();
      if (measureLoad) measureLoad(true);
      try {
        node.store.load(fetched.snapshot);
      } finally {
        if (measureLoad) measureLoad(false);
      }
      const loadWallMs = performance.now() - wall;
      node.store.merge([this.recordFor(identity, node.name, this.clock.now())]);
      await this.startNode(node);
      const announceStart = this.clock.now();
      await node.control.announce();
      return {
        fetchMs: fetchedAt - start,
        snapshotBytes: fetched.snapshot.byteLength,
        loadWallMs,
        announceMs: this.clock.now() - announceStart,
        totalMs: this.clock.now() - start,
      };
    })();
    done.catch(() => {
      node.state = 'crashed';
    });
    return {node, done};
  }

  /** Stop every node (no timers left behind). */
  async close() {
    for (const node of this.nodes) {
      if (node.control) await node.control.stop();
      await node.transport.close();
    }
  }
}

/** Create the identity cache directory, with a .gitignore that keeps its private keys out of the repository. */
function prepareCache(dir) {
  mkdirSync(dir, {recursive: true, mode: 0o700});
  writeFileSync(join(dir, '.gitignore'), '*\n');
}

/** Transport handlers that refuse every request at once (a port nothing serves on). */
function refusingHandlers(name) {
  const refuse = () => {
    throw new PeerUnreachableError(name, 'connection refused');
  };
  return {snapshot: async () => refuse(), openSync: refuse, message: async () => refuse()};
}

/** The endpoint name of node `index`. */
export function nodeName(index) {
  return `n${index}`;
}

/**
 * Run `fn` with an AbortSignal that fires after `ms` of simulated time; reject then.
 * @template T
 * @param {FastClock} clock
 * @param {number} ms
 * @param {(signal: AbortSignal) => Promise<T>} fn
 * @returns {Promise<T>}
 */
function withTimeout(clock, ms, fn) {
  const controller = new AbortController();
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(() => {
      controller.abort();
      reject(new Error(`no answer within ${ms} ms`));
    }, ms);
    fn(controller.signal).then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (error) => {
        timer.cancel();
        reject(error);
      },
    );
  });
}
