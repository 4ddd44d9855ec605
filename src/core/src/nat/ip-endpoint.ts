/** Observed WireGuard endpoints: an IP literal and a port, never a host name. */
import {isIP} from 'node:net';

/** Longest observed endpoint: a bracketed IPv6 literal and a port. */
export const MAX_IP_ENDPOINT = 47;

/**
 * `ip:port` or `[ipv6]:port` split into its parts, or undefined when `text`
 * is not exactly that (a host name, no port, port 0 or above 65535, IPv6
 * without brackets). The form WireGuard prints for an endpoint.
 */
export function parseIpEndpoint(text: string): {host: string; port: number; family: 4 | 6} | undefined {
  if (text.length > MAX_IP_ENDPOINT) return undefined;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text);
  const v4 = v6 ? undefined : /^([0-9.]+):(\d{1,5})$/.exec(text);
  const match = v6 ?? v4;
  if (!match?.[1]) return undefined;
  const family = isIP(match[1]);
  const port = Number(match[2]);
  if (family !== (v6 ? 6 : 4) || port < 1 || port > 65535) return undefined;
  return {host: match[1], port, family: family as 4 | 6};
}

/** True when `text` is an observed endpoint ({@link parseIpEndpoint}). */
export function isIpEndpoint(text: string): boolean {
  return parseIpEndpoint(text) !== undefined;
}
