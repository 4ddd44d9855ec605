/**
 * Parsers for what `wg show IFACE dump` and `ip -j` print. Their output is
 * validated (zod) before use, like any other bytes from outside the process,
 * and normalised with the same canonical forms the driver uses for the desired
 * state. The first dump line carries the interface's private key: it is never
 * echoed in an error.
 */
import {WgDriverError, canonicalAddress, canonicalEndpoint, canonicalIp, canonicalPrefix} from '@wgmesh/core';
import {z} from 'zod';

/** The interface line of `wg show IFACE dump`. */
export interface DumpInterface {
  /** Public key of the configured private key, or null when none is set. */
  publicKey: string | null;
  /** The listen port WireGuard reports (0 while none is bound). */
  listenPort: number;
  /** The firewall mark of WireGuard's own packets; 0 when off. */
  fwmark: number;
}

/** One peer line of `wg show IFACE dump`. */
export interface DumpPeer {
  /** The peer's public key. */
  publicKey: string;
  /** Current endpoint (possibly roamed), canonical, or null. */
  endpoint: string | null;
  /** Canonical allowed IPs, sorted. */
  allowedIps: string[];
  /** Seconds since the epoch of the latest handshake; 0 when none. */
  latestHandshake: number;
  /** Bytes received from the peer. */
  rxBytes: number;
  /** Bytes sent to the peer. */
  txBytes: number;
  /** Persistent keepalive in seconds; 0 when off. */
  keepaliveSeconds: number;
}

/** A parsed `wg show IFACE dump`. */
export interface WgDump {
  /** The interface line. */
  interface: DumpInterface;
  /** One entry per peer, in wg's order. */
  peers: DumpPeer[];
}

const KEY = /^[A-Za-z0-9+/]{43}=$/;
const COUNT = /^\d{1,20}$/;
/** `wg show dump` prints the mark in hex (`0xca6d`), or `off`. */
const MARK = /^(0x[0-9a-f]{1,8}|\d{1,10})$/i;

function count(name: string, field: string, text: string): number {
  if (!COUNT.test(text)) throw new WgDriverError(`interface ${name}: 'wg show dump' printed ${field} '${text.slice(0, 32)}', not a number`);
  return Number(text);
}

/**
 * Parse `wg show IFACE dump`.
 * @throws WgDriverError when the output does not have the documented shape.
 */
export function parseWgDump(name: string, text: string): WgDump {
  const lines = text.split('\n').filter((line) => line.length > 0);
  const head = lines[0]?.split('\t');
  if (!head || head.length !== 4) throw new WgDriverError(`interface ${name}: 'wg show dump' printed an unexpected first line (${head?.length ?? 0} fields, expected 4)`);
  const [, publicKey = '', port = '', fwmark = ''] = head;
  if (fwmark !== 'off' && !MARK.test(fwmark)) throw new WgDriverError(`interface ${name}: 'wg show dump' printed fwmark '${fwmark.slice(0, 32)}', not a mark`);
  const iface: DumpInterface = {
    publicKey: KEY.test(publicKey) ? publicKey : null,
    listenPort: count(name, 'listen port', port),
    fwmark: fwmark === 'off' ? 0 : Number(fwmark),
  };
  const peers = lines.slice(1).map((line, index): DumpPeer => {
    const fields = line.split('\t');
    if (fields.length !== 8) throw new WgDriverError(`interface ${name}: 'wg show dump' peer line ${index + 1} has ${fields.length} fields, expected 8`);
    const [key = '', , endpoint = '', allowed = '', handshake = '', rx = '', tx = '', keepalive = ''] = fields;
    if (!KEY.test(key)) throw new WgDriverError(`interface ${name}: 'wg show dump' peer line ${index + 1} has no valid public key`);
    const where = `interface ${name}: peer ${key} as wg reports it`;
    return {
      publicKey: key,
      endpoint: endpoint === '(none)' ? null : canonicalEndpoint(where, endpoint),
      allowedIps: allowed === '(none)' || allowed === '' ? [] : allowed.split(',').map((cidr) => canonicalPrefix(where, cidr)).sort(),
      latestHandshake: count(name, 'latest handshake', handshake),
      rxBytes: count(name, 'rx bytes', rx),
      txBytes: count(name, 'tx bytes', tx),
      keepaliveSeconds: keepalive === 'off' ? 0 : count(name, 'persistent keepalive', keepalive),
    };
  });
  return {interface: iface, peers};
}

