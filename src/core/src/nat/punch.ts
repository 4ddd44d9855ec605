/**
 * Direct paths between two clients, punched through their NATs. Pure: the
 * caller feeds it the candidates (other clients whose published NAT allows
 * a hole, see {@link mayPunch}), WireGuard's statistics and the time, and
 * applies the WireGuard entries it asks for ({@link Punches.entries}).
 *
 * Per remote client:
 * - `idle`: relayed through the home peers; a new attempt starts once its
 *   backoff has run out (at once the first time).
 * - `trying`: a WireGuard peer with the other's reflexive endpoint, a short
 *   keepalive and no allowed IPs (traffic stays relayed while the hole is
 *   punched: both sides send handshakes, and each one's first packet opens
 *   its own NAT for the other's). A handshake within `punchTimeoutMs` makes
 *   it `direct`; none makes it `idle` with a longer backoff.
 * - `direct`: the entry carries the other's /128, which wins over the home
 *   peer's /64. Both sides send keepalives every `keepaliveSeconds`, so the
 *   receive counter grows at least that often; when it has not grown for
 *   `deadAfterMs` the path is dropped (traffic is relayed again at once) and
 *   retried after the first backoff step.
 *
 * Both sides decide alike from the same records, so they start an attempt
 * within one check interval of each other, and back off alike.
 */
import type {NatInfo, NodeRecord} from '../model/record.js';

/** Timings and caps of hole punching. */
export interface PunchSettings {
  /** How long an attempt waits for a handshake (ms). */
  punchTimeoutMs: number;
  /** First wait before another attempt after a failure (ms); doubles with each failure in a row. */
  backoffBaseMs: number;
  /** Longest wait between attempts (ms). */
  backoffMaxMs: number;
  /** A direct path whose receive counter has not grown this long is dropped (ms). */
  deadAfterMs: number;
  /** Persistent keepalive of direct and trying entries (s). */
  keepaliveSeconds: number;
  /** Most attempts running at once. */
  maxAttempts: number;
  /** Most direct paths (and attempts) held at once. */
  maxDirect: number;
}

/** Defaults: attempts of 8 s, retried after 5 s doubling up to 5 min; a path silent for 4 s with keepalives every 2 s is dropped. */
export const DEFAULT_PUNCH_SETTINGS: PunchSettings = {
  punchTimeoutMs: 8_000,
  backoffBaseMs: 5_000,
  backoffMaxMs: 300_000,
  deadAfterMs: 4_000,
  keepaliveSeconds: 2,
  maxAttempts: 8,
  maxDirect: 32,
};

/** A client this node may punch to: its key and reflexive endpoint. */
export interface PunchCandidate {
  /** Its WireGuard public key. */
  wgPublicKey: string;
  /** Its reflexive WireGuard endpoint. */
  endpoint: string;
}

/** What WireGuard says of one peer (a subset of WgPeerStats). */
export interface PunchStats {
  latestHandshakeMs: number | null;
  rxBytes: number;
}

/** A WireGuard entry a punch needs, by the remote client's id. */
export interface PunchEntry {
  wgPublicKey: string;
  endpoint: string;
  /** True once direct: the entry carries the other's /128. */
  carries: boolean;
  keepaliveSeconds: number;
}

type PairState =
  | {kind: 'idle'; retryAt: number; failures: number}
  | {kind: 'trying'; since: number; candidate: PunchCandidate; failures: number}
  | {kind: 'direct'; candidate: PunchCandidate; rx: number; rxGrewAt: number};

/** One of the transitions {@link Punches.tick} made, for logs and metrics. */
export interface PunchEvent {
  id: string;
  kind: 'trying' | 'direct' | 'failed' | 'lost';
}

/** Mappings a hole can be punched through (or none is needed). */
const PUNCHABLE: ReadonlySet<NatInfo['mapping']> = new Set(['endpoint-independent', 'none']);

/**
 * The other client's reflexive endpoint when both `self` and `other` are
 * clients whose published NAT allows a direct path, else undefined.
 */
export function mayPunch(self: NodeRecord, other: NodeRecord): PunchCandidate | undefined {
  if (self.role !== 'client' || other.role !== 'client' || self.id === other.id) return undefined;
  if (!self.nat || !other.nat || !PUNCHABLE.has(self.nat.mapping) || !PUNCHABLE.has(other.nat.mapping)) return undefined;
  return other.nat.endpoint === null ? undefined : {wgPublicKey: other.wgPublicKey, endpoint: other.nat.endpoint};
}

