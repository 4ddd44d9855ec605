/**
 * Whether a port is free: bind it for a moment, exclusively, and let go. This
 * is the question the daemon will ask when it starts, asked the same way.
 */
import {createSocket} from 'node:dgram';
import {createServer} from 'node:net';
import {isIP} from 'node:net';
import type {PortProtocol} from './socket-owner.js';

/** What binding found: free, in use, or not bindable for another reason (the errno). */
export type PortProbe = {free: true} | {free: false; code: string};

function outcome(error: NodeJS.ErrnoException | undefined): PortProbe {
  return error === undefined ? {free: true} : {free: false, code: error.code ?? 'EUNKNOWN'};
}

/** Bind `host:port` over `protocol` and release it at once. */
export function probePort(protocol: PortProtocol, host: string, port: number): Promise<PortProbe> {
  return new Promise((resolve) => {
    if (protocol === 'tcp') {
      const server = createServer();
      server.once('error', (error: NodeJS.ErrnoException) => resolve(outcome(error)));
      server.listen({host, port, exclusive: true}, () => server.close(() => resolve(outcome(undefined))));
      return;
    }
    const socket = createSocket({type: isIP(host) === 4 ? 'udp4' : 'udp6'});
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.close();
      resolve(outcome(error));
    });
    socket.bind({address: host, port, exclusive: true}, () => socket.close(() => resolve(outcome(undefined))));
  });
}
