import type {SyncSession, SyncStats} from './store.js';

/** Who is on the other end of an inbound request, as the transport authenticated it. */
export interface RemotePeer {
  /** Remote address as text (for logs). */
  address: string;
  /** Identity proven by the transport (e.g. the certificate subject), if any. */
  authenticatedAs?: string;
  /**
   * The node proven by the transport: the holder of the Ed25519 key whose
   * node id this is (for gRPC, the key of the peer's TLS certificate). A
   * daemon serves a mesh only to its members (and join requests), so a
   * transport that cannot prove it gets nothing but join answers.
   */
  nodeId?: string;
  /** Node proven by TLS: the holder of this Ed25519 key (raw 32 bytes in base64), whose node id is `nodeId`. */
  signingKey?: string;
}

/** What a daemon serves to other daemons; the transport calls these on inbound requests. */
export interface TransportHandlers {
  /** A join: the full snapshot of a mesh, and its store kind. Throw UnknownMeshError when not a member. */
  snapshot(meshId: string, peer: RemotePeer): Promise<{storeKind: string; snapshot: Uint8Array}>;
  /** Open the responder side of a sync session. Throw UnknownMeshError when not a member. */
  openSync(meshId: string, storeKind: string, peer: RemotePeer): SyncSession;
  /** A membership message (probe, ping-req ...); returns the reply bytes. */
  message(meshId: string, payload: Uint8Array, peer: RemotePeer): Promise<Uint8Array>;
  /**
   * A membership message that came as one datagram (see {@link Transport.datagram}).
   * Nothing about its sender is proven: `source` is an address only, which
   * anyone can forge. The handler authenticates the payload itself before any
   * other work, and returns the reply bytes, or undefined to send no reply
   * (anything it does not accept: unauthenticated, stale, unknown mesh, a
   * type it does not take by datagram). Optional: a daemon without it is
   * never sent datagrams' contents.
   */
  datagram?(meshId: string, payload: Uint8Array, source: DatagramSource): Promise<Uint8Array | undefined>;
}

/** Where an inbound datagram came from, as the packet says: not authenticated. */
export interface DatagramSource {
  /** Source address and port as text (for logs and rate limits). */
  address: string;
}

/** What a transport's datagram path dropped without handing it on, by reason (for metrics). */
export type DatagramDrops = Readonly<Record<string, number>>;

/**
 * How daemons reach each other: listens for inbound requests and dials peers by
 * their advertised control endpoint (`host:port` or `[v6]:port`). Authenticates
 * peers. Carries SyncSession messages without looking inside them.
 */
export interface Transport {
  /** Backend name, e.g. `grpc`. */
  readonly name: string;
  /** Start serving; returns the bound port. */
  listen(handlers: TransportHandlers): Promise<{port: number}>;
  /** Fetch a mesh snapshot from a member (joining). */
  fetchSnapshot(endpoint: string, meshId: string, signal?: AbortSignal): Promise<{storeKind: string; snapshot: Uint8Array}>;
  /** Run the initiator side of `session` against the member at `endpoint` until both sides are done. */
  sync(endpoint: string, meshId: string, storeKind: string, session: SyncSession, signal?: AbortSignal): Promise<SyncStats>;
  /** Send a membership message and wait for the reply. */
  message(endpoint: string, meshId: string, payload: Uint8Array, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * Optional capability: send `payload` (at most {@link maxDatagramBytes}) as
   * one datagram to the member at `endpoint` and wait for its one-datagram
   * reply, until `signal` aborts. Cheaper than {@link message} (no stream, no
   * TLS) and unauthenticated, so only for payloads that authenticate
   * themselves (tagged liveness messages). It may be lost or filtered on the
   * way: callers fall back to {@link message}.
   * @throws DatagramDeclinedError when the member answered that the reply is for {@link message} (too large for a datagram); PeerUnreachableError when no reply came before the signal aborted
   */
  datagram?(endpoint: string, meshId: string, payload: Uint8Array, signal: AbortSignal): Promise<Uint8Array>;
  /** Largest payload {@link datagram} carries (bytes); set exactly when it is. */
  readonly maxDatagramBytes?: number;
  /** Datagrams the transport dropped before any handler saw them (malformed, too large, rate-limited, refused), by reason. */
  datagramDrops?(): DatagramDrops;
  /** Stop listening and close every connection. */
  close(): Promise<void>;
  /**
   * Why members would refuse this node when they dial it at `host` (its
   * certificate does not list that host, and they check it), in words that
   * say what to do; undefined when they would not. Optional: a transport
   * without host checks leaves it out.
   */
  advertisedHostProblem?(host: string): string | undefined;
}
