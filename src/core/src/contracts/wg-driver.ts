/** A WireGuard peer as the driver must configure it. */
export interface WgPeerConfig {
  /** The peer's WireGuard public key (base64). */
  publicKey: string;
  /** `host:port` or `[v6]:port`, or null for a peer that is never dialled (a client). */
  endpoint: string | null;
  /** Allowed IPs in CIDR notation. No two peers of one interface share one. */
  allowedIps: string[];
  /** Persistent keepalive in seconds; 0 or undefined for none. */
  keepaliveSeconds?: number;
}

/**
 * A kernel route the driver must install on the mesh interface. A default
 * route (`::/0`, offered by an exit) must never take precedence over a
 * default route the host already has: drivers install it with a lower
 * priority (a higher metric), so a node keeps its own uplink and uses the
 * exit only where it has no way out of its own.
 */
export interface WgRoute {
  /** Destination prefix in CIDR notation. */
  destination: string;
  /** Next hop (a mesh address), or undefined for an on-link route. */
  via?: string;
}

/** The interface a mesh needs on this host. */
export interface WgInterfaceSpec {
  /** Interface name, unique per host (see `interfaceName`). */
  name: string;
  /** The node's WireGuard private key (base64). Never log it. */
  privateKey: string;
  /** UDP listen port; 0 lets the driver pick one. */
  listenPort: number;
  /** Link MTU. */
  mtu: number;
}

/** Per-peer statistics read from WireGuard. */
export interface WgPeerStats {
  /** The peer's public key. */
  publicKey: string;
  /** The endpoint WireGuard currently uses for it (it may have roamed). */
  endpoint: string | null;
  /** Latest handshake as ms since the epoch, or null when there was none. */
  latestHandshakeMs: number | null;
  /** Bytes received from the peer. */
  rxBytes: number;
  /** Bytes sent to the peer. */
  txBytes: number;
}

/** What the driver reports after ensuring an interface. */
export interface WgInterfaceState {
  /** The interface name. */
  name: string;
  /** The UDP port actually bound (differs from the spec when it asked for 0). */
  listenPort: number;
}

/** What {@link WgDriver.ensureForwarding} did. */
export interface WgForwardingState {
  /** True when this call turned forwarding on (it was off). */
  changed: boolean;
}

/**
 * A change in the health of an interface the driver set up, between two of
 * the daemon's calls: the driver noticed it is gone (its userspace process
 * died, its link was deleted) and rebuilt it, or could not.
 */
export interface WgInterfaceEvent {
  /** The interface. */
  name: string;
  /**
   * `lost`: it is gone and being rebuilt; `failed`: it is gone and could not
   * be rebuilt (the driver tries again later, and every call about it fails
   * until then); `restored`: it is back, with the key, port, peers, addresses
   * and routes last asked for.
   */
  kind: 'lost' | 'failed' | 'restored';
  /** One line: what happened, and for `failed` what to do about it. */
  detail: string;
}

/**
 * How a daemon touches WireGuard and the kernel. Every method is idempotent and
 * applies a complete desired state; the driver computes the difference.
 */
export interface WgDriver {
  /** Backend name, e.g. `kernel` or `stub`. */
  readonly name: string;
  /**
   * Create the interface if missing and set its key, port and MTU. On an
   * existing interface a new key replaces the old one and everything else
   * stays (port, peers, addresses, routes): that is how a key rotation
   * reaches WireGuard.
   */
  ensureInterface(spec: WgInterfaceSpec, signal?: AbortSignal): Promise<WgInterfaceState>;
  /** Make the interface's peers exactly `peers`. */
  applyPeers(name: string, peers: readonly WgPeerConfig[], signal?: AbortSignal): Promise<void>;
  /** Make the interface's addresses exactly `cidrs`. */
  setAddresses(name: string, cidrs: readonly string[], signal?: AbortSignal): Promise<void>;
  /** Make the routes wgmesh installed on this interface exactly `routes`. */
  setRoutes(name: string, routes: readonly WgRoute[], signal?: AbortSignal): Promise<void>;
  /**
   * Make sure the host (its network namespace) forwards IPv6 between
   * interfaces, which a node needs once it relays for others: a bridge or an
   * exit, or a peer with clients homed on it. Host-wide, and never turned
   * off again by wgmesh (other software may rely on it once it is on). The
   * daemon calls it on every reconcile that needs it, so it must be cheap
   * when forwarding is already on. Optional, so drivers written before it
   * still load: without it the daemon warns that forwarding must be enabled.
   * @throws WgDriverError saying that forwarding must be enabled, and how, when the driver cannot do it.
   */
  ensureForwarding?(signal?: AbortSignal): Promise<WgForwardingState>;
  /** Per-peer statistics; empty when the driver has none. */
  stats(name: string, signal?: AbortSignal): Promise<WgPeerStats[]>;
  /**
   * Start a handshake at once with every peer of the interface that has an
   * endpoint, instead of at the next packet (whose handshake, if it was
   * dropped, WireGuard retries only after 5 s). A node whose key just
   * changed calls it once its members have the new key. Optional, so drivers
   * written before it still load.
   */
  handshakeNow?(name: string, signal?: AbortSignal): Promise<void>;
  /** Remove the interface (and with it its peers, addresses and routes). */
  removeInterface(name: string, signal?: AbortSignal): Promise<void>;
  /**
   * Subscribe to {@link WgInterfaceEvent}s of the interfaces this driver set
   * up; returns the unsubscribe function. Optional, so drivers written before
   * it still load: without it the daemon learns of a lost interface only when
   * a call about it fails.
   */
  onInterfaceEvent?(listener: (event: WgInterfaceEvent) => void): () => void;
  /** Release resources (child processes, handles). Interfaces are left as they are. */
  close(): Promise<void>;
}
