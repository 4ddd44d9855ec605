/** Endpoints: `host:port` with IPv6 hosts bracketed, and discovery of the host to advertise. */
import {createSocket} from 'node:dgram';
import {isIP} from 'node:net';
import {InvalidInputError} from '../errors.js';

/** `host:port`, bracketing IPv6 literals (`[fd00::1]:51820`). */
export function formatEndpoint(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Split `host:port` / `[v6]:port` into its parts.
 * @throws InvalidInputError when the text is not of that form or the port is out of range.
 */
export function parseEndpoint(text: string): {host: string; port: number} {
  const match = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !match[1] || port < 1 || port > 65535 || (text.startsWith('[') && isIP(match[1]) !== 6)) {
    throw new InvalidInputError(`'${text}' is not an endpoint: expected HOST:PORT or [IPv6]:PORT with a port from 1 to 65535`);
  }
  return {host: match[1], port};
}

/**
 * The address of the local interface that routes outward (`ipDiscovery:
 * outgoing`): "connect" a UDP socket to a documentation address (no packet is
 * sent) and read the source address the kernel chose. IPv4 first, then IPv6.
 * @returns the address, or null when no route leaves this host.
 */
export async function discoverOutgoingAddress(): Promise<string | null> {
  for (const [type, target] of [['udp4', '192.0.2.1'], ['udp6', '2001:db8::1']] as const) {
    const address = await new Promise<string | null>((resolve) => {
      const socket = createSocket(type);
      socket.on('error', () => {
        socket.close();
        resolve(null);
      });
      socket.connect(9, target, () => {
        const local = socket.address().address;
        socket.close();
        resolve(local);
      });
    });
    if (address) return address;
  }
  return null;
}

/**
 * Split a local listen address, `IPv4:port` or `[IPv6]:port`, for the daemon's
 * own servers (DNS, metrics). Only IP literals: a host name could resolve to an
 * address on another host, and a server must bind where the user said. Port 0
 * lets the system pick a free port (tests; the bound port is logged).
 * @throws InvalidInputError when the text is not of that form.
 */
export function parseListenAddress(text: string): {host: string; port: number} {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([0-9.]+):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? '';
  const port = match ? Number(match[2]) : NaN;
  const family = isIP(host);
  if (!match || port > 65535 || family === 0 || (text.startsWith('[') ? family !== 6 : family !== 4)) {
    throw new InvalidInputError(`'${text}' is not a listen address: expected IPv4:PORT or [IPv6]:PORT with a port from 0 to 65535 (0: any free port)`);
  }
  return {host, port};
}
