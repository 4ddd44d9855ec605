/** Counters of one mesh's control plane on one node (for `status`, metrics and benchmarks). */
export interface ControlStats {
  /** Control requests sent (pushes, heartbeats, probes, anti-entropy). */
  messagesSent: number;
  /** Control requests that failed (unreachable, timed out, refused). */
  messagesFailed: number;
  /** Requests to an endpoint in backoff (it stopped answering), failed without dialling it (see dial-backoff.ts). */
  dialsWithheld: number;
  /** Control requests received. */
  messagesReceived: number;
  /** Received requests refused (malformed, unknown sender, ...). */
  messagesRejected: number;
  /** Bytes of control requests sent plus replies received, and store sync sessions this node started. */
  bytesSent: number;
  /** Bytes of control replies and requests received, and store sync sessions this node started. */
  bytesReceived: number;
  /** Push requests sent. */
  pushesSent: number;
  /** Store entries carried by pushes sent. */
  entriesPushed: number;
  /** Anti-entropy rounds started. */
  antiEntropyRounds: number;
  /** Anti-entropy rounds where both digests agreed (one small round trip). */
  antiEntropyEqual: number;
  /** Store sync sessions started (digests differed). */
  storeSyncs: number;
  /** Heartbeats sent directly. */
  heartbeatsSent: number;
  /** Liveness requests (direct heartbeats and pings) sent by datagram. */
  datagramsSent: number;
  /** Of those, the ones sent again over the stream because no reply came in time (lost, or the member is slow). */
  datagramFallbacks: number;
  /** Of those, the ones sent again over the stream because the member asked for it (its reply was too large for a datagram). */
  datagramsDeclined: number;
  /** Liveness requests received by datagram and answered (authentic, fresh, from a member). */
  datagramsAnswered: number;
  /** Heartbeats sent through a relay after the direct one failed. */
  heartbeatsRelayed: number;
  /** Probe rounds run by this node as a monitor. */
  probeRounds: number;
  /** Checks skipped because this node's own event loop had stalled (see failure-detector.ts). */
  stallsDetected: number;
  /** Claims this node made. */
  accusations: number;
  /** Refutations this node signed. */
  refutations: number;
  /** Transitions of a member from alive to dead in this node's view. */
  deathsObserved: number;
  /** Transitions of a member from dead to alive in this node's view. */
  revivalsObserved: number;
  /** Statements received that failed verification. */
  statementsRejected: number;
}

/** A zeroed counter set. */
export function emptyControlStats(): ControlStats {
  return {
    messagesSent: 0,
    messagesFailed: 0,
    dialsWithheld: 0,
    messagesReceived: 0,
    messagesRejected: 0,
    bytesSent: 0,
    bytesReceived: 0,
    pushesSent: 0,
    entriesPushed: 0,
    antiEntropyRounds: 0,
    antiEntropyEqual: 0,
    storeSyncs: 0,
    heartbeatsSent: 0,
    datagramsSent: 0,
    datagramFallbacks: 0,
    datagramsDeclined: 0,
    datagramsAnswered: 0,
    heartbeatsRelayed: 0,
    probeRounds: 0,
    stallsDetected: 0,
    accusations: 0,
    refutations: 0,
    deathsObserved: 0,
    revivalsObserved: 0,
    statementsRejected: 0,
  };
}
