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
 * Key rotation (`wgmesh node rotate-keys`): a node's new WireGuard key reaches
 * members by gossip, so for a while some members know it and some do not.
 * For `keyGraceMs` after its own rotation a node tags with its retired key for
 * every member that has not yet shown (by a message tagged for the new key)
 * that it knows the new one, and accepts tags for either of its keys; a
 * member whose record changed its key is likewise accepted under the key
 * before for `keyGraceMs` after the change arrived here. So members keep
 * hearing each other while the change spreads (a member that learns the new
 * key without having seen the old one, say one that joins meanwhile, hears
 * the rotated node through its pings); someone holding only the retired key
 * can make liveness evidence for at most `keyGraceMs` more.
 *
 * Cost: one HMAC per message (about a microsecond or two; during a grace
 * period up to four for a tag that matches no key); the pair key is an
 * ECDH + HKDF done once per pair of keys and cached (bounded).
 */
import {createHmac, createSecretKey, timingSafeEqual, type KeyObject} from 'node:crypto';
import type {Clock} from '../contracts/clock.js';
import type {NodeIdentity} from '../identity/identity.js';
import {BoundedMemo} from '../util/bounded-memo.js';

/** Bytes of a liveness tag (HMAC-SHA256 truncated). */
export const TAG_BYTES = 16;
/** Pair keys kept (one per own and peer WireGuard key this node exchanged liveness messages with). */
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
  /** How long after a key rotation (this node's, or a member's as seen here) the key before is still honoured. */
  keyGraceMs: number;
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
  /** `own key + peer key` -> pair key as a KeyObject (made once: building one per HMAC was most of its cost); null: unusable key. */
  private readonly keys = new BoundedMemo<KeyObject | null>(MAX_KEYS);
  private readonly senders = new Map<string, SenderState>();
  /** Member -> the WireGuard key its record had before its last key change, and when that change arrived here. */
  private readonly retiredPeerKeys = new Map<string, {key: string; at: number}>();
  /** Members that showed they know this node's current key (after a rotation; reset by the next one). */
  private readonly knowOwnKey = new Set<string>();
  /** The own public key {@link knowOwnKey} is about. */
  private knownKey: string | undefined;
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
    const peerKey = this.deps.wgKeyOf(to);
    const key = peerKey === undefined ? undefined : this.pairKey(this.ownKeyFor(to), peerKey);
    return key && this.compute(key, type, this.deps.identity.nodeId, to, stamp);
  }

  /**
   * A member's key before its record changed it: the change arrived here now
   * (the mesh's store calls this on every record whose WireGuard key changed).
   */
  keyChanged(id: string, previousKey: string): void {
    this.retiredPeerKeys.delete(id);
    this.retiredPeerKeys.set(id, {key: previousKey, at: this.deps.clock.now()});
    if (this.retiredPeerKeys.size > MAX_SENDERS) this.retiredPeerKeys.delete(this.retiredPeerKeys.keys().next().value!);
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

  /**
   * How far `id`'s clock reads behind this node's (ms; negative: ahead), from
   * the stamps of its authentic liveness messages: the smallest (local time -
   * stamp) seen, so it over-states the lag by the fastest delivery (a few ms
   * on a network). Undefined before the first one, and for a clock more than
   * `maxClockSkewMs` ahead (its messages are refused, not remembered).
   */
  clockLagMs(id: string): number | undefined {
    return this.senders.get(id)?.offset;
  }

  /** True when `tag` is `from`'s ack of this node's request stamped `stamp`. */
  checkAck(from: string, stamp: number, tag: Uint8Array | undefined): boolean {
    return tag !== undefined && this.verify('ack', from, this.deps.identity.nodeId, stamp, tag);
  }

  /** Forget a member's replay state (it left). */
  forget(id: string): void {
    this.senders.delete(id);
    this.retiredPeerKeys.delete(id);
    this.knowOwnKey.delete(id);
  }

  /** True while `at` (a rotation) is at most `keyGraceMs` ago. */
  private inGrace(at: number): boolean {
    return this.deps.clock.now() - at <= this.deps.keyGraceMs;
  }

  /** This node's retired public key while it is still honoured, else undefined. */
  private retiredOwnKey(): string | undefined {
    const retired = this.deps.identity.retiredWgKey;
    return retired && this.inGrace(retired.retiredAt) ? retired.publicKey : undefined;
  }

  /** The own public key to tag for `to`: the retired one during the grace period, until `to` shows it knows the current one. */
  private ownKeyFor(to: string): string {
    const retired = this.retiredOwnKey();
    if (retired === undefined) return this.deps.identity.wgPublicKey;
    this.resetKnowOwnKey();
    return this.knowOwnKey.has(to) ? this.deps.identity.wgPublicKey : retired;
  }

  /** Start a new {@link knowOwnKey} when the own key changed since it was filled. */
  private resetKnowOwnKey(): void {
    const current = this.deps.identity.wgPublicKey;
    if (this.knownKey === current) return;
    this.knowOwnKey.clear();
    this.knownKey = current;
  }

  /** [own key, peer key] pairs `from` may have tagged a message to this node with, the usual pair first. */
  private candidatePairs(from: string): [string, string][] {
    const peerKey = this.deps.wgKeyOf(from);
    if (peerKey === undefined) return [];
    const own = [this.deps.identity.wgPublicKey];
    const retired = this.retiredOwnKey();
    if (retired !== undefined) own.push(retired);
    const peer = [peerKey];
    const before = this.retiredPeerKeys.get(from);
    if (before && before.key !== peerKey && this.inGrace(before.at)) peer.push(before.key);
    return own.flatMap((ownKey) => peer.map((key): [string, string] => [ownKey, key]));
  }

  private remember(from: string, state: SenderState): void {
    this.senders.delete(from);
    this.senders.set(from, state);
    if (this.senders.size > MAX_SENDERS) this.senders.delete(this.senders.keys().next().value!);
  }

  private verify(type: LivenessType, from: string, to: string, stamp: number, tag: Uint8Array): boolean {
    if (tag.byteLength !== TAG_BYTES) return false;
    for (const [ownKey, peerKey] of this.candidatePairs(from)) {
      const key = this.pairKey(ownKey, peerKey);
      if (key === undefined || !timingSafeEqual(this.compute(key, type, from, to, stamp), tag)) continue;
      if (ownKey === this.deps.identity.wgPublicKey && this.retiredOwnKey() !== undefined) {
        this.resetKnowOwnKey();
        this.knowOwnKey.add(from);
        if (this.knowOwnKey.size > MAX_SENDERS) this.knowOwnKey.delete(this.knowOwnKey.values().next().value!);
      }
      return true;
    }
    return false;
  }

  /** The pair key of this node's key `ownKey` and a member's key `peerKey`, cached. */
  private pairKey(ownKey: string, peerKey: string): KeyObject | undefined {
    const key = this.keys.get(`${ownKey} ${peerKey}`, () => {
      try {
        return createSecretKey(this.deps.identity.sharedKey(peerKey, ownKey));
      } catch {
        return null; // A low-order or malformed key: never authenticates anything.
      }
    });
    return key ?? undefined;
  }

  private compute(key: KeyObject, type: LivenessType, from: string, to: string, stamp: number): Uint8Array {
    // Mesh ids are URL-safe and node ids hex: '\n' cannot occur inside a field.
    const text = `wgmesh-liveness\n${this.deps.meshId}\n${type}\n${from}\n${to}\n${stamp}`;
    return new Uint8Array(createHmac('sha256', key).update(text).digest().subarray(0, TAG_BYTES));
  }
}
