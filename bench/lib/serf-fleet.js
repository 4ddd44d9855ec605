/**
 * A fleet of `serf agent` processes (Debian's `serf`, memberlist's LAN
 * profile), the reference the daemon fleet (fleet.js) is compared with: the
 * same setting, all on the loopback of one network namespace of their own, so
 * that its counters count their traffic and nothing else, and one long-lived
 * RPC connection per agent to observe them. serf's RPC is TCP only, and the
 * agents' loopback is the namespace's, so a relay inside the namespace (one
 * small Node process, not counted as an agent) forwards a Unix socket per
 * agent, a file this process reaches, to the agent's RPC port. The relay is
 * silent while nothing happens: it adds no bytes to the idle count.
 *
 * Everything it creates (processes, namespace, temp dir) is removed by
 * `close()`, and by a synchronous last resort on exit, Ctrl-C and SIGTERM.
 */
import {execFileSync, spawn} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {mapPool, sleep} from './fleet.js';
import {loopbackCounters, processStats} from './proc-stats.js';
import {SerfRpc} from './serf-rpc.js';

/** First gossip port; agent i uses BASE + i, and its RPC port RPC_BASE + i. */
const GOSSIP_BASE = 7_000;
const RPC_BASE = 9_000;
/** How long an agent may take to open its RPC port. */
const START_TIMEOUT_MS = 20_000;

/**
 * One agent.
 * @typedef {object} SerfAgent
 * @property {string} name `s<index>`
 * @property {number} gossipPort
 * @property {number} rpcPort
 * @property {import('node:child_process').ChildProcess} child
 * @property {number} pid
 * @property {SerfRpc | undefined} rpc
 * @property {boolean} alive
 */

/** `serf version`'s first line, or null when serf is not installed. */
export function serfVersion() {
  try {
    return execFileSync('serf', ['version'], {encoding: 'utf8'}).split('\n')[0].trim();
  } catch {
    return null;
  }
}

/** N serf agents in one namespace. */
export class SerfFleet {
  /** @type {SerfAgent[]} */ agents = [];
  /** @type {import('node:child_process').ChildProcess | undefined} the RPC relay */ relay;
  netns;
  dir;
  #closed = false;
  #onExit;
  #onSignal;

  /**
   * Start `count` agents, `concurrency` at a time, each joining through the first.
   * @param {{count: number, concurrency?: number, log?: (text: string) => void}} options
   */
  static async start({count, concurrency = 4, log = () => undefined}) {
    const fleet = new SerfFleet();
    try {
      execFileSync('ip', ['netns', 'add', fleet.netns], {stdio: 'pipe'});
      execFileSync('ip', ['-n', fleet.netns, 'link', 'set', 'lo', 'up'], {stdio: 'pipe'});
      await fleet.#startRelay(count);
      const [seed, ...rest] = Array.from({length: count}, (_, index) => index);
      await fleet.#startAgent(seed);
      let started = 1;
      await mapPool(rest, concurrency, async (index) => {
        const agent = await fleet.#startAgent(index);
        await agent.rpc.join([`127.0.0.1:${GOSSIP_BASE + seed}`]);
        started++;
        if (started % 10 === 0 || started === count) log(`  ${started}/${count} serf agents joined`);
      });
      return fleet;
    } catch (error) {
      fleet.closeSync();
      throw error;
    }
  }

  constructor() {
    this.netns = `serf-bench-${process.pid}`;
    this.dir = mkdtempSync(join(tmpdir(), 'serf-bench-'));
    this.#onExit = () => this.closeSync();
    this.#onSignal = (signal) => {
      this.closeSync();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('exit', this.#onExit);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, this.#onSignal);
  }

  /** Start the relay of the agents' RPC ports (see the module comment); resolves once it listens. */
  async #startRelay(count) {
    const script = `
      const net = require('node:net');
      const [dir, count, base] = process.argv.slice(1);
      let listening = 0;
      for (let i = 0; i < Number(count); i++) {
        net.createServer((client) => {
          const agent = net.connect(Number(base) + i, '127.0.0.1');
          client.pipe(agent).pipe(client);
          client.on('error', () => agent.destroy());
          agent.on('error', () => client.destroy());
          client.on('close', () => agent.destroy());
          agent.on('close', () => client.destroy());
        }).listen(dir + '/rpc-' + i + '.sock', () => {
          if (++listening === Number(count)) process.stdout.write('ready\\n');
        });
      }`;
    this.relay = spawn('ip', ['netns', 'exec', this.netns, process.execPath, '-e', script, this.dir, String(count), String(RPC_BASE)], {stdio: ['ignore', 'pipe', 'inherit']});
    await new Promise((resolve, reject) => {
      this.relay.stdout.once('data', resolve);
      this.relay.once('exit', (code) => reject(new Error(`the RPC relay exited (${code})`)));
    });
  }

  async #startAgent(index) {
    const name = `s${index}`;
    const gossipPort = GOSSIP_BASE + index;
    const rpcPort = RPC_BASE + index;
    // `ip netns exec` execs serf in place: the child's pid is the agent's.
    const child = spawn('ip', ['netns', 'exec', this.netns, 'serf', 'agent', '-node', name, '-bind', `127.0.0.1:${gossipPort}`, '-rpc-addr', `127.0.0.1:${rpcPort}`, '-profile', 'lan', '-log-level', 'err'], {stdio: ['ignore', 'ignore', 'pipe']});
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr = (stderr + chunk).slice(-4096)));
    /** @type {SerfAgent} */
    const agent = {name, gossipPort, rpcPort, child, pid: child.pid, rpc: undefined, alive: true};
    this.agents[index] = agent;
    child.once('exit', () => (agent.alive = false));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      try {
        agent.rpc = await SerfRpc.connect(join(this.dir, `rpc-${index}.sock`));
        return agent;
      } catch (error) {
        if (!agent.alive || Date.now() > deadline) throw new Error(`serf agent ${name} did not open its RPC port: ${error.message}\n${stderr}`);
        await sleep(50);
      }
    }
  }

  /** @returns {SerfAgent[]} the agents still running */
  alive() {
    return this.agents.filter((agent) => agent.alive);
  }

  /** CPU time and RSS of every live agent, by pid. */
  processStats() {
    return processStats(this.alive().map((agent) => agent.pid));
  }

  /** The namespace's loopback counters (every byte the agents sent). */
  loopbackCounters() {
    const agent = this.alive()[0];
    return agent === undefined ? null : loopbackCounters(agent.pid);
  }

  /** SIGKILL one agent and wait for it to be gone. */
  async kill(agent) {
    agent.rpc?.close();
    agent.rpc = undefined;
    const exited = new Promise((resolve) => agent.child.once('exit', resolve));
    agent.child.kill('SIGKILL');
    await exited;
  }

  /** Stop every agent, delete the namespace and the temp dir. */
  closeSync() {
    if (this.#closed) return;
    this.#closed = true;
    for (const agent of this.agents) {
      agent?.rpc?.close();
      if (agent?.alive) agent.child.kill('SIGKILL');
    }
    if (this.relay?.exitCode === null) this.relay.kill('SIGKILL');
    try {
      execFileSync('ip', ['netns', 'del', this.netns], {stdio: 'ignore'});
    } catch {
      // Never created, or already gone.
    }
    rmSync(this.dir, {recursive: true, force: true});
    process.off('exit', this.#onExit);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.off(signal, this.#onSignal);
  }
}
