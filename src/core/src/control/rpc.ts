/**
 * Requests from this node's control plane to another member: endpoint lookup,
 * backoff, deadline, encoding, reply validation and counters in one place. Only
 * members with a control endpoint can be addressed, so a client (which
 * advertises none) can never be dialled, by construction.
 *
 * Every request goes through the endpoint's {@link DialBackoff}: a failed one
 * (no answer in time, refused, not a control reply) extends the endpoint's
 * failure streak, and while the streak's wait runs a request fails at once,
 * without dialling. An answer from a member this node considers alive ends the
 * streak; for a member considered dead only the caller can tell whether the
 * member itself answered (see {@link ControlRpc.probed}).
 *
 * A request marked as a datagram (a direct heartbeat or ping: self-authenticating
 * and small) goes by `Transport.datagram` when the transport has it, the
 * payload fits and the endpoint's datagram path works (datagram-paths.ts).
 * The datagram may use half of the request's time; without a reply by then,
 * or when the member asks for the stream (its reply would not fit), the same
 * request goes over the stream at once with the time left, so a network that
 * drops datagrams costs latency, never an answer.
 */
import type {MeshStore, SyncStats} from '../contracts/store.js';
import type {Transport} from '../contracts/transport.js';
import {ControlProtocolError, ControlRefusedError, DatagramDeclinedError, PeerUnreachableError} from '../errors.js';
import type {DatagramPaths} from './datagram-paths.js';
import type {DialBackoff} from './dial-backoff.js';
import {decodeControlReply, encodeControlRequest, type ControlReply, type ControlRequest} from './messages.js';
import type {MembershipView} from './membership-view.js';
import type {Scheduler} from './scheduler.js';
import type {ControlStats} from './stats.js';

/** Narrow a reply to the type a request expects. */
export type ReplyOf<T extends ControlReply['t']> = Extract<ControlReply, {t: T}>;

/** Everything {@link ControlRpc} needs. */
export interface ControlRpcDeps {
  meshId: string;
  transport: Transport;
  store: MeshStore;
  view: MembershipView;
  scheduler: Scheduler;
  stats: ControlStats;
  /** Failure streaks of the endpoints this mesh's control plane dials. */
  backoff: DialBackoff;
  /** Which endpoints take datagrams; null: every request goes over the stream. */
  datagrams: DatagramPaths | null;
}

/** How a request may travel. */
export interface RequestOptions {
  /** May go by datagram (self-authenticating liveness requests only: the datagram path proves no sender). */
  datagram?: boolean;
}

/** Outbound requests of one mesh's control plane. */
export class ControlRpc {
  private readonly deps: ControlRpcDeps;

  constructor(deps: ControlRpcDeps) {
    this.deps = deps;
  }

  private endpoint(target: string): string {
    const endpoint = this.deps.view.endpointOf(target);
    if (endpoint === undefined) throw new PeerUnreachableError(target, 'it advertises no control endpoint (a client is never dialled)');
    return endpoint;
  }

  /** The endpoint of `target` if it may be dialled now. @throws PeerUnreachableError without dialling while its backoff runs */
  private dialable(target: string): string {
    const {backoff, stats} = this.deps;
    const endpoint = this.endpoint(target);
    if (this.ready(target, endpoint)) return endpoint;
    stats.dialsWithheld++;
    const seconds = (ms: number): string => `${Math.ceil(ms / 1000)} s`;
    throw new PeerUnreachableError(target, `its endpoint has not answered for ${seconds(backoff.failingFor(endpoint))}; next attempt in ${seconds(backoff.waitFor(endpoint))}`);
  }

  /** True when `endpoint` (of `target`) is out of backoff, or `target`, silent while it failed, was heard from since (DialBackoff.ready). */
  private ready(target: string, endpoint: string): boolean {
    return this.deps.backoff.ready(endpoint, this.deps.view.lastHeardAt(target));
  }

  /** An answer came back from `target`'s endpoint: end its failure streak when the target is alive here (any answer then counts). */
  private replied(target: string, endpoint: string): void {
    const {backoff, view} = this.deps;
    if (view.isAlive(target)) backoff.succeeded(endpoint);
    else backoff.answered();
  }

  /** A request to `target`'s endpoint failed, or was answered by someone else. */
  private failed(target: string, endpoint: string): void {
    this.deps.backoff.failed(endpoint, this.deps.view.lastHeardAt(target));
  }

  /** True when `target` has a control endpoint that may be dialled now. */
  mayDial(target: string): boolean {
    const endpoint = this.deps.view.endpointOf(target);
    return endpoint !== undefined && this.ready(target, endpoint);
  }

