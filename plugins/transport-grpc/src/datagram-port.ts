/**
 * The UDP side of the control port: one socket bound to the same address and
 * port as the gRPC server, carrying one-datagram requests and their replies
 * (datagram-frame.ts) for payloads that authenticate themselves.
 *
 * Serving: a request is dropped unanswered, and counted by reason, when it is
 * not a frame (malformed, over the size cap), when its source address has used
 * its rate (`grpc.datagramsPerAddressPerSecond`), when `grpc.maxDatagramsInFlight`
 * requests are being answered already, or when the daemon's handler declines
 * it. A reply is never larger than the request it answers (the source address
 * of a datagram is not proven, so nobody can use this port to send a third
 * party more than they sent it): a reply that would be is replaced by a
 * "declined" frame, and the requester asks again over the stream.
 *
 * Requesting: each request has a random id; only a reply with that id, from
 * the very address and port the request went to, settles it.
 * At most `grpc.maxDatagramsInFlight` requests wait at once; the caller's
 * signal bounds each one.
 */
import {randomBytes} from 'node:crypto';
import {createSocket, type RemoteInfo, type Socket} from 'node:dgram';
import {lookup} from 'node:dns/promises';
import {isIP, isIPv4} from 'node:net';
import {DatagramDeclinedError, parseEndpoint, PeerUnreachableError, RateLimiter, type DatagramDrops, type LimitedLevel, type Logger, type LogLimiter, type TransportHandlers} from '@wgmesh/core';
import {canonicalAddress, peerEndpoint} from './address.js';
import {decodeFrame, encodeFrame, FrameKind, MAX_DATAGRAM_PAYLOAD_BYTES, REQUEST_ID_BYTES, type DatagramFrame} from './datagram-frame.js';
import {TransportFailureError} from './errors.js';
import type {FaultInjector} from './fault-injection.js';
import type {GrpcTransportSettings} from './settings.js';

/** Source addresses whose rate is tracked at once, and host names whose address is kept at once. */
const MAX_RATE_ADDRESSES = 4096;
/**
 * How long a member's host name keeps the address it was looked up to: a
 * heartbeat goes to each monitor every second, and one look-up a minute is
 * what gRPC's resolver does for a connection's name, not one a datagram.
 */
export const RESOLVED_NAME_TTL_MS = 60_000;
const EMPTY = new Uint8Array(0);

/** Why a datagram was dropped without an answer. */
export type DatagramDropReason = 'too-large' | 'malformed' | 'rate-limited' | 'busy' | 'refused' | 'unmatched';

/** How loudly each drop is logged (rate-limited per reason and address). */
const DROP_LEVEL: Record<DatagramDropReason, LimitedLevel> = {
  'too-large': 'warn',
  malformed: 'warn',
  'rate-limited': 'warn',
  busy: 'warn',
  // The handler's refusals include late copies of requests that went over the stream meanwhile.
  refused: 'debug',
  unmatched: 'debug',
};

/** What the port needs. */
export interface DatagramPortOptions {
  settings: GrpcTransportSettings;
  logger: Logger;
  limiter: LogLimiter;
  faults: FaultInjector | null;
  /** Milliseconds from any fixed origin (rate limits, look-ups kept). */
  now: () => number;
  /** Looks up a host name's address (default: the system resolver, as `dns.lookup`). */
  lookup?: (host: string, family: 0 | 4) => Promise<string>;
}

async function systemLookup(host: string, family: 0 | 4): Promise<string> {
  return (await lookup(host, {family})).address;
}

interface Pending {
  endpoint: string;
  /** Canonical address and port the request went to: only they may answer. */
  address: string;
  port: number;
  settle: (error: unknown, reply?: Uint8Array) => void;
}

