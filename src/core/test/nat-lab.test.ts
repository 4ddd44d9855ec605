/**
 * The NAT sites of the namespace kit behave like the NATs they stand for: a
 * host behind an endpoint-independent NAT keeps one public ip:port for every
 * destination, one behind a symmetric NAT gets a new port per destination,
 * nothing comes in that the LAN did not open, and a router told to forget its
 * mappings lets nothing in until the LAN sends again. Each host runs a small
 * UDP agent (a Node process) that sends on command and reports what it
 * received and from where.
 */
import type {ChildProcess} from 'node:child_process';
import {createInterface} from 'node:readline';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {createNetnsLab, netnsAvailable, type NetnsHost, type NetnsLab, skipWithout} from '@wgmesh/testkit';

const SKIP = skipWithout('the NAT sites of the network namespace kit', netnsAvailable({wireguard: false, nat: true}));

/** The agents' UDP port on every host. */
const PORT = 40_000;
/** How long a datagram may take to arrive in the lab before it counts as not arriving. */
const ARRIVAL_MS = 3_000;

/**
 * Binds UDP PORT on every IPv4 address; for each stdin line `HOST PORT TEXT`
 * sends TEXT there; prints one JSON line per datagram received: the text and
 * the address and port it came from. Replies `seen ADDRESS:PORT` to a `who`
 * datagram, like a reflexive-address server.
 */
const AGENT = `
const socket = require('node:dgram').createSocket('udp4');
socket.on('message', (message, from) => {
  const text = message.toString();
  process.stdout.write(JSON.stringify({text, from: from.address + ':' + from.port}) + '\\n');
  if (text === 'who') socket.send('seen ' + from.address + ':' + from.port, from.port, from.address);
});
socket.bind(${PORT}, '0.0.0.0', () => process.stdout.write(JSON.stringify({ready: true}) + '\\n'));
require('node:readline').createInterface({input: process.stdin}).on('line', (line) => {
  const [host, port, ...text] = line.split(' ');
  socket.send(text.join(' '), Number(port), host);
});
`;

interface Received {
  text: string;
  from: string;
}

/** A running agent: send datagrams, wait for ones that match. */
class Agent {
  readonly received: Received[] = [];
  readonly #child: ChildProcess;
  readonly #waiters = new Set<() => void>();
  readonly ready: Promise<void>;

  constructor(lab: NetnsLab, host: NetnsHost) {
    this.#child = lab.spawn(host, process.execPath, ['-e', AGENT], {stdio: ['pipe', 'pipe', 'inherit']});
    let markReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (markReady = resolve));
    createInterface({input: this.#child.stdout!}).on('line', (line) => {
      const message = JSON.parse(line) as Received | {ready: true};
      if ('ready' in message) markReady();
      else this.received.push(message);
      for (const wake of this.#waiters) wake();
    });
  }

  /** Send `text` from the agent's port to `address` (`IPv4` for the agents' port, or `IPv4:PORT`). */
  send(address: string, text: string): void {
    const [host, port = String(PORT)] = address.split(':');
    this.#child.stdin!.write(`${host} ${port} ${text}\n`);
  }

  /** The first datagram whose text is `text`, or undefined when none arrived within {@link ARRIVAL_MS}. */
  async waitFor(text: string): Promise<Received | undefined> {
    return (await this.waitForAll(text, 1))[0];
  }

  /** The datagrams whose text is `text`, once `count` arrived or {@link ARRIVAL_MS} passed. */
  async waitForAll(text: string, count: number): Promise<Received[]> {
    const deadline = Date.now() + ARRIVAL_MS;
    for (;;) {
      const found = this.received.filter((message) => message.text === text);
      if (found.length >= count || Date.now() >= deadline) return found;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, deadline - Date.now());
        this.#waiters.add(wake);
        function wake(): void {
          clearTimeout(timer);
          resolve();
        }
      }).finally(() => this.#waiters.clear());
    }
  }
}

