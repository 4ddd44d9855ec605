/**
 * Requests from this node's control plane to another member: endpoint lookup,
 * deadline, encoding, reply validation and counters in one place. Only members
 * with a control endpoint can be addressed, so a client (which advertises
 * none) can never be dialled, by construction.
 */
import type {MeshStore, SyncStats} from '../contracts/store.js';
import type {Transport} from '../contracts/transport.js';
import {PeerUnreachableError, RemoteError} from '../errors.js';
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

  /**
   * Send `request` to member `target` and return its reply of type `expect`.
   * A success shows a working path to the target's endpoint, not that the
   * target is alive: callers check the ack tag of tagged requests for that.
   * @throws PeerUnreachableError (down, timed out, stopped), RemoteError (refused), DecodeError (bad reply)
   */
  async request<T extends ControlReply['t']>(target: string, request: ControlRequest, expect: T, timeoutMs: number): Promise<ReplyOf<T>> {
    const {stats, scheduler, transport, meshId} = this.deps;
    const endpoint = this.endpoint(target);
    const payload = encodeControlRequest(request);
    stats.messagesSent++;
    stats.bytesSent += payload.byteLength;
    let reply: ControlReply;
    try {
      const bytes = await scheduler.withDeadline(endpoint, timeoutMs, (signal) => transport.message(endpoint, meshId, payload, signal));
      stats.bytesReceived += bytes.byteLength;
      reply = decodeControlReply(bytes);
    } catch (error) {
      stats.messagesFailed++;
      throw error;
    }
    if (reply.t !== expect) {
      stats.messagesFailed++;
      if (reply.t === 'err') throw new RemoteError('CONTROL_REFUSED', `${target} refused a ${request.t} request: ${reply.reason}`);
      throw new RemoteError('CONTROL_PROTOCOL', `${target} answered a ${request.t} request with ${reply.t}`);
    }
    this.deps.view.reached(target);
    return reply as ReplyOf<T>;
  }

  /** Run one store sync session as initiator with `target`. */
  async syncStore(target: string, timeoutMs: number): Promise<SyncStats> {
    const {stats, scheduler, transport, meshId, store} = this.deps;
    const endpoint = this.endpoint(target);
    const session = store.openSync('initiator');
    try {
      const result = await scheduler.withDeadline(endpoint, timeoutMs, (signal) => transport.sync(endpoint, meshId, store.kind, session, signal));
      this.deps.view.reached(target);
      return result;
    } catch (error) {
      stats.messagesFailed++;
      throw error;
    } finally {
      const counters = session.stats();
      stats.bytesSent += counters.bytesSent;
      stats.bytesReceived += counters.bytesReceived;
    }
  }
}
