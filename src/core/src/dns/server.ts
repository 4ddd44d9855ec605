/**
 * The daemon's DNS server: one UDP socket on a local address, answering from
 * the live view of this node's meshes (see {@link respondToDnsQuery}). It never throws
 * out of a packet handler and never stops on a bad packet; drops are counted
 * and logged at debug at most once a minute, so a flood cannot fill the log.
 * UDP only: replies are a few records, and one too big for UDP (never in
 * practice) is sent truncated.
 */
import {createSocket, type RemoteInfo, type Socket} from 'node:dgram';
import {isIP} from 'node:net';
import type {Clock} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import {ListenError} from '../errors.js';
import {formatEndpoint, parseListenAddress} from '../runtime/endpoint.js';
import type {AliasSource} from './lookup.js';
import {respondToDnsQuery, type RcodeName} from './responder.js';

/** At most one debug line about dropped packets per this many ms. */
const DROP_LOG_INTERVAL_MS = 60_000;

/** Everything a DNS server needs. */
export interface DnsServerOptions {
  /** `IPv4:PORT` or `[IPv6]:PORT`; port 0 binds any free port (see {@link DnsServer.address}). */
  listen: string;
  /** The meshes to answer from. */
  source: AliasSource;
  logger: Logger;
  clock: Clock;
}

/** Counters since the server started (for metrics and tests). */
export interface DnsCounters {
  /** Replies sent, by response code. */
  replies: Record<RcodeName, number>;
  /** Replies sent truncated (too big for UDP). */
  truncated: number;
  /** Packets dropped without a reply: undecodable, or replies rather than queries. */
  dropped: number;
}

/** A UDP DNS server for the `wgmesh.` zone. */
export class DnsServer {
  private readonly options: DnsServerOptions;
  private socket: Socket | undefined;
  private bound: string | undefined;
  private readonly stats: DnsCounters = {replies: {NOERROR: 0, FORMERR: 0, SERVFAIL: 0, NXDOMAIN: 0, NOTIMP: 0, REFUSED: 0}, truncated: 0, dropped: 0};
  private dropsUnlogged = 0;
  private lastDropLog = -Infinity;

  constructor(options: DnsServerOptions) {
    this.options = options;
  }

  /**
   * Bind the listen address and start answering.
   * @returns the bound address (`host:port`, the real port when 0 was asked)
   * @throws ListenError when the address cannot be bound (in use, not local, no permission)
   */
  async start(): Promise<string> {
    const {host, port} = parseListenAddress(this.options.listen);
    const socket = createSocket({type: isIP(host) === 6 ? 'udp6' : 'udp4', ipv6Only: isIP(host) === 6});
    await new Promise<void>((resolve, reject) => {
      const failed = (error: Error): void => {
        socket.close();
        reject(new ListenError('DNS', this.options.listen, 'dnsListen', error));
      };
      socket.once('error', failed);
      socket.bind({address: host, port, exclusive: true}, () => {
        socket.off('error', failed);
        resolve();
      });
    });
    // After binding, a socket error (e.g. ICMP unreachable reported on send) must not kill the daemon.
    socket.on('error', (error) => this.options.logger.debug({err: error}, 'DNS socket error'));
    socket.on('message', (message, remote) => this.handle(message, remote));
    this.socket = socket;
    this.bound = formatEndpoint(host, socket.address().port);
    this.options.logger.info({address: this.bound}, 'DNS server listening');
    return this.bound;
  }

  /** The bound address (`host:port`), once started. */
  address(): string | undefined {
    return this.bound;
  }

  /** A copy of the counters. */
  counters(): DnsCounters {
    return {...this.stats, replies: {...this.stats.replies}};
  }

  private handle(message: Buffer, remote: RemoteInfo): void {
    try {
      const outcome = respondToDnsQuery(message, this.options.source);
      if (outcome.reply === null) {
        this.dropped(remote, outcome.dropped);
        return;
      }
      this.stats.replies[outcome.rcode]++;
      if (outcome.truncated) this.stats.truncated++;
      this.socket?.send(outcome.reply, remote.port, remote.address, (error) => {
        if (error) this.options.logger.debug({err: error, to: remote.address}, 'could not send a DNS reply');
      });
    } catch (error) {
      // respondToDnsQuery() does not throw; this guards the server against a bug in a dependency.
      this.dropped(remote, error instanceof Error ? error.message : String(error));
    }
  }

  private dropped(remote: RemoteInfo, reason: string): void {
    this.stats.dropped++;
    this.dropsUnlogged++;
    const now = this.options.clock.now();
    if (now - this.lastDropLog < DROP_LOG_INTERVAL_MS) return;
    this.options.logger.debug({dropped: this.dropsUnlogged, reason, from: remote.address}, 'dropped DNS packets that are not queries we can read (logged at most once a minute)');
    this.dropsUnlogged = 0;
    this.lastDropLog = now;
  }

  /** Stop answering and release the socket. Safe to call twice or before start. */
  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