describe.skipIf(SKIP)('NAT sites of the namespace lab', () => {
  let lab: NetnsLab;
  const agents = new Map<string, Agent>();
  const agent = (host: NetnsHost): Agent => agents.get(host.name)!;

  beforeAll(async () => {
    lab = await createNetnsLab({
      hosts: 2,
      natSites: [
        {behaviour: 'endpoint-independent', hosts: 1},
        {behaviour: 'symmetric', hosts: 1},
        {behaviour: 'endpoint-independent', hosts: 1},
      ],
    });
    for (const host of [...lab.hosts, ...lab.natSites.flatMap((site) => site.hosts)]) agents.set(host.name, new Agent(lab, host));
    await Promise.all([...agents.values()].map((one) => one.ready));
  }, 30_000);

  afterAll(async () => {
    await lab?.cleanup();
  });

  it('maps one LAN socket to one public address and port for every destination behind an endpoint-independent NAT', async () => {
    const site = lab.natSites[0]!;
    const [h0, h1] = lab.hosts as [NetnsHost, NetnsHost];
    const inside = site.hosts[0]!;
    agent(inside).send(h0.ipv4!, 'who');
    agent(inside).send(h1.ipv4!, 'who');
    const seenBy0 = await agent(h0).waitFor('who');
    const seenBy1 = await agent(h1).waitFor('who');
    expect(seenBy0?.from).toBe(`${site.publicAddress}:${PORT}`);
    expect(seenBy1?.from).toBe(`${site.publicAddress}:${PORT}`);
    // The reflexive answers come back through the mapping.
    const answers = await agent(inside).waitForAll(`seen ${site.publicAddress}:${PORT}`, 2);
    expect(answers.map((answer) => answer.from).sort()).toEqual([`${h0.ipv4}:${PORT}`, `${h1.ipv4}:${PORT}`]);
  });

  it('gives each destination its own public port behind a symmetric NAT', async () => {
    const site = lab.natSites[1]!;
    const [h0, h1] = lab.hosts as [NetnsHost, NetnsHost];
    const inside = site.hosts[0]!;
    agent(inside).send(h0.ipv4!, 'who-symmetric');
    agent(inside).send(h1.ipv4!, 'who-symmetric');
    const seenBy0 = await agent(h0).waitFor('who-symmetric');
    const seenBy1 = await agent(h1).waitFor('who-symmetric');
    expect(seenBy0?.from.split(':')[0]).toBe(site.publicAddress);
    expect(seenBy1?.from.split(':')[0]).toBe(site.publicAddress);
    expect(seenBy0?.from).not.toBe(seenBy1?.from);
  });

  it('lets in only what the LAN opened, and nothing once the router forgot its mappings', async () => {
    const site = lab.natSites[0]!;
    const [h0, h1] = lab.hosts as [NetnsHost, NetnsHost];
    const inside = agent(site.hosts[0]!);
    inside.send(h0.ipv4!, 'open');
    expect(await agent(h0).waitFor('open')).toBeDefined();
    agent(h0).send(site.publicAddress, 'reply-through-mapping');
    expect(await inside.waitFor('reply-through-mapping')).toBeDefined();

    await lab.forgetMappings(site);
    agent(h0).send(site.publicAddress, 'after-forgetting');
    agent(h1).send(site.publicAddress, 'after-forgetting-h1');
    expect(await inside.waitFor('after-forgetting')).toBeUndefined();
    expect(inside.received.find((message) => message.text === 'after-forgetting-h1')).toBeUndefined();

    // The LAN speaks again: a mapping exists again (its port may differ), and replies come in through it.
    inside.send(h0.ipv4!, 'reopen');
    const reopened = await agent(h0).waitFor('reopen');
    expect(reopened?.from.split(':')[0]).toBe(site.publicAddress);
    agent(h0).send(reopened!.from, 'reply-after-reopen');
    expect(await inside.waitFor('reply-after-reopen')).toBeDefined();
  });

  it('lets two hosts behind endpoint-independent NATs punch a hole: the first datagram, dropped, spoils no mapping', async () => {
    const [one, two] = [lab.natSites[0]!, lab.natSites[2]!];
    const [a, b] = [agent(one.hosts[0]!), agent(two.hosts[0]!)];
    // a's first datagram reaches b's router before b sent anything there: dropped, and it must leave nothing behind.
    a.send(`${two.publicAddress}:${PORT}`, 'punch-a1');
    expect(await b.waitFor('punch-a1')).toBeUndefined();
    b.send(`${one.publicAddress}:${PORT}`, 'punch-b1');
    const fromB = await a.waitFor('punch-b1');
    // b kept its public port: the hole a opened for it matches.
    expect(fromB?.from).toBe(`${two.publicAddress}:${PORT}`);
    a.send(`${two.publicAddress}:${PORT}`, 'punch-a2');
    expect((await b.waitFor('punch-a2'))?.from).toBe(`${one.publicAddress}:${PORT}`);
  });

  it('gives LAN hosts private IPv4 endpoints and the routers public ones on the shared bridge', () => {
    const inside = lab.natSites[0]!.hosts[0]!;
    expect(lab.endpoint(inside, 51820)).toBe(`${inside.address}:51820`);
    expect(lab.natSites.map((site) => site.publicAddress)).toEqual(['198.18.1.1', '198.18.1.2', '198.18.1.3']);
    expect(lab.hosts.map((host) => host.ipv4)).toEqual(['198.18.0.1', '198.18.0.2']);
  });
});
