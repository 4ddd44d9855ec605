/**
 * One line of documentation per config key, for the README and `--help`
 * texts. A test checks this list against the schema in both directions, so a
 * key cannot be added without being documented.
 */

/** Documentation of one config key. */
export interface ConfigKeyDoc {
  /** Dotted key as written in the file (`syncInterval`, `baseConfiguration.role`). */
  key: string;
  /** The default, as a user would write it in the file (or a description when it depends on the host). */
  default: string;
  /** What the key does and which values it accepts. */
  description: string;
}

const DURATION = 'A duration: seconds as a number (fractions allowed) or a string with units (`250ms`, `2s`, `1m`, `1h30m`, `7d`).';

/** Every config key, top level first, then `baseConfiguration.*`, in the order of the schema. */
export const configKeyDocs: readonly ConfigKeyDoc[] = [
  {key: 'store', default: 'twophase', description: 'Store backend that holds the replicated mesh state (flag `--store`).'},
  {key: 'transport', default: 'grpc', description: 'Transport backend daemons use to talk to each other (flag `--transport`).'},
  {key: 'wgDriver', default: 'kernel', description: 'WireGuard driver backend that configures interfaces and routes (flag `--wg`).'},
  {
    key: 'dataDir',
    default: '`/var/lib/wgmesh` as root, else `$XDG_STATE_HOME/wgmesh` or `~/.local/state/wgmesh`',
    description: 'Directory for the identity, mesh state and backend files (flag `--data-dir`). Relative paths are relative to the config file.',
  },
  {
    key: 'socket',
    default: '`<dataDir>/wgmesh.sock` when `dataDir` (or `--data-dir`) is set, else `/run/wgmesh/wgmesh.sock` as root, else `$XDG_RUNTIME_DIR/wgmesh/wgmesh.sock` (without `XDG_RUNTIME_DIR`: in the default data dir)',
    description:
      'Unix socket the CLI uses to drive the daemon; created with mode 0600, or 0660 with `socketGroup` (flag `--socket`, env `WGMESH_SOCKET`). At most 107 bytes long; relative to the config file.',
  },
  {
    key: 'socketGroup',
    default: 'none',
    description:
      "Group (name or gid) whose members may use the CLI: the daemon gives the socket this group and mode 0660. Unset: mode 0600, only the daemon's own user. The socket's directory must let the group in (the default `/run/wgmesh` is 0755; a data dir is 0700, so set `socket` outside it).",
  },
  {key: 'logLevel', default: 'info', description: 'Log level: trace, debug, info, warn, error, fatal or silent (flag `--log-level`). `SIGHUP` re-reads it.'},
  {key: 'logFormat', default: 'auto', description: 'Log format on stderr: `pretty` (one coloured line per entry), `json` (pino JSON lines) or `auto` (pretty when stderr is a terminal, else JSON). Flag `--log-format`.'},
  {key: 'ipcIdleTimeout', default: '60s', description: `How long a connection to the IPC socket may go without a request being answered or read before the daemon closes it; greater than 0. ${DURATION}`},
  {key: 'syncInterval', default: '1s', description: `Longest time between two anti-entropy rounds of a daemon (digests compared with one partner; they ride on heartbeats when one was answered meanwhile); greater than 0. ${DURATION}`},
  {key: 'heartbeatInterval', default: '2s', description: `How often a daemon proves it is alive to the members that monitor it (a small heartbeat message, not a record rewrite); a crashed member leaves every view within about 3 × this. Greater than 0. ${DURATION}`},
  {key: 'pullInterval', default: '20s', description: `Longest time between two anti-entropy rounds with a partner outside the daemon's own cluster (the original's periodic pull; every round compares digests first); 0: no such guarantee, interClusterChance alone mixes clusters. ${DURATION}`},
  {key: 'timeout', default: '5s', description: `Time limit of one request to another daemon; greater than 0. ${DURATION}`},
  {key: 'gcHorizon', default: '24h', description: `How long tombstones and records of departed nodes are kept before garbage collection; at least 1h. ${DURATION}`},
  {
    key: 'deadProbeHorizon',
    default: '30m',
    description: `How long every daemon keeps trying a member it considers dead whose control endpoint does not answer. Each daemon tries such an endpoint at its usual pace for a minute, then waits as long as it has been failing (60 s, 120 s, ... at most 10 min); past this horizon only one daemon per dead member (its successor on the ring) keeps trying, every 10 min, so a healed partition still restores every view by itself while an endpoint a member advertised but nobody serves is not dialled by every daemon until its record expires. 0: only that one daemon ever tries. ${DURATION}`,
  },
  {
    key: 'dialBackoffGrace',
    default: '1m',
    description: `How long a daemon dials a member's control endpoint that stopped answering at its usual pace (a restart or a short partition looks like this), before it waits between attempts as long as the endpoint has been failing, at most dialBackoffMax; an authenticated heartbeat from the member opens it again at once. 0: wait from the first failure. ${DURATION}`,
  },
  {
    key: 'dialBackoffMax',
    default: '10m',
    description: `Longest wait between two dials of a control endpoint that keeps failing: a partition that lasted longer heals within about this after it ends. At least 1s. ${DURATION}`,
  },
  {
    key: 'controlDatagrams',
    default: 'true',
    description:
      'Send direct heartbeats and pings, and their acks, as UDP datagrams on the control port (`gRPCPort`, UDP beside TCP) instead of over the TLS stream: they authenticate themselves (an HMAC tag with replay protection), and a datagram costs far less than a stream message. One without a reply within half the probe time is sent again over TCP at once, and after 3 such failures to a member it gets TCP only for 1 min (doubling to 10 min); everything else (state, joins, syncs, relayed heartbeats) always goes over TCP. `false`: every message over TCP, and datagrams from others are not answered.',
  },
  {key: 'maxClockSkew', default: '5m', description: `How far ahead of this node's clock another node's clock may be: records whose version, createdAt or updatedAt, and claims whose incarnation, are further in the future are refused, and a joiner whose clock differs by more is refused; greater than 0. ${DURATION}`},
  {key: 'branch', default: '3', description: 'Number of peers a daemon pushes each new entry to: its ring successor and partners it draws once and keeps while they stay in the mesh; an integer of at least 1.'},
  {key: 'clusterSize', default: '64', description: 'Nodes per gossip cluster; an integer from 1 to 65536.'},
  {key: 'interClusterChance', default: '0.15', description: 'Probability that one of the push partners of a daemon, or the partner of an anti-entropy round, is in another cluster; a number from 0 to 1.'},
  {key: 'infectionCount', default: '3', description: 'Rounds in which a daemon pushes a batch of news none of whose targets answered, to fresh targets each time, before leaving it to anti-entropy; an integer of at least 1.'},
  {key: 'gRPCPort', default: '4000', description: 'Port the control-plane transport listens on: TCP, and UDP of the same number for liveness datagrams (see `controlDatagrams`); an integer from 1 to 65535.'},
  {
    key: 'certificatePath',
    default: 'none',
    description:
      "CA mode: this node's TLS certificate (PEM), issued by the CA for this node's key (`wgmesh certs issue --data-dir` or `--signing-key`); a certificate for another key stops the daemon at start. Unset (with `caCertificatePath`): the daemon's TLS identity is a certificate it issues itself over its node key. Relative to the config file.",
  },
  {key: 'privateKeyPath', default: 'none', description: "CA mode, optional: private key (PEM) of `certificatePath`, which is the node key; unset, the daemon uses its identity's key. Keep it mode 0600. Relative to the config file."},
  {
    key: 'caCertificatePath',
    default: 'none',
    description: "CA mode: CA certificate (PEM) every member's certificate must chain to, besides proving its node key; set it together with `certificatePath`. Relative to the config file.",
  },
  {key: 'dnsEnabled', default: 'false', description: 'Answer DNS queries for `ALIAS.MESH_ID.wgmesh.` and `ALIAS.wgmesh.` on `dnsListen` (see [DNS](#dns)).'},
  {
    key: 'dnsListen',
    default: '127.0.0.1:5353',
    description: 'UDP address of the DNS server: `IPv4:PORT` or `[IPv6]:PORT` (port 0: any free port, logged and shown by `status --json`). Used only when `dnsEnabled` is true; a port in use stops the daemon at start. `SIGHUP` re-reads `dnsEnabled` and `dnsListen` (a port in use then keeps the running server).',
  },
  {key: 'metricsEnabled', default: 'false', description: 'Serve Prometheus metrics over HTTP at `/metrics` on `metricsListen` (see [Metrics](#metrics)).'},
  {
    key: 'metricsListen',
    default: '127.0.0.1:9474',
    description: 'TCP address of the metrics endpoint: `IPv4:PORT` or `[IPv6]:PORT` (port 0: any free port, logged and shown by `status --json`). Used only when `metricsEnabled` is true; a port in use stops the daemon at start. `SIGHUP` re-reads `metricsEnabled` and `metricsListen` (a port in use then keeps the running server).',
  },
  {
    key: 'natTraversal',
    default: 'false',
    description:
      'Direct paths through NAT (see [NAT traversal](#nat-traversal)): members tell each other where their WireGuard packets come from, a client gets every public peer as a direct WireGuard peer (their traffic moves there once their WireGuard handshook on it), and two clients whose NATs map endpoint-independently punch a direct path, relayed through their home peers meanwhile and whenever it fails. `false`: a client talks to its home peer only, and nothing about NAT is published. Off by default: it makes an idle client keep every public peer\'s path open, not only its home peer\'s. Every member of a mesh should have the same setting: a peer with it on takes a client\'s address from the client\'s home peer once the client reports a handshake with it.',
  },
  {key: 'natPunchTimeout', default: '8s', description: `How long a hole-punching attempt waits for a WireGuard handshake before the pair stays relayed and retries later (after 5 s, doubling up to 5 min). At least 1s. ${DURATION}`},
  {key: 'natMaxPunches', default: '8', description: 'Most hole-punching attempts a client runs at once (per mesh); an integer from 0 to 1024 (0: no hole punching).'},
  {key: 'natMaxDirectPaths', default: '32', description: 'Most punched direct paths (and attempts) a client holds per mesh; other pairs stay relayed. An integer from 0 to 4096 (0: no hole punching).'},
  {
    key: 'verifyWorkers',
    default: '4',
    description:
      "Most worker threads that check the signatures and credentials of a whole mesh state at once (a join's snapshot, the state restored at start), so the daemon keeps answering heartbeats meanwhile; never more than the machine's CPUs less one, and at least one: the event loop checks its share too, a few entries a turn. They start when needed (for a join, once the member's answer says its mesh is large enough for them, so they start while the snapshot downloads) and stop when idle. An integer from 0 to 64 (0: the main thread checks in one go, which stalls it about 0.3 ms per member).",
  },
  {key: 'apiEnabled', default: 'false', description: 'Serve the HTTP API under `/api/v1` and the web dashboard at `/` on `apiListen` (see [HTTP API and dashboard](#http-api-and-dashboard)). Every API request needs the bearer token `wgmesh api token` prints.'},
  {
    key: 'apiListen',
    default: '127.0.0.1:9475',
    description:
      'TCP address of the HTTP API: `IPv4:PORT` or `[IPv6]:PORT` (port 0: any free port, shown by `status --json`). A non-loopback address stops the daemon at start unless `apiAllowRemote` is true. `SIGHUP` re-reads every `api*` key (a port in use then keeps the running server).',
  },
  {key: 'apiAllowRemote', default: 'false', description: 'Allow a non-loopback `apiListen`. The API speaks plain HTTP: put it behind a TLS reverse proxy, and keep the token secret.'},
  {key: 'apiCorsOrigins', default: '[]', description: 'Origins (`https://host[:port]`) whose pages may call the API from a browser; empty: no CORS headers at all (the dashboard, served by the API itself, needs none).'},
  {key: 'apiMaxBodyBytes', default: '65536', description: 'Largest request body the API reads, in bytes (413 above); an integer from 1024 to 16777216.'},
  {key: 'apiRateLimit', default: '20', description: 'Sustained API requests per second per client IP address (429 with `Retry-After` above); a number greater than 0.'},
  {key: 'apiRateBurst', default: '100', description: 'API requests a client IP address may make at once before `apiRateLimit` applies; an integer of at least 1.'},
  {key: 'apiMaxStreams', default: '64', description: 'Most event streams (`GET /api/v1/events`) open at once (429 TOO_MANY_STREAMS above); an integer from 1 to 4096. A stream that falls 1024 events behind is closed.'},
  {key: 'baseConfiguration', default: '(see below)', description: 'Defaults for meshes this node creates or joins; the CLI flags of `mesh create`/`mesh join` override them. A mesh keeps the settings it got then (change them with `mesh set`); only the hooks (`preUp` ... `postDown`) follow this file at every start.'},
  {key: 'baseConfiguration.role', default: 'peer', description: '`peer` (reachable, forwards for clients) or `client` (behind NAT, attaches to one peer).'},
  {
    key: 'baseConfiguration.ipDiscovery',
    default: 'outgoing',
    description: 'How the node learns its public address: `outgoing` (the local address of its outgoing connections) or `public` (ask a public IP service: not supported yet, an error at `mesh create`/`join` unless an endpoint is given).',
  },
  {key: 'baseConfiguration.publicEndpoint', default: 'none', description: 'Host name or IP address (no port) other peers use to reach this node; overrides discovery.'},
  {key: 'baseConfiguration.advertiseRoute', default: 'false', description: 'Default of `--advertise-routes`: export each mesh joined (its /64 and the routes used through it) into this node\'s other meshes.'},
  {key: 'baseConfiguration.advertiseDefaults', default: 'false', description: 'Default of `--advertise-default`: advertise `::/0` into each mesh joined (an exit); only with advertiseRoute.'},
  {key: 'baseConfiguration.keepAliveWg', default: '0', description: 'WireGuard persistent keepalive in seconds (0 turns it off) of the meshes this node is a peer in; an integer from 0 to 65535.'},
  {
    key: 'baseConfiguration.clientKeepAliveWg',
    default: '25',
    description: 'WireGuard persistent keepalive in seconds of the meshes this node is a client in (0 turns it off): keeps its NAT mapping and its home peer\'s knowledge of its endpoint; an integer from 0 to 65535.',
  },
  {key: 'baseConfiguration.preUp', default: '[]', description: 'Commands run before a mesh interface is brought up; a list of strings.'},
  {key: 'baseConfiguration.postUp', default: '[]', description: 'Commands run after a mesh interface is up; a list of strings.'},
  {key: 'baseConfiguration.preDown', default: '[]', description: 'Commands run before a mesh interface is removed; a list of strings.'},
  {key: 'baseConfiguration.postDown', default: '[]', description: 'Commands run after a mesh interface is removed; a list of strings.'},
];
