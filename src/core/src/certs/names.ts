/**
 * Validation of the names that go into certificates: the node name (CN and
 * file name), the CA's common name, and the hosts that become subject
 * alternative names. Everything here is user input, checked before any key is
 * made or any file is touched.
 */
import {isIP} from 'node:net';
import ipaddr from 'ipaddr.js';
import {InvalidInputError} from '../errors.js';

/** The subject alternative names of a node certificate, normalised and without duplicates. */
export interface SubjectAltNames {
  /** Host names, lower case, without a trailing dot. */
  readonly dnsNames: readonly string[];
  /** IP addresses in canonical text (IPv4 dotted quad, IPv6 RFC 5952 short form). */
  readonly ipAddresses: readonly string[];
}

// One DNS label: letters, digits and inner hyphens, 1 to 63 characters (RFC 1123).
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;
const MAX_HOSTNAME_LENGTH = 253;
// RFC 5280's upper bound for a common name.
const MAX_COMMON_NAME_LENGTH = 64;

/**
 * Check a node name: one DNS label, because it becomes the certificate's CN
 * and the file names `NAME.crt` / `NAME.key` (so no dots, slashes or spaces).
 * @throws InvalidInputError saying what a valid name looks like.
 */
export function validateNodeName(name: string): string {
  if (!LABEL.test(name)) {
    throw new InvalidInputError(
      `invalid node name ${JSON.stringify(name)}: use 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen (e.g. node-1)`,
    );
  }
  return name;
}

/**
 * Check a CA common name: printable text of at most 64 characters.
 * @throws InvalidInputError when it is empty, too long or has control characters.
 */
export function validateCommonName(commonName: string): string {
  const trimmed = commonName.trim();
  // eslint-disable-next-line no-control-regex
  if (trimmed.length === 0 || trimmed.length > MAX_COMMON_NAME_LENGTH || /[\u0000-\u001f\u007f]/.test(trimmed)) {
    throw new InvalidInputError(`invalid CA name ${JSON.stringify(commonName)}: use 1 to ${MAX_COMMON_NAME_LENGTH} printable characters`);
  }
  return trimmed;
}

/** A host name of dot-separated labels whose last label is not all digits (so a mistyped IPv4 address is not taken for a name). */
function isHostname(host: string): boolean {
  if (host.length > MAX_HOSTNAME_LENGTH) return false;
  const labels = host.split('.');
  return labels.every((label) => LABEL.test(label)) && !/^\d+$/.test(labels[labels.length - 1] ?? '');
}

/**
 * The canonical text of an IP literal, or `undefined` when `host` is not one.
 * `node:net` decides what is an IP (it rejects the shorthand forms like `127.1`
 * that ipaddr.js would accept); ipaddr.js gives the canonical text.
 */
function canonicalIp(host: string): string | undefined {
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  // A zone (fe80::1%eth0) is local to one host and has no place in a certificate.
  if (literal.includes('%') || isIP(literal) === 0) return undefined;
  return ipaddr.parse(literal).toString();
}

/**
 * Sort the hosts a node certificate must be valid for into DNS and IP subject
 * alternative names. IPv6 literals may be bracketed (`[fd00::1]`).
 * @throws InvalidInputError when there is no host or one is neither a host name nor an IP address.
 */
export function parseHosts(hosts: readonly string[]): SubjectAltNames {
  if (hosts.length === 0) {
    throw new InvalidInputError('give at least one --host: a host name or IP address other nodes use to reach this node');
  }
  const dnsNames = new Set<string>();
  const ipAddresses = new Set<string>();
  for (const raw of hosts) {
    const host = raw.trim();
    const ip = canonicalIp(host);
    if (ip !== undefined) {
      ipAddresses.add(ip);
      continue;
    }
    const name = host.toLowerCase().replace(/\.$/, '');
    if (!isHostname(name)) {
      throw new InvalidInputError(
        `invalid host ${JSON.stringify(raw)}: give a host name (e.g. node1.example.com) or an IPv4/IPv6 address (e.g. 192.0.2.10, fd00::1), without a port`,
      );
    }
    dnsNames.add(name);
  }
  return {dnsNames: [...dnsNames], ipAddresses: [...ipAddresses]};
}