function bind(socket: Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({address, port, exclusive: true}, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/** A bound datagram socket serving `handlers` and sending requests. */
export class DatagramPort {
  private readonly options: DatagramPortOptions;
  private readonly socket: Socket;
  private readonly family: 4 | 6;
  private readonly handlers: TransportHandlers;
  private readonly rate: RateLimiter;
  private readonly pending = new Map<string, Pending>();
  /** Host name -> the address it was looked up to, and until when it is used. */
  private readonly resolved = new Map<string, {address: string; until: number}>();
  private readonly dropped: Record<DatagramDropReason, number> = {'too-large': 0, malformed: 0, 'rate-limited': 0, busy: 0, refused: 0, unmatched: 0};
  private answering = 0;
  private closed = false;

  private constructor(options: DatagramPortOptions, socket: Socket, family: 4 | 6, handlers: TransportHandlers) {
    this.options = options;
    this.socket = socket;
    this.family = family;
    this.handlers = handlers;
    const perSecond = options.settings.datagramsPerAddressPerSecond;
    this.rate = new RateLimiter({perSecond, burst: perSecond, maxClients: MAX_RATE_ADDRESSES, clock: {now: options.now}});
    socket.on('message', (message, remote) => this.received(message, remote));
    // A send to an unreachable host can surface here on some systems: the request's own timeout handles it.
    socket.on('error', (error) => options.logger.debug({err: error.message}, 'datagram socket error'));
  }

  /**
   * Bind `port` (the gRPC server's) on `settings.listenAddress`: `::` takes
   * IPv6 and IPv4 (dual stack, as the gRPC server listens), falling back to
   * `0.0.0.0` on a host without IPv6.
   * @throws the bind error (the caller decides whether to go on without datagrams)
   */
  static async open(options: DatagramPortOptions, port: number, handlers: TransportHandlers): Promise<DatagramPort> {
    const {listenAddress} = options.settings;
    const v6 = isIP(listenAddress) === 6;
    const socket = createSocket({type: v6 ? 'udp6' : 'udp4', ipv6Only: false});
    try {
      await bind(socket, listenAddress, port);
      return new DatagramPort(options, socket, v6 ? 6 : 4, handlers);
    } catch (error) {
      socket.close();
      const code = (error as NodeJS.ErrnoException).code;
      if (listenAddress !== '::' || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw error;
    }
    const v4 = createSocket('udp4');
    try {
      await bind(v4, '0.0.0.0', port);
    } catch (error) {
      v4.close();
      throw error;
    }
    return new DatagramPort(options, v4, 4, handlers);
  }

  /**
   * Send `payload` to `endpoint` as one request and wait for its reply.
   * @throws DatagramDeclinedError (the member wants the stream path), PeerUnreachableError (no reply before `signal`, cannot be sent), TransportFailureError (payload over the cap)
   */
  async request(endpoint: string, meshId: string, payload: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    const {settings, faults} = this.options;
    if (payload.byteLength > MAX_DATAGRAM_PAYLOAD_BYTES) {
      throw new TransportFailureError(`${endpoint}: a datagram payload of ${payload.byteLength} bytes is over the limit of ${MAX_DATAGRAM_PAYLOAD_BYTES} bytes`);
    }
    if (this.closed) throw new PeerUnreachableError(endpoint, 'the transport is closed');
    if (faults?.blocksOutbound(endpoint)) throw new PeerUnreachableError(endpoint, 'blocked by the fault injection file');
    if (this.pending.size >= settings.maxDatagramsInFlight) throw new PeerUnreachableError(endpoint, `${settings.maxDatagramsInFlight} datagram requests are in flight already (grpc.maxDatagramsInFlight)`);
    const {host, port} = parseEndpoint(endpoint);
    const address = canonicalAddress(isIP(host) !== 0 ? host : await this.resolve(host));
    if (this.family === 4 && !isIPv4(address)) throw new PeerUnreachableError(endpoint, 'the datagram port is IPv4 only');
    // A dual-stack socket reaches IPv4 hosts through their mapped address.
    const to = this.family === 6 && isIPv4(address) ? `::ffff:${address}` : address;
    let id = randomBytes(REQUEST_ID_BYTES).toString('hex');
    while (this.pending.has(id)) id = randomBytes(REQUEST_ID_BYTES).toString('hex');
    const frame = encodeFrame({kind: FrameKind.request, id, meshId, payload});
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = (): void => settle(new PeerUnreachableError(endpoint, 'no datagram reply in time'));
      const settle = (error: unknown, reply?: Uint8Array): void => {
        if (this.pending.get(id)?.settle !== settle) return;
        this.pending.delete(id);
        signal.removeEventListener('abort', onAbort);
        if (error === undefined) resolve(reply!);
        else reject(error);
      };
      this.pending.set(id, {endpoint, address, port, settle});
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, {once: true});
      this.socket.send(frame, port, to, (error) => {
        if (error) settle(new PeerUnreachableError(endpoint, `the datagram could not be sent: ${error.message}`));
      });
    });
  }

  /** The address of host name `host`, looked up at most once every {@link RESOLVED_NAME_TTL_MS}. */
  private async resolve(host: string): Promise<string> {
    const {now} = this.options;
    const kept = this.resolved.get(host);
    if (kept !== undefined && now() < kept.until) return kept.address;
    const address = await (this.options.lookup ?? systemLookup)(host, this.family === 4 ? 4 : 0);
    this.resolved.delete(host);
    if (this.resolved.size >= MAX_RATE_ADDRESSES) this.resolved.delete(this.resolved.keys().next().value!);
    this.resolved.set(host, {address, until: now() + RESOLVED_NAME_TTL_MS});
    return address;
  }

  /** Datagrams dropped so far, by reason. */
  drops(): DatagramDrops {
    return {...this.dropped};
  }

  /** Datagram requests this node awaits a reply to now. */
  inFlight(): number {
    return this.pending.size;
  }

  /** Close the socket; requests waiting fail at once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const pending of this.pending.values()) pending.settle(new PeerUnreachableError(pending.endpoint, 'the transport closed'));
    this.socket.close();
  }

  private drop(reason: DatagramDropReason, address: string, port: number): void {
    this.dropped[reason]++;
    const {limiter, logger} = this.options;
    limiter.log(logger, DROP_LEVEL[reason], `datagram-${reason}`, address, {peer: peerEndpoint(address, port), reason}, 'dropped a datagram without an answer');
  }

  private received(message: Buffer, remote: RemoteInfo): void {
    const address = canonicalAddress(remote.address);
    if (this.options.faults?.blocksInbound(address)) return;
    const frame = decodeFrame(message);
    if (typeof frame === 'string') return this.drop(frame, address, remote.port);
    if (frame.kind === FrameKind.request) return this.answer(frame, message.byteLength, address, remote);
    const pending = this.pending.get(frame.id);
    if (!pending || pending.address !== address || pending.port !== remote.port) return this.drop('unmatched', address, remote.port);
    if (frame.kind === FrameKind.declined) pending.settle(new DatagramDeclinedError(`${peerEndpoint(address, remote.port)} asked for the stream path: its reply does not fit in a datagram`));
    else pending.settle(undefined, frame.payload);
  }

  private answer(frame: DatagramFrame, requestBytes: number, address: string, remote: RemoteInfo): void {
    const {settings} = this.options;
    const {datagram} = this.handlers;
    if (!this.rate.take(address).allowed) return this.drop('rate-limited', address, remote.port);
    if (this.answering >= settings.maxDatagramsInFlight) return this.drop('busy', address, remote.port);
    if (!datagram) return this.drop('refused', address, remote.port);
    this.answering++;
    datagram
      .call(this.handlers, frame.meshId, frame.payload, {address: peerEndpoint(address, remote.port)})
      .then(
        (reply) => {
          if (reply === undefined) return this.drop('refused', address, remote.port);
          if (this.closed) return;
          const out = encodeFrame({kind: FrameKind.reply, id: frame.id, meshId: '', payload: reply});
          // Never more bytes out than in: a larger answer goes over the stream.
          const fits = reply.byteLength <= MAX_DATAGRAM_PAYLOAD_BYTES && out.byteLength <= requestBytes;
          this.socket.send(fits ? out : encodeFrame({kind: FrameKind.declined, id: frame.id, meshId: '', payload: EMPTY}), remote.port, remote.address);
        },
        () => this.drop('refused', address, remote.port),
      )
      .finally(() => this.answering--);
  }
}