  /** How long `target`'s endpoint has failed to answer, without an answer in between (0: it answers, or was never tried). */
  unreachableFor(target: string): number {
    const endpoint = this.deps.view.endpointOf(target);
    return endpoint === undefined ? 0 : this.deps.backoff.failingFor(endpoint);
  }

  /**
   * The caller's verdict on a member considered dead, after an exchange with
   * its endpoint. `answered` is true when the member itself answered (it is
   * alive again), false when nothing did or something else did: an endpoint
   * that answers as another node is as useless as a closed port, and must not
   * be dialled at full rate either.
   */
  probed(target: string, answered: boolean): void {
    const endpoint = this.deps.view.endpointOf(target);
    if (endpoint === undefined) return;
    if (answered) this.deps.backoff.succeeded(endpoint);
    else this.failed(target, endpoint);
  }

  /**
   * Send `request` to member `target` and return its reply of type `expect`.
   * A success shows a working path to the target's endpoint, not that the
   * target is alive: callers check the ack tag of tagged requests for that.
   * @throws PeerUnreachableError (down, timed out, stopped, in backoff), ControlRefusedError (refused), ControlProtocolError (a reply of the wrong kind), DecodeError (bad reply)
   */
  async request<T extends ControlReply['t']>(target: string, request: ControlRequest, expect: T, timeoutMs: number, options: RequestOptions = {}): Promise<ReplyOf<T>> {
    const {stats, scheduler} = this.deps;
    const endpoint = this.dialable(target);
    const payload = encodeControlRequest(request);
    stats.messagesSent++;
    stats.bytesSent += payload.byteLength;
    let reply: ControlReply;
    try {
      const bytes = await scheduler.withDeadline(endpoint, timeoutMs, (signal) => this.exchange(endpoint, payload, signal, timeoutMs, options.datagram === true));
      stats.bytesReceived += bytes.byteLength;
      reply = decodeControlReply(bytes);
    } catch (error) {
      stats.messagesFailed++;
      this.failed(target, endpoint);
      throw error;
    }
    this.replied(target, endpoint);
    if (reply.t !== expect) {
      stats.messagesFailed++;
      if (reply.t === 'err') throw new ControlRefusedError(`${target} refused a ${request.t} request: ${reply.reason}`);
      throw new ControlProtocolError(`${target} answered a ${request.t} request with ${reply.t}`);
    }
    this.deps.view.reached(target);
    return reply as ReplyOf<T>;
  }

  /** Send `payload` to `endpoint` and return the reply bytes: by datagram first when allowed (see the module comment), else over the stream. */
  private async exchange(endpoint: string, payload: Uint8Array, signal: AbortSignal, timeoutMs: number, datagram: boolean): Promise<Uint8Array> {
    const {transport, meshId, datagrams, scheduler, stats} = this.deps;
    const send = transport.datagram;
    if (!datagram || !datagrams || !send || payload.byteLength > (transport.maxDatagramBytes ?? 0) || !datagrams.usable(endpoint)) {
      return transport.message(endpoint, meshId, payload, signal);
    }
    stats.datagramsSent++;
    try {
      const reply = await scheduler.withDeadline(endpoint, Math.max(1, Math.floor(timeoutMs / 2)), (half) => send.call(transport, endpoint, meshId, payload, AbortSignal.any([signal, half])));
      datagrams.worked(endpoint);
      return reply;
    } catch (error) {
      if (signal.aborted) throw error;
      const declined = error instanceof DatagramDeclinedError;
      if (declined) stats.datagramsDeclined++;
      else stats.datagramFallbacks++;
      const reply = await transport.message(endpoint, meshId, payload, signal);
      if (declined) datagrams.worked(endpoint);
      else datagrams.failed(endpoint);
      return reply;
    }
  }

  /** Run one store sync session as initiator with `target`. */
  async syncStore(target: string, timeoutMs: number): Promise<SyncStats> {
    const {stats, scheduler, transport, meshId, store} = this.deps;
    const endpoint = this.dialable(target);
    const session = store.openSync('initiator');
    try {
      const result = await scheduler.withDeadline(endpoint, timeoutMs, (signal) => transport.sync(endpoint, meshId, store.kind, session, signal));
      this.replied(target, endpoint);
      this.deps.view.reached(target);
      return result;
    } catch (error) {
      stats.messagesFailed++;
      this.failed(target, endpoint);
      throw error;
    } finally {
      const counters = session.stats();
      stats.bytesSent += counters.bytesSent;
      stats.bytesReceived += counters.bytesReceived;
    }
  }
}
