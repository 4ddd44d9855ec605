/**
 * Which node the TLS handshake proved on each inbound connection. The
 * listener records a connection when it accepts its certificate and forgets it
 * when the socket closes; the service looks calls up by their connection's
 * remote `ip:port` (one TCP connection at a time holds it), so a call is
 * served only on a connection whose node is known, without parsing the
 * certificate again per call.
 */
import type {Socket} from 'node:net';

/** What the handshake proved about the peer of one connection. */
export interface ProvenPeer {
  /** For logs: in CA mode the certificate's subject CN (else its fingerprint), else the node id. */
  readonly authenticatedAs: string;
  /** Node id of the key the peer proved it holds. */
  readonly nodeId: string;
  /** That Ed25519 key, raw 32 bytes in base64. */
  readonly signingKey: string;
}

/** Proven peers of the connections open now, by remote `ip:port`. At most one entry per open connection. */
export class ProvenPeers {
  private readonly byEndpoint = new Map<string, {socket: Socket; peer: ProvenPeer}>();

  /** Record the peer of `socket` (remote `endpoint`) until the socket closes. */
  admit(endpoint: string, socket: Socket, peer: ProvenPeer): void {
    // A socket already gone would never say 'close': its entry would stay.
    if (socket.destroyed) return;
    this.byEndpoint.set(endpoint, {socket, peer});
    socket.once('close', () => {
      // A later connection from the same ip:port may already hold the entry.
      if (this.byEndpoint.get(endpoint)?.socket === socket) this.byEndpoint.delete(endpoint);
    });
  }

  /** The peer proven on the connection from `endpoint`, if it is open. */
  get(endpoint: string): ProvenPeer | undefined {
    return this.byEndpoint.get(endpoint)?.peer;
  }
}
