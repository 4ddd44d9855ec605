/** Peer addresses as this transport prints and compares them. */
import {isIPv4} from 'node:net';
import {formatEndpoint} from '@wgmesh/core';

/**
 * Canonical text of an IP address: IPv4-mapped IPv6 (how a dual-stack socket
 * reports IPv4 peers) becomes plain IPv4, IPv6 is fully compressed, lower case.
 */
export function canonicalAddress(address: string): string {
  const text = address.trim().toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (mapped?.[1] && isIPv4(mapped[1])) return mapped[1];
  try {
    // URL parsing normalises IPv6 literals (zero runs, leading zeros).
    return text.includes(':') ? new URL(`http://[${text}]/`).hostname.slice(1, -1) : text;
  } catch {
    return text;
  }
}

/** `ip:port` (IPv6 bracketed) of a socket's remote end, canonical, for logs and RemotePeer. */
export function peerEndpoint(address: string | undefined, port: number | undefined): string {
  const ip = canonicalAddress(address ?? 'unknown');
  return port ? formatEndpoint(ip, port) : ip;
}