/** Parse JSON printed by `ip -j` against `schema` (`what` names the listing in errors). */
export function parseIpJson<S extends z.ZodType>(what: string, text: string, schema: S): z.infer<S> {
  let value: unknown;
  try {
    // `ip -j` prints nothing at all for an empty listing on some versions.
    value = text.trim() === '' ? [] : JSON.parse(text);
  } catch {
    throw new WgDriverError(`${what}: 'ip -j' printed something that is not JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new WgDriverError(`${what}: 'ip -j' printed an unexpected shape (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  return parsed.data;
}

/** A link as the driver needs it. */
export interface LinkInfo {
  /** The link's name. */
  name: string;
  /** `wireguard`, `tun`, `dummy`, ... or null when the kernel reports none. */
  kind: string | null;
  /** Its MTU. */
  mtu: number;
  /** Whether it is administratively up. */
  up: boolean;
}

const linkSchema = z.array(
  z.object({
    ifname: z.string(),
    mtu: z.number().int(),
    flags: z.array(z.string()).default([]),
    linkinfo: z.object({info_kind: z.string().optional()}).optional(),
  }),
);

/** Parse a listing of links (`ip -j link show type wireguard`) into their names. */
export function parseLinkNames(text: string): string[] {
  return parseIpJson('links', text, z.array(z.object({ifname: z.string()}))).map((link) => link.ifname);
}

/** Parse `ip -j -d link show dev NAME`; null when the listing is empty. */
export function parseLink(name: string, text: string): LinkInfo | null {
  const [link] = parseIpJson(`interface ${name}`, text, linkSchema);
  if (!link) return null;
  return {name: link.ifname, kind: link.linkinfo?.info_kind ?? null, mtu: link.mtu, up: link.flags.includes('UP')};
}

const addrSchema = z.array(
  z.object({
    addr_info: z
      .array(z.object({family: z.string(), local: z.string().optional(), prefixlen: z.number().int(), scope: z.string().optional()}))
      .default([]),
  }),
);

/**
 * Parse `ip -j addr show dev NAME` into the addresses wgmesh manages: every
 * IPv4/IPv6 address except link-local ones (which the kernel or
 * wireguard-go's TUN device own), canonical.
 */
export function parseManagedAddresses(name: string, text: string): string[] {
  const links = parseIpJson(`interface ${name}`, text, addrSchema);
  const addresses: string[] = [];
  for (const info of links.flatMap((link) => link.addr_info)) {
    if ((info.family !== 'inet' && info.family !== 'inet6') || info.local === undefined || info.scope === 'link') continue;
    addresses.push(canonicalAddress(`interface ${name}: address as ip reports it`, `${info.local}/${info.prefixlen}`));
  }
  return addresses;
}

/** A route as listed by `ip -j route show`, canonical. */
export interface ListedRoute {
  /** Destination prefix, host bits cleared. */
  destination: string;
  /** Next hop, when the route has one. */
  via?: string;
  /** Route metric (0 when ip prints none). */
  metric: number;
}

const routeSchema = z.array(
  z.object({
    dst: z.string(),
    gateway: z.string().optional(),
    metric: z.number().int().optional(),
  }),
);

/** Parse `ip -j -4|-6 route show ...` (family tells how to read `default` and host routes). */
export function parseRoutes(name: string, family: 4 | 6, text: string): ListedRoute[] {
  return parseIpJson(`interface ${name}`, text, routeSchema).map((route) => {
    const where = `interface ${name}: route as ip reports it`;
    const dst = route.dst === 'default' ? (family === 6 ? '::/0' : '0.0.0.0/0') : route.dst.includes('/') ? route.dst : `${route.dst}/${family === 6 ? 128 : 32}`;
    const destination = canonicalPrefix(where, dst);
    const metric = route.metric ?? 0;
    return route.gateway === undefined ? {destination, metric} : {destination, via: canonicalIp(where, route.gateway), metric};
  });
}
