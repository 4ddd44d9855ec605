/**
 * Read a userspace WireGuard interface's peers straight from its UAPI socket
 * (`get=1`, the request `wg show` itself sends to wireguard-go): one Unix
 * socket round trip instead of a `wg` process, so a bench can poll many
 * interfaces several times a second without loading the machine it measures.
 * The sockets live in one directory for every network namespace, so the
 * bench reads them from its own.
 */
import {connect} from 'node:net';
import {uapiSocketPath} from '@wgmesh/wg-kernel';

/** Most bytes one answer may take (a few hundred bytes a peer). */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * One peer as the UAPI reports it.
 * @typedef {object} UapiPeer
 * @property {string} publicKey base64, as `wg` prints it
 * @property {string | null} endpoint
 * @property {string[]} allowedIps
 * @property {number} rxBytes
 * @property {number} txBytes
 * @property {number} latestHandshake seconds since the epoch, 0 for never
 */

/**
 * The peers of interface `name` by public key.
 * @param {string} name
 * @param {number} [timeoutMs]
 * @returns {Promise<Map<string, UapiPeer>>}
 * @throws Error when the socket does not answer in time, or the answer is not a complete `errno=0` one
 */
export function uapiPeers(name, timeoutMs = 5_000) {
  return new Promise((resolve, reject) => {
    const socket = connect(uapiSocketPath(name));
    let text = '';
    const done = (error, value) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    const timer = setTimeout(() => done(new Error(`UAPI of ${name} did not answer within ${timeoutMs} ms`)), timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write('get=1\n\n'));
    socket.on('data', (chunk) => {
      text += chunk;
      if (text.length > MAX_ANSWER_BYTES) done(new Error(`UAPI of ${name}: answer over ${MAX_ANSWER_BYTES} bytes`));
      else if (text.endsWith('\n\n')) {
        if (!/(^|\n)errno=0\n\n$/.test(text)) done(new Error(`UAPI of ${name}: ${text.trim().split('\n').pop()}`));
        else done(undefined, parsePeers(text));
      }
    });
    socket.once('error', (error) => done(error));
    socket.once('end', () => done(new Error(`UAPI of ${name} closed before a complete answer`)));
  });
}

/** @param {string} text a complete `get=1` answer @returns {Map<string, UapiPeer>} */
function parsePeers(text) {
  const peers = new Map();
  /** @type {UapiPeer | undefined} */
  let peer;
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at < 0) continue;
    const key = line.slice(0, at);
    const value = line.slice(at + 1);
    if (key === 'public_key') {
      peer = {publicKey: Buffer.from(value, 'hex').toString('base64'), endpoint: null, allowedIps: [], rxBytes: 0, txBytes: 0, latestHandshake: 0};
      peers.set(peer.publicKey, peer);
    } else if (peer === undefined) continue;
    else if (key === 'endpoint') peer.endpoint = value;
    else if (key === 'allowed_ip') peer.allowedIps.push(value);
    else if (key === 'rx_bytes') peer.rxBytes = Number(value);
    else if (key === 'tx_bytes') peer.txBytes = Number(value);
    else if (key === 'last_handshake_time_sec') peer.latestHandshake = Number(value);
  }
  return peers;
}
