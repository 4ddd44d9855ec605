/**
 * Who holds a port: the inodes of the sockets bound to it (from
 * /proc/net/{tcp,tcp6,udp,udp6}) matched against a process's open
 * descriptors (/proc/PID/fd). Linux only; elsewhere nothing is owned.
 */
import {readFile, readdir, readlink} from 'node:fs/promises';

/** Transport protocol of a port. */
export type PortProtocol = 'tcp' | 'udp';

/** TCP state LISTEN in /proc/net/tcp*. */
const TCP_LISTEN = '0A';
/** Descriptors looked at per process (a daemon holds far fewer). */
const MAX_DESCRIPTORS = 65_536;

/** Socket inodes bound to local `port`, from the text of /proc/net/tcp* or /proc/net/udp* (listening sockets only for TCP). */
export function socketInodes(table: string, port: number, protocol: PortProtocol): string[] {
  const inodes: string[] = [];
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const inode = fields[9];
    if (local === undefined || inode === undefined || inode === '0') continue;
    if (protocol === 'tcp' && fields[3] !== TCP_LISTEN) continue;
    if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.push(inode);
  }
  return inodes;
}

/** Whether process `pid` holds a socket bound to `port` (false when that cannot be seen). */
export async function processHoldsPort(pid: number, port: number, protocol: PortProtocol): Promise<boolean> {
  const inodes = new Set<string>();
  for (const table of [protocol, `${protocol}6`]) {
    const text = await readFile(`/proc/net/${table}`, 'utf8').catch(() => '');
    for (const inode of socketInodes(text, port, protocol)) inodes.add(inode);
  }
  if (inodes.size === 0) return false;
  const descriptors = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of descriptors.slice(0, MAX_DESCRIPTORS)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match && inodes.has(match[1]!)) return true;
  }
  return false;
}
