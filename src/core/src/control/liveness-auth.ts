/**
 * Authentication of liveness evidence. The transport proves only that a
 * request comes from *some* holder of a mesh certificate, and the sender id in
 * a control request is just a field: without this, anyone with a certificate
 * could keep a crashed member alive by sending heartbeats in its name.
 *
 * Every message that counts as first-hand evidence that its sender is alive
 * (heartbeats, direct or relayed; pings; their acks) carries a 16-byte tag:
 * HMAC-SHA256 under the pair key of sender and receiver (X25519 ECDH of their
 * WireGuard keys, which every member publishes in its signed record; see
 * `NodeIdentity.sharedKey`) over (mesh id, type, sender, receiver, stamp). The
 * original sender computes it for the final receiver, so a relay forwards it
 * untouched and cannot forge one. An ack's tag covers the stamp of the request
 * it answers, so it is fresh by construction.
 *
 * Replays: a request's stamp is the sender's clock (kept strictly growing).
 * The receiver accepts it only when it is newer than the last stamp it
 * accepted from that sender, and not older than `windowMs` measured against
 * that sender's clock as seen here (the smallest observed difference between
 * the two clocks, allowed to drift by {@link MAX_DRIFT}), so members need no
 * synchronised clocks, and a captured or withheld heartbeat keeps a dead node
 * alive for at most `windowMs` after it was made.
 *
 * Cost: one HMAC per message (about a microsecond or two); the pair key is an
 * ECDH + HKDF done once per peer key and cached (bounded; keyed by the peer's
 * WireGuard key, so a record that changes its key gets a new entry).
 */
import {createHmac, createSecretKey, timingSafeEqual, type KeyObject} from 'node:crypto';
import type {Clock} from '../contracts/clock.js';
import type {NodeIdentity} from '../identity/identity.js';

/** Bytes of a liveness tag (HMAC-SHA256 truncated). */
export const TAG_BYTES = 16;
/** Pair keys kept (one per peer WireGuard key this node exchanged liveness messages with). */
const MAX_KEYS = 4096;
/** Senders whose replay state is kept; beyond that the least recently heard is forgotten. */
const MAX_SENDERS = 8192;
/** Relative clock drift tolerated between two members (1000 ppm, far above any real oscillator). */
const MAX_DRIFT = 0.001;

/** What a liveness tag is about. `hb` covers direct and relayed heartbeats alike. */
export type LivenessType = 'hb' | 'ping' | 'ack';

/** Outcome of checking a tagged request. */
export type LivenessCheck =
  /** Authentic and fresh: evidence that the sender is alive. */
  | 'fresh'
  /** Authentic but not newer than one already accepted, or too old: answer it, count nothing. */
  | 'stale'
  /** Missing key, wrong tag: not from the claimed sender. */
  | 'forged';

/** Everything {@link LivenessAuth} needs. */
export interface LivenessAuthDeps {
  meshId: string;
  identity: NodeIdentity;
  clock: Clock;
  /** The WireGuard public key in the member's current signed record, if it is a member. */
  wgKeyOf(id: string): string | undefined;
  /** How old (on the sender's clock, as seen here) a stamp may be. */
  windowMs: number;
  /**
   * How far ahead of this node's clock a stamp may be. One beyond is refused
   * and not remembered: remembered, it would make every later stamp of its
   * sender stale until the clocks caught up, leaving the sender unheard here.
   */
  maxClockSkewMs: number;
}

interface SenderState {
  /** Last stamp accepted. */
  stamp: number;
  /** Smallest (local time - stamp) seen: the clock offset plus the fastest delivery. */
  offset: number;
  /** Local time of the last acceptance. */
  at: number;
}

/** Tags liveness messages of one mesh and checks the ones received. */
export class LivenessAuth {
  private readonly deps: LivenessAuthDeps;
  /** Peer WireGuard key -> pair key as a KeyObject (made once: building one per HMAC was most of its cost); null: unusable key. */
  private readonly keys = new Map<string, KeyObject | null>();
  private readonly senders = new Map<string, SenderState>();
  private lastStamp = 0;

  constructor(deps: LivenessAuthDeps) {
    this.deps = deps;
  }

  /** A stamp for a new request: this node's clock, strictly growing. */
  stamp(): number {
    this.lastStamp = Math.max(Math.floor(this.deps.clock.now()), this.lastStamp + 1);
    return this.lastStamp;
  }

  /**
   * The tag of a message from this node to `to`.
   * @returns undefined when `to` has no usable key here (not a member, bad key)
   */
  tag(type: LivenessType, to: string, stamp: number): Uint8Array | undefined {
    const key = this.pairKey(to);
    return key && this.compute(key, type, this.deps.identity.nodeId, to, stamp);
  }

  /** Check a request tagged by `from` for this node, and remember its stamp when fresh. */
  check(type: LivenessType, from: string, stamp: number, tag: Uint8Array): LivenessCheck {
    if (!this.verify(type, from, this.deps.identity.nodeId, stamp, tag)) return 'forged';
    const now = this.deps.clock.now();
    if (stamp > now + this.deps.maxClockSkewMs) return 'stale';
    const state = this.senders.get(from);
    if (!state) {
      this.remember(from, {stamp, offset: now - stamp, at: now});
      return 'fresh';
    }
    if (stamp <= state.stamp) return 'stale';
    const offset = Math.min(now - stamp, state.offset + (now - state.at) * MAX_DRIFT);
    if (now - stamp - offset > this.deps.windowMs) return 'stale';
    this.remember(from, {stamp, offset, at: now});
    return 'fresh';
  }

  /** True when `tag` is `from`'s ack of this node's request stamped `stamp`. */
  checkAck(from: string, stamp: number, tag: Uint8Array | undefined): boolean {
    return tag !== undefined && this.verify('ack', from, this.deps.identity.nodeId, stamp, tag);
  }

  /** Forget a member's replay state (it left). */
  forget(id: string): void {
    this.senders.delete(id);
  }

  private remember(from: string, state: SenderState): void {
    this.senders.delete(from);
    this.senders.set(from, state);
    if (this.senders.size > MAX_SENDERS) this.senders.delete(this.senders.keys().next().value!);
  }

  private verify(type: LivenessType, from: string, to: string, stamp: number, tag: Uint8Array): boolean {
    if (tag.byteLength !== TAG_BYTES) return false;
    const key = this.pairKey(from);
    return key !== undefined && timingSafeEqual(this.compute(key, type, from, to, stamp), tag);
  }

  /** The pair key with member `id`, cached by its current WireGuard key. */
  private pairKey(id: string): KeyObject | undefined {
    const wgKey = this.deps.wgKeyOf(id);
    if (wgKey === undefined) return undefined;
    let key = this.keys.get(wgKey);
    if (key === undefined) {
      try {
        key = createSecretKey(this.deps.identity.sharedKey(wgKey));
      } catch {
        key = null; // A low-order or malformed key: never authenticates anything.
      }
      if (this.keys.size >= MAX_KEYS) this.keys.delete(this.keys.keys().next().value!);
      this.keys.set(wgKey, key);
    }
    return key ?? undefined;
  }

  private compute(key: KeyObject, type: LivenessType, from: string, to: string, stamp: number): Uint8Array {
    // Mesh ids are URL-safe and node ids hex: '\n' cannot occur inside a field.
    const text = `wgmesh-liveness\n${this.deps.meshId}\n${type}\n${from}\n${to}\n${stamp}`;
    return new Uint8Array(createHmac('sha256', key).update(text).digest().subarray(0, TAG_BYTES));
  }
}
