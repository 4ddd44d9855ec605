/**
 * The tagged direct ping and the check of its ack, shared by the failure
 * detector (is a suspect alive?) and anti-entropy (a periodic round's
 * digests ride on a ping, so that they may go by datagram).
 */
import type {ControlContext} from './context.js';
import type {LivenessAuth} from './liveness-auth.js';
import type {ReplyOf} from './rpc.js';

/** What a tagged ping needs of its control plane. */
export type TaggedPingDeps = Pick<ControlContext, 'rpc' | 'view' | 'selfId'> & {auth: LivenessAuth};

/**
 * True, and first-hand evidence that `from` is alive (it is heard), when
 * `reply` carries `from`'s own ack of this node's request stamped `ts`: a
 * reply from whoever holds its address is not enough.
 */
export function ackedBy(deps: Pick<TaggedPingDeps, 'auth' | 'view'>, from: string, ts: number, reply: ReplyOf<'ok'>): boolean {
  if (!deps.auth.checkAck(from, ts, reply.a)) return false;
  deps.view.heard(from);
  return true;
}

/**
 * Send `target` a tagged direct ping, with `digests` when given (they are
 * answered with the ack), allowed to go by datagram. Undefined when this
 * node has no key to tag it for `target` (a malformed record).
 * @throws what ControlRpc.request throws
 */
export async function sendTaggedPing(
  deps: TaggedPingDeps,
  target: string,
  timeoutMs: number,
  digests?: {sd: Uint8Array; md: Uint8Array},
): Promise<{reply: ReplyOf<'ok'>; acked: boolean} | undefined> {
  const {rpc, auth, selfId} = deps;
  const ts = auth.stamp();
  const a = auth.tag('ping', target, ts);
  if (!a) return undefined;
  const reply = await rpc.request(target, {t: 'ping', f: selfId, ts, a, ...digests}, 'ok', timeoutMs, {datagram: true});
  return {reply, acked: ackedBy(deps, target, ts, reply)};
}
