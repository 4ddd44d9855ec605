/**
 * This node's reflexive WireGuard endpoint, from what other members report:
 * each member that answers one of this node's heartbeats says from which
 * ip:port its WireGuard receives this node's packets. One report per member
 * is kept (the latest), for a bounded time and a bounded number of members.
 *
 * From them: the endpoint the outside sees, and how the NAT maps (see
 * {@link NatMapping}). A single member's report is not trusted to classify:
 * `endpoint-independent` needs two members that agree, so one member that
 * lies cannot make this node punch towards an address it chose.
 */
import type {NatInfo} from '../model/record.js';
import {parseIpEndpoint} from './ip-endpoint.js';

/** Limits of {@link ObservedEndpoints}. */
export interface ObservationLimits {
  /** Most members whose reports are kept; the oldest report goes first. */
  maxObservers: number;
  /** How long a report counts (ms). */
  ttlMs: number;
}

/** Defaults: 16 members, 60 s (a member reports every few seconds while heartbeats flow). */
export const DEFAULT_OBSERVATION_LIMITS: ObservationLimits = {maxObservers: 16, ttlMs: 60_000};

/** This node's own WireGuard socket, to tell "not behind NAT" from a mapping. */
export interface LocalSocket {
  /** The WireGuard listen port. */
  port: number;
  /** The host's own IP addresses. */
  addresses: readonly string[];
}

interface Report {
  endpoint: string;
  at: number;
}

/** Reports of this node's reflexive endpoint, by member. */
export class ObservedEndpoints {
  private readonly limits: ObservationLimits;
  /** Member id -> its latest report, oldest first (a Map keeps insertion order). */
  private readonly reports = new Map<string, Report>();

  constructor(limits: ObservationLimits = DEFAULT_OBSERVATION_LIMITS) {
    this.limits = limits;
  }

  /**
   * Take member `observer`'s report that it sees this node at `endpoint`.
   * @returns false when the endpoint is not an IP endpoint (ignored).
   */
  report(observer: string, endpoint: string, now: number): boolean {
    if (parseIpEndpoint(endpoint) === undefined) return false;
    this.reports.delete(observer);
    this.reports.set(observer, {endpoint, at: now});
    while (this.reports.size > this.limits.maxObservers) {
      const oldest = this.reports.keys().next().value;
      if (oldest === undefined) break;
      this.reports.delete(oldest);
    }
    return true;
  }

  /** Forget every report (the WireGuard port changed: they describe the old socket). */
  clear(): void {
    this.reports.clear();
  }

  /** The fresh reports as `[observer, endpoint]`, oldest first. */
  fresh(now: number): [string, string][] {
    const out: [string, string][] = [];
    for (const [observer, report] of this.reports) {
      if (now - report.at <= this.limits.ttlMs) out.push([observer, report.endpoint]);
      else this.reports.delete(observer);
    }
    return out;
  }

  /**
   * What this node publishes about its NAT now:
   * - no fresh report: `unknown`, no endpoint;
   * - every report names one of this host's addresses and its listen port: `none`;
   * - members disagree: `varies`, no endpoint (each member has its own mapping, useless to others);
   * - one endpoint seen by two members or more: `endpoint-independent`;
   * - one member only: `unknown`, with the endpoint it sees.
   */
  summary(now: number, local: LocalSocket): NatInfo {
    const fresh = this.fresh(now);
    if (fresh.length === 0) return {endpoint: null, mapping: 'unknown'};
    const distinct = [...new Set(fresh.map(([, endpoint]) => endpoint))];
    const latest = fresh[fresh.length - 1]![1];
    const isLocal = (text: string): boolean => {
      const parsed = parseIpEndpoint(text);
      return parsed !== undefined && parsed.port === local.port && local.addresses.includes(parsed.host);
    };
    if (distinct.every(isLocal)) return {endpoint: latest, mapping: 'none'};
    if (distinct.length > 1) return {endpoint: null, mapping: 'varies'};
    return {endpoint: latest, mapping: fresh.length >= 2 ? 'endpoint-independent' : 'unknown'};
  }
}

/** True when two NAT summaries are the same (nothing to publish). */
export function sameNatInfo(a: NatInfo | undefined, b: NatInfo | undefined): boolean {
  return a?.endpoint === b?.endpoint && a?.mapping === b?.mapping && (a?.direct ?? []).join() === (b?.direct ?? []).join();
}