/** Hole-punching state towards every candidate. */
export class Punches {
  private readonly settings: PunchSettings;
  private readonly pairs = new Map<string, PairState>();

  constructor(settings: PunchSettings = DEFAULT_PUNCH_SETTINGS) {
    this.settings = settings;
  }

  /**
   * Advance every pair to `now`: `candidates` are the clients a path may be
   * punched to (by node id), `stats` WireGuard's statistics by public key.
   * Pairs whose client is no longer a candidate are forgotten (relayed).
   * @returns the transitions made.
   */
  tick(now: number, candidates: ReadonlyMap<string, PunchCandidate>, stats: ReadonlyMap<string, PunchStats>): PunchEvent[] {
    const events: PunchEvent[] = [];
    const s = this.settings;
    for (const id of this.pairs.keys()) if (!candidates.has(id)) this.pairs.delete(id);
    let attempts = 0;
    let held = 0;
    for (const state of this.pairs.values()) {
      if (state.kind === 'trying') attempts++;
      if (state.kind !== 'idle') held++;
    }
    const backoff = (failures: number): number => Math.min(s.backoffMaxMs, s.backoffBaseMs * 2 ** Math.min(failures - 1, 30));
    // Sorted by id, so both sides of a pair favour the same ones when a cap is reached.
    for (const id of [...candidates.keys()].sort()) {
      const candidate = candidates.get(id)!;
      const state = this.pairs.get(id) ?? {kind: 'idle', retryAt: now, failures: 0};
      const seen = stats.get(candidate.wgPublicKey);
      if (state.kind === 'trying') {
        if (seen?.latestHandshakeMs != null && seen.latestHandshakeMs > state.since - 1_000) {
          this.pairs.set(id, {kind: 'direct', candidate: state.candidate, rx: seen.rxBytes, rxGrewAt: now});
          attempts--;
          events.push({id, kind: 'direct'});
        } else if (candidate.endpoint !== state.candidate.endpoint || candidate.wgPublicKey !== state.candidate.wgPublicKey) {
          this.pairs.set(id, {...state, since: now, candidate});
        } else if (now - state.since >= s.punchTimeoutMs) {
          const failures = state.failures + 1;
          this.pairs.set(id, {kind: 'idle', retryAt: now + backoff(failures), failures});
          attempts--;
          held--;
          events.push({id, kind: 'failed'});
        }
        continue;
      }
      if (state.kind === 'direct') {
        const rx = seen?.rxBytes ?? 0;
        if (seen && rx !== state.rx) this.pairs.set(id, {...state, candidate: {...candidate}, rx, rxGrewAt: now});
        else if (candidate.wgPublicKey !== state.candidate.wgPublicKey || now - state.rxGrewAt >= s.deadAfterMs) {
          this.pairs.set(id, {kind: 'idle', retryAt: now + backoff(1), failures: 1});
          held--;
          events.push({id, kind: 'lost'});
        }
        continue;
      }
      if (now < state.retryAt || attempts >= s.maxAttempts || held >= s.maxDirect) {
        this.pairs.set(id, state);
        continue;
      }
      this.pairs.set(id, {kind: 'trying', since: now, candidate, failures: state.failures});
      attempts++;
      held++;
      events.push({id, kind: 'trying'});
    }
    return events;
  }

  /** The WireGuard entries punching needs now, by remote client id. */
  entries(): Map<string, PunchEntry> {
    const out = new Map<string, PunchEntry>();
    const keepaliveSeconds = this.settings.keepaliveSeconds;
    for (const [id, state] of this.pairs) {
      if (state.kind === 'idle') continue;
      out.set(id, {wgPublicKey: state.candidate.wgPublicKey, endpoint: state.candidate.endpoint, carries: state.kind === 'direct', keepaliveSeconds});
    }
    return out;
  }

  /** True while an attempt waits for its handshake. */
  attempting(): boolean {
    for (const state of this.pairs.values()) if (state.kind === 'trying') return true;
    return false;
  }

  /** The state of the pair with `id`: `direct`, `trying`, or `relayed`. */
  pathTo(id: string): 'direct' | 'trying' | 'relayed' {
    const state = this.pairs.get(id);
    return state === undefined || state.kind === 'idle' ? 'relayed' : state.kind;
  }
}
